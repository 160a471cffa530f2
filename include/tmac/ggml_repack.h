// Lossless repacking of llama.cpp's low-bit blocks into QuantMatrix.
//
// The types whose weights are at most 4-bit codes times a per-group scale keep their codes and
// group structure: Dequantize(RepackGgml(...)) equals DecodeRow bit for bit, row by row. Each
// type takes the QuantMatrix form whose float operations are its decoder's:
//
//   Q4_0   4-bit, group  32, zeros form: scale d, zero 8
//   Q4_1   4-bit, group  32, min form:   scale d, min -m               (decoder: d * q + m)
//   Q4_K   4-bit, group  32, min form:   scale d * sc, min dmin * m    (8 sub-blocks per 256)
//   Q3_K   3-bit, group  16, zeros form: scale d * (sc - 32), zero 4
//   Q2_K   2-bit, group  16, min form:   scale d * sc, min dmin * m
//   TQ2_0  2-bit, group 256, zeros form: scale d, zero 1 (code 3 stays code 3, weight +2d)
//   TQ1_0  2-bit, group 256, zeros form: scale d, zero 1 (trits as codes 0..2)
//
// with d * sc and dmin * m the float32 products the decoders compute. Those products need not be
// f16 values; the K-quants keep their factorization (QuantMatrix::factors: d, dmin and the
// integer sc, m per group), so WithLosslessScales packs them in ScaleType::kTwoLevel, which
// computes the same products in the kernels (and groups of 16 need IndexOrder::kChunkPairs).
#pragma once

#include <cstdint>

#include "tmac/ggml_types.h"
#include "tmac/quant.h"

namespace tmac {

// The row-major tensor of `rows` rows of `cols` weights stored as `type` at `data` (rows *
// GgmlRowBytes(type, cols) bytes, any alignment), as a QuantMatrix of the form above. Throws
// tmac::Error naming the type for any other type (Q5_*, Q6_K, Q8_0: codes wider than 4 bits),
// and on a shape that is empty, not whole blocks, or too large, or a non-finite fp16 scale.
QuantMatrix RepackGgml(GgmlType type, const void* data, int64_t rows, int64_t cols);

}  // namespace tmac

// Matrix products on ggml tensors kept in their file format: the path for the "wide" types
// (Q5_*, Q6_K, Q8_0, F16, BF16, F32) that tmac does not repack into LUT layouts, typically the
// token embedding and the output head.
//
// How each type is multiplied (src/kernels/ggml_matmul.cc and ggml_matmul_kernel-inl.h):
// * F32, F16, BF16: converted to float in SIMD registers and dotted with the float activations.
// * Q8_0: the activations are quantized to int8 per 32-block, as llama.cpp does for its
//   Q8_0 x Q8_0 product (scale rounded to f16), and each block's dot product is an exact integer
//   sum (AVX2 VPMADDUBSW, AVX-512 VNNI VPDPBUSD, NEON widening multiplies) times the two scales.
// * Every other type DecodeRow decodes: a few rows are decoded to float into a small buffer
//   (Q6_K, the usual output-head type, by a SIMD decoder with the same bits), then dotted with
//   every activation vector of a batch block.
// Each output is computed by one thread in an order that depends on neither the thread count nor
// the batch, so a vector's results are the same bits on any ThreadPool and whether it comes alone
// (decode) or with others (prefill); they differ between ISAs by rounding only.
#pragma once

#include <cstdint>

#include "tmac/ggml_types.h"
#include "tmac/lut.h"

namespace tmac {

// A rows x cols matrix stored as ggml rows (each row GgmlRowBytes(type, cols) bytes), e.g. a
// tensor in a mapped GGUF.
struct GgmlMatrixView {
  GgmlType type;
  int64_t rows = 0, cols = 0;
  const uint8_t* data = nullptr;
};

// Whether GgmlMatmul handles `type` (every type DecodeRow decodes).
bool GgmlMatmulSupports(GgmlType type);

// y[n][m] = sum_k W[m][k] * x[n][k] for n in [0, batch): x is batch x cols, y is batch x rows,
// both row-major; the contract of LutMatmul (options.isa and options.pool are used). Throws
// tmac::Error for an unsupported type, cols not a multiple of the type's block size, or an
// empty/null argument.
void GgmlMatmul(const GgmlMatrixView& w, const float* x, int64_t batch, float* y,
                const MatmulOptions& options = {});

// Row `row` of w decoded to floats into out[0, cols) (embedding lookup), bit for bit DecodeRow.
// Throws tmac::Error when row is out of range or on the conditions of GgmlMatmul.
void GgmlGetRow(const GgmlMatrixView& w, int64_t row, float* out);

}  // namespace tmac

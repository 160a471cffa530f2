// The interface between the library and the per-ISA dequantization kernels, and the constants
// of the layout (include/tmac/dequant.h describes it in words).
//
// As for the LUT kernels, each ISA's kernels are one translation unit with its own compiler
// flags and see only the plain views below: data, no library code.
#pragma once

#include <cstdint>

#include "tmac/isa.h"

namespace tmac::kernels {

// Weights per block; every supported group is a whole number of blocks.
inline constexpr int kDequantBlock = 32;
// Padding after the last row: the high half of a block is read from 2 bytes further on, and a
// SIMD broadcast may read a few bytes past the codes.
inline constexpr int kDequantPadding = 64;

// One plane of a block: `width` bits of every code, from bit `shift` of the code, stored as
// `width` 32-bit words from byte `offset` of the block.
struct DequantPlane {
  int width = 0;
  int shift = 0;
  int offset = 0;
};

struct DequantPlanes {
  int count = 0;
  DequantPlane plane[2];
};

// Planes per bit width: 1, 2 and 4 bits are one plane; 3 bits split into 2 + 1.
inline constexpr DequantPlanes kDequantPlanes[5] = {
    {},
    {1, {{1, 0, 0}, {}}},
    {1, {{2, 0, 0}, {}}},
    {2, {{2, 0, 0}, {1, 2, 8}}},
    {1, {{4, 0, 0}, {}}},
};

// (Kernel translation units use the functions below only in constant expressions, so no copy
// compiled with their flags is ever emitted.)

// Bytes of one 32-weight block: all planes' words.
constexpr int DequantBlockBytes(int bits) { return 4 * bits; }

// Bit at which weight k (0..31) of a block starts inside its plane word (word k % width).
constexpr int DequantFieldBit(int width, int k) { return width * (k / width); }

// Per lane i of a 16-weight half-block, the mask that leaves lane i's field in its word (bits
// 0..15 of the word for the low half, 16..31 read from 2 bytes on for the high half).
struct DequantLaneMasks {
  int32_t lane[16];
};
consteval DequantLaneMasks MakeDequantLaneMasks(int width) {
  DequantLaneMasks m{};
  for (int i = 0; i < 16; ++i) m.lane[i] = ((1 << width) - 1) << DequantFieldBit(width, i);
  return m;
}
inline constexpr DequantLaneMasks kDequantLaneMasks[5] = {
    {}, MakeDequantLaneMasks(1), MakeDequantLaneMasks(2), {}, MakeDequantLaneMasks(4)};

// A packed matrix (DequantMatrix).
struct DequantWeights {
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t groups = 0;       // per row
  int bits = 0;
  int group = 0;
  bool has_zero = false;    // groups store a zero term after the scale
  int64_t code_bytes = 0;   // per group: (group / 32) blocks
  int64_t group_bytes = 0;  // codes, scale and zero term
  int64_t row_bytes = 0;
};

// Activations prepared for the kernels. For activation row n and plane p of the weights,
//   x[n * x_stride + p * cols + k] = x_n[k] * 2^(shift_p - DequantFieldBit(width_p, k % 16)),
// so that a masked field (code << field bit) times it is code_p * 2^shift_p * x_n[k];
//   sums[n * groups + g] = the sum of x_n over group g, times -(2^bits - 1) / 2 (the zero point)
//                          for a symmetric matrix.
struct DequantActivations {
  const float* x = nullptr;
  const float* sums = nullptr;
  int64_t batch = 0;
  int64_t x_stride = 0;
};

struct DequantKernelSet {
  Isa isa;
  // y[n * rows + m] for m in [row_begin, row_end) and every activation row n.
  void (*matmul_rows)(const DequantWeights& w, const DequantActivations& a, int64_t row_begin,
                      int64_t row_end, float* y);
};

// Per-ISA entry points; each returns nullptr when this binary was built without that ISA.
const DequantKernelSet* ScalarDequantKernels();
const DequantKernelSet* Avx2DequantKernels();
const DequantKernelSet* Avx512DequantKernels();
const DequantKernelSet* NeonDequantKernels();

// The kernels for `isa`; throws tmac::Error when it is not supported here.
const DequantKernelSet& DequantKernelsFor(Isa isa);

}  // namespace tmac::kernels

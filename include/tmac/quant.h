// QuantMatrix: the plain, unpacked form of a low-bit weight matrix.
//
// It is the interchange form between weight formats (llama.cpp blocks, requantizers, random
// test data) and the packed layouts the kernels read. Every weight is
//
//     w[m][k] = scale[m][g] * (code[m][k] - zero[m][g]),   g = k / group,
//
// with code in [0, 2^bits). When `zeros` is empty the matrix is symmetric: zero = (2^bits - 1) / 2,
// so a 1-bit weight is +-scale/2 and a 2-bit weight one of {-1.5, -0.5, 0.5, 1.5} * scale.
// llama.cpp's "scale and min" blocks (Q4_1, Q2_K, Q4_K) fit better as
//
//     w[m][k] = scale[m][g] * code[m][k] - min[m][g],
//
// which `mins` holds instead of `zeros` (scale * code is exact, so this form reproduces their
// decoders bit for bit where a zero point min / scale would round).
// Ternary weights {-1, 0, +1} are 2-bit codes {0, 1, 2} with zero 1 (see MakeTernary).
//
// llama.cpp's K-quants store each group's scale (and min) as a small integer factor of an f16
// value shared by a super-block of 256 weights. `factors` keeps that factorization beside the
// products, so a packed layout can store the factors (ScaleType::kTwoLevel) in a third of the
// bytes of f32 products and still compute every scale exactly as the decoders do.
#pragma once

#include <cstdint>
#include <vector>

namespace tmac {

inline constexpr int kMinBits = 1;
inline constexpr int kMaxBits = 4;

// Group sizes along K: 16 (llama.cpp's Q2_K/Q3_K sub-blocks), 32, 64, 128, 256. Some layouts
// need more (their Pack says so).
bool IsSupportedGroup(int group);

// scale[m][g] = super_scale[m][j] * scale_factor[m][g] and min[m][g] = super_min[m][j] *
// min_factor[m][g], computed in float32, with j = g * group / super_group.
struct ScaleFactors {
  int super_group = 0;                // weights per super-block along K; 0: no factorization
  std::vector<float> super_scales;    // rows * cols / super_group, f16 values
  std::vector<float> super_mins;      // as super_scales, with mins; else empty
  std::vector<int8_t> scale_factors;  // rows * groups_per_row
  std::vector<int8_t> min_factors;    // as scale_factors, with mins; else empty

  bool empty() const { return super_group == 0; }
  bool operator==(const ScaleFactors&) const = default;
};

struct QuantMatrix {
  int64_t rows = 0;  // M: output features
  int64_t cols = 0;  // K: input features
  int bits = 0;      // 1..4
  int group = 0;     // weights per scale group along K
  std::vector<uint8_t> codes;  // rows * cols, row-major
  std::vector<float> scales;   // rows * groups_per_row, row-major
  std::vector<float> zeros;    // empty (symmetric) or rows * groups_per_row
  std::vector<float> mins;     // empty, or rows * groups_per_row instead of zeros
  ScaleFactors factors;        // how scales and mins factor (K-quants), or empty

  int64_t groups_per_row() const { return group > 0 ? cols / group : 0; }
  bool symmetric() const { return zeros.empty() && mins.empty(); }
  uint8_t code(int64_t m, int64_t k) const { return codes[m * cols + k]; }
  float scale(int64_t m, int64_t g) const { return scales[m * groups_per_row() + g]; }
  // The zero point (for the min form: min / scale, which may round).
  float zero(int64_t m, int64_t g) const;
  // The real weight w[m][k], as defined in the header comment.
  float Weight(int64_t m, int64_t k) const;
  // Throws tmac::Error naming the first inconsistency (bad bits or group, wrong sizes,
  // a code out of range, a non-finite scale, factors whose products are not the scales or mins).
  void Validate() const;
};

// Ternary weights in {-1, 0, +1} with one scale per group, or one per tensor when
// scales.size() == 1: returned as 2-bit codes {0, 1, 2} with zero point 1.
QuantMatrix MakeTernary(int64_t rows, int64_t cols, int group, const std::vector<int8_t>& values,
                        const std::vector<float>& scales);

// Dense float copy of w, rows * cols, row-major.
std::vector<float> Dequantize(const QuantMatrix& w);

}  // namespace tmac

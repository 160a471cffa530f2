// Reference computations for the ternary (TL2) tests: simple loops, obviously right.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "reference.h"
#include "tmac/lut.h"
#include "tmac/quant.h"

namespace tmac::testing {

// Ternary weights drawn uniformly from {-1, 0, 1}, one random scale per group.
inline QuantMatrix RandomTernary(int64_t rows, int64_t cols, int group, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(-1, 1);
  std::uniform_real_distribution<float> scale(0.01f, 0.1f);
  std::vector<int8_t> values(static_cast<size_t>(rows * cols));
  for (auto& v : values) v = static_cast<int8_t>(value(rng));
  std::vector<float> scales(static_cast<size_t>(rows * (cols / group)));
  for (auto& s : scales) s = scale(rng);
  return MakeTernary(rows, cols, group, values, scales);
}

// The int8-activation product of a ternary matrix in integers, then the float epilogue in the
// TL2 kernels' order of operations:
//   I_g = sum_{k in g} (code_k - 1) * xq_k                (exact)
//   y  += (float(I_g) * xs) * s_g                         (s_g rounded to f16 as stored)
inline std::vector<float> ReferenceTernaryInt8(const QuantMatrix& w, const Int8Activations& x) {
  std::vector<float> y(static_cast<size_t>(x.batch * w.rows));
  for (int64_t n = 0; n < x.batch; ++n) {
    const int8_t* q = x.q.data() + n * x.cols;
    const float xs = x.scale[static_cast<size_t>(n)];
    for (int64_t m = 0; m < w.rows; ++m) {
      float acc = 0.f;
      for (int64_t g = 0; g < w.groups_per_row(); ++g) {
        int64_t dot = 0;
        for (int64_t k = g * w.group; k < (g + 1) * w.group; ++k) dot += (w.code(m, k) - 1) * q[k];
        acc = acc + static_cast<float>(dot) * xs * Stored(w.scale(m, g), ScaleType::kF16);
      }
      y[static_cast<size_t>(n * w.rows + m)] = acc;
    }
  }
  return y;
}

}  // namespace tmac::testing

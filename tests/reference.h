// Reference computations for the kernel tests: simple loops, obviously right, no shortcuts.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "formats/half.h"
#include "tmac/lut.h"
#include "tmac/quant.h"

namespace tmac::testing {

// A random b-bit matrix with random scales and, unless symmetric, random zero points.
inline QuantMatrix RandomQuantMatrix(int64_t rows, int64_t cols, int bits, int group, bool symmetric,
                                     uint32_t seed) {
  std::mt19937 rng(seed);
  QuantMatrix w;
  w.rows = rows;
  w.cols = cols;
  w.bits = bits;
  w.group = group;
  std::uniform_int_distribution<int> code(0, (1 << bits) - 1);
  w.codes.resize(static_cast<size_t>(rows * cols));
  for (auto& c : w.codes) c = static_cast<uint8_t>(code(rng));
  std::uniform_real_distribution<float> scale(0.01f, 0.1f), zero(0.f, static_cast<float>((1 << bits) - 1));
  w.scales.resize(static_cast<size_t>(rows * (cols / group)));
  for (auto& s : w.scales) s = scale(rng);
  if (!symmetric) {
    w.zeros.resize(w.scales.size());
    for (auto& z : w.zeros) z = zero(rng);
  }
  return w;
}

// The same matrix in the min form w = s * q - min, with min = s * zero.
inline QuantMatrix ToMinForm(QuantMatrix w) {
  w.mins.resize(w.scales.size());
  for (size_t i = 0; i < w.mins.size(); ++i) w.mins[i] = w.scales[i] * (w.zeros.empty() ? 1.f : w.zeros[i]);
  w.zeros.clear();
  return w;
}

// w with its scales (and mins, in the min form) replaced by K-quant-style products: random f16
// super-values per `super_group` times random factors (-32..31 for scales, as Q3_K's signed ones;
// 0..63 for mins), with the factorization kept in w.factors.
inline QuantMatrix WithRandomFactors(QuantMatrix w, int super_group, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> super(0.0005f, 0.005f);
  std::uniform_int_distribution<int> scale_factor(-32, 31), min_factor(0, 63);
  ScaleFactors& f = w.factors;
  f.super_group = super_group;
  const auto supers = static_cast<size_t>(w.rows * (w.cols / super_group));
  const int64_t per_super = super_group / w.group;
  f.super_scales.resize(supers);
  for (auto& v : f.super_scales) v = RoundToHalf(super(rng));
  f.scale_factors.resize(w.scales.size());
  for (size_t i = 0; i < w.scales.size(); ++i) {
    f.scale_factors[i] = static_cast<int8_t>(scale_factor(rng));
    w.scales[i] = f.super_scales[i / static_cast<size_t>(per_super)] * static_cast<float>(f.scale_factors[i]);
  }
  if (!w.mins.empty()) {
    f.super_mins.resize(supers);
    for (auto& v : f.super_mins) v = RoundToHalf(super(rng));
    f.min_factors.resize(w.mins.size());
    for (size_t i = 0; i < w.mins.size(); ++i) {
      f.min_factors[i] = static_cast<int8_t>(min_factor(rng));
      w.mins[i] = f.super_mins[i / static_cast<size_t>(per_super)] * static_cast<float>(f.min_factors[i]);
    }
  }
  return w;
}

inline std::vector<float> RandomVector(int64_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

// y[n][m] = sum_k w[m][k] x[n][k] in double over the dequantized weights.
inline std::vector<double> ReferenceMatmul(const QuantMatrix& w, const float* x, int64_t batch) {
  std::vector<double> y(static_cast<size_t>(batch * w.rows));
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t m = 0; m < w.rows; ++m) {
      double sum = 0;
      for (int64_t k = 0; k < w.cols; ++k) sum += static_cast<double>(w.Weight(m, k)) * x[n * w.cols + k];
      y[static_cast<size_t>(n * w.rows + m)] = sum;
    }
  }
  return y;
}

// sum_k |w[m][k] x[k]|: the scale of fp32 rounding error in a dot product.
inline double AbsDot(const QuantMatrix& w, const float* x, int64_t m) {
  double sum = 0;
  for (int64_t k = 0; k < w.cols; ++k) sum += std::fabs(static_cast<double>(w.Weight(m, k)) * x[k]);
  return sum;
}

// Error bound for int8 tables, derived:
// Each chunk's table entries T (sums of +-x over 4 activations) are stored as round(T / ts), with
// ts = (largest chunk |x0|+|x1|+|x2|+|x3| in the group) / 127, so each lookup is off by at most
// 1/2 unit. A plane sums G/4 lookups (error <= G/8 units), planes are weighted 2^p
// (sum 2^b - 1), and one unit of the weighted sum is worth s * ts / 2 in the output:
//     |error of group g| <= |s_g| * ts_g * (2^b - 1) * G / 16.
// The averaging mode merges each chunk pair as round((a + b) / 2), off by at most 1/2, which
// doubled is one unit per pair and plane: (2^b - 1) * G / 8 more units, i.e. twice the bound.
// fp32 rounding adds a relative 1e-4 of sum |w x|.
inline double Int8TableBound(const QuantMatrix& w, const float* x, int64_t m, bool averaged) {
  double bound = 0;
  for (int64_t g = 0; g < w.groups_per_row(); ++g) {
    double max_abs_sum = 0;
    for (int64_t c = g * w.group; c < (g + 1) * w.group; c += 4) {
      max_abs_sum = std::max(max_abs_sum, static_cast<double>(std::fabs(x[c]) + std::fabs(x[c + 1]) +
                                                              std::fabs(x[c + 2]) + std::fabs(x[c + 3])));
    }
    const double ts = max_abs_sum / 127.0;
    bound += std::fabs(w.scale(m, g)) * ts * ((1 << w.bits) - 1) * w.group / 16.0 * (averaged ? 2 : 1);
  }
  return bound * 1.001 + 1e-4 * AbsDot(w, x, m) + 1e-6;
}

// A scale or zero term as the packed matrix stores it.
inline float Stored(float v, ScaleType type) {
  return type == ScaleType::kF16 ? HalfToFloat(FloatToHalf(v)) : v;
}

// The int8-activation product computed in integers from the unpacked codes, then the float
// epilogue of docs/kernels.md in the kernels' order of operations:
//   I_g = sum_{k in g} (2 q_k - (2^b - 1)) * xq_k                       (exact)
//   y  += ((float(I_g) * (xs / 2)) * s_g) + (bias_g * (xs * float(sum_{k in g} xq_k)))
// with s_g and bias_g = s_g * ((2^b - 1) / 2 - z_g) rounded as stored.
inline std::vector<float> ReferenceMatmulInt8(const QuantMatrix& w, const Int8Activations& x, ScaleType type) {
  const int64_t groups = w.groups_per_row();
  const int levels = (1 << w.bits) - 1;
  std::vector<float> y(static_cast<size_t>(x.batch * w.rows));
  for (int64_t n = 0; n < x.batch; ++n) {
    const int8_t* q = x.q.data() + n * x.cols;
    const float xs = x.scale[static_cast<size_t>(n)];
    for (int64_t m = 0; m < w.rows; ++m) {
      float acc = 0.f;
      for (int64_t g = 0; g < groups; ++g) {
        int64_t dot = 0, sum = 0;
        for (int64_t k = g * w.group; k < (g + 1) * w.group; ++k) {
          dot += (2 * static_cast<int64_t>(w.code(m, k)) - levels) * q[k];
          sum += q[k];
        }
        const float s = Stored(w.scale(m, g), type);
        float term = static_cast<float>(dot) * (0.5f * xs) * s;
        if (!w.symmetric()) {
          const float mid = 0.5f * static_cast<float>(levels);
          // Zero points: the term s * (mid - z) is what is stored. Mins: the min is, and the
          // term is computed from the stored scale and min.
          const float bias = w.mins.empty() ? Stored(w.scale(m, g) * (mid - w.zero(m, g)), type)
                                            : s * mid - Stored(w.mins[static_cast<size_t>(m * groups + g)], type);
          term = term + bias * (xs * static_cast<float>(sum));
        }
        acc = acc + term;
      }
      y[static_cast<size_t>(n * w.rows + m)] = acc;
    }
  }
  return y;
}

}  // namespace tmac::testing

// The element-wise and per-row operations of the transformer graph, in plain C++: they cost
// little next to the matrix products, and plain loops keep them identical on every ISA.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>

namespace tmac::ops {

// out = x / rms(x) * weight, rms(x) = sqrt(mean(x^2) + eps), the sum of squares in double as
// llama.cpp accumulates it. With `float_squares` each square is rounded to float before it is
// added, as ggml computes it (Numerics::kLlamaCpp); else it is exact in double.
inline void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out,
                    bool float_squares = false) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    sum += float_squares ? static_cast<double>(x[i] * x[i]) : static_cast<double>(x[i]) * x[i];
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(n)) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

// In-place softmax over x[0, n).
inline void Softmax(float* x, int64_t n) {
  float max = x[0];
  for (int64_t i = 1; i < n; ++i) max = std::fmax(max, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

inline float Silu(float x) { return x / (1.0f + std::exp(-x)); }

inline float ReluSquared(float x) { return x > 0.0f ? x * x : 0.0f; }

// Rotary position embedding. Pair i of each head, for i < n_rot / 2, rotates by the angle
// pos * base^(-2i / n_rot) * scale / factor[i] (factors: Llama 3's rope_freqs, or empty). The
// pairs are llama.cpp's "normal" form, consecutive values (x[2i], x[2i+1]), or with `neox` its
// NeoX form, (x[i], x[i + n_rot/2]) (BitNet: its converters keep the Hugging Face row order). The
// angles are computed with llama.cpp's float operations (a running product of base^(-2 / n_rot)),
// because the models' logits are sensitive enough that another rounding of the angle shows.
struct Rope {
  int64_t head_dim = 0, n_rot = 0;
  float base = 10000.0f, scale = 1.0f;
  std::span<const float> factors;
  bool neox = false;
  // Each rotated value as one fma over a rounded product, as GCC contracts ggml's rotation
  // (Numerics::kLlamaCpp); else two rounded products and a sum.
  bool fused = false;

  void Apply(float* x, int64_t heads, int64_t pos) const {
    const float step = std::pow(base, -2.0f / static_cast<float>(n_rot));
    const int64_t partner = neox ? n_rot / 2 : 1;  // offset from a pair's first value to its second
    float theta = static_cast<float>(pos);
    for (int64_t i = 0; i < n_rot / 2; ++i, theta *= step) {
      const float angle = scale * (factors.empty() ? theta : theta / factors[static_cast<size_t>(i)]);
      const float c = std::cos(angle), s = std::sin(angle);
      for (int64_t h = 0; h < heads; ++h) {
        float* first = x + h * head_dim + (neox ? i : 2 * i);
        const float x0 = first[0], x1 = first[partner];
        if (fused) {
          first[0] = std::fma(x0, c, -(x1 * s));
          first[partner] = std::fma(x0, s, x1 * c);
        } else {
          first[0] = x0 * c - x1 * s;
          first[partner] = x0 * s + x1 * c;
        }
      }
    }
  }
};

}  // namespace tmac::ops

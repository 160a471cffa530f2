// Rounding one weight group of fp32 activations to int8, as TableMode::kInt16 does before it
// builds exact tables (the LUT and the TL2 products share it, so both see the same integers).
#pragma once

#include <cmath>
#include <cstdint>

namespace tmac::kernels {

// q[i] = round(x[i] / scale) with scale = max |x[i]| / 127 (llama.cpp's Q8 blocks round the same
// way), so |q[i]| <= 127. Returns the scale: 0 for an all-zero group, whose q are all 0.
inline float QuantizeGroupInt8(const float* x, int n, int8_t* q) {
  float absmax = 0.f;
  for (int i = 0; i < n; ++i) absmax = std::fmax(absmax, std::fabs(x[i]));
  const float scale = absmax / 127.f;
  const float inv = scale > 0.f ? 1.f / scale : 0.f;
  for (int i = 0; i < n; ++i) q[i] = static_cast<int8_t>(std::round(x[i] * inv));
  return scale;
}

}  // namespace tmac::kernels

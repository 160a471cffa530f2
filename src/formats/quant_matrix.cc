#include <algorithm>
#include <cmath>
#include <string>

#include "tmac/error.h"
#include "tmac/quant.h"

namespace tmac {

bool IsSupportedGroup(int group) {
  return group == 16 || group == 32 || group == 64 || group == 128 || group == 256;
}

namespace {

// The factor vectors' sizes, and every product equal to the scale or min it stands for.
void ValidateFactors(const QuantMatrix& w) {
  const ScaleFactors& f = w.factors;
  Require(f.super_group > 0 && f.super_group % w.group == 0 && w.cols % f.super_group == 0,
          "super-group " + std::to_string(f.super_group) + " must be a multiple of the group " +
              std::to_string(w.group) + " that divides K = " + std::to_string(w.cols));
  const auto params = static_cast<size_t>(w.rows * w.groups_per_row());
  const auto supers = static_cast<size_t>(w.rows * (w.cols / f.super_group));
  const bool with_mins = !w.mins.empty();
  Require(f.super_scales.size() == supers && f.scale_factors.size() == params,
          "scale factors do not match the shape");
  Require(with_mins ? f.super_mins.size() == supers && f.min_factors.size() == params
                    : f.super_mins.empty() && f.min_factors.empty(),
          "min factors do not match the mins");
  const int64_t per_super = f.super_group / w.group;
  for (size_t i = 0; i < params; ++i) {
    const auto j = static_cast<size_t>(static_cast<int64_t>(i) / per_super);
    if (f.super_scales[j] * static_cast<float>(f.scale_factors[i]) != w.scales[i])
      throw Error("scale " + std::to_string(i) + " is not the product of its factors");
    if (with_mins && f.super_mins[j] * static_cast<float>(f.min_factors[i]) != w.mins[i])
      throw Error("min " + std::to_string(i) + " is not the product of its factors");
  }
}

}  // namespace

float QuantMatrix::zero(int64_t m, int64_t g) const {
  const int64_t i = m * groups_per_row() + g;
  if (!mins.empty()) return scales[i] != 0.f ? mins[i] / scales[i] : 0.f;
  return zeros.empty() ? 0.5f * static_cast<float>((1 << bits) - 1) : zeros[i];
}

float QuantMatrix::Weight(int64_t m, int64_t k) const {
  const int64_t g = k / group;
  if (!mins.empty()) return scale(m, g) * static_cast<float>(code(m, k)) - mins[m * groups_per_row() + g];
  return scale(m, g) * (static_cast<float>(code(m, k)) - zero(m, g));
}

void QuantMatrix::Validate() const {
  Require(bits >= kMinBits && bits <= kMaxBits,
          "unsupported bit width " + std::to_string(bits) + " (expected 1 to 4)");
  Require(IsSupportedGroup(group),
          "unsupported group size " + std::to_string(group) + " (expected 16, 32, 64, 128 or 256)");
  Require(rows > 0 && cols > 0, "empty matrix: " + std::to_string(rows) + " x " + std::to_string(cols));
  Require(cols % group == 0,
          "K = " + std::to_string(cols) + " is not a multiple of the group size " + std::to_string(group));
  Require(static_cast<int64_t>(codes.size()) == rows * cols,
          "codes hold " + std::to_string(codes.size()) +
              " values, expected rows * cols = " + std::to_string(rows * cols));
  const auto params = static_cast<size_t>(rows * groups_per_row());
  Require(scales.size() == params,
          "scales hold " + std::to_string(scales.size()) + " values, expected " + std::to_string(params));
  Require(zeros.empty() || zeros.size() == params,
          "zeros hold " + std::to_string(zeros.size()) + " values, expected 0 or " + std::to_string(params));
  Require(mins.empty() || mins.size() == params,
          "mins hold " + std::to_string(mins.size()) + " values, expected 0 or " + std::to_string(params));
  Require(zeros.empty() || mins.empty(), "a matrix has zero points or mins, not both");
  const int max_code = (1 << bits) - 1;
  // These loops run over every weight of large matrices: a branch-free maximum (which the compiler
  // vectorizes) first, and the search for the culprit and its message only on failure.
  uint8_t largest = 0;
  for (const uint8_t c : codes) largest = std::max(largest, c);
  if (largest > max_code) {
    const size_t i = static_cast<size_t>(
        std::find_if(codes.begin(), codes.end(), [&](uint8_t c) { return c > max_code; }) - codes.begin());
    throw Error("code " + std::to_string(codes[i]) + " at index " + std::to_string(i) + " does not fit in " +
                std::to_string(bits) + " bits");
  }
  const auto check_finite = [](const std::vector<float>& values, const char* what) {
    for (float v : values) {
      if (!std::isfinite(v)) throw Error(std::string("non-finite ") + what);
    }
  };
  check_finite(scales, "scale");
  check_finite(zeros, "zero point");
  check_finite(mins, "min");
  if (!factors.empty()) ValidateFactors(*this);
}

QuantMatrix MakeTernary(int64_t rows, int64_t cols, int group, const std::vector<int8_t>& values,
                        const std::vector<float>& scales) {
  QuantMatrix w;
  w.rows = rows;
  w.cols = cols;
  w.bits = 2;
  w.group = group;
  Require(static_cast<int64_t>(values.size()) == rows * cols, "ternary values do not match the shape");
  w.codes.resize(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    Require(values[i] >= -1 && values[i] <= 1,
            "ternary value out of {-1, 0, 1} at index " + std::to_string(i));
    w.codes[i] = static_cast<uint8_t>(values[i] + 1);
  }
  const int64_t params = group > 0 && cols % group == 0 ? rows * (cols / group) : 0;
  Require(params > 0,
          "ternary group " + std::to_string(group) + " does not divide K = " + std::to_string(cols));
  if (scales.size() == 1) {
    w.scales.assign(static_cast<size_t>(params), scales[0]);
  } else {
    Require(static_cast<int64_t>(scales.size()) == params,
            "ternary scales must be 1 (per tensor) or one per group");
    w.scales = scales;
  }
  w.zeros.assign(static_cast<size_t>(params), 1.f);
  w.Validate();
  return w;
}

std::vector<float> Dequantize(const QuantMatrix& w) {
  std::vector<float> out(static_cast<size_t>(w.rows * w.cols));
  for (int64_t m = 0; m < w.rows; ++m) {
    for (int64_t k = 0; k < w.cols; ++k) out[static_cast<size_t>(m * w.cols + k)] = w.Weight(m, k);
  }
  return out;
}

}  // namespace tmac

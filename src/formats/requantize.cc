#include "tmac/requantize.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tmac/error.h"

namespace tmac {
namespace {

// The shape checks of QuantMatrix::Validate, with its messages, but before anything is sized from
// the shape (a group of 0 would divide by zero, a negative row count allocate without bound).
void CheckInput(const float* w, int64_t rows, int64_t cols, int bits, int group) {
  Require(bits >= kMinBits && bits <= kMaxBits,
          "unsupported bit width " + std::to_string(bits) + " (expected 1 to 4)");
  Require(IsSupportedGroup(group),
          "unsupported group size " + std::to_string(group) + " (expected 16, 32, 64, 128 or 256)");
  Require(rows > 0 && cols > 0, "empty matrix: " + std::to_string(rows) + " x " + std::to_string(cols));
  Require(cols % group == 0,
          "K = " + std::to_string(cols) + " is not a multiple of the group size " + std::to_string(group));
  for (int64_t i = 0; i < rows * cols; ++i) {
    if (!std::isfinite(w[i])) {
      throw Error("non-finite weight at row " + std::to_string(i / cols) + ", column " +
                  std::to_string(i % cols));
    }
  }
}

struct Grid {
  float scale;
  float zero;
};

// The grid of 2^bits levels over a group's range [lo, hi], shrunk by `shrink` towards 0.
Grid MakeGrid(float lo, float hi, float shrink, int levels, bool symmetric) {
  if (symmetric) {
    // An all-zero group keeps scale 0: the symmetric grid has no zero level when 2^bits is even,
    // so only scale 0 dequantizes it exactly (to 0 whatever the code).
    const float half = 0.5f * static_cast<float>(levels);
    return {shrink * std::max(-lo, hi) / half, half};
  }
  lo *= shrink;
  hi *= shrink;
  float scale = (hi - lo) / static_cast<float>(levels);
  // A constant group: with scale |lo| the zero point is -+1 and code 0 gives lo exactly; an
  // all-zero group takes scale 1, zero 0.
  if (scale == 0.f) scale = lo != 0.f ? std::fabs(lo) : 1.f;
  return {scale, -lo / scale};
}

void Encode(const float* w, int n, Grid grid, int levels, uint8_t* codes) {
  for (int k = 0; k < n; ++k) {
    const float v = grid.scale != 0.f ? std::round(w[k] / grid.scale + grid.zero) : grid.zero;
    codes[k] = static_cast<uint8_t>(std::clamp(v, 0.f, static_cast<float>(levels)));
  }
}

// Squared error of the group as QuantMatrix::Weight dequantizes it.
double SquaredError(const float* w, int n, Grid grid, const uint8_t* codes) {
  double sum = 0;
  for (int k = 0; k < n; ++k) {
    const double d = static_cast<double>(w[k]) - grid.scale * (static_cast<float>(codes[k]) - grid.zero);
    sum += d * d;
  }
  return sum;
}

// Quantizes every group with the grid the search picks among those `shrinks` give (the first
// one wins ties).
QuantMatrix QuantizeGroups(const float* w, int64_t rows, int64_t cols, int bits, int group, bool symmetric,
                           const std::vector<float>& shrinks) {
  CheckInput(w, rows, cols, bits, group);
  QuantMatrix q;
  q.rows = rows;
  q.cols = cols;
  q.bits = bits;
  q.group = group;
  q.codes.resize(static_cast<size_t>(rows * cols));
  q.scales.resize(static_cast<size_t>(rows * q.groups_per_row()));
  if (!symmetric) q.zeros.resize(q.scales.size());
  const int levels = (1 << bits) - 1;
  std::vector<uint8_t> trial(static_cast<size_t>(group));
  // Groups are contiguous along K and rows are whole groups, so group i starts at i * group.
  for (size_t i = 0; i < q.scales.size(); ++i) {
    const float* x = w + i * static_cast<size_t>(group);
    uint8_t* codes = q.codes.data() + i * static_cast<size_t>(group);
    const auto [lo, hi] = std::minmax_element(x, x + group);
    Grid best{};
    double best_error = 0;
    for (size_t s = 0; s < shrinks.size(); ++s) {
      const Grid grid = MakeGrid(*lo, *hi, shrinks[s], levels, symmetric);
      Encode(x, group, grid, levels, trial.data());
      const double error = SquaredError(x, group, grid, trial.data());
      // The first grid is taken whatever its error, so an overflowing range reaches Validate.
      if (s == 0 || error < best_error) {
        best_error = error;
        best = grid;
        std::copy(trial.begin(), trial.end(), codes);
      }
    }
    q.scales[i] = best.scale;
    if (!symmetric) q.zeros[i] = best.zero;
  }
  q.Validate();  // a range too wide for float (max - min overflowing) shows up as a non-finite scale
  return q;
}

}  // namespace

QuantMatrix QuantizeRtn(const float* w, int64_t rows, int64_t cols, int bits, int group, bool symmetric) {
  return QuantizeGroups(w, rows, cols, bits, group, symmetric, {1.f});
}

QuantMatrix QuantizeMse(const float* w, int64_t rows, int64_t cols, int bits, int group, bool symmetric) {
  // 1.0 first, so the search keeps RTN unless a smaller range is strictly better; below ~0.6 the
  // clipped tail costs more than the finer step saves for any bell-shaped group.
  std::vector<float> shrinks;
  for (int i = 0; i <= 20; ++i) shrinks.push_back(1.f - 0.02f * static_cast<float>(i));
  return QuantizeGroups(w, rows, cols, bits, group, symmetric, shrinks);
}

QuantMatrix QuantizeTernaryAbsmean(const float* w, int64_t rows, int64_t cols, int group) {
  CheckInput(w, rows, cols, 2, group);
  const auto n = static_cast<size_t>(rows * cols);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += std::fabs(w[i]);
  // BitNet's guard: an all-zero tensor would otherwise divide by 0; its weights all round to 0.
  const float scale = std::max(static_cast<float>(sum / static_cast<double>(n)), 1e-5f);
  std::vector<int8_t> values(n);
  for (size_t i = 0; i < n; ++i)
    values[i] = static_cast<int8_t>(std::clamp(std::round(w[i] / scale), -1.f, 1.f));
  return MakeTernary(rows, cols, group, values, {scale});
}

QuantError MeasureError(const float* w, const QuantMatrix& q) {
  const std::vector<float> dq = Dequantize(q);
  QuantError e;
  for (size_t i = 0; i < dq.size(); ++i) {
    const double d = std::fabs(static_cast<double>(w[i]) - dq[i]);
    e.mse += d * d;
    e.max_abs = std::max(e.max_abs, d);
  }
  e.mse /= static_cast<double>(dq.size());
  return e;
}

}  // namespace tmac

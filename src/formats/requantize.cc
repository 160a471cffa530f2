#include "tmac/requantize.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tmac/error.h"
#include "tmac/thread_pool.h"

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

// round(clamp(v, 0, levels)), halfway cases up, in operations the compiler vectorizes: min, max,
// add and truncation (a libm round per weight and grid was most of a requantization's time).
// c + 0.5 is exact for every float c in [0, 15] but those just below 0.5, which it may round up:
// where std::round gives 0 this gives 1, for c within 3e-8 of one half. v is finite.
inline uint8_t RoundCode(float v, float levels) {
  float c = v > 0.f ? v : 0.f;
  c = c < levels ? c : levels;
  return static_cast<uint8_t>(static_cast<int32_t>(c + 0.5f));
}

void Encode(const float* w, int n, Grid grid, int levels, uint8_t* codes) {
  const auto top = static_cast<float>(levels);
  if (grid.scale == 0.f) {  // every weight is the grid's one value: the zero point's code
    std::fill(codes, codes + n, static_cast<uint8_t>(std::clamp(grid.zero, 0.f, top)));
    return;
  }
  for (int k = 0; k < n; ++k) codes[k] = RoundCode(w[k] / grid.scale + grid.zero, top);
}

// Squared error of the group as QuantMatrix::Weight dequantizes it. Eight running sums (n is a
// multiple of 8) so that the adds are not one serial chain: that chain was the search's cost.
double SquaredError(const float* w, int n, Grid grid, const uint8_t* codes) {
  constexpr int kLanes = 8;
  double partial[kLanes] = {};
  for (int k = 0; k < n; k += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      const double d =
          static_cast<double>(w[k + j]) - grid.scale * (static_cast<float>(codes[k + j]) - grid.zero);
      partial[j] += d * d;
    }
  }
  double sum = 0;
  for (double p : partial) sum += p;
  return sum;
}

// Quantizes every group with the grid the search picks among those `shrinks` give (the first
// one wins ties).
QuantMatrix QuantizeGroups(const float* w, int64_t rows, int64_t cols, int bits, int group, bool symmetric,
                           const std::vector<float>& shrinks, ThreadPool* pool) {
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
  // Groups are contiguous along K and rows are whole groups, so group i starts at i * group.
  // Each group is quantized on its own, so the split over threads changes nothing.
  const auto quantize = [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> trial(static_cast<size_t>(group));
    for (auto i = static_cast<size_t>(begin); i < static_cast<size_t>(end); ++i) {
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
  };
  const auto groups = static_cast<int64_t>(q.scales.size());
  ThreadPool::RunOn(pool, groups, quantize);
  q.Validate();  // a range too wide for float (max - min overflowing) shows up as a non-finite scale
  return q;
}

}  // namespace

QuantMatrix QuantizeRtn(const float* w, int64_t rows, int64_t cols, int bits, int group, bool symmetric,
                        ThreadPool* pool) {
  return QuantizeGroups(w, rows, cols, bits, group, symmetric, {1.f}, pool);
}

QuantMatrix QuantizeMse(const float* w, int64_t rows, int64_t cols, int bits, int group, bool symmetric,
                        ThreadPool* pool) {
  // 1.0 first, so the search keeps RTN unless a smaller range is strictly better; below ~0.6 the
  // clipped tail costs more than the finer step saves for any bell-shaped group.
  std::vector<float> shrinks;
  for (int i = 0; i <= 20; ++i) shrinks.push_back(1.f - 0.02f * static_cast<float>(i));
  return QuantizeGroups(w, rows, cols, bits, group, symmetric, shrinks, pool);
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

#include "tmac/requantize.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "reference.h"
#include "tmac/error.h"
#include "tmac/thread_pool.h"

namespace tmac {
namespace {

constexpr int64_t kRows = 8;
constexpr int64_t kCols = 256;

// Bell-shaped like real weights, so the range is set by a few outliers.
std::vector<float> GaussianWeights(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 0.02f);
  std::vector<float> w(static_cast<size_t>(n));
  for (auto& x : w) x = d(rng);
  return w;
}

// RTN straight from the definitions, one element at a time: scan the element's group for its
// range, derive the grid, round.
QuantMatrix ReferenceRtn(const std::vector<float>& w, int64_t rows, int64_t cols, int bits, int group,
                         bool symmetric) {
  QuantMatrix q;
  q.rows = rows;
  q.cols = cols;
  q.bits = bits;
  q.group = group;
  q.codes.resize(w.size());
  q.scales.resize(static_cast<size_t>(rows * (cols / group)));
  if (!symmetric) q.zeros.resize(q.scales.size());
  const float levels = static_cast<float>((1 << bits) - 1);
  for (int64_t m = 0; m < rows; ++m) {
    for (int64_t k = 0; k < cols; ++k) {
      const int64_t g = k / group;
      float lo = INFINITY, hi = -INFINITY, amax = 0.f;
      for (int64_t j = g * group; j < (g + 1) * group; ++j) {
        const float x = w[static_cast<size_t>(m * cols + j)];
        lo = std::min(lo, x);
        hi = std::max(hi, x);
        amax = std::max(amax, std::fabs(x));
      }
      const float scale = symmetric ? amax / (levels / 2) : (hi - lo) / levels;
      const float zero = symmetric ? levels / 2 : -lo / scale;
      const float code = std::round(w[static_cast<size_t>(m * cols + k)] / scale + zero);
      q.codes[static_cast<size_t>(m * cols + k)] = static_cast<uint8_t>(std::clamp(code, 0.f, levels));
      const auto i = static_cast<size_t>(m * (cols / group) + g);
      q.scales[i] = scale;
      if (!symmetric) q.zeros[i] = zero;
    }
  }
  return q;
}

// Squared error of each group of q against w.
std::vector<double> GroupErrors(const std::vector<float>& w, const QuantMatrix& q) {
  const std::vector<float> dq = Dequantize(q);
  std::vector<double> errors(q.scales.size());
  for (size_t i = 0; i < w.size(); ++i) {
    const double d = static_cast<double>(w[i]) - dq[i];
    errors[i / static_cast<size_t>(q.group)] += d * d;
  }
  return errors;
}

struct Config {
  int bits;
  int group;
  bool symmetric;
};

std::vector<Config> AllConfigs() {
  std::vector<Config> configs;
  for (int bits = kMinBits; bits <= kMaxBits; ++bits) {
    for (int group : {32, 64, 128}) {
      for (bool symmetric : {false, true}) configs.push_back({bits, group, symmetric});
    }
  }
  return configs;
}

std::string Name(const Config& c) {
  return std::to_string(c.bits) + " bits, group " + std::to_string(c.group) +
         (c.symmetric ? ", sym" : ", asym");
}

TEST(Requantize, RtnMatchesThePerElementReference) {
  uint32_t seed = 1;
  for (const Config& c : AllConfigs()) {
    SCOPED_TRACE(Name(c));
    const std::vector<float> w = GaussianWeights(kRows * kCols, seed++);
    const QuantMatrix q = QuantizeRtn(w.data(), kRows, kCols, c.bits, c.group, c.symmetric);
    const QuantMatrix ref = ReferenceRtn(w, kRows, kCols, c.bits, c.group, c.symmetric);
    EXPECT_EQ(q.codes, ref.codes);
    EXPECT_EQ(q.scales, ref.scales);
    EXPECT_EQ(q.zeros, ref.zeros);
    EXPECT_EQ(q.symmetric(), c.symmetric);
  }
}

// Groups are quantized independently, so splitting them over threads changes no bit.
TEST(Requantize, ThreadsChangeNothing) {
  ThreadPool pool(3);
  const std::vector<float> w = GaussianWeights(kRows * kCols, 77);
  for (const Config& c : AllConfigs()) {
    SCOPED_TRACE(Name(c));
    const QuantMatrix one = QuantizeMse(w.data(), kRows, kCols, c.bits, c.group, c.symmetric);
    const QuantMatrix three = QuantizeMse(w.data(), kRows, kCols, c.bits, c.group, c.symmetric, &pool);
    EXPECT_EQ(three.codes, one.codes);
    EXPECT_EQ(three.scales, one.scales);
    EXPECT_EQ(three.zeros, one.zeros);
  }
}

TEST(Requantize, RtnErrorIsAtMostHalfAStep) {
  uint32_t seed = 100;
  for (const Config& c : AllConfigs()) {
    SCOPED_TRACE(Name(c));
    const std::vector<float> w = GaussianWeights(kRows * kCols, seed++);
    const QuantMatrix q = QuantizeRtn(w.data(), kRows, kCols, c.bits, c.group, c.symmetric);
    const std::vector<float> dq = Dequantize(q);
    for (size_t i = 0; i < w.size(); ++i) {
      const float scale = q.scales[i / static_cast<size_t>(c.group)];
      ASSERT_LE(std::fabs(w[i] - dq[i]), scale * (0.5f + 1e-4f)) << "at " << i;
    }
  }
}

TEST(Requantize, MseSearchNeverLosesToRtnAndWinsOnAverage) {
  uint32_t seed = 200;
  double rtn_total[kMaxBits + 1] = {}, mse_total[kMaxBits + 1] = {};
  for (const Config& c : AllConfigs()) {
    SCOPED_TRACE(Name(c));
    const std::vector<float> w = GaussianWeights(kRows * kCols, seed++);
    const QuantMatrix rtn = QuantizeRtn(w.data(), kRows, kCols, c.bits, c.group, c.symmetric);
    const QuantMatrix mse = QuantizeMse(w.data(), kRows, kCols, c.bits, c.group, c.symmetric);
    EXPECT_EQ(mse.symmetric(), c.symmetric);
    const std::vector<double> rtn_errors = GroupErrors(w, rtn), mse_errors = GroupErrors(w, mse);
    for (size_t g = 0; g < rtn_errors.size(); ++g) ASSERT_LE(mse_errors[g], rtn_errors[g]) << "group " << g;
    rtn_total[c.bits] += MeasureError(w.data(), rtn).mse;
    mse_total[c.bits] += MeasureError(w.data(), mse).mse;
  }
  for (int bits = kMinBits; bits <= kMaxBits; ++bits) {
    EXPECT_LT(mse_total[bits], rtn_total[bits]) << bits << " bits";
    RecordProperty("mse_vs_rtn_" + std::to_string(bits) + "bit",
                   std::to_string(mse_total[bits] / rtn_total[bits]));
  }
}

TEST(Requantize, TernaryAbsmean) {
  const std::vector<float> w = GaussianWeights(kRows * kCols, 300);
  const QuantMatrix q = QuantizeTernaryAbsmean(w.data(), kRows, kCols, 64);
  double sum = 0;
  for (float x : w) sum += std::fabs(x);
  const float s = static_cast<float>(sum / static_cast<double>(w.size()));
  EXPECT_EQ(q.bits, 2);
  EXPECT_EQ(q.scales, std::vector<float>(q.scales.size(), s));
  EXPECT_EQ(q.zeros, std::vector<float>(q.zeros.size(), 1.f));
  const std::vector<float> dq = Dequantize(q);
  int used[3] = {};
  for (size_t i = 0; i < w.size(); ++i) {
    ASSERT_LE(q.codes[i], 2) << "at " << i;
    ++used[q.codes[i]];
    // Within half a step inside [-1.5 s, 1.5 s]; beyond, clamped to +-s.
    ASSERT_LE(std::fabs(w[i] - dq[i]), std::max(0.5f * s, std::fabs(w[i]) - s) * (1 + 1e-5f)) << "at " << i;
  }
  EXPECT_GT(used[0], 0);
  EXPECT_GT(used[1], 0);
  EXPECT_GT(used[2], 0);

  // An all-zero tensor: the epsilon keeps the scale finite and every weight is 0.
  const std::vector<float> zeros(64, 0.f);
  const QuantMatrix z = QuantizeTernaryAbsmean(zeros.data(), 1, 64, 32);
  EXPECT_EQ(z.codes, std::vector<uint8_t>(64, 1));
  EXPECT_EQ(Dequantize(z), zeros);
}

// Every group holds codes 0 and 2^bits - 1, so the grid is fixed by the weights themselves.
TEST(Requantize, WeightsOnAGridRoundTrip) {
  uint32_t seed = 400;
  for (const Config& c : AllConfigs()) {
    SCOPED_TRACE(Name(c));
    QuantMatrix q = testing::RandomQuantMatrix(kRows, kCols, c.bits, c.group, c.symmetric, seed++);
    for (size_t i = 0; i < q.codes.size(); i += static_cast<size_t>(c.group)) {
      q.codes[i] = 0;
      q.codes[i + 1] = static_cast<uint8_t>((1 << c.bits) - 1);
    }
    const std::vector<float> w = Dequantize(q);
    for (const QuantMatrix& back : {QuantizeRtn(w.data(), kRows, kCols, c.bits, c.group, c.symmetric),
                                    QuantizeMse(w.data(), kRows, kCols, c.bits, c.group, c.symmetric)}) {
      EXPECT_EQ(back.codes, q.codes);
      for (size_t g = 0; g < q.scales.size(); ++g)
        EXPECT_NEAR(back.scales[g], q.scales[g], 1e-5f * q.scales[g]);
    }
  }
  // Absmean moves the scale to mean |w| = s * (share of nonzero weights), but with more than 2/3
  // of them nonzero every weight still rounds back to its own code.
  std::vector<int8_t> values(kRows * kCols);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<int8_t>(i % 4 == 0 ? 0 : i % 8 < 4 ? 1 : -1);
  const QuantMatrix ternary = MakeTernary(kRows, kCols, 64, values, {0.03f});
  const std::vector<float> w = Dequantize(ternary);
  EXPECT_EQ(QuantizeTernaryAbsmean(w.data(), kRows, kCols, 64).codes, ternary.codes);
}

TEST(Requantize, ConstantGroupsAreExact) {
  std::vector<float> w(4 * 32, 0.f);
  std::fill(w.begin() + 32, w.begin() + 64, 0.75f);
  std::fill(w.begin() + 64, w.begin() + 96, -0.25f);
  for (int bits = kMinBits; bits <= kMaxBits; ++bits) {
    SCOPED_TRACE(std::to_string(bits) + " bits");
    for (const QuantMatrix& q :
         {QuantizeRtn(w.data(), 1, 128, bits, 32, false), QuantizeMse(w.data(), 1, 128, bits, 32, false)}) {
      EXPECT_EQ(Dequantize(q), w);
      EXPECT_EQ(MeasureError(w.data(), q).max_abs, 0.0);
    }
    // The symmetric grid represents a constant group only when it is 0 (scale 0).
    const QuantMatrix sym = QuantizeRtn(w.data(), 1, 128, bits, 32, true);
    EXPECT_EQ(sym.scales[0], 0.f);
    EXPECT_EQ(sym.scales[3], 0.f);
    const std::vector<float> dq = Dequantize(sym);
    EXPECT_EQ(std::vector<float>(dq.begin(), dq.begin() + 32), std::vector<float>(32, 0.f));
  }
}

TEST(Requantize, MeasureError) {
  const QuantMatrix q = testing::RandomQuantMatrix(2, 64, 3, 32, false, 500);
  std::vector<float> w = Dequantize(q);
  EXPECT_EQ(MeasureError(w.data(), q).mse, 0.0);
  w[70] += 0.25f;
  w[3] -= 0.125f;
  const QuantError e = MeasureError(w.data(), q);
  EXPECT_NEAR(e.max_abs, 0.25, 1e-6);
  EXPECT_NEAR(e.mse, (0.25 * 0.25 + 0.125 * 0.125) / 128, 1e-8);
}

TEST(Requantize, RejectsWhatNoQuantMatrixHolds) {
  std::vector<float> w(2 * 128, 0.5f);
  auto expect_error = [](auto quantize, const char* needle) {
    try {
      quantize();
      FAIL() << "accepted: " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  for (auto quantize : {QuantizeRtn, QuantizeMse}) {
    expect_error([&] { return quantize(w.data(), 2, 128, 5, 32, false, nullptr); }, "bit width");
    expect_error([&] { return quantize(w.data(), 2, 128, 0, 32, true, nullptr); }, "bit width");
    expect_error([&] { return quantize(w.data(), 2, 96, 2, 48, false, nullptr); }, "group size");
    expect_error([&] { return quantize(w.data(), 2, 96, 2, 64, false, nullptr); }, "not a multiple");
    expect_error([&] { return quantize(w.data(), 0, 128, 2, 32, false, nullptr); }, "empty");
  }
  expect_error([&] { return QuantizeTernaryAbsmean(w.data(), 2, 96, 48); }, "group size");
  expect_error([&] { return QuantizeTernaryAbsmean(w.data(), 2, 96, 64); }, "not a multiple");
  w[130] = std::nanf("");
  expect_error([&] { return QuantizeRtn(w.data(), 2, 128, 2, 32, false); },
               "non-finite weight at row 1, column 2");
  expect_error([&] { return QuantizeMse(w.data(), 2, 128, 2, 32, true); }, "non-finite");
  expect_error([&] { return QuantizeTernaryAbsmean(w.data(), 2, 128, 32); }, "non-finite");
  w[130] = INFINITY;
  expect_error([&] { return QuantizeRtn(w.data(), 2, 128, 4, 64, true); }, "non-finite");
  // Finite weights whose range overflows float cannot have a finite scale.
  w[130] = 3e38f;
  w[131] = -3e38f;
  expect_error([&] { return QuantizeRtn(w.data(), 2, 128, 4, 64, false); }, "non-finite scale");
}

}  // namespace
}  // namespace tmac

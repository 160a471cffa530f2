#include "tmac/quant.h"

#include <gtest/gtest.h>

#include "reference.h"
#include "tmac/error.h"

namespace tmac {
namespace {

TEST(QuantMatrix, WeightFollowsTheAffineMap) {
  QuantMatrix w = testing::RandomQuantMatrix(2, 64, 3, 32, /*symmetric=*/false, 1);
  EXPECT_FLOAT_EQ(w.Weight(1, 40), w.scales[3] * (static_cast<float>(w.codes[64 + 40]) - w.zeros[3]));
  w.zeros.clear();
  EXPECT_FLOAT_EQ(w.Weight(1, 40), w.scales[3] * (static_cast<float>(w.codes[64 + 40]) - 3.5f));
}

TEST(QuantMatrix, MinFormSubtractsTheMin) {
  QuantMatrix w = testing::RandomQuantMatrix(2, 32, 2, 16, true, 3);
  w.mins = {0.5f, 0.25f, -1.f, 2.f};
  EXPECT_NO_THROW(w.Validate());
  EXPECT_FLOAT_EQ(w.Weight(1, 20), w.scales[3] * static_cast<float>(w.codes[32 + 20]) - 2.f);
  EXPECT_FALSE(w.symmetric());
}

TEST(QuantMatrix, TernaryIsTwoBitWithZeroOne) {
  const std::vector<int8_t> values = {-1, 0, 1, 1, -1, 0, 0, 0};
  std::vector<int8_t> row(64, 0);
  std::copy(values.begin(), values.end(), row.begin());
  const QuantMatrix w = MakeTernary(1, 64, 32, row, {0.5f});
  for (int k = 0; k < 8; ++k) EXPECT_FLOAT_EQ(w.Weight(0, k), 0.5f * values[static_cast<size_t>(k)]);
  EXPECT_EQ(w.scales.size(), 2u);  // the per-tensor scale is repeated per group
  EXPECT_THROW(MakeTernary(1, 64, 32, std::vector<int8_t>(64, 2), {1.f}), Error);
}

TEST(QuantMatrix, ValidateNamesTheProblem) {
  const QuantMatrix good = testing::RandomQuantMatrix(4, 64, 2, 32, false, 2);
  EXPECT_NO_THROW(good.Validate());
  auto expect_error = [](QuantMatrix w, const char* needle) {
    try {
      w.Validate();
      FAIL() << "accepted: " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  QuantMatrix w = good;
  w.bits = 5;
  expect_error(w, "bit width");
  w = good;
  w.group = 8;
  expect_error(w, "group size");
  w = good;
  w.cols = 80;
  expect_error(w, "not a multiple");
  w = good;
  w.rows = 0;
  expect_error(w, "empty");
  w = good;
  w.codes[7] = 4;
  expect_error(w, "does not fit");
  w = good;
  w.scales.pop_back();
  expect_error(w, "scales hold");
  w = good;
  w.zeros.resize(3);
  expect_error(w, "zeros hold");
  w = good;
  w.mins = w.zeros;
  expect_error(w, "not both");
  w = good;
  w.scales[0] = std::nanf("");
  expect_error(w, "non-finite");
}

}  // namespace
}  // namespace tmac

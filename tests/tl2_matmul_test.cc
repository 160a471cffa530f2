#include <gtest/gtest.h>

#include <ostream>

#include <algorithm>
#include <cmath>
#include <string>

#include "ternary_reference.h"
#include "tmac/error.h"
#include "tmac/ternary.h"
#include "tmac/thread_pool.h"

namespace tmac {
namespace {

// Error bound for int8 tables, derived:
// A group of G weights is T = floor(G/3) triples and one fallback chunk. Every chunk's table entry
// e (a signed sum of the chunk's activations) is stored as round(e / ts), with
// ts = (largest chunk (|x0| + |x1|) + |x2| in the group) / 127, the fallback counting as
// |x0| + |x1|. So each lookup is off by at most 1/2 unit, and so is its negation (rounding to
// nearest even is odd); the padding table is exactly 0. One unit is worth s * ts in the output:
//     |error of group g| <= |s_g| * ts_g * (T + 1) / 2.
// fp32 rounding (table entries, epilogue) adds a relative 1e-4 of sum |w x|.
double Tl2TableBound(const QuantMatrix& w, const float* x, int64_t m) {
  const int triples = w.group / 3;
  double bound = 0;
  for (int64_t g = 0; g < w.groups_per_row(); ++g) {
    const float* xg = x + g * w.group;
    double max_abs_sum = 0;
    for (int c = 0; c <= triples; ++c) {
      double s = 0;
      for (int k = 3 * c; k < std::min(3 * c + 3, w.group); ++k) s += std::fabs(xg[k]);
      max_abs_sum = std::max(max_abs_sum, s);
    }
    bound += std::fabs(w.scale(m, g)) * (max_abs_sum / 127.0) * (triples + 1) / 2.0;
  }
  return bound * 1.001 + 1e-4 * testing::AbsDot(w, x, m) + 1e-6;
}

struct Case {
  int group, tile_rows;
  int64_t rows, cols_in_groups, batch;
};

std::string Name(const Case& c) {
  return "g" + std::to_string(c.group) + "_t" + std::to_string(c.tile_rows) + "_m" + std::to_string(c.rows) +
         "_k" + std::to_string(c.cols_in_groups * c.group) + "_n" + std::to_string(c.batch);
}

void PrintTo(const Case& c, std::ostream* os) { *os << Name(c); }

class Tl2MatmulTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    const Case c = GetParam();
    source_ = testing::RandomTernary(c.rows, c.cols_in_groups * c.group, c.group,
                                     static_cast<uint32_t>(c.group * 7 + c.rows + c.batch));
    packed_ = Tl2Matrix::Pack(source_, {c.tile_rows});
    stored_ = packed_.Unpack();  // the weights as stored (f16 scales)
    x_ = testing::RandomVector(c.batch * source_.cols, 99 + static_cast<uint32_t>(c.group));
  }
  std::vector<float> Run(Isa isa, ThreadPool* pool = nullptr) const {
    std::vector<float> y(static_cast<size_t>(GetParam().batch * source_.rows), -1.f);
    Tl2Matmul(packed_, x_.data(), GetParam().batch, y.data(), {TableMode::kInt8, isa, pool});
    return y;
  }
  std::vector<float> RunInt8(const Int8Activations& xq, Isa isa, ThreadPool* pool = nullptr) const {
    std::vector<float> y(static_cast<size_t>(xq.batch * source_.rows), -1.f);
    Tl2MatmulInt8(packed_, xq, y.data(), {TableMode::kInt8, isa, pool});
    return y;
  }

  QuantMatrix source_, stored_;
  Tl2Matrix packed_;
  std::vector<float> x_;
};

TEST_P(Tl2MatmulTest, Int8TablesStayWithinTheDerivedBound) {
  const Case c = GetParam();
  const std::vector<double> ref = testing::ReferenceMatmul(stored_, x_.data(), c.batch);
  for (Isa isa : SupportedIsas()) {
    const auto y = Run(isa);
    for (int64_t n = 0; n < c.batch; ++n) {
      for (int64_t m = 0; m < c.rows; ++m) {
        const size_t i = static_cast<size_t>(n * c.rows + m);
        ASSERT_NEAR(y[i], ref[i], Tl2TableBound(stored_, x_.data() + n * source_.cols, m))
            << IsaName(isa) << " row " << m << " batch " << n;
      }
    }
  }
}

TEST_P(Tl2MatmulTest, EveryIsaAndThreadCountGivesIdenticalBits) {
  ThreadPool two(2);
  const auto expected = Run(Isa::kScalar);
  for (Isa isa : SupportedIsas()) {
    EXPECT_EQ(Run(isa), expected) << IsaName(isa);
    EXPECT_EQ(Run(isa, &two), expected) << IsaName(isa) << " on 2 threads";
  }
}

TEST_P(Tl2MatmulTest, Int8ActivationsAreExact) {
  const Case c = GetParam();
  const Int8Activations xq = QuantizeActivations(x_.data(), c.batch, source_.cols);
  const std::vector<float> expected = testing::ReferenceTernaryInt8(source_, xq);
  ThreadPool two(2);
  for (Isa isa : SupportedIsas()) {
    ASSERT_EQ(RunInt8(xq, isa), expected) << IsaName(isa);
    ASSERT_EQ(RunInt8(xq, isa, &two), expected) << IsaName(isa) << " on 2 threads";
  }
}

// TableMode::kInt16 rounds each group of activations to int8 on its own scale (absmax / 127),
// then sums exactly: the reference does the same in the kernels' float order.
TEST_P(Tl2MatmulTest, Int16TablesAreExactOnGroupRoundedActivations) {
  const Case c = GetParam();
  std::vector<float> expected(static_cast<size_t>(c.batch * c.rows));
  for (int64_t n = 0; n < c.batch; ++n) {
    const float* x = x_.data() + n * source_.cols;
    for (int64_t m = 0; m < c.rows; ++m) {
      float acc = 0.f;
      for (int64_t g = 0; g < source_.groups_per_row(); ++g) {
        float absmax = 0.f;
        for (int64_t k = g * c.group; k < (g + 1) * c.group; ++k) absmax = std::max(absmax, std::fabs(x[k]));
        const float xs = absmax / 127.f;
        int64_t dot = 0;
        for (int64_t k = g * c.group; k < (g + 1) * c.group; ++k)
          dot += (source_.code(m, k) - 1) * static_cast<int64_t>(std::round(x[k] / xs));
        acc = acc + static_cast<float>(dot) * xs * stored_.scale(m, g);
      }
      expected[static_cast<size_t>(n * c.rows + m)] = acc;
    }
  }
  ThreadPool two(2);
  for (Isa isa : SupportedIsas()) {
    for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &two}) {
      std::vector<float> y(expected.size(), -1.f);
      Tl2Matmul(packed_, x_.data(), c.batch, y.data(), {TableMode::kInt16, isa, pool});
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_NEAR(y[i], expected[i], 1e-5f * (1.f + std::fabs(expected[i]))) << IsaName(isa) << " output " << i;
    }
  }
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  for (int group : {32, 64, 128, 256}) {
    cases.push_back({group, 64, 67, 3, 1});   // one tile, partly padding
    cases.push_back({group, 64, 130, 2, 3});  // three tiles, batch > 1 (mpGEMM)
  }
  cases.push_back({128, 128, 130, 2, 1});  // two tiles of 128, one partial
  cases.push_back({256, 128, 67, 1, 3});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Shapes, Tl2MatmulTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return Name(info.param); });

// The largest table entries (|e| = 3 * 127) in the longest group stay exact: the split
// e = l + 127 h and the int16 sums (|I| <= 32639) have room for them.
TEST(Tl2Matmul, ExtremeInt8ActivationsAreExact) {
  for (int8_t w : {int8_t{1}, int8_t{-1}}) {
    const QuantMatrix ternary = MakeTernary(64, 512, 256, std::vector<int8_t>(64 * 512, w), {1.f});
    const Tl2Matrix packed = Tl2Matrix::Pack(ternary);
    for (int8_t q : {int8_t{-127}, int8_t{127}}) {
      Int8Activations x;
      x.batch = 1;
      x.cols = 512;
      x.q.assign(512, q);
      x.scale = {1.f};
      const std::vector<float> expected = testing::ReferenceTernaryInt8(ternary, x);
      EXPECT_EQ(expected[0], static_cast<float>(w * q * 512));
      for (Isa isa : SupportedIsas()) {
        std::vector<float> y(64);
        Tl2MatmulInt8(packed, x, y.data(), {TableMode::kInt8, isa, nullptr});
        EXPECT_EQ(y, expected) << IsaName(isa) << " w " << int{w} << " q " << int{q};
      }
    }
  }
}

TEST(Tl2Matmul, RejectsBadArguments) {
  const Tl2Matrix packed = Tl2Matrix::Pack(testing::RandomTernary(8, 64, 32, 5));
  std::vector<float> x(64), y(8);
  EXPECT_THROW(Tl2Matmul(packed, x.data(), 0, y.data()), Error);
  EXPECT_THROW(Tl2Matmul(Tl2Matrix(), x.data(), 1, y.data()), Error);
  EXPECT_THROW(Tl2Matmul(packed, x.data(), 1, y.data(), {TableMode::kInt8Fast, Isa::kScalar, nullptr}),
               Error);
  const Int8Activations wrong = QuantizeActivations(x.data(), 2, 32);
  EXPECT_THROW(Tl2MatmulInt8(packed, wrong, y.data()), Error);
  Int8Activations too_negative = QuantizeActivations(x.data(), 1, 64);
  too_negative.q[3] = -128;
  EXPECT_THROW(Tl2MatmulInt8(packed, too_negative, y.data()), Error);
}

}  // namespace
}  // namespace tmac

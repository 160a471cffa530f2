#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>

#include <random>
#include <string>

#include "reference.h"
#include "tmac/error.h"
#include "tmac/lut.h"
#include "tmac/thread_pool.h"

namespace tmac {
namespace {

struct Case {
  int bits, group, tile_rows;
  bool symmetric;
  int64_t rows, cols_in_groups, batch;
  IndexOrder order;
};

std::string Name(const Case& c) {
  return "b" + std::to_string(c.bits) + "_g" + std::to_string(c.group) + "_t" + std::to_string(c.tile_rows) +
         (c.symmetric ? "_sym" : "_zero") + "_m" + std::to_string(c.rows) + "_n" + std::to_string(c.batch) +
         (c.order == IndexOrder::kChunkQuads ? "_quads" : "_pairs");
}

// Readable parameters in test logs (gtest would dump the struct's bytes, padding included).
void PrintTo(const Case& c, std::ostream* os) { *os << Name(c); }

class LutMatmulTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    const Case c = GetParam();
    source_ = testing::RandomQuantMatrix(c.rows, c.cols_in_groups * c.group, c.bits, c.group, c.symmetric,
                                         static_cast<uint32_t>(c.bits * 1000 + c.group + c.rows));
    packed_ = LutMatrix::Pack(source_, {c.bits, c.group, c.tile_rows, ScaleType::kF16, c.order});
    for (Isa isa : SupportedIsas()) {
      if (IsaReadsOrder(isa, c.order)) isas_.push_back(isa);
    }
    stored_ = packed_.Unpack();  // the weights as stored (f16 scales)
    x_ = testing::RandomVector(c.batch * source_.cols, 99 + static_cast<uint32_t>(c.bits));
  }
  std::vector<float> Run(TableMode mode, Isa isa, ThreadPool* pool = nullptr) const {
    std::vector<float> y(static_cast<size_t>(GetParam().batch * source_.rows), -1.f);
    LutMatmul(packed_, x_.data(), GetParam().batch, y.data(), {mode, isa, pool});
    return y;
  }

  std::vector<Isa> isas_;  // the supported ISAs that read this index order
  QuantMatrix source_, stored_;
  LutMatrix packed_;
  std::vector<float> x_;
};

TEST_P(LutMatmulTest, Int8TablesStayWithinTheDerivedBound) {
  const Case c = GetParam();
  const std::vector<double> ref = testing::ReferenceMatmul(stored_, x_.data(), c.batch);
  for (bool averaged : {false, true}) {
    for (Isa isa : isas_) {
      const auto y = Run(averaged ? TableMode::kInt8Fast : TableMode::kInt8, isa);
      for (int64_t n = 0; n < c.batch; ++n) {
        for (int64_t m = 0; m < c.rows; ++m) {
          const size_t i = static_cast<size_t>(n * c.rows + m);
          const double bound = testing::Int8TableBound(stored_, x_.data() + n * source_.cols, m, averaged);
          ASSERT_NEAR(y[i], ref[i], bound)
              << IsaName(isa) << (averaged ? " averaged" : "") << " row " << m << " batch " << n;
        }
      }
    }
  }
}

// kInt16 rounds each group of activations to int8 and then sums exactly: its result is the
// float product with the rounded activations, up to fp32 rounding in the epilogue.
TEST_P(LutMatmulTest, Int16TablesEqualTheProductWithGroupRoundedActivations) {
  const Case c = GetParam();
  std::vector<float> rounded(x_.size());
  for (size_t g = 0; g < x_.size() / static_cast<size_t>(c.group); ++g) {
    const float* xg = x_.data() + g * static_cast<size_t>(c.group);
    float absmax = 0.f;
    for (int i = 0; i < c.group; ++i) absmax = std::max(absmax, std::fabs(xg[i]));
    const float scale = absmax / 127.f;
    for (int i = 0; i < c.group; ++i) {
      rounded[g * static_cast<size_t>(c.group) + static_cast<size_t>(i)] =
          scale > 0.f ? std::round(xg[i] * (1.f / scale)) * scale : 0.f;
    }
  }
  const std::vector<double> ref = testing::ReferenceMatmul(stored_, rounded.data(), c.batch);
  for (Isa isa : isas_) {
    const auto y = Run(TableMode::kInt16, isa);
    for (int64_t n = 0; n < c.batch; ++n) {
      for (int64_t m = 0; m < c.rows; ++m) {
        const size_t i = static_cast<size_t>(n * c.rows + m);
        const double bound = 1e-5 * testing::AbsDot(stored_, rounded.data() + n * source_.cols, m) + 1e-6;
        ASSERT_NEAR(y[i], ref[i], bound) << IsaName(isa) << " row " << m << " batch " << n;
      }
    }
  }
}

TEST_P(LutMatmulTest, EveryIsaAndThreadCountGivesIdenticalBits) {
  ThreadPool two(2);
  for (TableMode mode : {TableMode::kInt8, TableMode::kInt8Fast, TableMode::kInt16}) {
    const auto expected = Run(mode, Isa::kScalar);
    for (Isa isa : isas_) {
      EXPECT_EQ(Run(mode, isa), expected) << IsaName(isa);
      EXPECT_EQ(Run(mode, isa, &two), expected) << IsaName(isa) << " on 2 threads";
    }
  }
}

TEST_P(LutMatmulTest, Int8ActivationsAreExact) {
  const Case c = GetParam();
  const Int8Activations xq = QuantizeActivations(x_.data(), c.batch, source_.cols);
  const std::vector<float> expected = testing::ReferenceMatmulInt8(source_, xq, ScaleType::kF16);
  ThreadPool two(2);
  for (Isa isa : isas_) {
    for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &two}) {
      std::vector<float> y(expected.size(), -1.f);
      LutMatmulInt8(packed_, xq, y.data(), {TableMode::kInt8, isa, pool});
      ASSERT_EQ(y, expected) << IsaName(isa) << (pool ? " on 2 threads" : "");
    }
  }
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  for (int bits = 1; bits <= 4; ++bits) {
    for (int group : {16, 32, 64, 128, 256}) {
      for (bool symmetric : {true, false}) {
        for (IndexOrder order : {IndexOrder::kChunkPairs, IndexOrder::kChunkQuads}) {
          if (order == IndexOrder::kChunkQuads && group < 32) continue;  // quads need 32
          cases.push_back({bits, group, 64, symmetric, 67, 2, 1, order});
        }
      }
    }
    for (IndexOrder order : {IndexOrder::kChunkPairs, IndexOrder::kChunkQuads}) {
      cases.push_back({bits, 128, 128, false, 130, 3, 1, order});  // two tiles of 128, one partial
      cases.push_back({bits, 64, 64, false, 64, 1, 3, order});     // batch > 1 (mpGEMM)
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Shapes, LutMatmulTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return Name(info.param); });

// Ternary weights as 2-bit codes with zero point 1 and one scale per tensor (BitNet b1.58),
// on the int8-activation path BitNet uses: exact, on both index orders and every ISA.
TEST(LutMatmul, TernaryWithInt8ActivationsIsExact) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> trit(-1, 1);
  const int64_t rows = 75, cols = 3 * 128;
  std::vector<int8_t> values(static_cast<size_t>(rows * cols));
  for (auto& v : values) v = static_cast<int8_t>(trit(rng));
  const QuantMatrix w = MakeTernary(rows, cols, 128, values, {0.037f});
  const auto x = testing::RandomVector(2 * cols, 5);
  const Int8Activations xq = QuantizeActivations(x.data(), 2, cols);
  const std::vector<float> expected = testing::ReferenceMatmulInt8(w, xq, ScaleType::kF16);
  for (IndexOrder order : {IndexOrder::kChunkPairs, IndexOrder::kChunkQuads}) {
    const LutMatrix packed = LutMatrix::Pack(w, {2, 128, 64, ScaleType::kF16, order});
    for (Isa isa : SupportedIsas()) {
      if (!IsaReadsOrder(isa, order)) continue;
      std::vector<float> y(expected.size());
      LutMatmulInt8(packed, xq, y.data(), {TableMode::kInt8, isa, nullptr});
      EXPECT_EQ(y, expected) << IsaName(isa);
    }
  }
}

// A zero point shared by every group (Q4_0's 8) keeps no bias terms: the kernels derive them from
// the scales, and the result is the reference's bit for bit, with f16 and f32 scales.
TEST(LutMatmul, UniformZeroPointIsExactWithInt8Activations) {
  for (int bits = 1; bits <= 4; ++bits) {
    QuantMatrix w = testing::RandomQuantMatrix(75, 3 * 64, bits, 64, /*symmetric=*/false, 31);
    std::fill(w.zeros.begin(), w.zeros.end(), static_cast<float>(1 << (bits - 1)));
    const auto x = testing::RandomVector(2 * w.cols, 6);
    const Int8Activations xq = QuantizeActivations(x.data(), 2, w.cols);
    for (ScaleType type : {ScaleType::kF16, ScaleType::kF32}) {
      const std::vector<float> expected = testing::ReferenceMatmulInt8(w, xq, type);
      for (IndexOrder order : {IndexOrder::kChunkPairs, IndexOrder::kChunkQuads}) {
        const LutMatrix packed = LutMatrix::Pack(w, {bits, 64, 64, type, order});
        ASSERT_EQ(packed.bias().form, BiasForm::kPerScale);
        for (Isa isa : SupportedIsas()) {
          if (!IsaReadsOrder(isa, order)) continue;
          std::vector<float> y(expected.size());
          LutMatmulInt8(packed, xq, y.data(), {TableMode::kInt8, isa, nullptr});
          EXPECT_EQ(y, expected) << IsaName(isa) << " bits " << bits;
        }
      }
    }
  }
}

// llama.cpp's scale-and-min blocks: w = s * q - min, the min stored and the bias computed as
// s * mid - min. With f32 storage, and with f16 where scales and mins are f16 values (Q4_1).
TEST(LutMatmul, MinFormIsExactWithInt8Activations) {
  for (int bits = 1; bits <= 4; ++bits) {
    QuantMatrix w = testing::ToMinForm(testing::RandomQuantMatrix(70, 2 * 64, bits, 64, false, 21));
    ASSERT_TRUE(w.zeros.empty());
    const auto x = testing::RandomVector(w.cols, 22);
    const Int8Activations xq = QuantizeActivations(x.data(), 1, w.cols);
    for (ScaleType type : {ScaleType::kF32, ScaleType::kF16}) {
      if (type == ScaleType::kF16) {
        for (float& s : w.scales) s = testing::Stored(s, ScaleType::kF16);
        for (float& m : w.mins) m = testing::Stored(m, ScaleType::kF16);
        ASSERT_EQ(WithLosslessScales(DefaultLutLayout(bits, 64), w).scale_type, ScaleType::kF16);
      }
      const std::vector<float> expected = testing::ReferenceMatmulInt8(w, xq, type);
      for (Isa isa : SupportedIsas()) {
        LutLayout layout = DefaultLutLayout(bits, 64, isa);
        layout.scale_type = type;
        const LutMatrix packed = LutMatrix::Pack(w, layout);
        EXPECT_EQ(packed.bias().form, BiasForm::kMin);
        EXPECT_EQ(packed.Unpack().mins, w.mins);
        std::vector<float> y(expected.size());
        LutMatmulInt8(packed, xq, y.data(), {TableMode::kInt8, isa, nullptr});
        EXPECT_EQ(y, expected) << IsaName(isa) << " bits " << bits;
      }
    }
  }
}

// Two-level scales compute every scale and min in the kernels as super * factor: the products
// the f32 form stores, so both give the same bits, whatever the ISA, table mode, tile or order.
TEST(LutMatmul, TwoLevelScalesGiveTheF32Results) {
  const int64_t batch = 3;
  for (int bits = 1; bits <= 4; ++bits) {
    for (bool min_form : {true, false}) {
      QuantMatrix w = testing::RandomQuantMatrix(150, 768, bits, 32, /*symmetric=*/false, 40 + bits);
      if (min_form) {
        w = testing::ToMinForm(w);
      } else {
        std::fill(w.zeros.begin(), w.zeros.end(), 4.f);
      }
      w = testing::WithRandomFactors(w, 256, 50 + bits);
      const auto x = testing::RandomVector(batch * w.cols, 60);
      const Int8Activations xq = QuantizeActivations(x.data(), batch, w.cols);
      for (Isa isa : SupportedIsas()) {
        for (int tile_rows : {64, 128}) {
          for (IndexOrder order : {IndexOrder::kChunkPairs, IndexOrder::kChunkQuads}) {
            if (!IsaReadsOrder(isa, order)) continue;
            const LutLayout f32{bits, 32, tile_rows, ScaleType::kF32, order};
            const LutMatrix wide = LutMatrix::Pack(w, f32);
            const LutMatrix packed = LutMatrix::Pack(w, WithLosslessScales(f32, w));
            ASSERT_EQ(packed.layout().scale_type, ScaleType::kTwoLevel);
            const std::string what = std::string(IsaName(isa)) + " bits " + std::to_string(bits) + " tile " +
                                     std::to_string(tile_rows) + (min_form ? " mins" : " zeros");
            for (TableMode mode : {TableMode::kInt8, TableMode::kInt8Fast, TableMode::kInt16}) {
              std::vector<float> a(static_cast<size_t>(batch * w.rows)), b(a.size());
              LutMatmul(wide, x.data(), batch, a.data(), {mode, isa, nullptr});
              LutMatmul(packed, x.data(), batch, b.data(), {mode, isa, nullptr});
              EXPECT_EQ(a, b) << what;
            }
            std::vector<float> a(static_cast<size_t>(batch * w.rows)), b(a.size());
            LutMatmulInt8(wide, xq, a.data(), {TableMode::kInt8, isa, nullptr});
            LutMatmulInt8(packed, xq, b.data(), {TableMode::kInt8, isa, nullptr});
            EXPECT_EQ(a, b) << what << " int8 activations";
          }
        }
      }
    }
  }
}

TEST(LutMatmul, QuantizeActivationsUsesAbsmaxPerRow) {
  const std::vector<float> x = {0.5f, -1.f, 0.25f, 0.f, 2.f, 1.f, -0.5f, 0.f};
  const Int8Activations q = QuantizeActivations(x.data(), 2, 4);
  EXPECT_FLOAT_EQ(q.scale[0], 1.f / 127.f);
  EXPECT_FLOAT_EQ(q.scale[1], 2.f / 127.f);
  EXPECT_EQ(q.q[1], -127);
  EXPECT_EQ(q.q[0], 64);  // 63.5 rounds to even
  EXPECT_EQ(q.q[4], 127);
}

TEST(LutMatmul, RejectsBadArguments) {
  const QuantMatrix w = testing::RandomQuantMatrix(8, 64, 2, 32, true, 5);
  const LutMatrix packed = LutMatrix::Pack(w, {2, 32, 64, ScaleType::kF16});
  std::vector<float> x(64), y(8);
  EXPECT_THROW(LutMatmul(packed, x.data(), 0, y.data()), Error);
  EXPECT_THROW(LutMatmul(LutMatrix(), x.data(), 1, y.data()), Error);
  const Int8Activations wrong = QuantizeActivations(x.data(), 2, 32);
  EXPECT_THROW(LutMatmulInt8(packed, wrong, y.data()), Error);
  EXPECT_THROW(ParseIsa("sse9"), Error);
  for (Isa isa : SupportedIsas()) {
    if (IsaReadsOrder(isa, IndexOrder::kChunkQuads)) continue;
    const LutMatrix quads = LutMatrix::Pack(w, {2, 32, 64, ScaleType::kF16, IndexOrder::kChunkQuads});
    EXPECT_THROW(LutMatmul(quads, x.data(), 1, y.data(), {TableMode::kInt8, isa, nullptr}), Error) << IsaName(isa);
  }
}

}  // namespace
}  // namespace tmac

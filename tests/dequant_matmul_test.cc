#include <gtest/gtest.h>

#include <ostream>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "formats/half.h"
#include "reference.h"
#include "tmac/dequant.h"
#include "tmac/error.h"
#include "tmac/thread_pool.h"

namespace tmac {
namespace {

struct Case {
  int bits, group;
  bool symmetric;
  int64_t rows, cols_in_groups, batch;
};

std::string Name(const Case& c) {
  return "b" + std::to_string(c.bits) + "_g" + std::to_string(c.group) + (c.symmetric ? "_sym" : "_zero") + "_m" +
         std::to_string(c.rows) + "_k" + std::to_string(c.cols_in_groups * c.group) + "_n" + std::to_string(c.batch);
}

// Readable parameters in test logs (gtest would dump the struct's bytes, padding included).
void PrintTo(const Case& c, std::ostream* os) { *os << Name(c); }

class DequantMatmulTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    const Case c = GetParam();
    source_ = testing::RandomQuantMatrix(c.rows, c.cols_in_groups * c.group, c.bits, c.group, c.symmetric,
                                         static_cast<uint32_t>(c.bits * 1000 + c.group + c.rows + c.batch));
    packed_ = DequantMatrix::Pack(source_);
    stored_ = packed_.Unpack();  // the weights as stored (f16 scales and zero terms)
    x_ = testing::RandomVector(c.batch * source_.cols, 7 + static_cast<uint32_t>(c.bits + c.batch));
  }
  std::vector<float> Run(Isa isa, ThreadPool* pool = nullptr) const {
    std::vector<float> y(static_cast<size_t>(GetParam().batch * source_.rows), -1.f);
    DequantMatmul(packed_, x_.data(), GetParam().batch, y.data(), {TableMode::kInt8, isa, pool});
    return y;
  }

  QuantMatrix source_, stored_;
  DequantMatrix packed_;
  std::vector<float> x_;
};

TEST_P(DequantMatmulTest, MatchesTheDoubleReferenceOnEveryIsa) {
  const Case c = GetParam();
  const std::vector<double> ref = testing::ReferenceMatmul(stored_, x_.data(), c.batch);
  for (Isa isa : SupportedIsas()) {
    const auto y = Run(isa);
    for (int64_t n = 0; n < c.batch; ++n) {
      for (int64_t m = 0; m < c.rows; ++m) {
        const size_t i = static_cast<size_t>(n * c.rows + m);
        // fp32 rounding only: a relative 1e-4 of sum |w x|.
        ASSERT_NEAR(y[i], ref[i], 1e-4 * testing::AbsDot(stored_, x_.data() + n * source_.cols, m) + 1e-7)
            << IsaName(isa) << " row " << m << " batch " << n;
      }
    }
  }
}

TEST_P(DequantMatmulTest, ThreadCountDoesNotChangeTheBits) {
  ThreadPool two(2), three(3);
  for (Isa isa : SupportedIsas()) {
    const auto expected = Run(isa);
    EXPECT_EQ(Run(isa, &two), expected) << IsaName(isa) << " on 2 threads";
    EXPECT_EQ(Run(isa, &three), expected) << IsaName(isa) << " on 3 threads";
  }
}

TEST_P(DequantMatmulTest, UnpackGivesTheCodesAndTheStoredParameters) {
  const Case c = GetParam();
  EXPECT_EQ(stored_.codes, source_.codes);
  ASSERT_EQ(stored_.scales.size(), source_.scales.size());
  for (size_t i = 0; i < source_.scales.size(); ++i) {
    EXPECT_EQ(stored_.scales[i], testing::Stored(source_.scales[i], ScaleType::kF16));
  }
  ASSERT_EQ(stored_.symmetric(), c.symmetric);
  for (size_t i = 0; i < source_.zeros.size(); ++i) {
    // Stored as the f16 term -scale * zero; recovered to f16 precision of that product.
    EXPECT_NEAR(stored_.zeros[i], source_.zeros[i], 1e-3 * (1 << c.bits)) << i;
  }
  // Packing what Unpack returns stores the same bytes.
  const DequantMatrix again = DequantMatrix::Pack(stored_);
  ASSERT_EQ(again.bytes(), packed_.bytes());
  EXPECT_EQ(std::memcmp(again.data(), packed_.data(), static_cast<size_t>(packed_.bytes())), 0);
  // Clone copies everything.
  const DequantMatrix copy = packed_.Clone();
  EXPECT_EQ(copy.rows(), packed_.rows());
  EXPECT_EQ(copy.cols(), packed_.cols());
  EXPECT_EQ(copy.bits(), packed_.bits());
  EXPECT_EQ(copy.group(), packed_.group());
  EXPECT_NE(copy.data(), packed_.data());
  EXPECT_EQ(std::memcmp(copy.data(), packed_.data(), static_cast<size_t>(packed_.bytes())), 0);
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  for (int bits = 1; bits <= 4; ++bits) {
    for (int group : {32, 64, 128, 256}) {
      for (bool symmetric : {true, false}) cases.push_back({bits, group, symmetric, 67, 2, 1});
    }
    cases.push_back({bits, 32, false, 3, 5, 1});     // fewer rows than one block
    cases.push_back({bits, 64, false, 37, 3, 2});    // batch > 1
    cases.push_back({bits, 128, true, 21, 2, 7});    // batch chunks plus a remainder
    cases.push_back({bits, 256, false, 13, 1, 4});
    cases.push_back({bits, 128, false, 9, 32, 37});  // K = 4096: more than one block of batch rows
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Shapes, DequantMatmulTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return Name(info.param); });

// The documented byte layout, checked on one group of a 4-bit and a 3-bit row: weight k of a
// block is bits f * (k / f) of plane word k % f; the scale (and zero term) follow the codes.
TEST(DequantMatrix, LayoutIsAsDocumented) {
  for (int bits : {3, 4}) {
    QuantMatrix w;
    w.rows = 1;
    w.cols = 32;
    w.bits = bits;
    w.group = 32;
    for (int k = 0; k < 32; ++k) w.codes.push_back(static_cast<uint8_t>((k * 5 + 3) % (1 << bits)));
    w.scales = {0.5f};
    w.zeros = {2.f};
    const DequantMatrix p = DequantMatrix::Pack(w);
    const int code_bytes = 4 * bits;
    ASSERT_EQ(p.bytes(), code_bytes + 4);
    auto word = [&](int offset, int i) {
      uint32_t v = 0;
      for (int b = 0; b < 4; ++b) v |= static_cast<uint32_t>(p.data()[offset + 4 * i + b]) << (8 * b);
      return v;
    };
    for (int k = 0; k < 32; ++k) {
      int code;
      if (bits == 4) {
        code = static_cast<int>((word(0, k % 4) >> (4 * (k / 4))) & 15);
      } else {
        const int low = static_cast<int>((word(0, k % 2) >> (2 * (k / 2))) & 3);
        const int high = static_cast<int>((word(8, 0) >> k) & 1);
        code = low | (high << 2);
      }
      EXPECT_EQ(code, w.codes[static_cast<size_t>(k)]) << "bits " << bits << " k " << k;
    }
    const uint8_t* params = p.data() + code_bytes;
    EXPECT_EQ(HalfToFloat(static_cast<uint16_t>(params[0] | (params[1] << 8))), 0.5f);
    EXPECT_EQ(HalfToFloat(static_cast<uint16_t>(params[2] | (params[3] << 8))), -1.f);
  }
  // A symmetric matrix stores the scale only.
  const DequantMatrix sym = DequantMatrix::Pack(testing::RandomQuantMatrix(3, 64, 2, 32, true, 1));
  EXPECT_EQ(sym.bytes(), 3 * 2 * (8 + 2));
  EXPECT_EQ(sym.row_bytes(), 2 * (8 + 2));
}

TEST(DequantMatrix, PackRejectsBadInput) {
  const QuantMatrix good = testing::RandomQuantMatrix(4, 64, 2, 32, false, 3);
  EXPECT_NO_THROW(DequantMatrix::Pack(good));
  auto expect_bad = [&](auto&& change) {
    QuantMatrix w = good;
    change(w);
    EXPECT_THROW(DequantMatrix::Pack(w), Error);
  };
  expect_bad([](QuantMatrix& w) { w.bits = 5; });
  expect_bad([](QuantMatrix& w) { w.bits = 0; });
  expect_bad([](QuantMatrix& w) { w.group = 48; });
  expect_bad([](QuantMatrix& w) { w.group = 16; });
  expect_bad([](QuantMatrix& w) { w.group = 512; });
  expect_bad([](QuantMatrix& w) { w.codes[5] = 4; });            // does not fit 2 bits
  expect_bad([](QuantMatrix& w) { w.codes.pop_back(); });
  expect_bad([](QuantMatrix& w) { w.zeros.pop_back(); });
  expect_bad([](QuantMatrix& w) { w.scales[1] = NAN; });
  expect_bad([](QuantMatrix& w) { w.scales[1] = 1e6f; });        // beyond fp16
  expect_bad([](QuantMatrix& w) { w.scales[1] = 60000.f; w.zeros[1] = 3.f; });  // zero term beyond fp16
  expect_bad([](QuantMatrix& w) { w.cols = 48; });
  EXPECT_THROW(DequantMatrix().Unpack(), Error);
}

TEST(DequantMatmul, RejectsBadArguments) {
  const DequantMatrix packed = DequantMatrix::Pack(testing::RandomQuantMatrix(8, 64, 2, 32, true, 5));
  std::vector<float> x(64), y(8);
  EXPECT_THROW(DequantMatmul(packed, x.data(), 0, y.data()), Error);
  EXPECT_THROW(DequantMatmul(DequantMatrix(), x.data(), 1, y.data()), Error);
  EXPECT_THROW(DequantMatmul(packed, nullptr, 1, y.data()), Error);
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kNeon}) {
    if (!IsaSupported(isa)) {
      EXPECT_THROW(DequantMatmul(packed, x.data(), 1, y.data(), {TableMode::kInt8, isa, nullptr}), Error)
          << IsaName(isa);
    }
  }
}

// A zero scale whose zero term would not be zero in f16 still gives zero weights.
TEST(DequantMatmul, ZeroScaleGivesZeroWeights) {
  QuantMatrix w = testing::RandomQuantMatrix(5, 64, 4, 32, false, 11);
  for (float& s : w.scales) s = 1e-9f;  // rounds to 0 in f16
  const DequantMatrix packed = DequantMatrix::Pack(w);
  const std::vector<float> x = testing::RandomVector(64, 12);
  for (Isa isa : SupportedIsas()) {
    std::vector<float> y(5, -1.f);
    DequantMatmul(packed, x.data(), 1, y.data(), {TableMode::kInt8, isa, nullptr});
    for (float v : y) EXPECT_EQ(v, 0.f) << IsaName(isa);
  }
}

}  // namespace
}  // namespace tmac

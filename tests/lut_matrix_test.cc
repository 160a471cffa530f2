#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <ostream>
#include <string>

#include "expect_error.h"
#include "formats/lut_view.h"
#include "reference.h"
#include "tmac/error.h"
#include "tmac/lut.h"

namespace tmac {
namespace {

struct Case {
  int bits, group, tile_rows;
  bool symmetric;
  ScaleType scale_type;
  IndexOrder order;
};

std::string Name(const Case& c) {
  return "b" + std::to_string(c.bits) + "_g" + std::to_string(c.group) + "_t" + std::to_string(c.tile_rows) +
         (c.symmetric ? "_sym" : "_zero") + (c.scale_type == ScaleType::kF16 ? "_f16" : "_f32") +
         (c.order == IndexOrder::kChunkQuads ? "_quads" : "_pairs");
}

// Readable parameters in test logs (gtest would dump the struct's bytes, padding included).
void PrintTo(const Case& c, std::ostream* os) { *os << Name(c); }

class LutMatrixRoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(LutMatrixRoundTrip, UnpackInvertsPack) {
  const Case c = GetParam();
  const QuantMatrix w = testing::RandomQuantMatrix(/*rows=*/67, /*cols=*/3 * c.group, c.bits, c.group,
                                                   c.symmetric, 17);
  const LutMatrix packed = LutMatrix::Pack(w, {c.bits, c.group, c.tile_rows, c.scale_type, c.order});
  EXPECT_EQ(packed.tiles(), (67 + c.tile_rows - 1) / c.tile_rows);
  EXPECT_EQ(packed.bytes(), GeometryOf(packed).total_bytes);

  const QuantMatrix back = packed.Unpack();
  EXPECT_EQ(back.codes, w.codes);
  ASSERT_EQ(back.scales.size(), w.scales.size());
  for (size_t i = 0; i < w.scales.size(); ++i) {
    EXPECT_EQ(back.scales[i], testing::Stored(w.scales[i], c.scale_type));
  }
  EXPECT_EQ(back.symmetric(), c.symmetric);
  const float tolerance = c.scale_type == ScaleType::kF16 ? 2e-2f : 1e-5f;
  for (size_t i = 0; i < w.zeros.size(); ++i) EXPECT_NEAR(back.zeros[i], w.zeros[i], tolerance);

  // Packing what Unpack returned gives the same bytes again. (Zero points are stored as the bias
  // s * (midpoint - z), so an f32 bias can come back one ulp off; compare codes and scales then.)
  const LutMatrix again = LutMatrix::Pack(back, packed.layout());
  ASSERT_EQ(again.bytes(), packed.bytes());
  if (c.symmetric || c.scale_type == ScaleType::kF16) {
    EXPECT_EQ(0, std::memcmp(again.data(), packed.data(), static_cast<size_t>(packed.bytes())));
  } else {
    const QuantMatrix twice = again.Unpack();
    EXPECT_EQ(twice.codes, back.codes);
    EXPECT_EQ(twice.scales, back.scales);
  }
  const LutMatrix copy = packed.Clone();
  EXPECT_EQ(0, std::memcmp(copy.data(), packed.data(), static_cast<size_t>(packed.bytes())));
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (int bits = 1; bits <= 4; ++bits) {
    for (int group : {16, 32, 64, 128, 256}) {
      for (bool symmetric : {true, false}) {
        for (IndexOrder order : {IndexOrder::kChunkPairs, IndexOrder::kChunkQuads}) {
          if (order == IndexOrder::kChunkQuads && group < 32) continue;  // quads need 32
          cases.push_back({bits, group, 64, symmetric, ScaleType::kF16, order});
        }
      }
    }
    cases.push_back({bits, 128, 128, false, ScaleType::kF32, IndexOrder::kChunkPairs});
    cases.push_back({bits, 128, 128, false, ScaleType::kF32, IndexOrder::kChunkQuads});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllLayouts, LutMatrixRoundTrip, ::testing::ValuesIn(AllCases()),
                         [](const auto& info) { return Name(info.param); });

TEST(LutMatrix, ByteLayoutMatchesTheDocumentedOrder) {
  // One row, one group of 32: codes chosen so each plane's nibbles are easy to read.
  QuantMatrix w = testing::RandomQuantMatrix(1, 32, 2, 32, true, 3);
  for (int k = 0; k < 32; ++k) w.codes[static_cast<size_t>(k)] = static_cast<uint8_t>(k % 4);
  const LutMatrix packed = LutMatrix::Pack(w, {2, 32, 64, ScaleType::kF32});
  // Codes 0,1,2,3 repeat: plane 0 bits are 0,1,0,1 -> nibble 0b1010, plane 1 bits 0,0,1,1 -> 0b1100.
  for (int cp = 0; cp < 4; ++cp) {
    EXPECT_EQ(packed.data()[(cp * 2 + 0) * 64], 0xAA) << cp;
    EXPECT_EQ(packed.data()[(cp * 2 + 1) * 64], 0xCC) << cp;
    EXPECT_EQ(packed.data()[(cp * 2 + 0) * 64 + 1], 0x00) << "padding row";
  }
  float scale;
  std::memcpy(&scale, packed.data() + GeometryOf(packed).index_bytes, 4);
  EXPECT_EQ(scale, w.scales[0]);

  // Quads: byte k of the row's dword in octet 0 holds chunks k (low) and 4 + k (high).
  const LutMatrix quads = LutMatrix::Pack(w, {2, 32, 64, ScaleType::kF32, IndexOrder::kChunkQuads});
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(quads.data()[(0 * 64 + 0) * 4 + k], 0xAA) << k;  // plane 0, row 0
    EXPECT_EQ(quads.data()[(1 * 64 + 0) * 4 + k], 0xCC) << k;  // plane 1, row 0
    EXPECT_EQ(quads.data()[(0 * 64 + 1) * 4 + k], 0x00) << "padding row";
  }
}

TEST(LutMatrix, DefaultLayoutFitsTheIsa) {
  for (Isa isa : SupportedIsas()) {
    const LutLayout layout = DefaultLutLayout(3, 64, isa);
    EXPECT_EQ(layout.bits, 3);
    EXPECT_EQ(layout.group, 64);
    EXPECT_TRUE(IsaReadsOrder(isa, layout.order)) << IsaName(isa);
  }
  EXPECT_EQ(DefaultLutLayout(2, 32, Isa::kScalar).order, IndexOrder::kChunkPairs);
}

// Q4_0's form: every group has zero point 8. The bias terms s * (7.5 - 8) follow from the scales,
// so none are stored and the matrix takes a symmetric one's bytes.
TEST(LutMatrix, UniformZeroPointStoresNoBiasTerms) {
  for (int bits = 1; bits <= 4; ++bits) {
    QuantMatrix w = testing::RandomQuantMatrix(70, 128, bits, 32, /*symmetric=*/false, 9);
    const float z = static_cast<float>(1 << (bits - 1));
    std::fill(w.zeros.begin(), w.zeros.end(), z);
    const LutLayout layout = DefaultLutLayout(bits, 32, Isa::kScalar);
    const LutMatrix packed = LutMatrix::Pack(w, layout);
    EXPECT_EQ(packed.bias(), (LutBias{BiasForm::kPerScale, 0.5f * static_cast<float>((1 << bits) - 1) - z}));
    EXPECT_EQ(packed.bytes(), LutMatrix::Pack(testing::RandomQuantMatrix(70, 128, bits, 32, true, 9), layout).bytes());
    const QuantMatrix back = packed.Unpack();
    EXPECT_EQ(back.codes, w.codes);
    EXPECT_EQ(back.zeros, w.zeros);

    w.zeros[5] = z - 1.f;  // one group off: the bias terms are stored again
    EXPECT_EQ(LutMatrix::Pack(w, layout).bias().form, BiasForm::kStored) << bits << " bits";
  }
}

// K-quant-style scales: int8 factors per group and f16 values per super-group, stored as such.
TEST(LutMatrix, TwoLevelScalesRoundTripInFewerBytes) {
  for (int bits = 1; bits <= 4; ++bits) {
    for (int group : {16, 32}) {
      for (bool min_form : {true, false}) {
        QuantMatrix w = testing::RandomQuantMatrix(70, 512, bits, group, /*symmetric=*/false, 31);
        if (min_form) {
          w = testing::ToMinForm(w);
        } else {
          std::fill(w.zeros.begin(), w.zeros.end(), 1.f);  // Q3_K's form: one zero point
        }
        w = testing::WithRandomFactors(w, 256, 32);
        const LutLayout layout = WithLosslessScales(DefaultLutLayout(bits, group, Isa::kScalar), w);
        ASSERT_EQ(layout.scale_type, ScaleType::kTwoLevel);
        ASSERT_EQ(layout.super_group, 256);
        const LutMatrix packed = LutMatrix::Pack(w, layout);
        // Per 256 weights of a row: the codes, then a byte per group and an f16 super-value
        // for the scales, and as many for the mins. Two tiles of 64 rows, two super-groups.
        const int64_t per_super = 256 * bits / 8 + (256 / group + 2) * (min_form ? 2 : 1);
        EXPECT_EQ(packed.bytes(), 128 * 2 * per_super) << bits << " bits, group " << group;
        const QuantMatrix back = packed.Unpack();
        EXPECT_EQ(back.codes, w.codes);
        EXPECT_EQ(back.scales, w.scales);
        EXPECT_EQ(back.mins, w.mins);
        EXPECT_EQ(back.zeros, w.zeros);
        EXPECT_EQ(back.factors, w.factors);
        const LutMatrix copy = packed.Clone();
        EXPECT_EQ(0, std::memcmp(copy.data(), packed.data(), static_cast<size_t>(packed.bytes())));
      }
    }
  }
}

TEST(LutMatrix, TwoLevelScalesNeedTheirFactors) {
  const QuantMatrix plain = testing::ToMinForm(testing::RandomQuantMatrix(8, 256, 2, 16, false, 4));
  const LutLayout two_level{2, 16, 64, ScaleType::kTwoLevel, IndexOrder::kChunkPairs, 256};
  EXPECT_EQ(WithLosslessScales(two_level, plain).scale_type, ScaleType::kF32);
  testing::ExpectError([&] { LutMatrix::Pack(plain, two_level); }, "scale factors");
  const QuantMatrix w = testing::WithRandomFactors(plain, 256, 5);
  LutLayout other = two_level;
  other.super_group = 128;
  testing::ExpectError([&] { LutMatrix::Pack(w, other); }, "super-group 128");
  other.super_group = 24;
  testing::ExpectError([&] { LutMatrix::Pack(w, other); }, "multiple of the group");
  LutLayout f16{2, 16, 64, ScaleType::kF16, IndexOrder::kChunkPairs, 256};
  testing::ExpectError([&] { LutMatrix::Pack(w, f16); }, "two-level scales only");
  QuantMatrix wrong = w;
  wrong.factors.scale_factors[3] += 1;
  testing::ExpectError([&] { LutMatrix::Pack(wrong, two_level); }, "not the product of its factors");
  QuantMatrix wide = w;
  wide.factors.super_scales[0] = 0.1f;  // not an f16 value
  for (size_t i = 0; i < 256 / 16; ++i)
    wide.scales[i] = wide.factors.super_scales[0] * static_cast<float>(wide.factors.scale_factors[i]);
  testing::ExpectError([&] { LutMatrix::Pack(wide, two_level); }, "f16 super-scales");
  QuantMatrix stored = testing::WithRandomFactors(testing::RandomQuantMatrix(8, 256, 2, 16, false, 4), 256, 5);
  testing::ExpectError([&] { LutMatrix::Pack(stored, two_level); }, "stored bias terms");
  const LutMatrix packed = LutMatrix::Pack(w, two_level);
  const std::span<const uint8_t> bytes(packed.data(), static_cast<size_t>(packed.bytes()));
  testing::ExpectError([&] { LutMatrix::FromBytes(8, 128, two_level, packed.bias(), bytes); },
                       "multiple of the super-group");
  EXPECT_EQ(LutMatrix::FromBytes(8, 256, two_level, packed.bias(), bytes).Unpack().factors, w.factors);
}

TEST(LutMatrix, RejectsLayoutsThatDoNotFit) {
  const QuantMatrix w = testing::RandomQuantMatrix(8, 64, 2, 32, true, 4);
  EXPECT_THROW(LutMatrix::Pack(w, {3, 32, 64, ScaleType::kF16}), Error);
  EXPECT_THROW(LutMatrix::Pack(w, {2, 64, 64, ScaleType::kF16}), Error);
  EXPECT_THROW(LutMatrix::Pack(w, {2, 32, 96, ScaleType::kF16}), Error);
  const QuantMatrix w16 = testing::RandomQuantMatrix(8, 64, 2, 16, true, 4);
  EXPECT_THROW(LutMatrix::Pack(w16, {2, 16, 64, ScaleType::kF16, IndexOrder::kChunkQuads}), Error);
  EXPECT_EQ(DefaultLutLayout(2, 16).order, IndexOrder::kChunkPairs);
  QuantMatrix bad = w;
  bad.codes.resize(3);
  EXPECT_THROW(LutMatrix::Pack(bad, {2, 32, 64, ScaleType::kF16}), Error);
  EXPECT_THROW(LutMatrix().Unpack(), Error);
}

}  // namespace
}  // namespace tmac

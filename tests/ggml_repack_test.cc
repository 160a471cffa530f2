// Repacking ggml blocks into QuantMatrix: for every supported type, random blocks repack to the
// documented form, dequantize to DecodeRow's output bit for bit, and feed the LUT kernels
// (int8 tables within their bound, int8 activations exactly); other types and bad shapes throw.
#include "tmac/ggml_repack.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "expect_error.h"
#include "formats/ggml_blocks.h"
#include "formats/half.h"
#include "reference.h"
#include "tmac/error.h"
#include "tmac/ggml_types.h"
#include "tmac/lut.h"

namespace tmac {

// Test names and messages show the type's name (found by argument-dependent lookup in tmac).
void PrintTo(GgmlType type, std::ostream* os) { *os << GgmlTypeName(type); }

namespace {

using namespace ggml;  // the block structs, for the offsets of their fp16 fields

struct Case {
  GgmlType type;
  int bits, group;
  bool min_form;
  std::vector<size_t> half_fields;  // byte offsets of the block's fp16 scales and mins
};

const Case kCases[] = {
    {GgmlType::kQ4_0, 4, 32, false, {offsetof(BlockQ4_0, d)}},
    {GgmlType::kQ4_1, 4, 32, true, {offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)}},
    {GgmlType::kQ4_K, 4, 32, true, {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)}},
    {GgmlType::kQ3_K, 3, 16, false, {offsetof(BlockQ3_K, d)}},
    {GgmlType::kQ2_K, 2, 16, true, {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)}},
    {GgmlType::kTQ2_0, 2, 256, false, {offsetof(BlockTQ2_0, d)}},
    {GgmlType::kTQ1_0, 2, 256, false, {offsetof(BlockTQ1_0, d)}},
};

// Test names and messages show the type's name rather than the struct's bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << GgmlTypeName(c.type); }

constexpr int64_t kRows = 67, kCols = 768;  // three 256-weight blocks (24 legacy ones) per row

// A rows x cols tensor of random blocks: random bytes everywhere (every byte pattern is a valid
// code field, TQ2_0's code 3 and every TQ1_0 byte included), then a random finite fp16 value,
// of either sign, subnormals and zeros included, in each scale and min field.
std::vector<uint8_t> RandomBlocks(const Case& c, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> bytes(static_cast<size_t>(rows * GgmlRowBytes(c.type, cols)));
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  const auto block_bytes = static_cast<size_t>(GgmlBlock(c.type).type_size);
  for (size_t block = 0; block < bytes.size(); block += block_bytes) {
    for (size_t field : c.half_fields) {
      auto h = static_cast<uint16_t>(rng());
      if ((h & 0x7C00) == 0x7C00) h ^= 0x4000;  // an infinity or NaN exponent becomes a finite one
      std::memcpy(&bytes[block + field], &h, sizeof(h));
    }
  }
  return bytes;
}

class GgmlRepackTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    const Case& c = GetParam();
    blocks_ = RandomBlocks(c, kRows, kCols, 1000 + static_cast<uint32_t>(c.type));
    w_ = RepackGgml(c.type, blocks_.data(), kRows, kCols);
  }
  std::vector<uint8_t> blocks_;
  QuantMatrix w_;
};

TEST_P(GgmlRepackTest, KeepsTheGroupStructure) {
  const Case& c = GetParam();
  EXPECT_EQ(w_.rows, kRows);
  EXPECT_EQ(w_.cols, kCols);
  EXPECT_EQ(w_.bits, c.bits);
  EXPECT_EQ(w_.group, c.group);
  EXPECT_EQ(w_.mins.size(), c.min_form ? w_.scales.size() : 0u);
  EXPECT_EQ(w_.zeros.size(), c.min_form ? 0u : w_.scales.size());
}

TEST_P(GgmlRepackTest, DequantizesToDecodeRowBitForBit) {
  const Case& c = GetParam();
  const std::vector<float> dense = Dequantize(w_);
  const int64_t row_bytes = GgmlRowBytes(c.type, kCols);
  std::vector<float> decoded(kCols);
  for (int64_t m = 0; m < kRows; ++m) {
    DecodeRow(c.type, blocks_.data() + m * row_bytes, kCols, decoded.data());
    for (int64_t k = 0; k < kCols; ++k) {
      const float got = dense[static_cast<size_t>(m * kCols + k)], want = decoded[static_cast<size_t>(k)];
      // Bits, not ==: the sign of a zero must match too.
      ASSERT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want))
          << "row " << m << " weight " << k << ": got " << got << ", want " << want;
    }
  }
}

TEST_P(GgmlRepackTest, LutKernelsRunTheRepackedMatrix) {
  const Case& c = GetParam();
  // f32 scales: d * sc and the mins need not fit in f16. Groups of 16 need chunk pairs.
  const LutMatrix packed =
      LutMatrix::Pack(w_, {c.bits, c.group, 64, ScaleType::kF32, IndexOrder::kChunkPairs});
  const int64_t batch = 2;
  const std::vector<float> x = testing::RandomVector(batch * kCols, 7);
  // The double GEMV over w_'s weights, which are the decoded ones (DequantizesToDecodeRowBitForBit).
  const std::vector<double> ref = testing::ReferenceMatmul(w_, x.data(), batch);
  const Int8Activations xq = QuantizeActivations(x.data(), batch, kCols);
  const std::vector<float> expected_int8 = testing::ReferenceMatmulInt8(w_, xq, ScaleType::kF32);
  for (Isa isa : SupportedIsas()) {
    if (!IsaReadsOrder(isa, IndexOrder::kChunkPairs)) continue;
    for (TableMode mode : {TableMode::kInt8, TableMode::kInt8Fast}) {
      std::vector<float> y(static_cast<size_t>(batch * kRows));
      LutMatmul(packed, x.data(), batch, y.data(), {mode, isa, nullptr});
      for (int64_t n = 0; n < batch; ++n) {
        for (int64_t m = 0; m < kRows; ++m) {
          const size_t i = static_cast<size_t>(n * kRows + m);
          const double bound =
              testing::Int8TableBound(w_, x.data() + n * kCols, m, mode == TableMode::kInt8Fast);
          ASSERT_NEAR(y[i], ref[i], bound)
              << IsaName(isa) << " mode " << static_cast<int>(mode) << " row " << m << " batch " << n;
        }
      }
    }
    std::vector<float> y(expected_int8.size());
    LutMatmulInt8(packed, xq, y.data(), {TableMode::kInt8, isa, nullptr});
    EXPECT_EQ(y, expected_int8) << IsaName(isa);
  }
}

// The narrow layouts are chosen only when they hold every scale and bias exactly: f16 for Q4_0
// and the ternary types when no scale is tiny (halving a subnormal loses its last bit), and for
// Q4_1; two-level for the K-quants, whose scales are products of their factors. Every layout
// gives the same bits from the kernels.
TEST_P(GgmlRepackTest, NarrowScalesOnlyWhereTheyAreExact) {
  const Case& c = GetParam();
  std::vector<uint8_t> normal = blocks_;
  const auto block_bytes = static_cast<size_t>(GgmlBlock(c.type).type_size);
  for (size_t block = 0; block < normal.size(); block += block_bytes) {
    for (size_t field : c.half_fields) {
      uint16_t h;
      std::memcpy(&h, &normal[block + field], sizeof(h));
      // Exponents 0 and 1 become 2, so that half of every scale is a normal f16 value too.
      if ((h & 0x7C00) < 0x0800) h = static_cast<uint16_t>((h & ~0x7C00) | 0x0800);
      std::memcpy(&normal[block + field], &h, sizeof(h));
    }
  }
  const QuantMatrix w = RepackGgml(c.type, normal.data(), kRows, kCols);
  // f16 scales with zero points whose bias terms s * (mid - z) are f16 values too, or f16 scales
  // and mins (Q4_1, whose min is stored); the K-quants' d * sc products keep their factors.
  const bool zero_points = c.type == GgmlType::kQ4_0 || c.type == GgmlType::kTQ1_0 || c.type == GgmlType::kTQ2_0;
  const bool f16_types = zero_points || c.type == GgmlType::kQ4_1;
  const bool k_quant = c.type == GgmlType::kQ2_K || c.type == GgmlType::kQ3_K || c.type == GgmlType::kQ4_K;
  const LutLayout base{c.bits, c.group, 64, ScaleType::kF32, IndexOrder::kChunkPairs};
  const ScaleType narrow = WithLosslessScales(base, w).scale_type;
  EXPECT_EQ(narrow, f16_types ? ScaleType::kF16 : k_quant ? ScaleType::kTwoLevel : ScaleType::kF32)
      << GgmlTypeName(c.type);
  if (zero_points) {
    EXPECT_EQ(WithLosslessScales(base, w_).scale_type, ScaleType::kF32) << "subnormal scales, halved, need f32";
  }
  // The narrow form gives the f32 form's results bit for bit, on every ISA and in both table modes.
  const std::vector<float> x = testing::RandomVector(kCols, 11);
  for (Isa isa : SupportedIsas()) {
    LutLayout layout = DefaultLutLayout(c.bits, c.group, isa);
    layout.scale_type = ScaleType::kF32;
    const LutMatrix wide = LutMatrix::Pack(w, layout);
    const LutMatrix packed = LutMatrix::Pack(w, WithLosslessScales(layout, w));
    if (k_quant) {
      EXPECT_LT(packed.bytes(), wide.bytes());
      EXPECT_EQ(packed.Unpack().factors, w.factors);
    }
    for (TableMode mode : {TableMode::kInt8, TableMode::kInt16}) {
      std::vector<float> a(kRows), b(kRows);
      LutMatmul(wide, x.data(), 1, a.data(), {mode, isa, nullptr});
      LutMatmul(packed, x.data(), 1, b.data(), {mode, isa, nullptr});
      EXPECT_EQ(a, b) << IsaName(isa);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, GgmlRepackTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return GgmlTypeName(info.param.type);
                         });

using testing::ExpectError;

TEST(GgmlRepack, RejectsOtherTypesByName) {
  const std::vector<uint8_t> bytes(4096);
  ExpectError([&] { RepackGgml(GgmlType::kQ6_K, bytes.data(), 1, 256); },
              "cannot repack Q6_K losslessly: codes wider than 4 bits; requantize instead");
  ExpectError([&] { RepackGgml(GgmlType::kQ5_0, bytes.data(), 1, 32); }, "Q5_0 losslessly: codes wider");
  ExpectError([&] { RepackGgml(GgmlType::kQ8_0, bytes.data(), 1, 32); }, "Q8_0 losslessly: codes wider");
  ExpectError([&] { RepackGgml(GgmlType::kF16, bytes.data(), 1, 32); }, "cannot repack F16 losslessly");
  ExpectError([&] { RepackGgml(GgmlType::kIQ2_XXS, bytes.data(), 1, 256); }, "cannot repack IQ2_XXS");
  ExpectError([&] { RepackGgml(static_cast<GgmlType>(99), bytes.data(), 1, 256); }, "cannot repack id 99");
}

TEST(GgmlRepack, RejectsBadShapes) {
  const std::vector<uint8_t> bytes(4096);
  ExpectError([&] { RepackGgml(GgmlType::kQ4_K, bytes.data(), 1, 300); }, "not a multiple of the Q4_K block");
  ExpectError([&] { RepackGgml(GgmlType::kQ4_0, bytes.data(), 0, 32); }, "dimensions must be positive");
  ExpectError([&] { RepackGgml(GgmlType::kQ4_0, bytes.data(), 1, -32); }, "dimensions must be positive");
  ExpectError([&] { RepackGgml(GgmlType::kTQ1_0, bytes.data(), int64_t{1} << 62, 256); }, "overflows");
}

TEST(GgmlRepack, RejectsNonFiniteScales) {
  const Case& q4_1 = kCases[1];
  ASSERT_EQ(q4_1.type, GgmlType::kQ4_1);
  std::vector<uint8_t> bytes = RandomBlocks(q4_1, 1, 64, 3);
  const uint16_t inf = 0x7C00;
  std::memcpy(&bytes[sizeof(BlockQ4_1) + offsetof(BlockQ4_1, m)], &inf, sizeof(inf));  // block 1's m
  ExpectError([&] { RepackGgml(GgmlType::kQ4_1, bytes.data(), 1, 64); }, "non-finite min");
  std::memcpy(&bytes[offsetof(BlockQ4_1, d)], &inf, sizeof(inf));  // block 0's d
  ExpectError([&] { RepackGgml(GgmlType::kQ4_1, bytes.data(), 1, 64); }, "non-finite scale");
}

}  // namespace
}  // namespace tmac

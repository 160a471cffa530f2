#include <gtest/gtest.h>

#include <ostream>

#include <cstring>
#include <string>

#include "formats/tl2_view.h"
#include "kernels/tl2_kernels.h"
#include "ternary_reference.h"
#include "tmac/error.h"
#include "tmac/ternary.h"

namespace tmac {
namespace {

TEST(Tl2Matrix, TripleDigitsAreBalancedTernary) {
  for (int i = 0; i < 14; ++i) {
    const int8_t* d = kernels::kTl2TripleDigits[i];
    EXPECT_EQ(9 * d[0] + 3 * d[1] + d[2], i);
    for (int j = 0; j < 3; ++j) EXPECT_TRUE(d[j] >= -1 && d[j] <= 1) << i;
  }
}

struct Case {
  int group, tile_rows;
  int64_t rows;
};

std::string Name(const Case& c) {
  return "g" + std::to_string(c.group) + "_t" + std::to_string(c.tile_rows) + "_m" + std::to_string(c.rows);
}
void PrintTo(const Case& c, std::ostream* os) { *os << Name(c); }

class Tl2MatrixRoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(Tl2MatrixRoundTrip, UnpackInvertsPack) {
  const Case c = GetParam();
  const QuantMatrix w =
      testing::RandomTernary(c.rows, 3 * c.group, c.group, 17 + static_cast<uint32_t>(c.group));
  const Tl2Matrix packed = Tl2Matrix::Pack(w, {c.tile_rows});
  EXPECT_EQ(packed.tiles(), (c.rows + c.tile_rows - 1) / c.tile_rows);
  // The sizes ternary.h states: 10 / 16 / 30 / 56 bytes per row and group, scale included.
  const int per_row_group = c.group == 32 ? 10 : c.group == 64 ? 16 : c.group == 128 ? 30 : 56;
  EXPECT_EQ(packed.bytes(), packed.tiles() * c.tile_rows * 3 * per_row_group);

  const QuantMatrix back = packed.Unpack();
  EXPECT_EQ(back.bits, 2);
  EXPECT_EQ(back.group, c.group);
  EXPECT_EQ(back.codes, w.codes);
  EXPECT_EQ(back.zeros, w.zeros);
  ASSERT_EQ(back.scales.size(), w.scales.size());
  for (size_t i = 0; i < w.scales.size(); ++i) {
    EXPECT_EQ(back.scales[i], testing::Stored(w.scales[i], ScaleType::kF16));
  }

  const Tl2Matrix again = Tl2Matrix::Pack(back, packed.layout());
  ASSERT_EQ(again.bytes(), packed.bytes());
  EXPECT_EQ(0, std::memcmp(again.data(), packed.data(), static_cast<size_t>(packed.bytes())));
  const Tl2Matrix copy = packed.Clone();
  EXPECT_EQ(copy.rows(), packed.rows());
  EXPECT_EQ(copy.cols(), packed.cols());
  EXPECT_EQ(copy.group(), packed.group());
  EXPECT_EQ(0, std::memcmp(copy.data(), packed.data(), static_cast<size_t>(packed.bytes())));
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (int group : {32, 64, 128, 256}) {
    for (int tile_rows : {64, 128}) {
      for (int64_t rows : {67, 130}) cases.push_back({group, tile_rows, rows});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllLayouts, Tl2MatrixRoundTrip, ::testing::ValuesIn(AllCases()),
                         [](const auto& info) { return Name(info.param); });

TEST(Tl2Matrix, ByteLayoutMatchesTheDocumentedOrder) {
  // One row, one group of 32: 10 triples, the fallback chunk (weights 30, 31), a padding chunk.
  std::vector<int8_t> values(32, 0);
  const int8_t first[3] = {1, 1, 1};    // v = 13
  const int8_t second[3] = {-1, 0, 1};  // v = -8
  const int8_t tenth[3] = {0, -1, -1};  // v = -4, chunk 9: sign row 1, bit 1
  std::memcpy(&values[0], first, 3);
  std::memcpy(&values[3], second, 3);
  std::memcpy(&values[27], tenth, 3);
  values[30] = 1;
  values[31] = -1;  // fallback index 3 * 1 + (-1) + 4 = 6
  const Tl2Matrix packed = Tl2Matrix::Pack(MakeTernary(1, 32, 32, values, {0.5f}), {64});
  const uint8_t* block = packed.data();
  // Sign row 0, index rows 0-3 (chunks 0-7), sign row 1, index rows 4-5 (chunks 8-11), scales.
  EXPECT_EQ(block[0], 0x02) << "sign row 0: chunk 1 negative";
  EXPECT_EQ(block[64], 0x8D) << "index row 0: chunk 0 = 13, chunk 1 = 8";
  EXPECT_EQ(block[64 + 1], 0x00) << "padding row";
  EXPECT_EQ(block[128], 0x00) << "index row 1: chunks 2, 3 all zero";
  EXPECT_EQ(block[320], 0x02) << "sign row 1: chunk 9 negative";
  EXPECT_EQ(block[384], 0x40) << "index row 4: chunk 8 = 0, chunk 9 = 4";
  EXPECT_EQ(block[448], 0x06) << "index row 5: fallback = 6, padding chunk = 0";
  uint16_t scale;
  std::memcpy(&scale, block + 512, 2);
  EXPECT_EQ(HalfToFloat(scale), 0.5f);
  EXPECT_EQ(packed.bytes(), 512 + 128);
  EXPECT_EQ(Tl2GeometryOf(packed).index_bytes, 512);
}

TEST(Tl2Matrix, RejectsWeightsThatAreNotTernary) {
  const QuantMatrix ternary = testing::RandomTernary(8, 64, 32, 4);
  EXPECT_NO_THROW(Tl2Matrix::Pack(ternary));

  QuantMatrix bad = ternary;
  bad.codes[5] = 3;  // a valid 2-bit code, but not ternary
  EXPECT_THROW(Tl2Matrix::Pack(bad), Error);
  bad = ternary;
  bad.zeros[1] = 1.5f;
  EXPECT_THROW(Tl2Matrix::Pack(bad), Error);
  bad = ternary;
  bad.zeros.clear();  // symmetric 2-bit: zero 1.5
  EXPECT_THROW(Tl2Matrix::Pack(bad), Error);
  EXPECT_THROW(Tl2Matrix::Pack(testing::RandomTernary(8, 64, 16, 4)), Error);  // groups of 16
  EXPECT_THROW(Tl2Matrix::Pack(testing::RandomQuantMatrix(8, 64, 1, 32, false, 4)), Error);
  EXPECT_THROW(Tl2Matrix::Pack(testing::RandomQuantMatrix(8, 64, 3, 32, false, 4)), Error);
  bad = ternary;
  bad.codes.resize(3);
  EXPECT_THROW(Tl2Matrix::Pack(bad), Error);
  EXPECT_THROW(Tl2Matrix::Pack(ternary, {96}), Error);
  EXPECT_THROW(Tl2Matrix().Unpack(), Error);
}

}  // namespace
}  // namespace tmac

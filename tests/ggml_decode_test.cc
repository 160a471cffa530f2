// ggml block decoding: the block table, errors, hand-made blocks with known values, and every
// type bit for bit against gguf-py's dequantizers on the vectors tests/oracle/ggml_vectors.py
// writes (the ggml_vectors ctest fixture; those tests skip when it has not run).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <vector>

#include "expect_error.h"
#include "formats/half.h"
#include "tmac/error.h"
#include "tmac/ggml_types.h"

namespace tmac {

// Test names and messages show the type's name (found by argument-dependent lookup in tmac).
void PrintTo(GgmlType type, std::ostream* os) { *os << GgmlTypeName(type); }

namespace {

constexpr GgmlType kAllTypes[] = {
    GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ4_0,  GgmlType::kQ4_1,
    GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ8_0, GgmlType::kQ2_K,  GgmlType::kQ3_K,
    GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kTQ1_0, GgmlType::kTQ2_0,
};

// Appends the little-endian bytes of an fp16 value.
void PushHalf(std::vector<uint8_t>& bytes, float v) {
  const uint16_t h = FloatToHalf(v);
  bytes.push_back(static_cast<uint8_t>(h & 0xFF));
  bytes.push_back(static_cast<uint8_t>(h >> 8));
}

std::vector<float> Decode(GgmlType type, const std::vector<uint8_t>& bytes) {
  const GgmlBlockInfo info = GgmlBlock(type);
  const int64_t n = static_cast<int64_t>(bytes.size()) / info.type_size * info.block_size;
  std::vector<float> out(static_cast<size_t>(n));
  DecodeRow(type, bytes.data(), n, out.data());
  return out;
}

TEST(GgmlTypes, BlockSizesAndNamesAreGgmls) {
  struct Expected {
    GgmlType type;
    uint32_t id;
    const char* name;
    int block_size, type_size;
  };
  // ggml.h's ids and GGML_QUANT_SIZES.
  const Expected table[] = {
      {GgmlType::kF32, 0, "F32", 1, 4},         {GgmlType::kF16, 1, "F16", 1, 2},
      {GgmlType::kQ4_0, 2, "Q4_0", 32, 18},     {GgmlType::kQ4_1, 3, "Q4_1", 32, 20},
      {GgmlType::kQ5_0, 6, "Q5_0", 32, 22},     {GgmlType::kQ5_1, 7, "Q5_1", 32, 24},
      {GgmlType::kQ8_0, 8, "Q8_0", 32, 34},     {GgmlType::kQ2_K, 10, "Q2_K", 256, 84},
      {GgmlType::kQ3_K, 11, "Q3_K", 256, 110},  {GgmlType::kQ4_K, 12, "Q4_K", 256, 144},
      {GgmlType::kQ5_K, 13, "Q5_K", 256, 176},  {GgmlType::kQ6_K, 14, "Q6_K", 256, 210},
      {GgmlType::kBF16, 30, "BF16", 1, 2},      {GgmlType::kTQ1_0, 34, "TQ1_0", 256, 54},
      {GgmlType::kTQ2_0, 35, "TQ2_0", 256, 66},
  };
  ASSERT_EQ(std::size(table), std::size(kAllTypes));
  for (const Expected& e : table) {
    EXPECT_EQ(static_cast<uint32_t>(e.type), e.id) << e.name;
    EXPECT_EQ(GgmlTypeName(e.type), e.name);
    EXPECT_EQ(GgmlBlock(e.type).block_size, e.block_size) << e.name;
    EXPECT_EQ(GgmlBlock(e.type).type_size, e.type_size) << e.name;
    EXPECT_EQ(GgmlTypeInfoOf(e.type).block_size, e.block_size) << e.name;  // the GGUF table agrees
    EXPECT_EQ(GgmlTypeInfoOf(e.type).type_size, e.type_size) << e.name;
    EXPECT_EQ(GgmlRowBytes(e.type, 4096), 4096 / e.block_size * e.type_size) << e.name;
  }
}

using testing::ExpectError;

TEST(GgmlTypes, RejectsUnsupportedTypesByName) {
  const auto iq2_xxs = static_cast<GgmlType>(16);
  EXPECT_EQ(GgmlTypeName(iq2_xxs), "IQ2_XXS");
  EXPECT_EQ(GgmlTypeName(static_cast<GgmlType>(99)), "id 99");
  EXPECT_FALSE(IsDecodable(iq2_xxs));
  EXPECT_TRUE(IsDecodable(GgmlType::kQ6_K));
  EXPECT_TRUE(IsDecodable(GgmlType::kBF16));
  ExpectError([&] { GgmlBlock(iq2_xxs); }, "unsupported ggml tensor type IQ2_XXS");
  ExpectError([&] { GgmlRowBytes(iq2_xxs, 256); }, "IQ2_XXS");
  float out = 0;
  ExpectError([&] { DecodeRow(iq2_xxs, nullptr, 0, &out); }, "IQ2_XXS");
}

TEST(GgmlTypes, RejectsPartialBlocksWithoutWriting) {
  const std::vector<uint8_t> bytes(2 * 144);
  std::vector<float> out(512, 7.f);
  ExpectError([&] { DecodeRow(GgmlType::kQ4_K, bytes.data(), 300, out.data()); }, "Q4_K: 300 weights");
  ExpectError([&] { DecodeRow(GgmlType::kQ4_0, bytes.data(), -32, out.data()); }, "Q4_0: -32 weights");
  ExpectError([&] { GgmlRowBytes(GgmlType::kTQ2_0, 255); }, "256-weight blocks");
  for (float v : out) ASSERT_EQ(v, 7.f);
  DecodeRow(GgmlType::kQ4_K, nullptr, 0, nullptr);  // an empty row is fine
}

TEST(GgmlDecode, Q4_0KnownBlock) {
  // d = -0.5; byte i holds code i (weight i) and code 15 - i (weight 16 + i).
  std::vector<uint8_t> bytes = {0};  // one leading byte: the block starts unaligned
  PushHalf(bytes, -0.5f);
  for (int i = 0; i < 16; ++i) bytes.push_back(static_cast<uint8_t>(i | (15 - i) << 4));
  std::vector<float> out(32);
  DecodeRow(GgmlType::kQ4_0, bytes.data() + 1, 32, out.data());
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(out[i], -0.5f * static_cast<float>(i - 8)) << i;
    EXPECT_EQ(out[16 + i], -0.5f * static_cast<float>(7 - i)) << 16 + i;
  }
  EXPECT_TRUE(std::signbit(out[8])) << "-0.5 * 0 is -0";
}

TEST(GgmlDecode, Q2_KKnownBlock) {
  // Sub-block j (16 weights) has scale j and min 15 - j; every qs byte is 0b11'10'01'00, so
  // weight k's code is (k % 128) / 32 (four 32-weight rows of 2-bit fields per 32 bytes).
  std::vector<uint8_t> bytes;
  for (int j = 0; j < 16; ++j) bytes.push_back(static_cast<uint8_t>(j | (15 - j) << 4));
  bytes.insert(bytes.end(), 64, 0b11'10'01'00);
  PushHalf(bytes, 0.5f);   // d
  PushHalf(bytes, 0.25f);  // dmin
  const std::vector<float> out = Decode(GgmlType::kQ2_K, bytes);
  ASSERT_EQ(out.size(), 256u);
  for (int k = 0; k < 256; ++k) {
    const int j = k / 16, code = (k % 128) / 32;
    EXPECT_EQ(out[k], 0.5f * static_cast<float>(j * code) - 0.25f * static_cast<float>(15 - j)) << k;
  }
}

TEST(GgmlDecode, TQ2_0KnownBlock) {
  // Every byte is 0b00'10'01'00: codes 0, 1, 2, 0 for the four 32-weight rows, i.e. -1, 0, +1,
  // -1; byte 5's bits 4..5 are then set to code 3, which ggml decodes as +2.
  std::vector<uint8_t> bytes(64, 0b00'10'01'00);
  bytes[5] |= 0b11 << 4;  // weight 64 + 5
  PushHalf(bytes, 1.5f);
  const std::vector<float> out = Decode(GgmlType::kTQ2_0, bytes);
  ASSERT_EQ(out.size(), 256u);
  const float row_value[4] = {-1.5f, 0.f, 1.5f, -1.5f};
  for (int k = 0; k < 256; ++k) EXPECT_EQ(out[k], k == 69 ? 3.f : row_value[(k % 128) / 32]) << k;
}

TEST(GgmlDecode, TQ1_0KnownBlock) {
  // A byte holds base-3 digits t0..t4 (t0 most significant) as ceil(value * 256 / 243). The 48
  // qs bytes hold digits 2, 0, 1, 2, 1 (value 178 -> 188); the 4 qh bytes hold four digits
  // 0, 2, 1, 1 and a zero fifth (value 66 -> 70). Digit p of byte i is weight 32 p + i in the
  // first 32 bytes, 160 + 16 p + i in the next 16, 240 + 4 p + i in qh.
  std::vector<uint8_t> bytes(48, 188);
  bytes.insert(bytes.end(), 4, 70);
  PushHalf(bytes, 2.f);
  const std::vector<float> out = Decode(GgmlType::kTQ1_0, bytes);
  ASSERT_EQ(out.size(), 256u);
  const int qs_digits[5] = {2, 0, 1, 2, 1}, qh_digits[4] = {0, 2, 1, 1};
  for (int k = 0; k < 256; ++k) {
    const int digit = k < 160   ? qs_digits[k / 32]
                      : k < 240 ? qs_digits[(k - 160) / 16]
                                : qh_digits[(k - 240) / 4];
    EXPECT_EQ(out[k], 2.f * static_cast<float>(digit - 1)) << k;
  }
}

// Oracle vectors --------------------------------------------------------------------------------

std::vector<char> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class GgmlOracle : public ::testing::TestWithParam<GgmlType> {};

TEST_P(GgmlOracle, MatchesGgufPyBitForBit) {
  const std::filesystem::path dir = TMAC_GGML_VECTORS;
  if (!std::filesystem::exists(dir / "manifest.txt")) {
    GTEST_SKIP() << "no oracle vectors in " << dir << " (the ggml_vectors fixture needs .venv)";
  }
  const GgmlType type = GetParam();
  const std::string name = GgmlTypeName(type);
  std::ifstream manifest(dir / "manifest.txt");
  std::string entry;
  uint32_t id = 0;
  int64_t n = -1;
  while (manifest >> entry >> id >> n && entry != name) {
  }
  ASSERT_EQ(entry, name) << "the manifest lists no vectors for " << name;
  ASSERT_EQ(id, static_cast<uint32_t>(type)) << name;

  const std::vector<char> blocks = ReadFile(dir / (name + ".bin"));
  const std::vector<char> expected_bytes = ReadFile(dir / (name + ".f32"));
  ASSERT_EQ(static_cast<int64_t>(blocks.size()), GgmlRowBytes(type, n));
  ASSERT_EQ(static_cast<int64_t>(expected_bytes.size()), n * 4);
  std::vector<uint32_t> expected(static_cast<size_t>(n));
  std::memcpy(expected.data(), expected_bytes.data(), expected_bytes.size());

  std::vector<float> out(static_cast<size_t>(n));
  DecodeRow(type, blocks.data(), n, out.data());
  const int block_size = GgmlBlock(type).block_size;
  int mismatches = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t got = std::bit_cast<uint32_t>(out[i]), want = expected[i];
    // NaN payloads may differ by conversion instruction; every other value must match in every bit.
    if (got == want || (std::isnan(out[i]) && std::isnan(std::bit_cast<float>(want)))) continue;
    if (++mismatches <= 10) {
      ADD_FAILURE() << name << " weight " << i << " (block " << i / block_size << ", index " << i % block_size
                    << "): got " << out[i] << " (0x" << std::hex << got << "), want "
                    << std::bit_cast<float>(want) << " (0x" << want << std::dec << ")";
    }
  }
  EXPECT_EQ(mismatches, 0) << name << ": " << mismatches << " of " << n << " weights differ";
}

INSTANTIATE_TEST_SUITE_P(AllTypes, GgmlOracle, ::testing::ValuesIn(kAllTypes),
                         [](const ::testing::TestParamInfo<GgmlType>& info) {
                           return GgmlTypeName(info.param);
                         });

}  // namespace
}  // namespace tmac

// Model loading with a tuning table (Linear::Load, include/tmac/tune.h): repacked matrices take
// their entry's layout and run-time parameters, packed ones only an entry for their own layout,
// and neither changes a result bit.
#include "model/linear.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "formats/lut_gguf.h"
#include "gguf_test_util.h"
#include "reference.h"
#include "tmac/ggml_random.h"
#include "tmac/ggml_repack.h"
#include "tmac/thread_pool.h"

namespace tmac {
namespace {

using gguf_test::TempDir;

constexpr int64_t kRows = 320, kCols = 512;

class LinearTuneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const GgmlType type : {GgmlType::kQ4_0, GgmlType::kTQ2_0}) {
      std::vector<uint8_t>& bytes = type == GgmlType::kQ4_0 ? q4_ : tq2_;
      bytes.resize(static_cast<size_t>(kRows * GgmlRowBytes(type, kCols)));
      RandomGgmlRows(type, kCols, 0.02f, 5, 0, kRows, bytes.data());
    }
    // A packed LUT tensor as `tmac convert` writes it: 128-row tiles in chunk pairs.
    packed_ = LutMatrix::Pack(RepackGgml(GgmlType::kQ4_0, q4_.data(), kRows, kCols),
                              {4, 32, 128, ScaleType::kF16, IndexOrder::kChunkPairs});
    GgufWriter writer;
    writer.Add("general.architecture", std::string("llama"));
    writer.Add(std::string(kTmacFormatVersionKey), kTmacFormatVersion);
    writer.AddTensor("q4", {kCols, kRows}, GgmlType::kQ4_0, q4_);
    writer.AddTensor("tq2", {kCols, kRows}, GgmlType::kTQ2_0, tq2_);
    AddLutTensor(writer, "packed", packed_);
    writer.Write(dir_ / "m.gguf");
    file_ = std::make_unique<GgufFile>(GgufFile::Open(dir_ / "m.gguf"));
    x_ = testing::RandomVector(kCols, 3);
  }

  Linear Load(const char* name, const TuneTable* table, int threads = 2) const {
    return Linear::Load(*file_, file_->GetTensor(name), isa_, {table, threads});
  }
  std::vector<float> Forward(const Linear& w) const {
    ThreadPool pool(2);
    std::vector<float> y(static_cast<size_t>(kRows));
    w.Forward(x_.data(), 1, y.data(), {TableMode::kInt8, isa_, &pool});
    return y;
  }
  static bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
    return std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
  }

  Isa isa_ = DefaultIsa();
  TempDir dir_;
  std::vector<uint8_t> q4_, tq2_;
  LutMatrix packed_;
  std::unique_ptr<GgufFile> file_;
  std::vector<float> x_;
};

TEST_F(LinearTuneTest, WithoutAnEntryLoadingUsesTheDefaults) {
  TuneTable empty;
  for (const char* name : {"q4", "tq2", "packed"}) {
    const Linear w = Load(name, &empty);
    EXPECT_FALSE(w.tuned()) << name;
    EXPECT_NE(w.Describe().find(", default"), std::string::npos) << w.Describe();
    EXPECT_FALSE(Load(name, nullptr).tuned());
  }
  const std::optional<TuneKey> key = Load("q4", nullptr).tune_key(isa_, 2);
  ASSERT_TRUE(key);
  EXPECT_EQ(*key, (TuneKey{isa_, PackedFormat::kLut, 4, 32, kRows, kCols, 2}));
  const std::optional<TuneKey> ternary = Load("tq2", nullptr).tune_key(isa_, 1);
  ASSERT_TRUE(ternary);
  EXPECT_EQ(*ternary, (TuneKey{isa_, PackedFormat::kTl2, 2, 256, kRows, kCols, 1}));
}

TEST_F(LinearTuneTest, RepackingUsesTheTunedLayoutAndKeepsTheResult) {
  const std::vector<float> lut_default = Forward(Load("q4", nullptr));
  const std::vector<float> tl2_default = Forward(Load("tq2", nullptr));
  TuneTable table;
  const TunedConfig lut{128, IndexOrder::kChunkPairs, {512, 1}};
  const TunedConfig tl2{128, IndexOrder::kChunkPairs, {1024, 4}};
  table.Set({isa_, PackedFormat::kLut, 4, 32, kRows, kCols, 2}, lut);
  table.Set({isa_, PackedFormat::kTl2, 2, 256, kRows, kCols, 2}, tl2);

  const Linear q4 = Load("q4", &table);
  EXPECT_TRUE(q4.tuned());
  EXPECT_NE(q4.Describe().find(", tuned r128 pairs pf512 split1"), std::string::npos) << q4.Describe();
  EXPECT_TRUE(SameBits(Forward(q4), lut_default));
  // The tuned layout has 128-row tiles: 3 tiles (384 rows, padding included) where the default
  // quads or pairs of 64 rows have 5 (320 rows).
  EXPECT_EQ(q4.bytes() * 320, Load("q4", nullptr).bytes() * 384);
  const Linear tq2 = Load("tq2", &table);
  EXPECT_TRUE(tq2.tuned());
  EXPECT_NE(tq2.Describe().find(", tuned r128 pf1024 split4"), std::string::npos) << tq2.Describe();
  EXPECT_TRUE(SameBits(Forward(tq2), tl2_default));
  // An entry for another thread count is used when it is the nearest.
  EXPECT_TRUE(Load("q4", &table, 8).tuned());
  // Clones keep the configuration.
  EXPECT_EQ(q4.Clone().Describe(), q4.Describe());
  EXPECT_TRUE(SameBits(Forward(q4.Clone()), lut_default));
}

TEST_F(LinearTuneTest, PackedMatricesTakeOnlyAnEntryForTheirOwnLayout) {
  const std::vector<float> expected = Forward(Load("packed", nullptr));
  TuneTable other_layout;
  other_layout.Set({isa_, PackedFormat::kLut, 4, 32, kRows, kCols, 2}, {64, IndexOrder::kChunkPairs, {512, 0}});
  EXPECT_FALSE(Load("packed", &other_layout).tuned());
  TuneTable own_layout;
  own_layout.Set({isa_, PackedFormat::kLut, 4, 32, kRows, kCols, 2}, {128, IndexOrder::kChunkPairs, {0, 2}});
  const Linear w = Load("packed", &own_layout);
  EXPECT_TRUE(w.tuned());
  EXPECT_NE(w.Describe().find("tuned r128 pairs pf0 split2"), std::string::npos) << w.Describe();
  EXPECT_TRUE(SameBits(Forward(w), expected));
}

}  // namespace
}  // namespace tmac

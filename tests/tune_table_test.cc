// The tuning search space and table (include/tmac/tune.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "tmac/error.h"
#include "tmac/ternary.h"
#include "tmac/tune.h"

namespace tmac {
namespace {

TuneKey LutKey(Isa isa, int bits, int group, int threads) {
  return {isa, PackedFormat::kLut, bits, group, 4096, 11008, threads};
}

TEST(TuneTableTest, CheckTuningRejectsWhatTheKernelsDoNotTake) {
  EXPECT_NO_THROW(CheckTuning(kDefaultLutTuning));
  EXPECT_NO_THROW(CheckTuning({0, 0}));
  EXPECT_NO_THROW(CheckTuning({kMaxPrefetchBytes, 16}));
  EXPECT_THROW(CheckTuning({-1, 0}), Error);
  EXPECT_THROW(CheckTuning({kMaxPrefetchBytes + 1, 0}), Error);
  EXPECT_THROW(CheckTuning({2048, -1}), Error);
  LutMatrix empty;
  EXPECT_THROW(empty.set_tuning({-64, 0}), Error);
}

TEST(TuneTableTest, DefaultConfigIsWhatLoadingUsedBefore) {
  for (const Isa isa : SupportedIsas()) {
    for (const int group : {32, 64, 128}) {
      const TuneKey key = LutKey(isa, 4, group, 1);
      const LutLayout layout = DefaultLutLayout(4, group, isa);
      const TunedConfig config = DefaultConfig(key);
      EXPECT_EQ(config.tile_rows, layout.tile_rows);
      EXPECT_EQ(config.order, layout.order);
      EXPECT_EQ(config.runtime, kDefaultLutTuning);
    }
    TuneKey tl2 = LutKey(isa, 2, 256, 2);
    tl2.format = PackedFormat::kTl2;
    EXPECT_EQ(DefaultConfig(tl2).tile_rows, Tl2Layout{}.tile_rows);
    EXPECT_EQ(DefaultConfig(tl2).runtime, kDefaultTl2Tuning);
  }
}

TEST(TuneTableTest, SpaceOffersQuadsOnlyWhereTheKernelsGainAndSplitsOnlyForThreads) {
  for (const Isa isa : SupportedIsas()) {
    const TuneSpace one = TuneSpaceFor(LutKey(isa, 2, 128, 1));
    const bool quads = isa != Isa::kScalar && IsaReadsOrder(isa, IndexOrder::kChunkQuads);
    EXPECT_EQ(one.orders.size(), quads ? 2u : 1u) << IsaName(isa);
    EXPECT_EQ(one.orders[0], IndexOrder::kChunkPairs);
    EXPECT_EQ(one.tiles_per_item, std::vector<int>{0});
    EXPECT_EQ(one.tile_rows, (std::vector<int>{64, 128}));
    // Quads need groups of 32: a group of 16 never gets them.
    EXPECT_EQ(TuneSpaceFor(LutKey(isa, 2, 16, 1)).orders.size(), 1u);
    EXPECT_GT(TuneSpaceFor(LutKey(isa, 2, 128, 2)).tiles_per_item.size(), 1u);
    TuneKey tl2 = LutKey(isa, 2, 256, 1);
    tl2.format = PackedFormat::kTl2;
    EXPECT_EQ(TuneSpaceFor(tl2).orders.size(), 1u);
  }
}

TEST(TuneTableTest, AllCandidatesAreDistinctValidAndStartWithTheDefault) {
  for (const Isa isa : SupportedIsas()) {
    for (const int threads : {1, 3}) {
      const TuneKey key = LutKey(isa, 3, 64, threads);
      const std::vector<TunedConfig> all = AllCandidates(key);
      ASSERT_FALSE(all.empty());
      EXPECT_EQ(all[0], DefaultConfig(key));
      const TuneSpace space = TuneSpaceFor(key);
      const size_t product =
          space.tile_rows.size() * space.orders.size() * space.prefetch_bytes.size() * space.tiles_per_item.size();
      // The default is one of the combinations, listed once.
      EXPECT_EQ(all.size(), product);
      std::set<std::tuple<int, int, int, int>> seen;
      for (const TunedConfig& c : all) {
        EXPECT_NO_THROW(CheckTuning(c.runtime));
        EXPECT_TRUE(IsaReadsOrder(isa, c.order));
        EXPECT_TRUE(seen.insert({c.tile_rows, static_cast<int>(c.order), c.runtime.prefetch_bytes,
                                 c.runtime.tiles_per_item})
                        .second);
      }
    }
  }
}

TEST(TuneTableTest, FindPrefersTheExactThreadCountThenTheNearest) {
  TuneTable table;
  EXPECT_TRUE(table.empty());
  const TunedConfig one{128, IndexOrder::kChunkPairs, {1024, 0}};
  const TunedConfig four{64, IndexOrder::kChunkPairs, {512, 4}};
  table.Set(LutKey(Isa::kAvx2, 4, 32, 1), one);
  table.Set(LutKey(Isa::kAvx2, 4, 32, 4), four);
  EXPECT_EQ(*table.Find(LutKey(Isa::kAvx2, 4, 32, 1)), one);
  EXPECT_EQ(*table.Find(LutKey(Isa::kAvx2, 4, 32, 4)), four);
  EXPECT_EQ(*table.Find(LutKey(Isa::kAvx2, 4, 32, 2)), one);
  EXPECT_EQ(*table.Find(LutKey(Isa::kAvx2, 4, 32, 3)), four);
  EXPECT_EQ(*table.Find(LutKey(Isa::kAvx2, 4, 32, 16)), four);
  // Anything else about the kind must match.
  EXPECT_EQ(table.Find(LutKey(Isa::kAvx512, 4, 32, 1)), nullptr);
  EXPECT_EQ(table.Find(LutKey(Isa::kAvx2, 2, 32, 1)), nullptr);
  EXPECT_EQ(table.Find(LutKey(Isa::kAvx2, 4, 64, 1)), nullptr);
  TuneKey other_shape = LutKey(Isa::kAvx2, 4, 32, 1);
  other_shape.rows = 4096 + 64;
  EXPECT_EQ(table.Find(other_shape), nullptr);
  TuneKey tl2 = LutKey(Isa::kAvx2, 4, 32, 1);
  tl2.format = PackedFormat::kTl2;
  EXPECT_EQ(table.Find(tl2), nullptr);
  // Setting a key again replaces its entry.
  table.Set(LutKey(Isa::kAvx2, 4, 32, 1), four);
  EXPECT_EQ(*table.Find(LutKey(Isa::kAvx2, 4, 32, 1)), four);
  EXPECT_EQ(table.entries().size(), 2u);
}

TEST(TuneTableTest, DescribeConfigNamesEveryParameter) {
  EXPECT_EQ(DescribeConfig(PackedFormat::kLut, {128, IndexOrder::kChunkQuads, {1024, 4}}), "r128 quads pf1024 split4");
  EXPECT_EQ(DescribeConfig(PackedFormat::kLut, {64, IndexOrder::kChunkPairs, {0, 0}}), "r64 pairs pf0 split -");
  EXPECT_EQ(DescribeConfig(PackedFormat::kTl2, {64, IndexOrder::kChunkPairs, {1536, 0}}), "r64 pf1536 split -");
  EXPECT_STREQ(PackedFormatName(PackedFormat::kLut), "lut");
  EXPECT_STREQ(PackedFormatName(PackedFormat::kTl2), "tl2");
}

}  // namespace
}  // namespace tmac

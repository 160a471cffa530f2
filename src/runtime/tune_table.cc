#include <cstdlib>
#include <string>

#include "tmac/error.h"
#include "tmac/ternary.h"
#include "tmac/tune.h"
#include "util/str_cat.h"

namespace tmac {

void CheckTuning(const KernelTuning& tuning) {
  Require(tuning.prefetch_bytes >= 0 && tuning.prefetch_bytes <= kMaxPrefetchBytes,
          StrCat("prefetch distance ", tuning.prefetch_bytes, " outside [0, ", kMaxPrefetchBytes, "]"));
  Require(tuning.tiles_per_item >= 0, StrCat("negative tiles per work item: ", tuning.tiles_per_item));
}

const char* PackedFormatName(PackedFormat format) { return format == PackedFormat::kLut ? "lut" : "tl2"; }

TunedConfig DefaultConfig(const TuneKey& key) {
  TunedConfig config;
  if (key.format == PackedFormat::kLut) {
    const LutLayout layout = DefaultLutLayout(key.bits, key.group, key.isa);
    config.tile_rows = layout.tile_rows;
    config.order = layout.order;
    config.runtime = kDefaultLutTuning;
  } else {
    config.tile_rows = Tl2Layout{}.tile_rows;
    config.runtime = kDefaultTl2Tuning;
  }
  return config;
}

std::string DescribeConfig(PackedFormat format, const TunedConfig& config) {
  std::string text = StrCat("r", config.tile_rows);
  if (format == PackedFormat::kLut) text += config.order == IndexOrder::kChunkQuads ? " quads" : " pairs";
  text += StrCat(" pf", config.runtime.prefetch_bytes);
  text += config.runtime.tiles_per_item == 0 ? std::string(" split -")
                                             : StrCat(" split", config.runtime.tiles_per_item);
  return text;
}

TuneSpace TuneSpaceFor(const TuneKey& key) {
  TuneSpace space;
  space.tile_rows = {64, 128};
  space.orders = {IndexOrder::kChunkPairs};
  // Quads only where DefaultLutLayout would consider them: the scalar kernel reads them as a
  // reference, never faster.
  if (key.format == PackedFormat::kLut && key.isa != Isa::kScalar && key.group % 32 == 0 &&
      IsaReadsOrder(key.isa, IndexOrder::kChunkQuads)) {
    space.orders.push_back(IndexOrder::kChunkQuads);
  }
  space.prefetch_bytes = {0, 512, 1024, 1536, 2048, 3072, 4096};
  space.tiles_per_item = {0};
  if (key.threads > 1) space.tiles_per_item.insert(space.tiles_per_item.end(), {1, 4});
  return space;
}

std::vector<TunedConfig> AllCandidates(const TuneKey& key) {
  const TunedConfig base = DefaultConfig(key);
  std::vector<TunedConfig> all{base};
  const TuneSpace space = TuneSpaceFor(key);
  for (const int rows : space.tile_rows) {
    for (const IndexOrder order : space.orders) {
      for (const int prefetch : space.prefetch_bytes) {
        for (const int split : space.tiles_per_item) {
          const TunedConfig c{rows, order, {prefetch, split}};
          if (!(c == base)) all.push_back(c);
        }
      }
    }
  }
  return all;
}

const TunedConfig* TuneTable::Find(const TuneKey& key) const {
  if (const auto it = entries_.find(key); it != entries_.end()) return &it->second;
  const TunedConfig* best = nullptr;
  int best_distance = 0;
  for (const auto& [k, config] : entries_) {
    TuneKey same = k;
    same.threads = key.threads;
    if (!(same == key)) continue;
    const int distance = std::abs(k.threads - key.threads);
    // entries_ is ordered by threads within a kind, so the first at a distance has fewer threads.
    if (best == nullptr || distance < best_distance) best = &config, best_distance = distance;
  }
  return best;
}

}  // namespace tmac

// Per-machine tuning of the LUT and TL2 kernels: what `tmac tune` searches and what it found.
//
// The searched parameters never change a result bit (docs/kernels.md, "Tuning"): the layout's
// rows per tile and index order, decided when a matrix is packed, and the kernels' run-time
// KernelTuning. A TuneTable maps a matrix kind (ISA, format, bits, group, shape, threads) to the
// configuration that ran it fastest; model loading packs and runs each matrix with its entry,
// or with DefaultConfig when it has none. Reading and writing the cache file is the CLI's job
// (src/cli/tune_cache.h): the library sees only this plain table.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tmac/isa.h"
#include "tmac/lut.h"

namespace tmac {

// Throws tmac::Error for a KernelTuning the kernels do not take: a prefetch distance outside
// [0, kMaxPrefetchBytes] or a negative tiles_per_item.
inline constexpr int kMaxPrefetchBytes = 64 << 10;
void CheckTuning(const KernelTuning& tuning);

enum class PackedFormat { kLut, kTl2 };
const char* PackedFormatName(PackedFormat format);  // "lut", "tl2"

// The kind of matrix a configuration was chosen for.
struct TuneKey {
  Isa isa = Isa::kScalar;
  PackedFormat format = PackedFormat::kLut;
  int bits = 0;  // 2 for TL2
  int group = 0;
  int64_t rows = 0, cols = 0;
  int threads = 1;
  auto operator<=>(const TuneKey&) const = default;
};

// One point of the search: the layout's parameters and the kernels' run-time ones.
struct TunedConfig {
  int tile_rows = 64;
  IndexOrder order = IndexOrder::kChunkPairs;  // LUT only; TL2 has one index order
  KernelTuning runtime;
  bool operator==(const TunedConfig&) const = default;
};

// What packing and the kernels use without a tuned entry: DefaultLutLayout's tile and order
// with kDefaultLutTuning, or TL2's default layout with kDefaultTl2Tuning.
TunedConfig DefaultConfig(const TuneKey& key);

// Short text for a configuration, e.g. "r128 quads pf1024 split4" ("split -" when contiguous).
std::string DescribeConfig(PackedFormat format, const TunedConfig& config);

// The values `tmac tune` tries on each axis for `key`; every combination is a valid,
// result-preserving configuration.
struct TuneSpace {
  std::vector<int> tile_rows;       // 64, 128
  std::vector<IndexOrder> orders;   // chunk pairs; chunk quads where the ISA's kernels gain by them
  std::vector<int> prefetch_bytes;  // 0 .. 4096
  std::vector<int> tiles_per_item;  // 0 (contiguous) only on one thread
};
TuneSpace TuneSpaceFor(const TuneKey& key);
// Every combination of TuneSpaceFor(key), DefaultConfig(key) first.
std::vector<TunedConfig> AllCandidates(const TuneKey& key);

class TuneTable {
 public:
  void Set(const TuneKey& key, const TunedConfig& config) { entries_[key] = config; }
  // The entry for `key`; without one for key.threads, the entry for the same matrix kind with
  // the nearest thread count (the fewer threads on a tie); nullptr when the kind has none.
  const TunedConfig* Find(const TuneKey& key) const;
  const std::map<TuneKey, TunedConfig>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }

 private:
  std::map<TuneKey, TunedConfig> entries_;
};

}  // namespace tmac

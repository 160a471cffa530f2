// Every configuration `tmac tune` may choose gives the default's result bit for bit, on every ISA
// this build has: the search may only change speed (docs/kernels.md, "Tuning").
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "reference.h"
#include "ternary_reference.h"
#include "tmac/lut.h"
#include "tmac/ternary.h"
#include "tmac/thread_pool.h"
#include "tmac/tune.h"

namespace tmac {
namespace {

constexpr int64_t kRows = 200;  // a partial last tile for both 64 and 128 rows
constexpr int64_t kBatch = 3;

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::string Name(const TuneKey& key, const TunedConfig& c) {
  return std::string(IsaName(key.isa)) + " " + PackedFormatName(key.format) + " b" + std::to_string(key.bits) +
         " g" + std::to_string(key.group) + " " + DescribeConfig(key.format, c);
}

// The products a model runs, for one matrix packed and tuned one way.
template <class Matrix>
std::vector<std::vector<float>> Products(const Matrix& w, Isa isa, const std::vector<float>& x, ThreadPool& pool) {
  std::vector<std::vector<float>> out;
  const auto run = [&](int64_t batch, TableMode mode) {
    std::vector<float> y(static_cast<size_t>(batch * w.rows()), -1.f);
    if constexpr (std::is_same_v<Matrix, LutMatrix>) {
      LutMatmul(w, x.data(), batch, y.data(), {mode, isa, &pool});
    } else {
      Tl2Matmul(w, x.data(), batch, y.data(), {mode, isa, &pool});
    }
    out.push_back(std::move(y));
  };
  run(1, TableMode::kInt8);
  run(kBatch, TableMode::kInt8);
  run(1, TableMode::kInt16);
  const Int8Activations q = QuantizeActivations(x.data(), kBatch, w.cols());
  std::vector<float> y(static_cast<size_t>(kBatch * w.rows()), -1.f);
  if constexpr (std::is_same_v<Matrix, LutMatrix>) {
    LutMatmulInt8(w, q, y.data(), {TableMode::kInt8, isa, &pool});
  } else {
    Tl2MatmulInt8(w, q, y.data(), {TableMode::kInt8, isa, &pool});
  }
  out.push_back(std::move(y));
  return out;
}

// Runs every candidate for `key`, packing each layout once, against the default's products.
template <class PackFn>
void ExpectEveryCandidateMatchesTheDefault(const TuneKey& key, const std::vector<float>& x, PackFn pack) {
  ThreadPool pool(key.threads);
  const std::vector<TunedConfig> candidates = AllCandidates(key);
  std::map<std::pair<int, IndexOrder>, decltype(pack(candidates[0]))> packed;
  std::vector<std::vector<float>> expected;
  for (const TunedConfig& c : candidates) {
    auto it = packed.find({c.tile_rows, c.order});
    if (it == packed.end()) it = packed.emplace(std::make_pair(c.tile_rows, c.order), pack(c)).first;
    auto& w = it->second;
    w.set_tuning(c.runtime);
    const auto products = Products(w, key.isa, x, pool);
    if (expected.empty()) {
      expected = products;  // candidates[0] is the default
      continue;
    }
    for (size_t i = 0; i < products.size(); ++i) EXPECT_TRUE(SameBits(products[i], expected[i])) << Name(key, c) << " product " << i;
  }
}

struct LutCase {
  int bits, group;
  bool symmetric;
};

TEST(TuneCandidatesTest, LutCandidatesGiveTheDefaultsBits) {
  for (const LutCase& lc : {LutCase{1, 32, true}, LutCase{2, 128, false}, LutCase{3, 64, false}, LutCase{4, 32, true},
                            LutCase{4, 16, false}}) {
    const int64_t cols = 2 * 128;
    const QuantMatrix q = testing::RandomQuantMatrix(kRows, cols, lc.bits, lc.group, lc.symmetric,
                                                     static_cast<uint32_t>(lc.bits * 100 + lc.group));
    const std::vector<float> x = testing::RandomVector(kBatch * cols, 7);
    for (const Isa isa : SupportedIsas()) {
      const TuneKey key{isa, PackedFormat::kLut, lc.bits, lc.group, kRows, cols, 3};
      ExpectEveryCandidateMatchesTheDefault(key, x, [&](const TunedConfig& c) {
        return LutMatrix::Pack(q, {lc.bits, lc.group, c.tile_rows, ScaleType::kF16, c.order});
      });
    }
  }
}

TEST(TuneCandidatesTest, Tl2CandidatesGiveTheDefaultsBits) {
  for (const int group : {64, 256}) {
    const int64_t cols = 2 * 256;
    const QuantMatrix q = testing::RandomTernary(kRows, cols, group, static_cast<uint32_t>(group));
    const std::vector<float> x = testing::RandomVector(kBatch * cols, 11);
    for (const Isa isa : SupportedIsas()) {
      const TuneKey key{isa, PackedFormat::kTl2, 2, group, kRows, cols, 3};
      ExpectEveryCandidateMatchesTheDefault(key, x, [&](const TunedConfig& c) {
        return Tl2Matrix::Pack(q, Tl2Layout{c.tile_rows});
      });
    }
  }
}

TEST(TuneCandidatesTest, CloneKeepsTheTuning) {
  const QuantMatrix q = testing::RandomQuantMatrix(kRows, 128, 2, 32, true, 3);
  LutMatrix w = LutMatrix::Pack(q, DefaultLutLayout(2, 32));
  EXPECT_EQ(w.tuning(), kDefaultLutTuning);
  w.set_tuning({512, 4});
  EXPECT_EQ(w.Clone().tuning(), (KernelTuning{512, 4}));
  Tl2Matrix t = Tl2Matrix::Pack(testing::RandomTernary(kRows, 256, 256, 5));
  EXPECT_EQ(t.tuning(), kDefaultTl2Tuning);
  t.set_tuning({0, 1});
  EXPECT_EQ(t.Clone().tuning(), (KernelTuning{0, 1}));
}

}  // namespace
}  // namespace tmac

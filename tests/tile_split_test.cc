// ForEachTileRange (src/runtime/tile_split.h): every tile exactly once, on the thread the split says.
#include "runtime/tile_split.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>
#include <vector>

#include "tmac/thread_pool.h"

namespace tmac {
namespace {

// Per tile: how often it was run, and on which thread.
struct Coverage {
  std::vector<int> runs;
  std::vector<std::thread::id> thread;
};

Coverage Cover(ThreadPool* pool, int64_t tiles, int tiles_per_item) {
  Coverage c{std::vector<int>(static_cast<size_t>(tiles)), std::vector<std::thread::id>(static_cast<size_t>(tiles))};
  std::mutex mutex;
  ForEachTileRange(pool, tiles, tiles_per_item, [&](int64_t begin, int64_t end) {
    EXPECT_LT(begin, end);
    std::lock_guard<std::mutex> lock(mutex);
    for (int64_t t = begin; t < end; ++t) {
      ++c.runs[static_cast<size_t>(t)];
      c.thread[static_cast<size_t>(t)] = std::this_thread::get_id();
    }
  });
  return c;
}

TEST(TileSplitTest, EveryTileRunsExactlyOnce) {
  ThreadPool one(1), three(3);
  for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &one, &three}) {
    for (const int64_t tiles : {int64_t{1}, int64_t{2}, int64_t{7}, int64_t{64}, int64_t{173}}) {
      for (const int per_item : {0, 1, 2, 4, 100}) {
        const Coverage c = Cover(pool, tiles, per_item);
        for (int64_t t = 0; t < tiles; ++t) ASSERT_EQ(c.runs[static_cast<size_t>(t)], 1) << tiles << " " << per_item;
      }
    }
  }
  int calls = 0;
  ForEachTileRange(&three, 0, 1, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(TileSplitTest, RoundRobinDealsChunksToThreadsInTurn) {
  ThreadPool pool(2);
  const Coverage c = Cover(&pool, 16, 2);
  // Chunks {0,1}, {4,5}, ... go to one thread and {2,3}, {6,7}, ... to the other.
  for (int64_t t = 0; t < 16; ++t) {
    EXPECT_EQ(c.thread[static_cast<size_t>(t)], c.thread[static_cast<size_t>(t % 4 < 2 ? 0 : 2)]) << t;
  }
  EXPECT_NE(c.thread[0], c.thread[2]);
  // Contiguous: the first half on one thread, the second on the other.
  const Coverage halves = Cover(&pool, 16, 0);
  for (int64_t t = 0; t < 16; ++t) {
    EXPECT_EQ(halves.thread[static_cast<size_t>(t)], halves.thread[static_cast<size_t>(t < 8 ? 0 : 8)]);
  }
  EXPECT_NE(halves.thread[0], halves.thread[8]);
}

}  // namespace
}  // namespace tmac

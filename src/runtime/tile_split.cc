#include "runtime/tile_split.h"

#include <algorithm>

#include "tmac/thread_pool.h"

namespace tmac {

void ForEachTileRange(ThreadPool* pool, int64_t tiles, int tiles_per_item,
                      const std::function<void(int64_t, int64_t)>& fn) {
  if (tiles <= 0) return;
  if (pool == nullptr || tiles_per_item <= 0) return ThreadPool::RunOn(pool, tiles, fn);
  const int threads = pool->size();
  const int64_t chunk = tiles_per_item;
  // One part per thread (ThreadPool::Run gives part i to thread i); each deals its own chunks.
  pool->Run(threads, [&](int64_t first_thread, int64_t end_thread) {
    for (int64_t t = first_thread; t < end_thread; ++t) {
      for (int64_t begin = t * chunk; begin < tiles; begin += threads * chunk) fn(begin, std::min(tiles, begin + chunk));
    }
  });
}

}  // namespace tmac

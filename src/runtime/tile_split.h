// How the kernels' tiles are shared among threads (KernelTuning::tiles_per_item). Every tile is
// run by exactly one thread, in one order, so the split never changes a result bit.
#pragma once

#include <cstdint>
#include <functional>

namespace tmac {

class ThreadPool;

// Calls fn(begin, end) for tile ranges covering [0, tiles) once: with tiles_per_item == 0, one
// contiguous part per thread; else chunks of tiles_per_item tiles, chunk c on thread
// c % threads. pool == nullptr runs everything on the calling thread.
void ForEachTileRange(ThreadPool* pool, int64_t tiles, int tiles_per_item,
                      const std::function<void(int64_t begin, int64_t end)>& fn);

}  // namespace tmac

#include "runtime/bandwidth.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/aligned_buffer.h"
#include "runtime/timer.h"
#include "tmac/error.h"
#include "tmac/thread_pool.h"

namespace tmac {

namespace {

constexpr size_t kLine = 64;
// The hardware prefetchers hide little on the machines we measured, so the loop asks for lines
// this far ahead itself: about 1 KiB is what saturated DRAM there (docs/benchmarks.md).
constexpr size_t kPrefetchAhead = 1024;

// XOR of every 64-bit word in [begin, begin + lines * 64): enough work that the compiler must
// load everything, little enough that the loop is bound by memory, not by arithmetic.
uint64_t ReadLines(const uint8_t* begin, size_t lines) {
  uint64_t acc[kLine / 8] = {};
  auto read_line = [&acc](const uint8_t* line) {
    for (size_t w = 0; w < kLine / 8; ++w) {
      uint64_t word;
      std::memcpy(&word, line + 8 * w, 8);
      acc[w] ^= word;
    }
  };
  constexpr size_t kAheadLines = kPrefetchAhead / kLine;
  const size_t prefetched = lines > kAheadLines ? lines - kAheadLines : 0;
  size_t i = 0;
  for (; i < prefetched; ++i) {
    __builtin_prefetch(begin + (i + kAheadLines) * kLine, /*rw=*/0, /*locality=*/3);
    read_line(begin + i * kLine);
  }
  for (; i < lines; ++i) read_line(begin + i * kLine);
  uint64_t sum = 0;
  for (uint64_t a : acc) sum ^= a;
  return sum;
}

}  // namespace

double MeasureReadBandwidth(int threads, size_t bytes_per_thread, int repetitions) {
  Require(threads >= 1, "bandwidth probe needs at least 1 thread, got " + std::to_string(threads));
  Require(bytes_per_thread >= kLine,
          "bandwidth probe needs at least 64 bytes per thread, got " + std::to_string(bytes_per_thread));
  Require(repetitions >= 1,
          "bandwidth probe needs at least 1 repetition, got " + std::to_string(repetitions));

  const size_t lines = bytes_per_thread / kLine;
  const size_t region = lines * kLine;
  // AllocateAligned zero-fills, which also faults every page in before the clock starts.
  const auto buffer = AllocateAligned(region * static_cast<size_t>(threads), /*huge_pages=*/true);
  ThreadPool pool(threads);
  // Each thread's XOR lands here so the reads cannot be optimized away.
  std::vector<uint64_t> sinks(static_cast<size_t>(threads));
  auto pass = [&] {
    pool.Run(threads, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t)
        sinks[static_cast<size_t>(t)] = ReadLines(buffer.get() + t * region, lines);
    });
  };

  pass();  // warm-up: TLB, pool threads spun up
  std::vector<double> seconds;
  seconds.reserve(static_cast<size_t>(repetitions));
  for (int r = 0; r < repetitions; ++r) {
    Stopwatch watch;
    pass();
    seconds.push_back(watch.Seconds());
  }
  const double bytes = static_cast<double>(region) * threads;
  return bytes / Median(seconds) / 1e9;
}

}  // namespace tmac

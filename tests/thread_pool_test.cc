#include "tmac/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "tmac/error.h"

namespace tmac {
namespace {

TEST(ThreadPool, SplitCoversTheRangeOnceInOrder) {
  for (int parts = 1; parts <= 5; ++parts) {
    for (int64_t count = 0; count <= 13; ++count) {
      int64_t next = 0;
      for (int i = 0; i < parts; ++i) {
        int64_t begin, end;
        ThreadPool::Split(count, parts, i, &begin, &end);
        EXPECT_EQ(begin, next);
        EXPECT_LE(end - begin, count / parts + 1);
        next = end;
      }
      EXPECT_EQ(next, count);
    }
  }
}

TEST(ThreadPool, RunsEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int round = 0; round < 50; ++round) {
      std::vector<std::atomic<int>> hits(97);
      pool.Run(97, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)]++;
      });
      for (auto& h : hits) ASSERT_EQ(h.load(), 1);
    }
  }
}

TEST(ThreadPool, RethrowsAWorkersException) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.Run(10, [](int64_t begin, int64_t) {
    if (begin > 0) throw std::runtime_error("boom");
  }),
               std::runtime_error);
  int calls = 0;
  pool.Run(1, [&](int64_t, int64_t) { ++calls; });  // still usable afterwards
  EXPECT_EQ(calls, 1);
}

TEST(ThreadPool, RejectsZeroThreads) { EXPECT_THROW(ThreadPool(0), Error); }

}  // namespace
}  // namespace tmac

// A fixed pool of worker threads that splits a range into contiguous parts.
//
// The calling thread does the first part itself, so a pool of size 1 starts no thread. Parts
// are a pure function of (count, size), so the same inputs always meet the same code: results
// never depend on scheduling.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tmac {

class ThreadPool {
 public:
  // threads >= 1 (throws tmac::Error otherwise).
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) on every non-empty part of [0, count), part i on thread i, and
  // returns when all are done. An exception thrown by fn is rethrown here.
  void Run(int64_t count, const std::function<void(int64_t begin, int64_t end)>& fn);
  // pool->Run(count, fn), or, without a pool, fn(0, count) on the calling thread.
  static void RunOn(ThreadPool* pool, int64_t count, const std::function<void(int64_t begin, int64_t end)>& fn);

  // Part `index` of [0, count) split `parts` ways.
  static void Split(int64_t count, int parts, int index, int64_t* begin, int64_t* end);

 private:
  void WorkerLoop(int index);
  void RunPart(int index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t count_ = 0;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
  std::atomic<uint64_t> published_{0};
};

}  // namespace tmac

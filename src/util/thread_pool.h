// A fixed pool of workers for data-parallel loops. Work is split into index ranges whose
// results never depend on which thread ran them, so output bytes are thread-count invariant.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace weightcast {

class ThreadPool {
 public:
  // 0: hardware concurrency. Threads the system refuses (ulimit -u, no memory) are done
  // without: the pool runs with fewer, and start_error() says why.
  explicit ThreadPool(unsigned threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  unsigned size() const { return static_cast<unsigned>(workers_.size()) + 1; }
  const std::string& start_error() const { return start_error_; }

  // Calls fn(begin, end) over [0, n) in chunks of about `grain`, on every thread including
  // the caller, and returns when all are done. Rethrows the first exception.
  void parallel_for(std::size_t n, std::size_t grain,
                    const std::function<void(std::size_t, std::size_t)>& fn);

 private:
  void worker_loop();
  void run_chunks();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(std::size_t, std::size_t)>* job_ = nullptr;
  std::size_t n_ = 0, grain_ = 1, next_ = 0, active_ = 0;
  std::uint64_t generation_ = 0;
  std::exception_ptr error_;
  bool stop_ = false;
  std::string start_error_;
};

}  // namespace weightcast

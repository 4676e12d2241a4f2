#include "util/task_thread.h"

#include <chrono>
#include <system_error>

#include "util/error.h"

namespace weightcast {

namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

TaskThread::~TaskThread() {
  {
    std::lock_guard lock(mutex_);
    failed_ = true;  // drop what is still queued
  }
  queue_.close();
  if (thread_.joinable()) thread_.join();
}

void TaskThread::rethrow_locked() {
  if (error_) std::rethrow_exception(error_);
}

void TaskThread::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || inline_) return;
  try {
    thread_ = std::thread([this] { run(); });
  } catch (const std::system_error&) {
    inline_ = true;
  }
}

void TaskThread::post(std::function<void()> task) {
  start();
  bool run_here;
  {
    std::lock_guard lock(mutex_);
    rethrow_locked();
    run_here = inline_;
    if (!run_here) ++posted_;
  }
  if (run_here) {
    const auto start = Clock::now();
    std::exception_ptr error;
    try {
      task();
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard lock(mutex_);
    busy_seconds_ += std::chrono::duration<double>(Clock::now() - start).count();
    if (error) {
      error_ = error;
      failed_ = true;
      std::rethrow_exception(error);
    }
    return;
  }
  if (!queue_.push(std::move(task))) {
    std::lock_guard lock(mutex_);
    ++finished_;
    rethrow_locked();
    fail("internal error: a task was posted to a stopped thread");
  }
}

void TaskThread::wait() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return finished_ == posted_; });
  rethrow_locked();
}

double TaskThread::busy_seconds() const {
  std::lock_guard lock(mutex_);
  return busy_seconds_;
}

void TaskThread::run() {
  while (auto task = queue_.pop()) {
    bool skip;
    {
      std::lock_guard lock(mutex_);
      skip = failed_;
    }
    std::exception_ptr error;
    const auto start = Clock::now();
    if (!skip) {
      try {
        (*task)();
      } catch (...) {
        error = std::current_exception();
      }
    }
    task.reset();  // what the task holds is released before anyone is told it ran
    std::lock_guard lock(mutex_);
    busy_seconds_ += std::chrono::duration<double>(Clock::now() - start).count();
    if (error && !error_) error_ = error;
    if (error) failed_ = true;
    ++finished_;
    idle_.notify_all();
  }
}

}  // namespace weightcast

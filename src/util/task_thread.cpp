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

void TaskThread::post(std::function<void()> task, Queue how) {
  start();
  bool run_here;
  {
    std::lock_guard lock(mutex_);
    rethrow_locked();
    run_here = inline_;
    if (!run_here) ++posted_;
  }
  if (run_here) {
    const std::exception_ptr error = run_one(task);
    std::lock_guard lock(mutex_);
    note_end(error);
    rethrow_locked();
    return;
  }
  const bool queued = how == Queue::kBounded
                          ? queue_.push(std::move(task))
                          : queue_.push_now(std::move(task), how == Queue::kNext);
  if (!queued) {
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

bool TaskThread::wait_for(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!idle_.wait_for(lock, timeout, [&] { return finished_ == posted_; })) return false;
  rethrow_locked();
  return true;
}

std::exception_ptr TaskThread::run_one(std::function<void()>& task) {
  const auto start = Clock::now();
  std::exception_ptr error;
  try {
    task();
  } catch (...) {
    error = std::current_exception();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::lock_guard lock(mutex_);
  busy_seconds_ += seconds;
  return error;
}

void TaskThread::note_end(const std::exception_ptr& error) {
  if (!error) return;
  if (!error_) error_ = error;
  failed_ = true;
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
    const std::exception_ptr error = skip ? nullptr : run_one(*task);
    task.reset();  // what the task holds is released before anyone is told it ran
    std::lock_guard lock(mutex_);
    note_end(error);
    ++finished_;
    idle_.notify_all();
  }
}

}  // namespace weightcast

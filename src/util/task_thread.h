// One thread that runs posted tasks in order, beside the thread that posts them: the writer's
// shard lanes and the scan of records that pass through. Started by start() or on first use; where
// the system refuses the thread (ulimit -u), the tasks run on the poster instead, in the same
// order. A bounded backlog keeps the poster from running far ahead. A task that throws stops the
// thread's work: the tasks after it are dropped (destroyed unrun) and the error is rethrown to the
// next post() or wait().
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "util/bounded_queue.h"

namespace weightcast {

class TaskThread {
 public:
  explicit TaskThread(std::size_t backlog = 4) : queue_(backlog) {}
  ~TaskThread();  // drops the tasks not yet run, then joins
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;

  // Starts the thread now, if it can, rather than at the first post().
  void start();
  // Where a task joins the backlog: last, waiting while it is full; or, for a task that holds
  // nothing worth bounding until it runs, at once, last or next in line.
  enum class Queue { kBounded, kLast, kNext };
  // Queues `task` (or runs it, without a thread).
  void post(std::function<void()> task, Queue how = Queue::kBounded);
  // Returns once every task posted so far has run (or was dropped after an error).
  void wait();
  // The same, giving up after `timeout`: false when tasks are still to run.
  bool wait_for(std::chrono::milliseconds timeout);
  // Seconds spent running tasks so far, on the thread or in post().
  double busy_seconds() const;

 private:
  void run();
  // Runs one task, adding its time to busy_seconds_; returns what it threw.
  std::exception_ptr run_one(std::function<void()>& task);
  // Under the lock: a task that threw stops the thread's work, the first error kept.
  void note_end(const std::exception_ptr& error);
  void rethrow_locked();

  BoundedQueue<std::function<void()>> queue_;
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  double busy_seconds_ = 0;
  std::size_t posted_ = 0, finished_ = 0;
  std::exception_ptr error_;
  bool failed_ = false;
  bool inline_ = false;  // the thread was refused: tasks run in post()
  std::thread thread_;
};

}  // namespace weightcast

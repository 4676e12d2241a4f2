// A small blocking FIFO that bounds how much finished work waits for the writer (items that hold
// nothing worth bounding may skip the bound, and the line).
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

namespace weightcast {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity) {}

  // Returns false if the queue was closed (the consumer gave up).
  bool push(T item) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    return add(std::move(lock), std::move(item), false);
  }
  // Queues an item that holds no memory worth bounding, without waiting for room: next in line
  // (`first`) or last.
  bool push_now(T item, bool first) {
    return add(std::unique_lock(mutex_), std::move(item), first);
  }
  // Returns nullopt once the queue is closed and drained.
  std::optional<T> pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  bool add(std::unique_lock<std::mutex> lock, T item, bool first) {
    if (closed_) return false;
    if (first)
      items_.push_front(std::move(item));
    else
      items_.push_back(std::move(item));
    lock.unlock();
    not_empty_.notify_one();
    return true;
  }

  std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_empty_, not_full_;
  std::deque<T> items_;
  bool closed_ = false;
};

}  // namespace weightcast

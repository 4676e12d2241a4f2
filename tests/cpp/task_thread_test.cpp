#include "util/task_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "util/error.h"

namespace weightcast {
namespace {

TEST(TaskThread, RunsTasksInOrderOffThePostingThread) {
  std::vector<int> seen;
  std::atomic<int> elsewhere{0};
  const auto poster = std::this_thread::get_id();
  TaskThread thread(2);
  for (int i = 0; i < 100; ++i)
    thread.post([&, i] {
      seen.push_back(i);
      if (std::this_thread::get_id() != poster) ++elsewhere;
    });
  thread.post([] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); });
  thread.wait();
  EXPECT_GE(thread.busy_seconds(), 0.015);  // the time the tasks ran, which the writer reports
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[i], i);
  EXPECT_EQ(elsewhere.load(), 100);
}

// Tasks that hold nothing worth bounding skip the backlog's bound: last in line, or next.
TEST(TaskThread, UnboundedTasksQueueAtOnceLastOrNext) {
  TaskThread thread(1);
  std::atomic<bool> release{false};
  std::vector<int> seen;
  thread.post([&] {
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  // With the thread held and a backlog of one, these would block a bounded post().
  for (int i = 0; i < 5; ++i) thread.post([&, i] { seen.push_back(i); }, TaskThread::Queue::kLast);
  thread.post([&] { seen.push_back(100); }, TaskThread::Queue::kNext);
  EXPECT_FALSE(thread.wait_for(std::chrono::milliseconds(20)));  // still held
  release = true;
  EXPECT_TRUE(thread.wait_for(std::chrono::seconds(30)));
  EXPECT_EQ(seen, (std::vector<int>{100, 0, 1, 2, 3, 4}));
}

// A failed task stops the thread's work: later tasks are dropped, their captures released, and
// the error comes back to wait() and to every later post().
TEST(TaskThread, AFailedTaskDropsTheRestAndRethrows) {
  TaskThread thread(8);
  std::atomic<int> ran{0};
  std::atomic<bool> posted{false};
  auto held = std::make_shared<int>(0);
  thread.post([&posted] {
    while (!posted) std::this_thread::yield();  // fails once the rest are queued behind it
    fail<IOError>("disk full");
  });
  for (int i = 0; i < 5; ++i) thread.post([&ran, held] { ++ran; });
  posted = true;
  EXPECT_THROW(thread.wait(), IOError);
  EXPECT_EQ(ran.load(), 0);
  EXPECT_EQ(held.use_count(), 1);  // the dropped tasks' copies are gone
  EXPECT_THROW(thread.post([&ran] { ++ran; }), IOError);
  EXPECT_EQ(ran.load(), 0);
}

// Destroying the thread with tasks queued drops them unrun and returns once the running one ends.
TEST(TaskThread, DestructionDropsQueuedTasks) {
  std::atomic<int> ran{0};
  std::atomic<bool> started{false}, release{false};
  std::thread releaser;
  {
    TaskThread thread(8);
    thread.post([&] {
      started = true;
      while (!release) std::this_thread::yield();
      ++ran;
    });
    while (!started) std::this_thread::yield();
    for (int i = 0; i < 4; ++i) thread.post([&ran] { ran += 10; });
    releaser = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      release = true;
    });
  }
  releaser.join();
  EXPECT_EQ(ran.load(), 1);
}

}  // namespace
}  // namespace weightcast

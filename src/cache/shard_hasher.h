// md5 of every shard, computed on a thread of its own so that hashing (about 600 MB/s per core)
// overlaps writing and quantizing instead of adding to them. The data is kept alive by the
// shared pointers queued with it; the queue is bounded by bytes.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

struct evp_md_ctx_st;

namespace weightcast {

class ShardHasher {
 public:
  explicit ShardHasher(std::size_t max_queued_bytes = 256u << 20);
  ~ShardHasher();
  ShardHasher(const ShardHasher&) = delete;
  ShardHasher& operator=(const ShardHasher&) = delete;

  std::size_t open();  // a new digest; returns its id
  void update(std::size_t id, std::span<const std::byte> data, std::shared_ptr<const void> keep);
  // Waits for every queued update, then returns the lowercase hex digests, by id.
  std::vector<std::string> finish();

 private:
  struct Job {
    std::size_t id;
    std::span<const std::byte> data;
    std::shared_ptr<const void> keep;
  };
  void run();

  std::vector<evp_md_ctx_st*> contexts_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Job> jobs_;
  std::size_t queued_bytes_ = 0, max_queued_bytes_;
  bool closing_ = false;
  std::thread thread_;
};

}  // namespace weightcast

// md5 of every finished shard, on a thread of its own so that hashing overlaps quantizing and
// writing. Shards are read back from the staging files (still in the page cache) sixteen at a time
// through small reused buffers, and hashed in the lanes of Md5Lanes. When syncing, a second
// thread flushes each shard to disk (fdatasync) as soon as it is queued, overlapping the run.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace weightcast {

class ShardHasher {
 public:
  explicit ShardHasher(bool sync = false);
  ~ShardHasher();
  ShardHasher(const ShardHasher&) = delete;
  ShardHasher& operator=(const ShardHasher&) = delete;

  // Queues a complete shard file; `index` is its position in the manifest.
  void add(std::size_t index, std::filesystem::path path);
  // Hashes whatever is queued, then returns the lowercase hex digests by index.
  std::vector<std::string> finish();

 private:
  struct Job {
    std::size_t index;
    std::filesystem::path path;
  };
  void run();
  void hash_batch(std::vector<Job>& batch);
  std::byte* lane_buffer(int lane);
  void run_sync();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Job> jobs_;
  std::deque<std::filesystem::path> to_sync_;
  std::vector<std::string> digests_;
  std::vector<std::byte> buffer_;  // one chunk per lane, reused
  std::exception_ptr error_;
  bool closing_ = false;
  bool sync_ = false;
  std::thread thread_;
  std::thread syncer_;  // only when syncing
};

}  // namespace weightcast

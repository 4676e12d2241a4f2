// md5 of every finished shard, on a thread of its own so that hashing overlaps quantizing and
// writing. Shards are read back from the staging files (from the page cache, or with O_DIRECT for
// shards written so) and hashed in the sixteen lanes of Md5Lanes, one shard per lane; a lane that
// finishes its shard takes the next one queued. When syncing, a second thread flushes each shard
// to disk (fdatasync) as soon as it is queued, overlapping the run.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/buffer_pool.h"

namespace weightcast {

class ShardHasher {
 public:
  explicit ShardHasher(bool sync = false);
  ~ShardHasher();
  ShardHasher(const ShardHasher&) = delete;
  ShardHasher& operator=(const ShardHasher&) = delete;

  // Queues a complete shard file; `index` is its position in the manifest. `direct`: the file was
  // written past the page cache, so it is read back the same way.
  void add(std::size_t index, std::filesystem::path path, bool direct = false);
  // Hashes whatever is queued, then returns the lowercase hex digests by index.
  std::vector<std::string> finish();

 private:
  struct Job {
    std::size_t index;
    std::filesystem::path path;
    bool direct;
  };
  void run();
  std::byte* lane_buffer(int lane);
  void run_sync();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Job> jobs_;
  std::deque<std::filesystem::path> to_sync_;
  std::vector<std::string> digests_;
  Buffer buffer_;  // one chunk per lane, page-aligned, reused
  std::size_t chunk_ = 0;
  std::exception_ptr error_;
  bool closing_ = false;
  bool sync_ = false;
  std::thread thread_;
  std::thread syncer_;  // only when syncing
};

}  // namespace weightcast

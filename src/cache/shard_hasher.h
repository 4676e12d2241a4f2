// md5 of every finished shard, on a thread of its own so that hashing overlaps quantizing and
// writing. Shards are read back from the staging files (from the page cache, or with O_DIRECT for
// shards written so) and hashed in the sixteen lanes of Md5Lanes, one shard per lane; a lane that
// finishes its shard takes the next one queued. A large shard may instead be followed: hashed as
// it is written, so that its long MD5 chain does not start only when it is complete, at the end
// of the run. When syncing, a second thread flushes each shard to disk (fdatasync) as soon as it
// is queued, overlapping the run.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/buffer_pool.h"

namespace weightcast {

class ShardHasher {
 public:
  // A followed shard is hashed once a step more of it is on file while other lanes are fed too,
  // or, alone, once `follow_alone_lag` bytes of it wait. The longer a lone shard waits, the
  // likelier it is hashed beside the next one (two lanes cost little more than one), but the end
  // of the run may find that much of it unhashed: 256 MiB is about 0.4 s of one lane. On the
  // Mixtral benchmark 256 MiB measured 3% faster than 64 MiB, with 5% less CPU time.
  static constexpr std::size_t kFollowAloneLag = 256u << 20;
  explicit ShardHasher(bool sync = false, std::size_t follow_alone_lag = kFollowAloneLag);
  ~ShardHasher();
  ShardHasher(const ShardHasher&) = delete;
  ShardHasher& operator=(const ShardHasher&) = delete;

  // A shard file being written through the page cache, hashed as it grows: the writer reports the
  // bytes on file with grown() and hands it over complete with add().
  class Followed {
    friend class ShardHasher;
    std::filesystem::path path_;
    std::atomic<std::size_t> on_file_{0};
    bool complete_ = false;  // guarded by the hasher's mutex, as is index_
    std::size_t index_ = 0;
  };
  std::shared_ptr<Followed> follow(std::filesystem::path path);
  void grown(Followed& shard, std::size_t bytes_on_file);
  // Queues a complete shard file; `index` is its position in the manifest. `direct`: the file was
  // written past the page cache, so it is read back the same way. `followed`: the shard was
  // followed while written (then `path` and `direct` are its own).
  void add(std::size_t index, std::filesystem::path path, bool direct = false,
           const std::shared_ptr<Followed>& followed = {});
  // Hashes whatever is queued, then returns the lowercase hex digests by index.
  std::vector<std::string> finish();

 private:
  struct Job {
    std::size_t index;
    std::filesystem::path path;
    bool direct;
    std::shared_ptr<Followed> followed;
  };
  void run();
  std::byte* lane_buffer(int lane);
  void run_sync();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Job> jobs_;
  std::deque<std::shared_ptr<Followed>> to_follow_;
  std::deque<std::filesystem::path> to_sync_;
  std::vector<std::string> digests_;
  std::size_t follow_alone_lag_;
  Buffer buffer_;  // one chunk per lane, page-aligned, reused
  std::size_t chunk_ = 0;
  std::exception_ptr error_;
  bool closing_ = false;
  bool aborted_ = false;  // destroyed before finish(): stop at once
  bool sync_ = false;
  std::thread thread_;
  std::thread syncer_;  // only when syncing
};

}  // namespace weightcast

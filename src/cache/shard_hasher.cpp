#include "cache/shard_hasher.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "cache/md5_multi.h"
#include "cache/output_dir.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace weightcast {

namespace {

constexpr std::size_t kChunkBlocks = (1u << 20) / 64;  // 1 MiB read per lane and round

}  // namespace

ShardHasher::ShardHasher(bool sync)
    : sync_(sync),
      thread_([this] { run(); }),
      syncer_(sync ? std::thread([this] { run_sync(); }) : std::thread()) {}

ShardHasher::~ShardHasher() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
    jobs_.clear();
    to_sync_.clear();
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (syncer_.joinable()) syncer_.join();
}

void ShardHasher::add(std::size_t index, std::filesystem::path path) {
  std::lock_guard lock(mutex_);
  if (sync_) to_sync_.push_back(path);
  jobs_.push_back({index, std::move(path)});
  changed_.notify_all();
}

void ShardHasher::run() {
  for (;;) {
    std::vector<Job> batch;
    {
      std::unique_lock lock(mutex_);
      // Wait for a full batch of eight, or for the end.
      changed_.wait(lock, [&] { return closing_ || jobs_.size() >= Md5Lanes::kLanes; });
      if (jobs_.empty()) return;
      while (!jobs_.empty() && batch.size() < Md5Lanes::kLanes) {
        batch.push_back(std::move(jobs_.front()));
        jobs_.pop_front();
      }
    }
    try {
      hash_batch(batch);
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
      jobs_.clear();
      return;
    }
  }
}

void ShardHasher::hash_batch(std::vector<Job>& batch) {
  const int n = static_cast<int>(batch.size());
  // Mapped, not read: no copy. Each window is dropped from our resident set once hashed.
  std::vector<std::unique_ptr<MappedFile>> files;
  std::vector<std::size_t> offset(n, 0);
  for (int i = 0; i < n; ++i) files.push_back(std::make_unique<MappedFile>(batch[i].path));
  Md5Lanes lanes;
  std::vector<bool> done(n, false);
  std::vector<Md5Digest> out(n);
  for (;;) {
    // Lanes run in lockstep: the round covers as many whole blocks as every live lane has.
    std::size_t blocks = kChunkBlocks;
    bool any = false;
    for (int i = 0; i < n; ++i) {
      if (done[i]) continue;
      const std::size_t left = (files[i]->size() - offset[i]) / 64;
      if (left == 0) {  // only the tail is left: finish this lane
        out[i] = lanes.finish(i, files[i]->bytes().subspan(offset[i]), files[i]->size());
        done[i] = true;
        continue;
      }
      blocks = std::min(blocks, left);
      any = true;
    }
    if (!any) break;
    std::array<const std::byte*, Md5Lanes::kLanes> data{};
    for (int i = 0; i < n; ++i)
      if (!done[i]) data[i] = files[i]->bytes().data() + offset[i];
    lanes.update(data, blocks);
    for (int i = 0; i < n; ++i) {
      if (done[i]) continue;
      files[i]->done_with(offset[i], blocks * 64);
      offset[i] += blocks * 64;
    }
  }
  std::lock_guard lock(mutex_);
  for (int i = 0; i < n; ++i) {
    if (digests_.size() <= batch[i].index) digests_.resize(batch[i].index + 1);
    digests_[batch[i].index] = to_hex(out[i]);
  }
}

void ShardHasher::run_sync() {
  for (;;) {
    std::filesystem::path path;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return closing_ || !to_sync_.empty(); });
      if (to_sync_.empty()) return;
      path = std::move(to_sync_.front());
      to_sync_.pop_front();
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    try {
      if (fd < 0) fail<IOError>("{}: cannot open: {}", path.string(), std::strerror(errno));
      sync_file(fd, path);
      ::close(fd);
    } catch (...) {
      if (fd >= 0) ::close(fd);
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
      to_sync_.clear();
      return;
    }
  }
}

std::vector<std::string> ShardHasher::finish() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (syncer_.joinable()) syncer_.join();
  if (error_) std::rethrow_exception(error_);
  return digests_;
}

}  // namespace weightcast

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

namespace weightcast {

namespace {

constexpr std::size_t kChunkBlocks = (128u << 10) / 64;  // per lane and round: all lanes fit L2

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

namespace {

// A shard read back with pread into a buffer reused for every round: no page faults on a mapping
// and no unmapping across threads, and the md5 lanes read from cache rather than memory.
class ShardReader {
 public:
  explicit ShardReader(const std::filesystem::path& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail<IOError>("{}: cannot open: {}", path.string(), std::strerror(errno));
    const off_t end = ::lseek(fd_, 0, SEEK_END);
    if (end < 0) fail<IOError>("{}: cannot size: {}", path.string(), std::strerror(errno));
    size_ = static_cast<std::size_t>(end);
  }
  ~ShardReader() { ::close(fd_); }
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;
  std::size_t size() const { return size_; }
  std::size_t offset() const { return offset_; }
  // The next `n` bytes, in `buffer`.
  const std::byte* next(std::size_t n, std::byte* buffer) {
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = ::pread(fd_, buffer + got, n - got, static_cast<off_t>(offset_ + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0)
        fail<IOError>("{}: read back failed at byte {}: {}", path_.string(), offset_ + got,
                      r < 0 ? std::strerror(errno) : "the file is shorter than written");
      got += static_cast<std::size_t>(r);
    }
    offset_ += n;
    return buffer;
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::size_t size_ = 0, offset_ = 0;
};

}  // namespace

void ShardHasher::hash_batch(std::vector<Job>& batch) {
  const int n = static_cast<int>(batch.size());
  std::vector<std::unique_ptr<ShardReader>> files;
  for (int i = 0; i < n; ++i) files.push_back(std::make_unique<ShardReader>(batch[i].path));
  if (buffer_.empty()) buffer_.resize(Md5Lanes::kLanes * kChunkBlocks * 64);
  Md5Lanes lanes;
  std::vector<bool> done(n, false);
  std::vector<Md5Digest> out(n);
  for (;;) {
    // Lanes run in lockstep: the round covers as many whole blocks as every live lane has.
    std::size_t blocks = kChunkBlocks;
    bool any = false;
    for (int i = 0; i < n; ++i) {
      if (done[i]) continue;
      auto& f = *files[i];
      const std::size_t left = (f.size() - f.offset()) / 64;
      if (left == 0) {  // only the tail is left: finish this lane
        const std::size_t tail = f.size() - f.offset(), total = f.size();
        out[i] = lanes.finish(i, {f.next(tail, lane_buffer(i)), tail}, total);
        done[i] = true;
        continue;
      }
      blocks = std::min(blocks, left);
      any = true;
    }
    if (!any) break;
    std::array<const std::byte*, Md5Lanes::kLanes> data{};
    for (int i = 0; i < n; ++i)
      if (!done[i]) data[i] = files[i]->next(blocks * 64, lane_buffer(i));
    lanes.update(data, blocks);
  }
  std::lock_guard lock(mutex_);
  for (int i = 0; i < n; ++i) {
    if (digests_.size() <= batch[i].index) digests_.resize(batch[i].index + 1);
    digests_[batch[i].index] = to_hex(out[i]);
  }
}

std::byte* ShardHasher::lane_buffer(int lane) {
  return buffer_.data() + static_cast<std::size_t>(lane) * kChunkBlocks * 64;
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

#include "cache/shard_hasher.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include "cache/md5_multi.h"
#include "cache/output_dir.h"
#include "util/error.h"

namespace weightcast {

namespace {

// Bytes per lane and round: read from the page cache, small enough that all lanes fit L2; read
// from the device (O_DIRECT), large enough for its throughput.
constexpr std::size_t kCachedChunk = 128u << 10;
constexpr std::size_t kDirectChunk = 1u << 20;
constexpr std::size_t kPage = 4096;  // O_DIRECT's alignment

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

void ShardHasher::add(std::size_t index, std::filesystem::path path, bool direct) {
  std::lock_guard lock(mutex_);
  if (sync_) to_sync_.push_back(path);
  jobs_.push_back({index, std::move(path), direct});
  changed_.notify_all();
}

namespace {

// A shard read back for hashing. From the page cache: mapped a 4 MiB window at a time, its page
// tables filled in one call (MAP_POPULATE), and the lanes read the mapping itself: no copy (a
// pread into a buffer copies every byte, a third of the system time of a q0 conversion), and the
// windows keep the mapped pages (which count in the RSS) to 64 MiB for sixteen lanes. The file is
// our own staging file, under the output's lock. With `direct`:
// O_DIRECT preads into the caller's page-aligned buffer (offsets and lengths page-aligned too: the
// caller keeps every read but the last at a page-aligned offset).
class ShardReader {
 public:
  ShardReader(const std::filesystem::path& path, bool direct) : path_(path) {
    if (direct) {
      fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
      direct_ = fd_ >= 0;
    }
    if (fd_ < 0) fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail<IOError>("{}: cannot open: {}", path.string(), std::strerror(errno));
    const off_t end = ::lseek(fd_, 0, SEEK_END);
    if (end < 0) fail<IOError>("{}: cannot size: {}", path.string(), std::strerror(errno));
    size_ = static_cast<std::size_t>(end);
  }
  ~ShardReader() {
    unmap();
    ::close(fd_);
  }
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;
  std::size_t size() const { return size_; }
  std::size_t offset() const { return offset_; }
  // The next `n` bytes, in `buffer` (room for `n` rounded up to a page when direct).
  const std::byte* next(std::size_t n, std::byte* buffer) {
    if (!direct_ && n > 0) {
      const bool inside = window_ && offset_ + n <= window_offset_ + window_size_;
      if (inside || map_window(n)) {
        offset_ += n;
        return window_ + (offset_ - n - window_offset_);
      }
    }
    return read(n, buffer);
  }

 private:
  static constexpr std::size_t kWindow = 4u << 20;

  // Maps the window [offset_, offset_ + kWindow) (offset_ is page-aligned: see the class comment);
  // false when mapping fails or the file is short (then pread serves, or reports it).
  bool map_window(std::size_t n) {
    unmap();
    if (offset_ % kPage != 0 || offset_ + n > size_) return false;
    const std::size_t len = std::min(std::max(kWindow, n), size_ - offset_);
    void* p = ::mmap(nullptr, len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd_,
                     static_cast<off_t>(offset_));
    if (p == MAP_FAILED) return false;
    window_ = static_cast<const std::byte*>(p);
    window_offset_ = offset_;
    window_size_ = len;
    return true;
  }
  void unmap() {
    if (window_) ::munmap(const_cast<std::byte*>(window_), window_size_);
    window_ = nullptr;
  }
  const std::byte* read(std::size_t n, std::byte* buffer) {
    const std::size_t want = direct_ ? (n + kPage - 1) / kPage * kPage : n;
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = ::pread(fd_, buffer + got, want - got, static_cast<off_t>(offset_ + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0)
        fail<IOError>("{}: read back failed at byte {}: {}", path_.string(), offset_ + got,
                      r < 0 ? std::strerror(errno) : "the file is shorter than written");
      got += static_cast<std::size_t>(r);
    }
    offset_ += n;
    return buffer;
  }

  std::filesystem::path path_;
  int fd_ = -1;
  bool direct_ = false;
  const std::byte* window_ = nullptr;
  std::size_t window_offset_ = 0, window_size_ = 0;
  std::size_t size_ = 0, offset_ = 0;
};

}  // namespace

void ShardHasher::run() {
  struct Lane {
    Job job;
    std::unique_ptr<ShardReader> file;
  };
  std::array<std::optional<Lane>, Md5Lanes::kLanes> lanes;
  Md5Lanes md5;
  const auto idle = [&] {
    return static_cast<std::size_t>(
        std::count_if(lanes.begin(), lanes.end(), [](const auto& l) { return !l; }));
  };
  try {
    for (;;) {
      std::vector<Job> arrived;
      {
        std::unique_lock lock(mutex_);
        // Hashes only with every lane busy, until the end. A lane freed takes the next shard at
        // once: batches of sixteen drained before the next left lanes idle (shards differ in size)
        // and hashed at 40-60% of the lanes' throughput.
        changed_.wait(lock, [&] { return closing_ || jobs_.size() >= idle(); });
        while (!jobs_.empty() && arrived.size() < idle()) {
          arrived.push_back(std::move(jobs_.front()));
          jobs_.pop_front();
        }
      }
      for (auto& job : arrived) {
        const int lane = static_cast<int>(
            std::find_if(lanes.begin(), lanes.end(), [](const auto& l) { return !l; }) -
            lanes.begin());
        auto file = std::make_unique<ShardReader>(job.path, job.direct);
        lanes[lane].emplace(Lane{std::move(job), std::move(file)});
        md5.restart(lane);
      }
      if (idle() == Md5Lanes::kLanes) return;  // closing, and nothing left
      // Lanes run in lockstep: the round covers as many whole pages as every lane has, so that
      // reads stay page-aligned. A lane with less than a page left finishes on its own.
      const bool direct =
          std::any_of(lanes.begin(), lanes.end(), [](const auto& l) { return l && l->job.direct; });
      const std::size_t chunk = direct ? kDirectChunk : kCachedChunk;
      if (!buffer_ || chunk_ < chunk) {
        buffer_ = allocate_buffer(Md5Lanes::kLanes * chunk);
        chunk_ = chunk;
      }
      std::size_t bytes = chunk;
      std::array<const std::byte*, Md5Lanes::kLanes> data{};
      for (int i = 0; i < Md5Lanes::kLanes; ++i) {
        if (!lanes[i]) continue;
        auto& f = *lanes[i]->file;
        const std::size_t left = f.size() - f.offset();
        if (left < kPage) {
          const std::byte* rest = f.next(left, lane_buffer(i));
          const std::size_t whole = left / 64 * 64;
          md5.update_lane(i, rest, whole / 64);
          const auto digest = md5.finish(i, {rest + whole, left - whole}, f.size());
          std::lock_guard lock(mutex_);
          const std::size_t index = lanes[i]->job.index;
          if (digests_.size() <= index) digests_.resize(index + 1);
          digests_[index] = to_hex(digest);
          lanes[i].reset();
          continue;
        }
        bytes = std::min(bytes, left / kPage * kPage);
      }
      for (int i = 0; i < Md5Lanes::kLanes; ++i)
        if (lanes[i]) data[i] = lanes[i]->file->next(bytes, lane_buffer(i));
      if (idle() < Md5Lanes::kLanes) md5.update(data, bytes / 64);
    }
  } catch (...) {
    std::lock_guard lock(mutex_);
    if (!error_) error_ = std::current_exception();
    jobs_.clear();
  }
}

std::byte* ShardHasher::lane_buffer(int lane) {
  return buffer_.get() + static_cast<std::size_t>(lane) * chunk_;
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

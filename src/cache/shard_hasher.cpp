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
// Bytes of a shard mapped at a time to read it back from the page cache.
constexpr std::size_t kWindow = 4u << 20;

}  // namespace

ShardHasher::ShardHasher(bool sync, std::size_t follow_alone_lag)
    : follow_alone_lag_(follow_alone_lag),
      sync_(sync),
      thread_([this] { run(); }),
      syncer_(sync ? std::thread([this] { run_sync(); }) : std::thread()) {}

ShardHasher::~ShardHasher() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
    jobs_.clear();
    to_follow_.clear();
    to_sync_.clear();
    aborted_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (syncer_.joinable()) syncer_.join();
}

void ShardHasher::add(std::size_t index, std::filesystem::path path, bool direct,
                      const std::shared_ptr<Followed>& followed) {
  std::lock_guard lock(mutex_);
  if (sync_) to_sync_.push_back(path);
  if (followed) {
    followed->index_ = index;
    followed->complete_ = true;
  } else {
    jobs_.push_back({index, std::move(path), direct, nullptr});
  }
  changed_.notify_all();
}

std::shared_ptr<ShardHasher::Followed> ShardHasher::follow(std::filesystem::path path) {
  auto shard = std::make_shared<Followed>();
  shard->path_ = std::move(path);
  std::lock_guard lock(mutex_);
  to_follow_.push_back(shard);
  changed_.notify_all();
  return shard;
}

namespace {
// A followed shard wakes the hasher each time this much more of it is on file.
constexpr std::size_t kFollowStep = kWindow;
}  // namespace

void ShardHasher::grown(Followed& shard, std::size_t bytes_on_file) {
  const std::size_t before = shard.on_file_.exchange(bytes_on_file);
  if (before / kFollowStep == bytes_on_file / kFollowStep) return;
  std::lock_guard lock(mutex_);  // so that the wake-up cannot fall between test and sleep
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
  // A followed shard: `n` bytes are on file now.
  void grew_to(std::size_t n) { size_ = std::max(size_, n); }
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
    bool growing = false;      // followed, and not yet complete
    bool catching_up = false;  // growing, and hashed until nothing on file is left unhashed
  };
  std::array<std::optional<Lane>, Md5Lanes::kLanes> lanes;
  Md5Lanes md5;
  const auto idle = [&] {
    return static_cast<std::size_t>(
        std::count_if(lanes.begin(), lanes.end(), [](const auto& l) { return !l; }));
  };
  const auto take_lane = [&](Job job) {
    const auto lane = std::find_if(lanes.begin(), lanes.end(), [](const auto& l) { return !l; });
    auto file = std::make_unique<ShardReader>(job.path, job.direct);
    const bool growing = job.followed != nullptr;
    lane->emplace(Lane{std::move(job), std::move(file), growing});
    md5.restart(static_cast<int>(lane - lanes.begin()));
  };
  // Whole steps of a growing shard on file and not yet hashed: the reader maps whole windows.
  const auto unhashed = [](const Lane& l) {
    const std::size_t on_file = l.job.followed->on_file_.load() / kFollowStep * kFollowStep;
    return on_file > l.file->offset() ? on_file - l.file->offset() : 0;
  };
  try {
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        const auto has_complete_lane = [&] {
          return std::any_of(lanes.begin(), lanes.end(), [](const auto& l) {
            return l && (!l->growing || l->job.followed->complete_);
          });
        };
        // A growing shard is hashed once a step more of it is on file while other lanes are fed
        // too, or, alone, once it lags far behind its writer (one lane alone costs several times
        // what it costs beside others); then until it has caught up.
        const auto growing_ready = [&] {
          int stepped = 0;
          for (const auto& l : lanes) stepped += l && l->growing && unhashed(*l) >= kFollowStep;
          const bool company = stepped > 1 || has_complete_lane();
          bool ready = false;
          for (auto& l : lanes) {
            if (!l || !l->growing) continue;
            const std::size_t u = unhashed(*l);
            if (u == 0)
              l->catching_up = false;
            else if (u >= follow_alone_lag_ || (u >= kFollowStep && company))
              l->catching_up = true;
            ready |= l->catching_up;
          }
          return ready;
        };
        // Hashes complete shards only with every lane busy, until the end: a lane freed takes the
        // next shard at once (batches of sixteen drained before the next left lanes idle, as
        // shards differ in size, and hashed at 40-60% of the lanes' throughput). A followed shard
        // takes a lane at once, and is hashed whenever enough more of it is on file.
        changed_.wait(lock, [&] {
          return closing_ || (!to_follow_.empty() && idle() > 0) ||
                 (!jobs_.empty() && jobs_.size() >= idle() && idle() > 0) ||
                 (jobs_.size() >= idle() && has_complete_lane()) || growing_ready();
        });
        if (aborted_) return;
        while (!to_follow_.empty() && idle() > 0) {
          auto shard = std::move(to_follow_.front());
          to_follow_.pop_front();
          take_lane({0, shard->path_, false, std::move(shard)});
        }
        if (closing_ || jobs_.size() >= idle())
          while (!jobs_.empty() && idle() > 0) {
            take_lane(std::move(jobs_.front()));
            jobs_.pop_front();
          }
        for (auto& l : lanes)
          if (l && l->growing && l->job.followed->complete_) {
            l->growing = false;
            l->job.index = l->job.followed->index_;
            l->file->grew_to(l->job.followed->on_file_.load());
          }
        if (closing_ && !has_complete_lane() && jobs_.empty() &&
            std::any_of(lanes.begin(), lanes.end(), [](const auto& l) { return l.has_value(); }) &&
            std::none_of(lanes.begin(), lanes.end(),
                         [&](const auto& l) { return l && l->growing && unhashed(*l) > 0; }))
          fail("internal error: a shard followed while it was written was never completed");
      }
      if (idle() == Md5Lanes::kLanes) return;  // closing, and nothing left
      // Lanes run in lockstep: the round covers as many whole pages as every lane fed has, so that
      // reads stay page-aligned. A complete lane with less than a page left finishes on its own.
      // A growing lane is fed whole steps (the reader's windows), beside complete lanes when it has
      // as much as they take, or alone (with other growing ones) while it catches up.
      const bool direct =
          std::any_of(lanes.begin(), lanes.end(), [](const auto& l) { return l && l->job.direct; });
      const std::size_t chunk = direct ? kDirectChunk : kCachedChunk;
      if (!buffer_ || chunk_ < chunk) {
        buffer_ = allocate_buffer(Md5Lanes::kLanes * chunk);
        chunk_ = chunk;
      }
      std::size_t bytes = chunk;
      bool complete_fed = false;
      std::array<const std::byte*, Md5Lanes::kLanes> data{};
      std::array<std::size_t, Md5Lanes::kLanes> ahead{};  // a growing lane's whole steps unhashed
      for (int i = 0; i < Md5Lanes::kLanes; ++i) {
        if (!lanes[i]) continue;
        auto& f = *lanes[i]->file;
        if (lanes[i]->growing) {
          ahead[i] = unhashed(*lanes[i]);
          f.grew_to(f.offset() + ahead[i]);
          continue;
        }
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
        complete_fed = true;
      }
      std::array<bool, Md5Lanes::kLanes> fed{};
      for (int i = 0; i < Md5Lanes::kLanes; ++i) fed[i] = lanes[i] && !lanes[i]->growing;
      if (!complete_fed)  // growing lanes alone: as much as every one catching up has
        for (int i = 0; i < Md5Lanes::kLanes; ++i)
          if (lanes[i] && lanes[i]->catching_up && ahead[i] > 0) bytes = std::min(bytes, ahead[i]);
      for (int i = 0; i < Md5Lanes::kLanes; ++i)
        if (lanes[i] && lanes[i]->growing && ahead[i] >= bytes &&
            (complete_fed || lanes[i]->catching_up))
          fed[i] = true;
      bool any_fed = false;
      for (int i = 0; i < Md5Lanes::kLanes; ++i)
        if (fed[i]) {
          data[i] = lanes[i]->file->next(bytes, lane_buffer(i));
          any_fed = true;
        }
      if (any_fed) md5.update(data, bytes / 64);
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

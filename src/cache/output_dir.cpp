#include "cache/output_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "util/error.h"
#include "util/fault_point.h"

namespace fs = std::filesystem;

namespace weightcast {

namespace {

// The pid the holder wrote into the lock file, if that process is alive, else "". Just after
// taking the lock the holder may not have written it yet (or the file still holds a dead run's):
// ask again for a little while.
std::string holder_pid(int fd) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    const long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
    if (pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM))
      return std::to_string(pid);
    ::usleep(2000);
  }
  return {};
}

bool same_file(int fd, const fs::path& path) {
  struct stat a {
  }, b{};
  return ::fstat(fd, &a) == 0 && ::lstat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

}  // namespace

OutputLock::OutputLock(const fs::path& dir) : path_(dir / kLockFileName) {
  // The holder removes the file before releasing it: a lock won on a file that is no longer at
  // the path is worthless, so check and retry.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
      fail<IOError>("{}: cannot write to output directory: {}", dir.string(), std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const std::string pid = err == EWOULDBLOCK ? holder_pid(fd) : "";
      ::close(fd);
      if (err == EWOULDBLOCK)
        fail<IOError>(
            "{} is in use by another weightcast run{}: one run per output directory (wait for it "
            "to finish, or choose another output directory)",
            dir.string(), pid.empty() ? "" : " (pid " + pid + ")");
      fail<IOError>("{}: cannot lock: {}", path_.string(), std::strerror(err));
    }
    if (!same_file(fd, path_)) {
      ::close(fd);
      continue;
    }
    // One write of a fixed width, so that a reader never sees a mix with a dead run's pid. It is
    // only a courtesy to the next run's message: the lock is what matters.
    const std::string pid = fmt::format("{:<20}\n", ::getpid());
    [[maybe_unused]] const ssize_t written = ::pwrite(fd, pid.data(), pid.size(), 0);
    fd_ = fd;
    fault_point("locked");
    return;
  }
  fail<IOError>("{}: cannot take the lock: it keeps being replaced", path_.string());
}

OutputLock::~OutputLock() {
  ::unlink(path_.c_str());  // while still held, so that no one locks the removed file for long
  ::close(fd_);
}

fs::path make_staging_dir(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto name = entry.path().filename().string();
    // Ours by name, a real folder (never a link), and not in use: we hold the lock.
    if (name.rfind(kStagingPrefix, 0) == 0 && entry.is_directory(ec) && !entry.is_symlink(ec)) {
      std::error_code rm;
      fs::remove_all(entry.path(), rm);
    }
  }
  std::random_device rd;
  for (int attempt = 0; attempt < 10; ++attempt) {
    const fs::path staging = dir / fmt::format("{}-{}-{:08x}", kStagingPrefix, ::getpid(), rd());
    if (::mkdir(staging.c_str(), 0755) == 0) return staging;
    if (errno != EEXIST)
      fail<IOError>("{}: cannot write to output directory: {}", dir.string(), std::strerror(errno));
  }
  fail<IOError>("{}: cannot create a staging folder", dir.string());
}

void sync_file(int fd, const fs::path& path) {
  if (::fdatasync(fd) != 0)
    fail<IOError>("{}: cannot flush to disk: {}", path.string(), std::strerror(errno));
}

void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail<IOError>("{}: cannot open: {}", dir.string(), std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) fail<IOError>("{}: cannot flush to disk: {}", dir.string(), std::strerror(err));
}

}  // namespace weightcast

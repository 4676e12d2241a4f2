// The output directory's guards: one run at a time (an advisory flock on a lock file in it), a
// staging folder private to the run, and the fsyncs that make publishing durable
// (docs/tensor-cache.md#how-weightcast-writes-it).
#pragma once

#include <filesystem>

namespace weightcast {

inline constexpr const char* kLockFileName = ".weightcast.lock";
// Every staging folder's name starts with this; a run's own adds "-<pid>-<random>".
inline constexpr const char* kStagingPrefix = ".weightcast-staging";

// Held for the life of a run. A second run on the same directory fails at once with an IOError
// naming the directory and, where known, the holder's pid. The lock file is removed on release;
// a lock file left by a killed run is simply taken over (its lock died with the process).
class OutputLock {
 public:
  explicit OutputLock(const std::filesystem::path& dir);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

// Under the lock: removes the staging folders of killed runs, then creates this run's.
std::filesystem::path make_staging_dir(const std::filesystem::path& dir);

// fsync of a directory (its entries: created, renamed and removed files), or fdatasync of a file.
void sync_directory(const std::filesystem::path& dir);
void sync_file(int fd, const std::filesystem::path& path);

}  // namespace weightcast

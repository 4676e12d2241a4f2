// A read-only memory mapping of a whole file. Readers hand out spans into it, so tensor bytes
// are never copied on their way to the kernels.
//
// A file truncated while mapped would kill the process with SIGBUS on the next read past its new
// end. Instead, a handler replaces the missing page with zeros and marks the mapping; the run then
// stops with check_mapped_files()' error naming the file, and never publishes what it read.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <ctime>
#include <filesystem>
#include <span>

namespace weightcast {

class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  std::size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

  // Tell the kernel a range will be read soon / is no longer needed, so resident memory stays
  // flat however large the file is. Both are hints and never fail.
  void will_need(std::size_t offset, std::size_t length) const;
  // Maps the range's pages in one call, ahead of a write() from them: a write that meets an
  // unmapped page falls back to faulting it in and retrying, several times slower.
  void populate(std::size_t offset, std::size_t length) const;
  void done_with(std::size_t offset, std::size_t length) const;
  // Bytes [offset, offset + length) were read in order and are no longer needed; their
  // neighbours may still be read. Drops whole huge pages of them only, at least
  // kMinReadRelease at a time, unless `to_end` (the range ends what will be read): a range that
  // ends inside a huge page makes the kernel split its mapping of it, and every drop costs a TLB
  // shootdown on every core. Returns where what it dropped ends (`offset` when it dropped
  // nothing); the caller offers the rest again with its next range.
  std::size_t done_with_read(std::size_t offset, std::size_t length, bool to_end) const;
  static constexpr std::size_t kHugePage = 2u << 20, kMinReadRelease = 4u << 20;

  // Why the file's bytes may no longer be those mapped ("" when they are): a read past its end
  // (it was truncated), or a different size, modification time or inode at the path now.
  std::string changed() const;

 private:
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  int slot_ = -1;  // in the SIGBUS handler's table, or -1
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  timespec mtime_{};
};

// True once a read of any mapping hit a truncated file (cheap: one atomic load).
bool mapped_read_faulted();
// Throws an IOError naming the first mapped file that changed (see MappedFile::changed).
void check_mapped_files();

}  // namespace weightcast

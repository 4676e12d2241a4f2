// A read-only memory mapping of a whole file. Readers hand out spans into it, so tensor bytes
// are never copied on their way to the kernels.
#pragma once

#include <cstddef>
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
  void done_with(std::size_t offset, std::size_t length) const;

 private:
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace weightcast

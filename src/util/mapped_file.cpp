#include "util/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace weightcast {

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail<IOError>("{}: cannot open: {}", path.string(), std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail<IOError>("{}: not a regular file", path.string());
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      fail<IOError>("{}: cannot map: {}", path.string(), std::strerror(err));
    }
    data_ = static_cast<const std::byte*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
}

namespace {
// madvise wants page-aligned starts; widen the range outward to whole pages.
void advise(const std::byte* base, std::size_t size, std::size_t offset, std::size_t length,
            int advice) {
  if (!base || offset >= size) return;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t end = std::min(size, offset + length);
  const std::size_t start = offset / page * page;
  ::madvise(const_cast<std::byte*>(base) + start, end - start, advice);
}
}  // namespace

void MappedFile::will_need(std::size_t offset, std::size_t length) const {
  advise(data_, size_, offset, length, MADV_WILLNEED);
}
void MappedFile::done_with(std::size_t offset, std::size_t length) const {
  advise(data_, size_, offset, length, MADV_DONTNEED);
}

}  // namespace weightcast

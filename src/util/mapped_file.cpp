#include "util/mapped_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "util/error.h"

namespace weightcast {

namespace {

// The live mappings, for the SIGBUS handler, which may only read atomics: a fixed table.
struct Slot {
  std::atomic<std::uintptr_t> begin{0};
  std::atomic<std::size_t> size{0};
  std::atomic<bool> faulted{false};
};
constexpr int kSlots = 4096;  // a mapping beyond this many is unguarded, not refused
Slot g_slots[kSlots];
std::atomic<bool> g_faulted{false};
std::uintptr_t g_page = 4096;
struct sigaction g_previous {};

// The same mappings for check_mapped_files(), under a mutex.
std::mutex g_live_mutex;
std::vector<const MappedFile*> g_live;

// A read past the end of a truncated file: map a page of zeros over the missing one, so the read
// resumes, and mark the mapping. Anything else goes to the previous handler, or kills as before.
extern "C" void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  for (auto& slot : g_slots) {
    const auto begin = slot.begin.load(std::memory_order_acquire);
    if (begin == 0 || addr < begin || addr - begin >= slot.size.load()) continue;
    void* page = reinterpret_cast<void*>(addr & ~(g_page - 1));
    if (::mmap(page, g_page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
        MAP_FAILED)
      break;
    slot.faulted.store(true);
    g_faulted.store(true);
    return;
  }
  if ((g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_sigaction) {
    g_previous.sa_sigaction(sig, info, context);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
  } else {
    ::signal(SIGBUS, SIG_DFL);  // the faulting read runs again and ends the process as before
  }
}

void install_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &g_previous);
  });
}

int claim_slot(const std::byte* data, std::size_t size) {
  for (int i = 0; i < kSlots; ++i) {
    std::uintptr_t expected = 0;
    if (g_slots[i].begin.load() != 0) continue;
    g_slots[i].size.store(size);
    g_slots[i].faulted.store(false);
    if (g_slots[i].begin.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(data)))
      return i;
  }
  return -1;
}

}  // namespace

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail<IOError>("{}: cannot open: {}", path.string(), std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail<IOError>("{}: not a regular file", path.string());
  }
  size_ = static_cast<std::size_t>(st.st_size);
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  mtime_ = st.st_mtim;
  if (size_ > 0) {
    install_handler();
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      fail<IOError>("{}: cannot map: {}", path.string(), std::strerror(err));
    }
    data_ = static_cast<const std::byte*>(p);
    slot_ = claim_slot(data_, size_);
  }
  ::close(fd);
  std::lock_guard lock(g_live_mutex);
  g_live.push_back(this);
}

MappedFile::~MappedFile() {
  {
    std::lock_guard lock(g_live_mutex);
    std::erase(g_live, this);
  }
  if (slot_ >= 0) g_slots[slot_].begin.store(0, std::memory_order_release);
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
}

std::string MappedFile::changed() const {
  if (slot_ >= 0 && g_slots[slot_].faulted.load()) return "it was truncated while being read";
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return "it was removed while being read";
  if (st.st_dev != dev_ || st.st_ino != ino_) return "it was replaced while being read";
  if (static_cast<std::size_t>(st.st_size) < size_)  // found by a read in the kernel, no SIGBUS
    return fmt::format("it was truncated from {} to {} bytes while being read", size_, st.st_size);
  if (static_cast<std::size_t>(st.st_size) != size_)
    return fmt::format("its size changed from {} to {} bytes while it was being read", size_,
                       st.st_size);
  if (st.st_mtim.tv_sec != mtime_.tv_sec || st.st_mtim.tv_nsec != mtime_.tv_nsec)
    return "it was modified while being read";
  return {};
}

bool mapped_read_faulted() {
  return g_faulted.load(std::memory_order_relaxed);
}

void check_mapped_files() {
  std::lock_guard lock(g_live_mutex);
  for (const MappedFile* f : g_live)
    if (auto why = f->changed(); !why.empty())
      fail<IOError>("{}: {}; nothing was published (convert again once the file is stable)",
                    f->path().string(), why);
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
void MappedFile::populate(std::size_t offset, std::size_t length) const {
#ifdef MADV_POPULATE_READ
  advise(data_, size_, offset, length, MADV_POPULATE_READ);  // Linux 5.14; advice only
#else
  (void)offset, (void)length;
#endif
}
void MappedFile::done_with(std::size_t offset, std::size_t length) const {
  advise(data_, size_, offset, length, MADV_DONTNEED);
}
std::size_t MappedFile::done_with_read(std::size_t offset, std::size_t length, bool to_end) const {
  if (!data_ || offset >= size_) return offset;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t read_end = std::min(size_, offset + length);
  const std::size_t start = (offset + page - 1) / page * page;
  // Huge pages are aligned in the address space, which need not match the file's offsets.
  const auto base = reinterpret_cast<std::uintptr_t>(data_);
  const std::size_t end =
      to_end ? read_end / page * page : ((base + read_end) / kHugePage * kHugePage) - base;
  if (end <= start || end > read_end || (!to_end && end - start < kMinReadRelease)) return offset;
  advise(data_, size_, start, end - start, MADV_DONTNEED);
  return end;
}

}  // namespace weightcast

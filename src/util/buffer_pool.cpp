#include "util/buffer_pool.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace weightcast {

namespace {

constexpr std::size_t kHeader = 64;  // keeps small buffers' data 64-byte aligned
// Large buffers' data start a page into their mapping, page-aligned as O_DIRECT writes need
// (docs/performance.md); the header sits just before the data either way.
constexpr std::size_t kLargeHeader = 4096;
constexpr std::size_t kLarge = 1u << 20;
constexpr std::size_t kHugePage = 2u << 20;
// What the pool may keep: a few parameters' worth, well under the memory the pipeline holds.
constexpr std::size_t kKeptBytes = 96u << 20;
constexpr std::size_t kKeptBlocks = 8;

struct Header {
  std::size_t capacity;  // bytes of the whole block, header included
  bool mapped;
};
static_assert(sizeof(Header) <= kHeader);

class Pool {
 public:
  std::byte* take(std::size_t capacity) {
    std::lock_guard lock(mutex_);
    std::size_t best = free_.size();
    for (std::size_t i = 0; i < free_.size(); ++i) {
      const std::size_t c = header(free_[i])->capacity;
      // Reuse a block big enough but not wastefully so.
      if (c >= capacity && c <= 2 * capacity + kHugePage &&
          (best == free_.size() || c < header(free_[best])->capacity))
        best = i;
    }
    if (best == free_.size()) return nullptr;
    std::byte* block = free_[best];
    kept_ -= header(block)->capacity;
    free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
    return block;
  }
  // False when the pool is full: the caller unmaps the block.
  bool keep(std::byte* block) {
    std::lock_guard lock(mutex_);
    const std::size_t c = header(block)->capacity;
    if (free_.size() >= kKeptBlocks || kept_ + c > kKeptBytes) return false;
    free_.push_back(block);
    kept_ += c;
    return true;
  }
  // A mapped block's header, just before its page-aligned data.
  static Header* header(std::byte* block) {
    return reinterpret_cast<Header*>(block + kLargeHeader - kHeader);
  }

 private:
  std::mutex mutex_;
  std::vector<std::byte*> free_;
  std::size_t kept_ = 0;
};

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: buffers may be freed during static destruction
  return *p;
}

std::byte* map_block(std::size_t capacity) {
  void* p = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  ::madvise(p, capacity, MADV_HUGEPAGE);  // advice only: fine if refused
  return static_cast<std::byte*>(p);
}

}  // namespace

Buffer allocate_buffer(std::size_t bytes) {
  if (kHeader + bytes < kLarge) {
    const std::size_t needed = kHeader + bytes;
    auto* block = static_cast<std::byte*>(std::aligned_alloc(kHeader, (needed + 63) / 64 * 64));
    if (!block) throw std::bad_alloc();
    *reinterpret_cast<Header*>(block) = {needed, false};
    return Buffer(block + kHeader);
  }
  const std::size_t needed = kLargeHeader + bytes;
  std::byte* block = pool().take(needed);
  if (!block) {
    const std::size_t capacity = (needed + kHugePage - 1) / kHugePage * kHugePage;
    block = map_block(capacity);
    *Pool::header(block) = {capacity, true};
  }
  return Buffer(block + kLargeHeader);
}

void BufferDeleter::operator()(std::byte* data) const noexcept {
  const Header h = *reinterpret_cast<const Header*>(data - kHeader);
  if (!h.mapped) return std::free(data - kHeader);
  std::byte* block = data - kLargeHeader;
  if (!pool().keep(block)) ::munmap(block, h.capacity);
}

}  // namespace weightcast

#include "util/buffer_pool.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace weightcast {

namespace {

constexpr std::size_t kHeader = 64;  // keeps the data 64-byte aligned
constexpr std::size_t kLarge = 1u << 20;
constexpr std::size_t kHugePage = 2u << 20;
// What the pool may keep: a few parameters' worth, well under the memory the pipeline holds.
constexpr std::size_t kKeptBytes = 96u << 20;
constexpr std::size_t kKeptBlocks = 8;

struct Header {
  std::size_t capacity;  // bytes of the whole block, header included
  bool mapped;
};

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
  static Header* header(std::byte* block) { return reinterpret_cast<Header*>(block); }

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
  const std::size_t needed = kHeader + bytes;
  std::byte* block = nullptr;
  bool mapped = needed >= kLarge;
  std::size_t capacity = needed;
  if (mapped) {
    capacity = (needed + kHugePage - 1) / kHugePage * kHugePage;
    block = pool().take(needed);
    if (block)
      capacity = Pool::header(block)->capacity;
    else
      block = map_block(capacity);
  } else {
    block = static_cast<std::byte*>(std::aligned_alloc(kHeader, (needed + 63) / 64 * 64));
    if (!block) throw std::bad_alloc();
  }
  *Pool::header(block) = {capacity, mapped};
  return Buffer(block + kHeader);
}

void BufferDeleter::operator()(std::byte* data) const noexcept {
  std::byte* block = data - kHeader;
  const Header h = *Pool::header(block);
  if (!h.mapped) return std::free(block);
  if (!pool().keep(block)) ::munmap(block, h.capacity);
}

}  // namespace weightcast

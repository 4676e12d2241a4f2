// Large tensor buffers, recycled. Every parameter's records are allocated, filled once and freed
// after the writer has copied them; fresh memory each time costs a page fault, zeroing and a
// memory-cgroup charge per 4 KiB page (half the system time of a q0 conversion, measured), and
// unmapping costs TLB shootdowns across threads. Large buffers come from 2 MiB-aligned mappings
// marked for transparent huge pages, and a few freed ones are kept for the next parameter.
#pragma once

#include <cstddef>
#include <memory>

namespace weightcast {

struct BufferDeleter {
  void operator()(std::byte* data) const noexcept;
};
using Buffer = std::unique_ptr<std::byte[], BufferDeleter>;

// Uninitialised, at least `bytes` long (a valid pointer even for zero bytes); 64-byte aligned, and
// page-aligned from 1 MiB on.
Buffer allocate_buffer(std::size_t bytes);

}  // namespace weightcast

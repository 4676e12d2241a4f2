// MD5 of several independent inputs at once. tvmjs records an md5 per 32 MiB shard, and hashing
// one stream is bound by MD5's serial dependency chain (~600 MB/s per core). Sixteen shards hashed
// in the 32-bit lanes of AVX-512 registers (or two sets of eight in AVX2's) run several times
// faster. No library in Debian offers multi-buffer MD5, so this is hand-written; the reference is
// OpenSSL's.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "util/simd.h"

namespace weightcast {

using Md5Digest = std::array<std::uint8_t, 16>;

// Incremental hashing of up to 16 streams in lockstep. Feed each lane a run of whole 64-byte
// blocks (the same count for every lane that is fed), then finish each lane with its tail.
class Md5Lanes {
 public:
  static constexpr int kLanes = 16;
  Md5Lanes();
  // Processes `blocks` 64-byte blocks from each of `data[lane]` (nullptr: lane idle this call).
  void update(const std::array<const std::byte*, kLanes>& data, std::size_t blocks,
              SimdLevel level = simd_level());
  // Processes `blocks` 64-byte blocks of one lane alone.
  void update_lane(int lane, const std::byte* data, std::size_t blocks);
  // Pads and finishes one lane, given its last (< 64) bytes and its total length.
  Md5Digest finish(int lane, std::span<const std::byte> tail, std::uint64_t total_bytes);
  // Starts one lane over, on a new stream, while the others go on.
  void restart(int lane);

 private:
  std::array<std::array<std::uint32_t, kLanes>, 4> state_;  // A, B, C, D per lane
};

std::string to_hex(const Md5Digest& digest);
Md5Digest md5_openssl(std::span<const std::byte> data);

}  // namespace weightcast

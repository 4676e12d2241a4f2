// Writes an MLC/TVM tensor cache (docs/tensor-cache.md): params_shard_N.bin files packed by tvmjs'
// 32 MiB rule, md5 per shard, and tensor-cache.json (+ tensor-cache-b16.json when float32 is
// present).
//
// Nothing appears under the final names until commit(): the output directory is locked for the
// run, shards are staged in a hidden folder of its own, flushed to disk (unless sync is off), the
// old manifests are removed before any shard is replaced, and the new manifest is renamed into
// place last. A run that fails or is killed at any point never leaves a tensor-cache.json that
// points at missing, partial or foreign shards, and one that fails before commit() leaves an
// earlier complete output as it was.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cache/output_dir.h"
#include "cache/shard_hasher.h"
#include "util/dtype.h"
#include "util/simd.h"
#include "util/task_thread.h"
#include "util/tensor.h"
#include "util/thread_pool.h"

namespace weightcast {

inline constexpr std::size_t kShardCapBytes = 32u << 20;
// Told of bytes [offset, offset + n) of piece `piece` of a record being written.
using BlockHook = std::function<void(std::size_t piece, std::size_t offset, std::size_t n)>;
// Fills `out` with bytes [offset, offset + out.size()) of a record being generated.
using RecordFill = std::function<void(std::size_t offset, std::span<std::byte> out)>;
inline constexpr const char* kManifestName = "tensor-cache.json";
inline constexpr const char* kB16ManifestName = "tensor-cache-b16.json";

// The bytes tvmjs stores for a tensor: float32 becomes bfloat16
// (docs/tensor-cache.md#float32-as-bfloat16), the rest is raw. Returns the tensor itself when no
// encoding applies.
Tensor encode_for_cache(Tensor tensor, ThreadPool& pool);
// The same encoding for `n` float32 values, into 2 bytes each.
void encode_f32_for_cache(const float* in, std::size_t n, std::byte* out,
                          SimdLevel level = simd_level());
// Bytes per element as stored: 2 for float32, dtype_size otherwise.
inline std::size_t cache_element_size(DType dtype) {
  return dtype == DType::kF32 ? 2 : dtype_size(dtype);
}

class TensorCacheWriter {
 public:
  // Takes the output directory's lock (an IOError if another run holds it). `sync`: flush every
  // shard, the manifests and the directories to disk before and after publishing. `direct`:
  // write shards with O_DIRECT, past the page cache, where the file system allows it.
  explicit TensorCacheWriter(std::filesystem::path output_dir, bool sync = true,
                             bool direct = false);
  ~TensorCacheWriter();  // discards the staged files unless commit() succeeded, then unlocks
  TensorCacheWriter(const TensorCacheWriter&) = delete;
  TensorCacheWriter& operator=(const TensorCacheWriter&) = delete;

  // Holds the bytes of a write alive until they are on file. With one, the write may finish after
  // the call returns, on one of the writer's threads; without, the call returns once it is done.
  using Keepalive = std::shared_ptr<const void>;

  // `data` are the encoded bytes; `dtype` the record's declared dtype.
  void append(const std::string& name, DType dtype, const Shape& shape,
              std::span<const std::byte> data, Keepalive keep = {});
  // The same, for a record whose bytes are `pieces` end to end, written a block at a time;
  // `before` and `written`, when set, are told of each block before and after it is written, and
  // `after` runs once the record is written (all three on the writer's threads). `lazy` (with a
  // keepalive): the pieces hold no memory of their own (memory-mapped pages, which a later read
  // maps again) and stay valid however far the caller runs ahead, so the record is queued at once,
  // like a generated one.
  void append(const std::string& name, DType dtype, const Shape& shape,
              std::span<const std::span<const std::byte>> pieces, const BlockHook& before = {},
              const BlockHook& written = {}, std::function<void()> after = {}, Keepalive keep = {},
              bool lazy = false);
  // The same, for a record of `nbytes` produced while it is written: `fill` writes bytes
  // [offset, offset + out.size()) of it into `out`, `block` bytes at a time (the last block
  // shorter), in order, on the writer's threads, each block written at once (so that its bytes
  // are still in cache); `after` runs once the record is written. With a keepalive, the record
  // is queued at once (it holds no memory until it is generated), and one in a shard of its own
  // may be written before records appended earlier.
  void append_generated(const std::string& name, DType dtype, const Shape& shape,
                        std::size_t nbytes, std::size_t block, RecordFill fill,
                        std::function<void()> after = {}, Keepalive keep = {});
  // A record of at least kShardCapBytes (so always a shard of its own) written in pieces, so that
  // it is never held whole: begin_streamed, then its encoded bytes through write_streamed in
  // order, then end_streamed once exactly `nbytes` have come.
  void begin_streamed(const std::string& name, DType dtype, const Shape& shape, std::size_t nbytes);
  void write_streamed(std::span<const std::byte> data, Keepalive keep = {});
  void end_streamed();
  // Returns once every record handed over is on file and every shard closed (rethrowing a failed
  // write): nothing reads the caller's memory or the sources any more.
  void finish_writes();
  // The same in steps: false while the writer's threads are still busy after `timeout` (so that
  // the caller may look for an interrupt between steps).
  bool finish_writes_for(std::chrono::milliseconds timeout);
  // Seconds the writer's threads have spent writing (and generating records), summed over them.
  double busy_seconds() const;
  // Writes the manifests and moves everything into place. Returns the number of shards.
  std::size_t commit(const nlohmann::ordered_json& metadata);

 private:
  class Shard;
  class InFlight;
  // Shards are written on two threads, each shard on one of them (its lane) in turn: buffered
  // writes into different files run in parallel, where one thread's write() copies alone
  // (docs/performance.md#writing-the-shards-on-two-threads).
  static constexpr std::size_t kLanes = 2, kLaneBacklog = 4;
  // Shards at least this large are hashed while they are written: hashed complete, their MD5 chain
  // (one stream hashes ~0.7 GB/s) would outlast the run by seconds. Smaller ones wait to be hashed
  // sixteen at a time, at about a seventh of the cost per byte
  // (docs/performance.md#following-large-shards-while-they-are-written).
  static constexpr std::size_t kFollowedShardBytes = 2 * kShardCapBytes;
  // A manifest record without its byteOffset (tvmjs' key order).
  nlohmann::ordered_json record(const std::string& name, DType dtype, const Shape& shape,
                                std::size_t nbytes);
  // `follow`: hashed while it is written (see kFollowedShardBytes).
  std::shared_ptr<Shard> open_shard(const std::filesystem::path& path, bool follow = false);
  // Where a record went: the pending shard, or a shard of its own with its number.
  struct Placed {
    std::shared_ptr<Shard> shard;
    std::optional<std::size_t> own_number;
  };
  Placed place(nlohmann::ordered_json rec);
  // Queues `task`, which writes the next `nbytes` of `shard`, on the shard's lane; `wait`: returns
  // once it has run.
  void hand_over(Shard& shard, std::size_t nbytes, std::function<void()> task, bool wait);
  void queue_write(const std::shared_ptr<Shard>& shard, std::span<const std::byte> data,
                   Keepalive keep);
  void finish_if_own(const Placed& placed);
  void flush_pending();
  void queue_unbounded(const Placed& placed, std::size_t nbytes, std::function<void()> write);
  // A shard's manifest entry, in the order of the calls; returns its index.
  std::size_t add_manifest_entry(Shard& shard, std::size_t number);
  // Closes a finished shard on its lane, moves it to its final staged name and queues it for
  // hashing.
  std::function<void()> close_task(std::shared_ptr<Shard> shard, std::size_t index,
                                   std::filesystem::path final_path);
  void finish_shard(const std::shared_ptr<Shard>& shard, std::size_t number,
                    const std::filesystem::path& final_path);
  void write_manifests(const nlohmann::ordered_json& metadata);
  void publish();

  std::filesystem::path output_dir_;
  bool sync_;
  std::atomic<bool> direct_;  // cleared when the file system refuses O_DIRECT
  std::unique_ptr<OutputLock> lock_;
  std::filesystem::path staging_dir_;
  ShardHasher hasher_;
  // Bytes of kept-alive buffers handed to the lanes, and bytes of records queued that hold no
  // memory until written (see queue_unbounded).
  static constexpr std::size_t kBufferBudget = 64u << 20, kLazyBudget = 1u << 30;
  std::unique_ptr<InFlight> in_flight_, lazy_in_flight_;
  std::array<std::unique_ptr<TaskThread>, kLanes> lanes_;
  std::size_t next_lane_ = 0;
  std::shared_ptr<Shard> pending_;
  std::shared_ptr<Shard> streaming_;  // the record being streamed, in its own shard
  std::size_t pending_count_ = 0;
  std::size_t streaming_number_ = 0, streaming_left_ = 0;
  nlohmann::ordered_json shards_ = nlohmann::ordered_json::array();
  std::size_t counter_ = 0;
  bool has_float32_ = false;
  bool committed_ = false;
};

}  // namespace weightcast

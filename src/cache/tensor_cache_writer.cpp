// g++ 12's AVX-512 intrinsics warn about their own _mm512_undefined_*() (a known false positive);
// the pragma must precede the intrinsics headers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "cache/tensor_cache_writer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <immintrin.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <regex>

#include "cache/py_json.h"
#include "util/buffer_pool.h"
#include "util/error.h"
#include "util/fault_point.h"
#include "util/float_bits.h"

namespace fs = std::filesystem;

namespace weightcast {

Tensor encode_for_cache(Tensor tensor, ThreadPool& pool) {
  if (tensor.dtype != DType::kF32) return tensor;
  const auto n = static_cast<std::size_t>(numel(tensor.shape));
  Tensor out{tensor.name, DType::kF32, tensor.shape, allocate_buffer(n * 2), n * 2};
  const float* in = tensor.as<float>();
  pool.parallel_for(n, 1 << 16, [&](std::size_t b, std::size_t e) {
    encode_f32_for_cache(in + b, e - b, out.buffer.get() + 2 * b);
  });
  return out;
}

namespace {

#if defined(__x86_64__)
// f32_to_bf16_cache_encoding on eight or sixteen lanes: rounded to nearest even below the limit
// (compared on the magnitude's bits, which NaN and infinity exceed), truncated at and above it.
WEIGHTCAST_AVX2 void encode_avx2(const float* in, std::size_t n, std::uint16_t* out) {
  const __m256i magnitude = _mm256_set1_epi32(0x7FFFFFFF), limit = _mm256_set1_epi32(0x7F7F0000);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_add_epi32(x, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF)));
    const __m256i below = _mm256_cmpgt_epi32(limit, _mm256_and_si256(x, magnitude));
    const __m256i r = _mm256_srli_epi32(_mm256_blendv_epi8(x, rounded, below), 16);
    const __m128i packed =
        _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), packed);
  }
  for (; i < n; ++i) out[i] = f32_to_bf16_cache_encoding(in[i]);
}

WEIGHTCAST_AVX512 void encode_avx512(const float* in, std::size_t n, std::uint16_t* out) {
  const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF), limit = _mm512_set1_epi32(0x7F7F0000);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i x = _mm512_loadu_si512(in + i);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
    const __m512i rounded = _mm512_add_epi32(x, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
    const __mmask16 below = _mm512_cmplt_epu32_mask(_mm512_and_si512(x, magnitude), limit);
    const __m512i r = _mm512_srli_epi32(_mm512_mask_blend_epi32(below, x, rounded), 16);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm512_cvtepi32_epi16(r));
  }
  encode_avx2(in + i, n - i, out + i);
}
#endif

}  // namespace

void encode_f32_for_cache(const float* in, std::size_t n, std::byte* out, SimdLevel level) {
  auto* o = reinterpret_cast<std::uint16_t*>(out);
#if defined(__x86_64__)
  if (level >= SimdLevel::kAvx512) return encode_avx512(in, n, o);
  if (level >= SimdLevel::kAvx2) return encode_avx2(in, n, o);
#else
  (void)level;
#endif
  for (std::size_t i = 0; i < n; ++i) o[i] = f32_to_bf16_cache_encoding(in[i]);
}

namespace {

void write_all(int fd, std::span<const std::byte> data, const fs::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail<IOError>("{}: write failed: {}", path.string(), std::strerror(errno));
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
}

void write_file(const fs::path& path, const std::string& text, bool sync) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail<IOError>("{}: cannot create: {}", path.string(), std::strerror(errno));
  try {
    write_all(fd, std::as_bytes(std::span(text)), path);
    if (sync) sync_file(fd, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) fail<IOError>("{}: close failed: {}", path.string(), std::strerror(errno));
}

void rename_or_fail(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) fail<IOError>("cannot move {} to {}: {}", from.string(), to.string(), ec.message());
}

std::string shard_name(std::size_t k) {
  return fmt::format("params_shard_{}.bin", k);
}

}  // namespace

// One shard file being written in the staging folder. Its bytes are written on its lane, one of
// the writer's threads (write() and close() run there only); its records and the bytes queued for
// it are the dispatching thread's.
//
// With `direct`, the file is written with O_DIRECT: the bytes go from our buffers to the device
// without passing through the page cache, whose fresh pages cost more than the copy into them on
// some machines (docs/performance.md). O_DIRECT needs page-aligned memory, offsets and lengths, so
// bytes are gathered in a pooled, page-aligned staging buffer (page-aligned input at a page-aligned
// offset skips it), and the last partial page is written padded and cut back with ftruncate. A
// file system that refuses O_DIRECT gets ordinary writes; `direct` reports which were used.
class TensorCacheWriter::Shard {
 public:
  // `hasher`: follow the shard while it is written (through the page cache only).
  Shard(fs::path path, bool sync, std::atomic<bool>& direct, TaskThread& lane,
        ShardHasher* hasher = nullptr)
      : lane(lane), path_(std::move(path)), sync_(sync), writer_direct_(&direct) {
    constexpr int kFlags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
    if (direct) {
      fd_ = ::open(path_.c_str(), kFlags | O_DIRECT, 0644);
      if (fd_ < 0 && errno == EINVAL) direct = false;
    }
    if (!direct) fd_ = ::open(path_.c_str(), kFlags, 0644);
    if (fd_ < 0) fail<IOError>("{}: cannot create: {}", path_.string(), std::strerror(errno));
    direct_ = direct;
    if (hasher && !direct_) {
      hasher_ = hasher;
      followed_ = hasher->follow(path_);
    }
  }
  ~Shard() {
    if (fd_ >= 0) ::close(fd_);
  }
  void write(std::span<const std::byte> data) {
    size_ += data.size();
    while (!data.empty()) {
      if (!direct_) {
        write_all(fd_, data, path_);
        written_ += data.size();
        if (followed_) hasher_->grown(*followed_, written_);
        return;
      }
      if (staged_ == 0 && is_page_aligned(data.data()) && data.size() >= kPage) {
        const std::size_t n = data.size() / kPage * kPage;
        write_direct(data.first(n));
        data = data.subspan(n);
        continue;
      }
      if (!stage_) stage_ = allocate_buffer(kStageBytes);
      const std::size_t n = std::min(kStageBytes - staged_, data.size());
      std::memcpy(stage_.get() + staged_, data.data(), n);
      staged_ += n;
      data = data.subspan(n);
      if (staged_ == kStageBytes) flush_stage();
    }
  }
  void close() {
    if (direct_ && staged_ > 0) {
      // The last partial page, zero-padded; ftruncate cuts the file back to its true size.
      const std::size_t padded = (staged_ + kPage - 1) / kPage * kPage;
      std::memset(stage_.get() + staged_, 0, padded - staged_);
      staged_ = padded;
      flush_stage();
      if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0)
        fail<IOError>("{}: truncate failed: {}", path_.string(), std::strerror(errno));
    }
    stage_.reset();
    const int fd = fd_;
    fd_ = -1;
    // Starts the write-back now, without waiting; the hasher's fdatasync waits for it later.
    if (sync_) ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    if (::close(fd) != 0)
      fail<IOError>("{}: close failed: {}", path_.string(), std::strerror(errno));
  }
  const fs::path& path() const { return path_; }
  bool direct() const { return direct_; }
  const std::shared_ptr<ShardHasher::Followed>& followed() const { return followed_; }

  TaskThread& lane;
  std::size_t queued = 0;  // bytes handed to the lane for this shard
  nlohmann::ordered_json records = nlohmann::ordered_json::array();

 private:
  static constexpr std::size_t kPage = 4096;  // O_DIRECT's alignment on every common device
  static constexpr std::size_t kStageBytes = 8u << 20;
  static bool is_page_aligned(const void* p) {
    return reinterpret_cast<std::uintptr_t>(p) % kPage == 0;
  }

  void flush_stage() {
    write_direct({stage_.get(), staged_});
    staged_ = 0;
  }
  void write_direct(std::span<const std::byte> data) {
    while (!data.empty()) {
      const ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(written_));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EINVAL && written_ == 0) {
        // Opened but refused at the first write (some FUSE and network file systems).
        if (::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_DIRECT) != 0)
          fail<IOError>("{}: cannot leave O_DIRECT: {}", path_.string(), std::strerror(errno));
        direct_ = *writer_direct_ = false;
        write_all(fd_, data, path_);
        written_ += data.size();
        return;
      }
      if (n <= 0)
        fail<IOError>("{}: write failed: {}", path_.string(),
                      n < 0 ? std::strerror(errno) : "no progress");
      data = data.subspan(static_cast<std::size_t>(n));
      written_ += static_cast<std::size_t>(n);
    }
  }

  fs::path path_;
  bool sync_;
  std::atomic<bool>* writer_direct_;  // cleared on a fallback, so that later shards do not try
  bool direct_ = false;
  int fd_ = -1;
  std::size_t size_ = 0;     // bytes given to write()
  std::size_t written_ = 0;  // bytes on file (padding included)
  Buffer stage_;
  std::size_t staged_ = 0;
  ShardHasher* hasher_ = nullptr;
  std::shared_ptr<ShardHasher::Followed> followed_;
};

// Bytes handed to the lanes and not yet written, bounded so that kept-alive buffers cannot pile up:
// a hand-off waits while others hold the budget (one larger than the budget goes alone). The
// token returns its bytes when the task holding it is destroyed, run or dropped.
class TensorCacheWriter::InFlight {
 public:
  explicit InFlight(std::size_t budget) : budget_(budget) {}
  std::shared_ptr<void> take(std::size_t n) {
    std::unique_lock lock(mutex_);
    freed_.wait(lock, [&] { return used_ == 0 || used_ + n <= budget_; });
    used_ += n;
    return {nullptr, [this, n](void*) {
              std::lock_guard lock(mutex_);
              used_ -= n;
              freed_.notify_all();
            }};
  }

 private:
  std::size_t budget_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::size_t used_ = 0;
};

TensorCacheWriter::TensorCacheWriter(fs::path output_dir, bool sync, bool direct)
    : output_dir_(std::move(output_dir)),
      sync_(sync),
      direct_(direct),
      hasher_(sync),
      in_flight_(std::make_unique<InFlight>(kBufferBudget)),
      lazy_in_flight_(std::make_unique<InFlight>(kLazyBudget)) {
  std::error_code ec;
  if (fs::exists(output_dir_, ec) && !fs::is_directory(output_dir_, ec))
    fail<IOError>("{}: output path exists and is not a directory", output_dir_.string());
  fs::create_directories(output_dir_, ec);
  if (ec)
    fail<IOError>("{}: cannot create output directory: {}", output_dir_.string(), ec.message());
  lock_ = std::make_unique<OutputLock>(output_dir_);  // before anything in it is touched
  staging_dir_ = make_staging_dir(output_dir_);
  for (auto& lane : lanes_) {
    lane = std::make_unique<TaskThread>(kLaneBacklog);
    lane->start();  // before the quantizing threads take what a process limit leaves
  }
}

TensorCacheWriter::~TensorCacheWriter() {
  // The lanes stop first (their queued tasks dropped): nothing writes while the files go.
  for (auto& lane : lanes_) lane.reset();
  pending_.reset();
  streaming_.reset();
  std::error_code ec;
  if (!staging_dir_.empty()) fs::remove_all(staging_dir_, ec);
}

std::shared_ptr<TensorCacheWriter::Shard> TensorCacheWriter::open_shard(const fs::path& path,
                                                                        bool follow) {
  TaskThread& lane = *lanes_[next_lane_];
  next_lane_ = (next_lane_ + 1) % lanes_.size();
  return std::make_shared<Shard>(path, sync_, direct_, lane, follow ? &hasher_ : nullptr);
}

void TensorCacheWriter::hand_over(Shard& shard, std::size_t nbytes, std::function<void()> task,
                                  bool wait) {
  shard.queued += nbytes;
  shard.lane.post(std::move(task));
  if (wait) shard.lane.wait();
}

void TensorCacheWriter::queue_write(const std::shared_ptr<Shard>& shard,
                                    std::span<const std::byte> data, Keepalive keep) {
  // Without a keepalive the bytes are the caller's, written before this returns: no budget held.
  const bool wait = !keep;
  auto token = keep ? in_flight_->take(data.size()) : nullptr;
  hand_over(
      *shard, data.size(),
      [shard, data, keep = std::move(keep), token = std::move(token)] { shard->write(data); },
      wait);
}

void TensorCacheWriter::finish_if_own(const Placed& placed) {
  if (placed.own_number) finish_shard(placed.shard, *placed.own_number, placed.shard->path());
}

// Closes a shard, moves it to its final staged name and queues it for hashing: its manifest entry
// now (the order of the manifest is the order of this call), the rest on its lane.
void TensorCacheWriter::finish_shard(const std::shared_ptr<Shard>& shard, std::size_t number,
                                     const fs::path& final_path) {
  shard->lane.post(close_task(shard, add_manifest_entry(*shard, number), final_path),
                   TaskThread::Queue::kLast);  // holds no memory
}

std::size_t TensorCacheWriter::add_manifest_entry(Shard& shard, std::size_t number) {
  nlohmann::ordered_json rec;
  rec["dataPath"] = shard_name(number);
  rec["format"] = "raw-shard";
  rec["nbytes"] = shard.queued;
  rec["records"] = std::move(shard.records);
  rec["md5sum"] = "";  // filled in by commit(), once the hasher is done
  shards_.push_back(std::move(rec));
  return shards_.size() - 1;
}

std::function<void()> TensorCacheWriter::close_task(std::shared_ptr<Shard> shard, std::size_t index,
                                                    fs::path final_path) {
  return [this, shard = std::move(shard), index, final_path = std::move(final_path)] {
    shard->close();
    if (shard->path() != final_path) rename_or_fail(shard->path(), final_path);
    hasher_.add(index, final_path, shard->direct(), shard->followed());
    fault_point("shard-staged");
  };
}

void TensorCacheWriter::flush_pending() {
  if (!pending_) return;
  // tvmjs never commits an empty pending buffer, dropping any zero-byte records in it.
  if (pending_->queued > 0) {
    const std::size_t number = counter_++;
    finish_shard(pending_, number, staging_dir_ / shard_name(number));
  }
  pending_.reset();
}

nlohmann::ordered_json TensorCacheWriter::record(const std::string& name, DType dtype,
                                                 const Shape& shape, std::size_t nbytes) {
  if (dtype == DType::kF32) has_float32_ = true;
  nlohmann::ordered_json rec;
  rec["name"] = name;
  rec["shape"] = shape;
  rec["dtype"] = tvm_name(dtype);
  rec["format"] = "f32-to-bf16";
  rec["nbytes"] = nbytes;
  return rec;
}

void TensorCacheWriter::append(const std::string& name, DType dtype, const Shape& shape,
                               std::span<const std::byte> data, Keepalive keep) {
  const auto placed = place(record(name, dtype, shape, data.size()));
  queue_write(placed.shard, data, std::move(keep));
  finish_if_own(placed);
}

void TensorCacheWriter::append(const std::string& name, DType dtype, const Shape& shape,
                               std::span<const std::span<const std::byte>> pieces,
                               const BlockHook& before, const BlockHook& written,
                               std::function<void()> after, Keepalive keep, bool lazy) {
  std::size_t nbytes = 0;
  for (const auto& piece : pieces) nbytes += piece.size();
  const auto placed = place(record(name, dtype, shape, nbytes));
  // Written from the caller's memory a block at a time (mapped source pages, which the hooks map
  // and drop): one block's worth counts against the budget, unless the pages are only mapped.
  static constexpr std::size_t kBlock = 8u << 20;
  auto write = [shard = placed.shard, pieces = std::vector(pieces.begin(), pieces.end()), before,
                written, after = std::move(after), keep,
                token = lazy ? nullptr : in_flight_->take(std::min(kBlock, nbytes))] {
    for (std::size_t i = 0; i < pieces.size(); ++i)
      for (std::size_t off = 0; off < pieces[i].size(); off += kBlock) {
        const std::size_t n = std::min(kBlock, pieces[i].size() - off);
        if (before) before(i, off, n);
        shard->write(pieces[i].subspan(off, n));
        if (written) written(i, off, n);
      }
    if (after) after();
  };
  if (lazy && keep) return queue_unbounded(placed, nbytes, std::move(write));
  hand_over(*placed.shard, nbytes, std::move(write), !keep);
  finish_if_own(placed);
}

void TensorCacheWriter::append_generated(const std::string& name, DType dtype, const Shape& shape,
                                         std::size_t nbytes, std::size_t block, RecordFill fill,
                                         std::function<void()> after, Keepalive keep) {
  if (block == 0) fail("internal error: {} generated in blocks of 0 bytes", name);
  const auto placed = place(record(name, dtype, shape, nbytes));
  auto generate = [shard = placed.shard, nbytes, block, fill = std::move(fill),
                   after = std::move(after), keep] {
    thread_local Buffer buffer;  // reused by every generated record of this lane
    thread_local std::size_t capacity = 0;
    if (capacity < block) {
      buffer = allocate_buffer(block);
      capacity = block;
    }
    for (std::size_t offset = 0; offset < nbytes; offset += block) {
      const std::size_t n = std::min(block, nbytes - offset);
      fill(offset, {buffer.get(), n});
      shard->write({buffer.get(), n});
    }
    if (after) after();
  };
  if (keep) return queue_unbounded(placed, nbytes, std::move(generate));
  hand_over(*placed.shard, nbytes, std::move(generate), true);  // the caller's: done on return
  finish_if_own(placed);
}

// A record that holds no memory until its lane runs it is queued without waiting for room in the
// lane's backlog, so that placement runs up to kLazyBudget bytes ahead of the lanes, and one in a
// shard of its own is written (and its shard closed and queued for hashing) next: the largest
// records go first, and their long MD5 chains are not left to the end of the run
// (docs/performance.md#the-md5-tail). The budget keeps the caller's progress and its checks for
// an interrupt within a second or so of the lanes.
void TensorCacheWriter::queue_unbounded(const Placed& placed, std::size_t nbytes,
                                        std::function<void()> write) {
  write = [write = std::move(write), token = lazy_in_flight_->take(nbytes)] { write(); };
  placed.shard->queued += nbytes;
  if (!placed.own_number)
    return placed.shard->lane.post(std::move(write), TaskThread::Queue::kLast);
  const std::size_t index = add_manifest_entry(*placed.shard, *placed.own_number);
  placed.shard->lane.post(
      [write = std::move(write), close = close_task(placed.shard, index, placed.shard->path())] {
        write();
        close();
      },
      TaskThread::Queue::kNext);
}

// tvmjs' placement of a record of rec["nbytes"] bytes: a shard of its own, numbered now, when it
// would overflow the pending one and is at least half the cap; else the pending shard (flushed
// first when it would overflow).
TensorCacheWriter::Placed TensorCacheWriter::place(nlohmann::ordered_json rec) {
  const std::size_t nbytes = rec["nbytes"];
  const std::size_t pending_size = pending_ ? pending_->queued : 0;
  if (pending_size + nbytes >= kShardCapBytes) {
    if (2 * nbytes >= kShardCapBytes) {  // out-of-band: a shard of its own
      const std::size_t number = counter_++;
      auto own = open_shard(staging_dir_ / shard_name(number), nbytes >= kFollowedShardBytes);
      rec["byteOffset"] = 0;
      own->records.push_back(std::move(rec));
      return {std::move(own), number};
    }
    flush_pending();
  }
  if (!pending_)
    pending_ = open_shard(staging_dir_ / fmt::format("pending-{}.tmp", pending_count_++));
  rec["byteOffset"] = pending_->queued;
  pending_->records.push_back(std::move(rec));
  return {pending_, std::nullopt};
}

void TensorCacheWriter::begin_streamed(const std::string& name, DType dtype, const Shape& shape,
                                       std::size_t nbytes) {
  if (streaming_ || nbytes < kShardCapBytes)
    fail("internal error: cannot stream {} ({} bytes)", name, nbytes);
  // A record this large always gets a shard of its own, numbered now.
  auto placed = place(record(name, dtype, shape, nbytes));
  streaming_ = std::move(placed.shard);
  streaming_number_ = *placed.own_number;
  streaming_left_ = nbytes;
}

void TensorCacheWriter::write_streamed(std::span<const std::byte> data, Keepalive keep) {
  if (!streaming_ || data.size() > streaming_left_)
    fail("internal error: {} bytes streamed beyond their record", data.size());
  queue_write(streaming_, data, std::move(keep));
  streaming_left_ -= data.size();
}

void TensorCacheWriter::end_streamed() {
  if (!streaming_ || streaming_left_ != 0)
    fail("internal error: a streamed record ended {} bytes short", streaming_left_);
  finish_shard(streaming_, streaming_number_, streaming_->path());
  streaming_.reset();
}

// The manifests, complete, in the staging folder (flushed with it when syncing).
void TensorCacheWriter::write_manifests(const nlohmann::ordered_json& metadata) {
  nlohmann::ordered_json manifest;
  manifest["metadata"] = metadata;
  manifest["records"] = shards_;
  write_file(staging_dir_ / kManifestName, python_json_dumps(manifest), sync_);
  if (has_float32_) {
    for (auto& shard : manifest["records"])
      for (auto& rec : shard["records"])
        if (rec["dtype"] == "float32") {
          rec["dtype"] = "bfloat16";
          rec["format"] = "raw";
        }
    write_file(staging_dir_ / kB16ManifestName, python_json_dumps(manifest), sync_);
  }
  fault_point("manifests-staged");
  if (sync_) sync_directory(staging_dir_);
}

// Moves the staged output into place, tensor-cache.json last.
void TensorCacheWriter::publish() {
  // From here on the directory holds no manifest until the new one lands.
  std::error_code ec;
  for (const char* name : {kManifestName, kB16ManifestName}) {
    fs::remove(output_dir_ / name, ec);
    if (ec) fail<IOError>("{}: cannot remove: {}", (output_dir_ / name).string(), ec.message());
  }
  fault_point("old-manifests-removed");
  for (std::size_t k = 0; k < counter_; ++k) {
    rename_or_fail(staging_dir_ / shard_name(k), output_dir_ / shard_name(k));
    fault_point("shard-renamed");
  }
  static const std::regex shard_re(R"(params_shard_(\d+)\.bin)");
  for (const auto& entry : fs::directory_iterator(output_dir_)) {
    std::smatch m;
    const auto fname = entry.path().filename().string();
    // A stale shard of an earlier, larger run (numbers too long to parse are stale too).
    if (std::regex_match(fname, m, shard_re) &&
        (m[1].length() > 18 || std::stoull(m[1].str()) >= counter_))
      fs::remove(entry.path(), ec);
  }
  fault_point("stale-removed");
  // The shards' new names are on disk before a manifest can name them.
  if (sync_) sync_directory(output_dir_);
  if (has_float32_) {
    rename_or_fail(staging_dir_ / kB16ManifestName, output_dir_ / kB16ManifestName);
    fault_point("b16-renamed");
  }
  rename_or_fail(staging_dir_ / kManifestName, output_dir_ / kManifestName);
  fault_point("manifest-renamed");
  if (sync_) sync_directory(output_dir_);
}

double TensorCacheWriter::busy_seconds() const {
  double total = 0;
  for (const auto& lane : lanes_) total += lane->busy_seconds();
  return total;
}

void TensorCacheWriter::finish_writes() {
  flush_pending();
  for (auto& lane : lanes_) lane->wait();  // every shard written, closed and queued for hashing
}

bool TensorCacheWriter::finish_writes_for(std::chrono::milliseconds timeout) {
  flush_pending();
  for (auto& lane : lanes_)
    if (!lane->wait_for(timeout)) return false;
  return true;
}

std::size_t TensorCacheWriter::commit(const nlohmann::ordered_json& metadata) {
  finish_writes();
  const auto digests = hasher_.finish();  // flushes the shards too, when syncing
  for (std::size_t i = 0; i < shards_.size(); ++i) shards_[i]["md5sum"] = digests.at(i);
  write_manifests(metadata);
  publish();
  committed_ = true;
  std::error_code ec;
  fs::remove_all(staging_dir_, ec);
  fault_point("published");
  return counter_;
}

}  // namespace weightcast

// Stage 3 of convert_weight(): every planned parameter streamed through map -> quantize ->
// encode on all cores, while a writer thread packs the finished records in plan order.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

#include "cache/tensor_cache_writer.h"
#include "convert/pipeline.h"
#include "convert/source_rows.h"
#include "util/bounded_queue.h"
#include "util/error.h"
#include "util/fault_point.h"
#include "util/mapped_file.h"
#include "util/nonfinite.h"
#include "util/task_thread.h"

namespace weightcast {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// MLC's ShardSingleDim split (docs/mlc-format.md#pre-sharding): shard i takes, from every segment j
// (of length segs[j] * shards along `dim`), the slice [i * segs[j], (i + 1) * segs[j]); without
// segments, the i-th contiguous 1/shards slice. A pure copy.
std::vector<Tensor> split_shards(const Tensor& t, const ShardStrategy& s, int shards) {
  const auto dim = static_cast<std::size_t>(s.dim);
  const auto len = t.shape.at(dim);
  std::vector<std::int64_t> segs = s.segs;
  if (segs.empty()) segs = {len / shards};
  std::int64_t outer = 1, inner = static_cast<std::int64_t>(dtype_size(t.dtype));
  for (std::size_t d = 0; d < dim; ++d) outer *= t.shape[d];
  for (std::size_t d = dim + 1; d < t.shape.size(); ++d) inner *= t.shape[d];
  std::vector<Tensor> out;
  for (int i = 0; i < shards; ++i) {
    Shape shape = t.shape;
    shape[dim] = len / shards;
    Tensor piece = Tensor::allocate(fmt::format("{}_shard-{}", t.name, i), t.dtype, shape);
    std::byte* dst = piece.buffer.get();
    for (std::int64_t o = 0; o < outer; ++o) {
      std::int64_t segment_start = 0;
      for (auto seg : segs) {
        const std::int64_t from = segment_start + i * seg;
        const auto bytes = static_cast<std::size_t>(seg * inner);
        std::memcpy(dst, t.buffer.get() + static_cast<std::size_t>((o * len + from) * inner),
                    bytes);
        dst += bytes;
        segment_start += seg * shards;
      }
    }
    out.push_back(std::move(piece));
  }
  return out;
}

// The bytes a parameter reads from its sources (decoded size for GGUF's quantized blocks).
std::uint64_t source_bytes(const PlannedParam& p, const Checkpoint& checkpoint) {
  std::uint64_t n = 0;
  for (const auto& loc : p.sources) {
    const auto& info = checkpoint.info(loc);
    n += static_cast<std::uint64_t>(numel(info.shape)) * dtype_size(info.dtype);
  }
  return n;
}

// Source tensors holding NaN or infinity (docs/verify.md#convert-checks-its-input): listed once
// each, or an error under --strict. The producer notes what its casts counted; the writer notes the
// records that pass through, which it scans as it writes them.
class NonFiniteLog {
 public:
  NonFiniteLog(ConvertStats& stats, bool strict) : stats_(stats), strict_(strict) {}
  void note(const std::string& tensor, const NonFiniteCount& count) {
    if (!count.nan && !count.inf) return;
    if (strict_)
      fail("{}: {} NaN and {} infinite values (--strict refuses non-finite input)", tensor,
           count.nan, count.inf);
    std::lock_guard lock(mutex_);
    auto& seen = stats_.nonfinite;
    if (std::none_of(seen.begin(), seen.end(), [&](const auto& s) { return s.tensor == tensor; }))
      seen.push_back({tensor, count.nan, count.inf});
  }

 private:
  ConvertStats& stats_;
  bool strict_;
  std::mutex mutex_;
};

// A thread the system refuses is a clear error, not std::system_error's bare sentence.
std::thread start_thread(std::function<void()> body) {
  try {
    return std::thread(std::move(body));
  } catch (const std::system_error& e) {
    fail<IOError>("cannot start a thread: {} (the limit on processes and threads, ulimit -u?)",
                  e.what());
  }
}

// Sources whose records the writer's threads have finished generating, to be released by the
// producer's thread: SourceFile::data() and release() are called on that thread only (GGUF and
// LoRA sources keep decoded tensors in maps, with no lock).
class DeferredReleases {
 public:
  void add(const std::vector<TensorLocation>& sources) {
    std::lock_guard lock(mutex_);
    pending_.insert(pending_.end(), sources.begin(), sources.end());
  }
  void run(const Checkpoint& ckpt) {
    std::vector<TensorLocation> now;
    {
      std::lock_guard lock(mutex_);
      now.swap(pending_);
    }
    for (const auto& loc : now) ckpt.files()[loc.file]->release(loc.index);
  }

 private:
  std::mutex mutex_;
  std::vector<TensorLocation> pending_;
};

struct Finished {
  std::vector<std::unique_ptr<const Tensor>> records;  // encoded for the cache
  std::vector<DType> dtypes;                           // declared dtypes
  // A block of a record too large to hold, written before `records`: the record's header and
  // total size on its first block, `stream_end` on its last.
  std::optional<OutputDef> stream_begin;
  std::size_t stream_bytes = 0;
  Buffer chunk;  // pooled: a fresh 8 MiB block for each would fault every page in again
  std::size_t chunk_bytes = 0;
  bool stream_end = false;
  // A record whose cache bytes are its sources' bytes end to end (PlannedParam::passes_through)
  // from a reader whose data may not outlive a release (the others are generated: copied through
  // the cache measured faster, docs/performance.md#records-that-pass-through), written from the
  // memory-mapped sources themselves. `before` maps each block's source pages
  // in one call; `written` scans the block just written (still in cache) for NaN and infinity and
  // drops its pages, so that a large record never has all its pages mapped; `done` reports the
  // counts.
  struct PassThrough {
    std::string name;
    DType dtype;
    Shape shape;
    std::vector<std::span<const std::byte>> pieces;
    BlockHook before, written;
    std::function<void()> done;
    bool lazy = false;  // the pieces outlive any release (TensorCacheWriter::append)
  };
  std::optional<PassThrough> pass_through;
  // A record produced as is (cast, and encoded for the cache), generated by the writer a block at
  // a time just before each block's write() (TensorCacheWriter::append_generated): never held
  // whole, and each block still in cache when it is copied into the page cache.
  struct Generated {
    std::string name;
    DType dtype;
    Shape shape;
    std::size_t nbytes = 0, block = 0;
    RecordFill fill;
    std::function<void()> done;
  };
  std::optional<Generated> generated;
  bool empty() const { return records.empty() && !pass_through && !generated; }
};

// Rows [begin, end) of a parameter produced as is, cast and encoded for the cache, into `out`.
void fill_rows(const SourceRows& rows, std::size_t begin, std::size_t end, std::size_t row_elems,
               bool encode, std::byte* out) {
  if (!encode) return rows.fill(begin, end, out);
  thread_local std::vector<float> block;  // tvmjs stores float32 as bf16
  block.resize((end - begin) * row_elems);
  rows.fill(begin, end, reinterpret_cast<std::byte*>(block.data()));
  encode_f32_for_cache(block.data(), block.size(), out);
}

// Hands the item's records to the writer, which writes them on its own threads and keeps the item
// alive until they are on file.
void write_finished(TensorCacheWriter& writer, std::shared_ptr<const Finished> item) {
  if (item->stream_begin) {
    Shape shape;
    for (const auto& d : item->stream_begin->shape) shape.push_back(d.value);
    writer.begin_streamed(item->stream_begin->name, item->stream_begin->dtype, shape,
                          item->stream_bytes);
  }
  if (item->chunk_bytes) writer.write_streamed({item->chunk.get(), item->chunk_bytes}, item);
  if (item->stream_end) writer.end_streamed();
  if (item->pass_through) {
    const auto& r = *item->pass_through;
    writer.append(r.name, r.dtype, r.shape, r.pieces, r.before, r.written, r.done, item, r.lazy);
  }
  if (item->generated) {
    const auto& g = *item->generated;
    writer.append_generated(g.name, g.dtype, g.shape, g.nbytes, g.block, g.fill, g.done, item);
  }
  for (std::size_t i = 0; i < item->records.size(); ++i) {
    const auto& r = item->records[i];
    writer.append(r->name, item->dtypes[i], r->shape, r->bytes(), item);
  }
}

// Produces each planned parameter and hands its records to the writer's queue.
class Producer {
 public:
  Producer(const Resolved& r, const ConvertOptions& options, BoundedQueue<Finished>& queue,
           ConvertStats& stats, NonFiniteLog& nonfinite, TaskThread& scanner,
           DeferredReleases& releases)
      : ckpt_(*r.checkpoint),
        scheme_(*r.scheme),
        pool_(options.threads),
        kernel_{options.round_mode, r.fp8_cast},
        nonfinite_(nonfinite),
        scanner_(scanner),
        releases_(releases),
        queue_(queue),
        stats_(stats) {
    if (!pool_.start_error().empty() && options.on_log)
      options.on_log(fmt::format("Started {} of {} threads ({}): continuing with {}", pool_.size(),
                                 options.threads, pool_.start_error(), pool_.size()));
  }

  // False when the writer failed (its error is rethrown by the caller).
  bool produce(const PlannedParam& p) {
    const auto start = Clock::now();
    releases_.run(ckpt_);
    if (generates(p)) {
      Finished item = generate(p);
      stats_.compute_seconds += seconds_since(start);
      return queue_.push(std::move(item));
    }
    const SourceRows rows(p, ckpt_, p.def->dtype.value_or(scheme_.model_dtype()));
    std::span<const OutputDef> planned = p.outputs;
    std::vector<Tensor> records;
    Finished item;
    if (p.passes_through) {
      item = pass_through(p);
    } else if (p.streamed) {
      if (p.production == Production::kRowBlocks) records = scheme_.start_rows(*p.def, rows);
      if (!stream_first(p, rows, records)) return false;
      planned = planned.subspan(1);
    } else if (encodes_directly(p)) {
      item = encode_directly(p, rows);
    } else {
      records = compute_whole(p, rows);
    }
    if (!item.pass_through) note_nonfinite(p, rows.nonfinite());  // else the writer's
    if (item.empty()) item = encode(std::move(records), planned);
    stats_.compute_seconds += seconds_since(start);
    return item.empty() || queue_.push(std::move(item));
  }

 private:
  void note_nonfinite(const PlannedParam& p, const std::vector<NonFiniteCount>& counts) {
    for (std::size_t i = 0; i < counts.size(); ++i)
      nonfinite_.note(ckpt_.info(p.sources[i]).name, counts[i]);
  }

  void release_sources(const PlannedParam& p) {
    for (const auto& loc : p.sources) ckpt_.files()[loc.file]->release(loc.index);
  }

  // The scheme's records of the whole parameter, split into shards where the plan says so.
  std::vector<Tensor> compute_whole(const PlannedParam& p, const SourceRows& rows) {
    auto outputs = scheme_.compute(*p.def, rows, pool_, kernel_);
    release_sources(p);
    if (p.shards == 1) return outputs;
    std::vector<Tensor> pieces;
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      if (!p.splits.at(i)) {
        pieces.push_back(std::move(outputs[i]));
        continue;
      }
      for (auto& piece : split_shards(outputs[i], *p.shard, p.shards))
        pieces.push_back(std::move(piece));
    }
    return pieces;
  }

  // A parameter produced as is, in one record of rows no larger than a block: generated by the
  // writer (Finished::Generated). The producer only plans it, so the cast runs on the writer's
  // threads, a block at a time into a buffer that stays in cache until its write().
  static constexpr std::size_t kGenerateBlock = 512u << 10;
  static std::size_t cache_row_bytes(const PlannedParam& p) {
    return static_cast<std::size_t>(p.shape.back()) * cache_element_size(p.outputs.front().dtype);
  }
  // Whether the writer may read the parameter's sources however far behind the producer it runs,
  // while the producer goes on reading and releasing (another parameter of the same tensor:
  // DeepSeek's w_uk and w_uv both read kv_b_proj).
  bool sources_outlive_release(const PlannedParam& p) const {
    return std::all_of(p.sources.begin(), p.sources.end(), [&](const TensorLocation& loc) {
      return ckpt_.files()[loc.file]->data_outlives_release(loc.index);
    });
  }
  bool generates(const PlannedParam& p) const {
    return p.production == Production::kAsIs && p.shards == 1 && p.outputs.size() == 1 &&
           !p.shape.empty() && p.shape.back() > 0 && cache_row_bytes(p) <= kGenerateBlock &&
           sources_outlive_release(p);
  }
  Finished generate(const PlannedParam& p) {
    const auto& first = p.outputs.front();
    // A record that passes through (its cache bytes are its sources' bytes) is copied in its
    // sources' dtype, not widened to float32 and encoded back (q0f32 from bf16).
    const DType cast_to = p.passes_through ? ckpt_.info(p.sources.front()).dtype
                                           : p.def->dtype.value_or(scheme_.model_dtype());
    auto rows = std::make_shared<const SourceRows>(
        p, ckpt_, cast_to, false);  // queued up to 1 GiB ahead: see the fill
    const auto row_elems = static_cast<std::size_t>(p.shape.back());
    const std::size_t row_bytes = cache_row_bytes(p);
    Finished item;
    item.generated = Finished::Generated{first.name,
                                         first.dtype,
                                         p.shape,
                                         rows->rows() * row_bytes,
                                         kGenerateBlock / row_bytes * row_bytes,
                                         {},
                                         {}};
    // Run by the writer's threads, which may outlive this producer on an error: no `this`.
    item.generated->fill = [rows, row_bytes, row_elems,
                            encode = first.dtype == DType::kF32 && !p.passes_through](
                               std::size_t offset, std::span<std::byte> out) {
      if (offset == 0) rows->prefetch();  // as its lane starts it, not as it is queued
      const std::size_t begin = offset / row_bytes;
      fill_rows(*rows, begin, begin + out.size() / row_bytes, row_elems, encode, out.data());
      rows->release_read();
    };
    item.generated->done = [&ckpt = ckpt_, &log = nonfinite_, &releases = releases_, rows,
                            sources = p.sources] {
      const auto counts = rows->nonfinite();
      for (std::size_t i = 0; i < counts.size(); ++i)
        log.note(ckpt.info(sources[i]).name, counts[i]);
      releases.add(sources);
    };
    stats_.param_bytes += static_cast<double>(numel(p.shape)) * dtype_size(first.dtype);
    ++stats_.param_count;
    return item;
  }

  // The record of a parameter that passes through (PlannedParam::passes_through): views of the
  // mapped sources, which the writer writes as they are (one copy, by the kernel, where the
  // cast would read them, write a buffer and the writer copy that).
  Finished pass_through(const PlannedParam& p) {
    const auto& first = p.outputs.front();
    Finished item;
    item.pass_through = Finished::PassThrough{
        first.name, first.dtype, p.shape, {}, {}, {}, {}, sources_outlive_release(p)};
    std::size_t bytes = 0;
    for (const auto& loc : p.sources) {
      item.pass_through->pieces.push_back(ckpt_.files()[loc.file]->data(loc.index));
      bytes += item.pass_through->pieces.back().size();
    }
    if (bytes != static_cast<std::size_t>(numel(p.shape)) * cache_element_size(first.dtype))
      fail("internal error: {} passes through {} bytes", first.name, bytes);
    // Run by the writer thread, which may outlive this producer on an error: no `this`.
    auto counts = std::make_shared<std::vector<NonFiniteCount>>(p.sources.size());
    item.pass_through->before = [&ckpt = ckpt_, sources = p.sources](
                                    std::size_t piece, std::size_t offset, std::size_t n) {
      const auto& loc = sources.at(piece);
      ckpt.files()[loc.file]->populate_range(loc.index, offset, n);
    };
    // The scan and the release run on the scanner's thread, beside the writer's next write(). Only
    // that thread touches `dropped_to` (per piece: where the bytes released so far end).
    auto dropped_to = std::make_shared<std::vector<std::size_t>>(p.sources.size());
    item.pass_through->written = [&ckpt = ckpt_, &scanner = scanner_, sources = p.sources, counts,
                                  dropped_to](std::size_t piece, std::size_t offset,
                                              std::size_t n) {
      scanner.post([&ckpt, loc = sources.at(piece), counts, dropped_to, piece, offset, n] {
        const auto& file = *ckpt.files()[loc.file];
        const DType dtype = ckpt.info(loc).dtype;
        if (may_be_nonfinite(dtype))
          count_nonfinite(dtype, file.data(loc.index).data() + offset, n / dtype_size(dtype),
                          (*counts)[piece]);
        auto& from = (*dropped_to)[piece];
        from = file.release_range(loc.index, from, offset + n - from);
      });
    };
    std::vector<std::string> names;
    for (const auto& loc : p.sources) names.push_back(ckpt_.info(loc).name);
    item.pass_through->done = [&log = nonfinite_, &scanner = scanner_, names = std::move(names),
                               counts] {
      scanner.wait();
      for (std::size_t i = 0; i < names.size(); ++i) log.note(names[i], (*counts)[i]);
    };
    stats_.param_bytes += static_cast<double>(numel(p.shape)) * dtype_size(first.dtype);
    ++stats_.param_count;
    return item;
  }

  // A float32 record stored as mapped (q0f32, float32 norms): cast and encoded to its cache bytes
  // row block by row block, never materialised in float32 (twice the bytes, another pass).
  static bool encodes_directly(const PlannedParam& p) {
    return p.production == Production::kAsIs && p.shards == 1 && p.outputs.size() == 1 &&
           p.outputs.front().dtype == DType::kF32 && !p.shape.empty();
  }
  Finished encode_directly(const PlannedParam& p, const SourceRows& rows) {
    const auto& first = p.outputs.front();
    const std::size_t bytes =
        rows.rows() * static_cast<std::size_t>(p.shape.back()) * cache_element_size(DType::kF32);
    Tensor record{first.name, DType::kF32, p.shape, allocate_buffer(bytes), bytes};
    std::vector<Tensor> none;
    first_rows(p, rows, 0, rows.rows(), record.buffer.get(), none);
    release_sources(p);
    stats_.param_bytes += static_cast<double>(numel(p.shape)) * dtype_size(DType::kF32);
    ++stats_.param_count;
    Finished item;
    item.dtypes.push_back(DType::kF32);
    item.records.push_back(std::make_unique<const Tensor>(std::move(record)));
    return item;
  }

  // Writes rows [begin, end) of the first record, encoded for the cache, to `dst`.
  void first_rows(const PlannedParam& p, const SourceRows& rows, std::size_t begin, std::size_t end,
                  std::byte* dst, std::vector<Tensor>& rest) {
    if (p.production == Production::kRowBlocks)
      return scheme_.compute_rows(*p.def, rows, begin, end, dst, rest, pool_, kernel_);
    const auto& first = p.outputs.front();
    const bool encode = first.dtype == DType::kF32;  // tvmjs stores float32 as bf16
    const auto row_elems = static_cast<std::size_t>(first.shape.back().value);
    const std::size_t row_bytes = row_elems * cache_element_size(first.dtype);
    pool_.parallel_for(end - begin, 64, [&](std::size_t b, std::size_t e) {
      fill_rows(rows, begin + b, begin + e, row_elems, encode, dst + b * row_bytes);
    });
  }

  // The first record, produced and queued 8 MiB at a time; false when the writer failed.
  bool stream_first(const PlannedParam& p, const SourceRows& rows, std::vector<Tensor>& rest) {
    const auto& first = p.outputs.front();
    const auto row_elems = static_cast<std::size_t>(first.shape.back().value);
    const std::size_t row_bytes = row_elems * cache_element_size(first.dtype);
    const std::size_t block_rows = std::max<std::size_t>(1, (8u << 20) / row_bytes);
    for (std::size_t b = 0; b < rows.rows(); b += block_rows) {
      const std::size_t e = std::min(rows.rows(), b + block_rows);
      Finished block;
      if (b == 0) block.stream_begin = first, block.stream_bytes = rows.rows() * row_bytes;
      block.chunk_bytes = (e - b) * row_bytes;
      block.chunk = allocate_buffer(block.chunk_bytes);
      first_rows(p, rows, b, e, block.chunk.get(), rest);
      rows.release_read();
      block.stream_end = e == rows.rows();
      if (!queue_.push(std::move(block))) return false;
    }
    release_sources(p);
    stats_.param_bytes += static_cast<double>(rows.rows() * row_elems * dtype_size(first.dtype));
    ++stats_.param_count;
    return true;
  }

  // Checks computed records against the plan, counts them and encodes them for the cache.
  Finished encode(std::vector<Tensor> records, std::span<const OutputDef> planned) {
    Finished item;
    for (std::size_t i = 0; i < records.size(); ++i) {
      auto& o = records[i];
      if (i >= planned.size() || o.shape.size() != planned[i].shape.size() ||
          o.name != planned[i].name)
        fail("internal error: {} does not match its plan", o.name);
      stats_.param_bytes +=
          static_cast<double>(numel(o.shape)) * static_cast<double>(dtype_size(o.dtype));
      ++stats_.param_count;
      item.dtypes.push_back(o.dtype);
      item.records.push_back(std::make_unique<const Tensor>(encode_for_cache(std::move(o), pool_)));
    }
    return item;
  }

  const Checkpoint& ckpt_;
  const Scheme& scheme_;
  ThreadPool pool_;
  KernelOptions kernel_;
  NonFiniteLog& nonfinite_;
  TaskThread& scanner_;  // run by the writer's hooks: these two outlive the writer
  DeferredReleases& releases_;
  BoundedQueue<Finished>& queue_;
  ConvertStats& stats_;
};

}  // namespace

namespace {

// Why the run stops early: a source that changed under it explains any error that followed.
void throw_source_change_or_rethrow() {
  check_mapped_files();
  throw;
}

[[noreturn]] void interrupted(const std::filesystem::path& output) {
  std::error_code ec;
  if (std::filesystem::exists(output / kManifestName, ec))
    fail<Interrupted>("interrupted; the earlier pack in {} is intact", output.string());
  fail<Interrupted>("interrupted; nothing was published to {}", output.string());
}

}  // namespace

ConvertStats execute(const Plan& plan, const Resolved& resolved,
                     const std::filesystem::path& output, const ConvertOptions& options) {
  ConvertStats stats;
  NonFiniteLog nonfinite(stats, options.strict);  // these two outlive the writer thread
  // The NaN/infinity scan of records that pass through, and the release of their pages, beside
  // the writer's next write(); at most four blocks (32 MiB of mapped source) wait for it.
  TaskThread scanner(4);
  DeferredReleases releases;
  std::unique_ptr<TensorCacheWriter> owned_writer;
  try {
    owned_writer = std::make_unique<TensorCacheWriter>(output, options.sync, options.direct_io);
  } catch (const std::system_error& e) {  // its hashing thread
    fail<IOError>("cannot start a thread: {} (the limit on processes and threads, ulimit -u?)",
                  e.what());
  }
  TensorCacheWriter& writer = *owned_writer;
  BoundedQueue<Finished> queue(2);  // bounds memory: at most a few parameters in flight
  std::exception_ptr writer_error;
  std::thread writer_thread = start_thread([&] {
    try {
      while (auto item = queue.pop())
        write_finished(writer, std::make_shared<const Finished>(std::move(*item)));
    } catch (...) {
      writer_error = std::current_exception();
      queue.close();
    }
  });
  auto stop_writer = [&] {
    queue.close();
    if (writer_thread.joinable()) writer_thread.join();
  };
  try {
    Producer producer(resolved, options, queue, stats, nonfinite, scanner, releases);
    Progress progress{0, plan.params.size(), {}, 0, 0};
    for (const auto& p : plan.params) progress.bytes_total += source_bytes(p, *resolved.checkpoint);
    for (const auto& p : plan.params) {
      if (options.cancel && options.cancel->load()) interrupted(output);
      if (!producer.produce(p)) break;  // the writer failed
      fault_point("produced");
      if (mapped_read_faulted()) check_mapped_files();
      ++progress.done;
      progress.name = p.def->name;
      progress.bytes_done += source_bytes(p, *resolved.checkpoint);
      if (options.on_progress) options.on_progress(progress);
    }
  } catch (...) {
    stop_writer();
    throw_source_change_or_rethrow();
  }
  stop_writer();
  try {
    if (writer_error) std::rethrow_exception(writer_error);
    // The lanes' last reads of the sources done. The writer may still have up to a second's work
    // queued when the last parameter is produced: an interrupt meanwhile stops it.
    while (!writer.finish_writes_for(std::chrono::milliseconds(50)))
      if (options.cancel && options.cancel->load()) interrupted(output);
    releases.run(*resolved.checkpoint);
    check_mapped_files();  // before anything read from the sources is published
  } catch (...) {
    throw_source_change_or_rethrow();
  }

  stats.total_params = plan.total_params;
  stats.bits_per_param = stats.param_bytes * 8.0 / static_cast<double>(stats.total_params);
  nlohmann::ordered_json metadata;
  metadata["ParamSize"] = stats.param_count;
  metadata["ParamBytes"] = stats.param_bytes;
  metadata["BitsPerParam"] = stats.bits_per_param;
  const auto t = Clock::now();
  stats.shard_count = writer.commit(metadata);
  stats.write_seconds = writer.busy_seconds() + seconds_since(t);
  return stats;
}

}  // namespace weightcast

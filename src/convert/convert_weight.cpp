// The public entry point: detect, plan, then stream every parameter through map -> quantize ->
// encode on all cores while a writer thread packs the finished records in plan order.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <thread>

#include "arch/architecture.h"
#include "arch/gguf/view.h"
#include "cache/tensor_cache_writer.h"
#include "convert/bounded_queue.h"
#include "convert/cast.h"
#include "convert/plan.h"
#include "formats/detect.h"
#include "formats/gguf.h"
#include "quant/scheme.h"
#include "util/error.h"
#include "util/float_bits.h"
#include "weightcast/weightcast.h"

namespace weightcast {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void check_device(std::string_view device) {
  const auto type = device.substr(0, device.find(':'));
  if (device == "auto" || type == "cpu" || type == "llvm") return;
  for (std::string_view gpu : {"cuda", "rocm", "metal", "vulkan", "opencl"})
    if (type == gpu)
      fail<NotImplementedError>(
          "--device {}: this build quantizes on the CPU only (use --device cpu or auto; the "
          "output bytes are the same)",
          device);
  fail("Invalid device name: {}", device);
}

const Scheme& find_scheme_or_fail(std::string_view quantization) {
  if (const auto* s = find_scheme(quantization)) return *s;
  fail("Unknown quantization: {}. Available ones: ['{}']", quantization,
       fmt::join(quantization_names(), "', '"));
}

// A parameter's source tensors, mapped (concatenated, stacked or transposed) and cast to the
// model dtype on demand (the ExternMapping). Concatenation along axis 0 and stacking are both
// concatenation of the flat C-order data.
class SourceRows final : public ParamRows {
 public:
  SourceRows(const PlannedParam& p, const Checkpoint& ckpt, DType dtype)
      : ParamRows(dtype, p.shape),
        out_size_(dtype_size(dtype)),
        axis1_(p.def->combine == Combine::kConcatAxis1 && p.sources.size() > 1),
        permutation_(p.def->combine == Combine::kPermuteRows ? &p.def->permutation : nullptr),
        head_slice_(p.def->combine == Combine::kHeadSlice ? &p.def->head_slice : nullptr),
        add_one_(p.def->add_one) {
    for (const auto& loc : p.sources) {
      const auto& info = ckpt.info(loc);
      const auto& file = *ckpt.files()[loc.file];
      Part part{file.data(loc.index),
                info.dtype,
                dtype_size(info.dtype),
                static_cast<std::size_t>(numel(info.shape)),
                info.shape.empty() ? 1 : static_cast<std::size_t>(info.shape.back()),
                cast_function(info.dtype, dtype),
                nullptr,
                nullptr};
      if (add_one_) {
        // numpy/ml_dtypes add in float32 and round to the operand dtype (float32 for a torch
        // bfloat16 tensor, which MLC has widened already).
        const DType arith =
            info.dtype == DType::kBF16 && file.widens_bf16() ? DType::kF32 : info.dtype;
        if (arith != DType::kF32 && arith != DType::kF16 && arith != DType::kBF16)
          fail<NotImplementedError>("{}: adding 1 to a {} tensor", info.name, tvm_name(info.dtype));
        part.to_f32 = cast_function(info.dtype, DType::kF32);
        part.from_f32 = cast_function(DType::kF32, arith);
        part.cast = cast_function(arith, dtype);
        part.dtype = arith;
      }
      parts_.push_back(part);
      file.prefetch(loc.index);
    }
    if (p.def->combine == Combine::kTranspose) {  // one head holding all rows, transposed
      const auto rows = static_cast<std::int64_t>(parts_.front().count / parts_.front().row);
      transpose_ = {1, rows, 0, rows, true};
      head_slice_ = &transpose_;
    }
  }

  SourceRows(const SourceRows&) = delete;  // head_slice_ may point at transpose_
  SourceRows& operator=(const SourceRows&) = delete;

  void fill(std::size_t begin, std::size_t end, std::byte* out) const override {
    if (head_slice_) {
      fill_head_slice(begin, end, out);
      return;
    }
    if (permutation_) {
      const auto& part = parts_.front();
      if (shape().size() == 1) {  // a 1-D tensor is one row: reorder its elements
        for (std::size_t j = 0; j < part.count; ++j)
          convert(part,
                  part.data.data() +
                      static_cast<std::size_t>(permutation_->source(static_cast<std::int64_t>(j))) *
                          part.elem_size,
                  out + j * out_size_, 1);
        return;
      }
      for (std::size_t r = begin; r < end; ++r)
        convert(part,
                part.data.data() +
                    static_cast<std::size_t>(permutation_->source(static_cast<std::int64_t>(r))) *
                        part.row * part.elem_size,
                out + (r - begin) * row_size() * out_size_, part.row);
      return;
    }
    if (axis1_) {  // 2-D concatenation along the columns: each row is the sources' rows side by
                   // side
      for (std::size_t r = begin; r < end; ++r) {
        std::size_t col = 0;
        for (const auto& part : parts_) {
          convert(part, part.data.data() + r * part.row * part.elem_size,
                  out + ((r - begin) * row_size() + col) * out_size_, part.row);
          col += part.row;
        }
      }
      return;
    }
    std::size_t first = begin * row_size(), last = end * row_size(), base = 0;
    for (const auto& part : parts_) {
      const std::size_t lo = std::max(first, base), hi = std::min(last, base + part.count);
      if (lo < hi)
        convert(part, part.data.data() + (lo - base) * part.elem_size,
                out + (lo - first) * out_size_, hi - lo);
      base += part.count;
    }
  }

 private:
  struct Part {
    std::span<const std::byte> data;
    DType dtype;  // of the values handed to `cast` (the arithmetic dtype under add_one)
    std::size_t elem_size, count, row;
    CastFn cast;
    CastFn to_f32, from_f32;  // add_one only
  };

  // Output row r: head r / per_head, then either source row (head * rows_per_head + begin + i)
  // or, transposed, source column c across the head's rows [begin, end).
  void fill_head_slice(std::size_t begin, std::size_t end, std::byte* out) const {
    const auto& hs = *head_slice_;
    const auto& part = parts_.front();
    const auto rows = static_cast<std::size_t>(hs.end - hs.begin);
    const auto per_head = static_cast<std::size_t>(hs.rows_per_head);
    const std::size_t out_rows_per_head = hs.transpose ? part.row : rows;
    std::vector<std::byte> column(rows * part.elem_size);
    for (std::size_t r = begin; r < end; ++r) {
      const std::size_t head = r / out_rows_per_head, i = r % out_rows_per_head;
      const std::size_t first_row = head * per_head + static_cast<std::size_t>(hs.begin);
      std::byte* dst = out + (r - begin) * row_size() * out_size_;
      if (!hs.transpose) {
        convert(part, part.data.data() + (first_row + i) * part.row * part.elem_size, dst,
                part.row);
        continue;
      }
      for (std::size_t k = 0; k < rows; ++k)
        std::memcpy(column.data() + k * part.elem_size,
                    part.data.data() + ((first_row + k) * part.row + i) * part.elem_size,
                    part.elem_size);
      convert(part, column.data(), dst, rows);
    }
  }

  void convert(const Part& part, const std::byte* in, std::byte* out, std::size_t n) const {
    if (!add_one_) return part.cast(in, out, n);
    std::vector<float> sum(n);
    part.to_f32(in, reinterpret_cast<std::byte*>(sum.data()), n);
    for (auto& v : sum) v += 1.0f;
    std::vector<std::byte> rounded(n * dtype_size(part.dtype));
    part.from_f32(reinterpret_cast<const std::byte*>(sum.data()), rounded.data(), n);
    part.cast(rounded.data(), out, n);
  }

  std::vector<Part> parts_;
  std::size_t out_size_;
  bool axis1_;
  const RowPermutation* permutation_;
  const HeadSlice* head_slice_;
  HeadSlice transpose_;  // Combine::kTranspose, as a single-head transposed slice
  bool add_one_;
};

// MLC's ShardSingleDim split (spec 6): shard i takes, from every segment j (of length
// segs[j] * shards along `dim`), the slice [i * segs[j], (i + 1) * segs[j]); without segments, the
// i-th contiguous 1/shards slice. A pure copy.
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

void release_sources(const PlannedParam& p, const Checkpoint& ckpt) {
  for (const auto& loc : p.sources) ckpt.files()[loc.file]->release(loc.index);
}

// Python's f"{n:,}".
std::string with_commas(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

struct Finished {
  std::vector<std::unique_ptr<const Tensor>> records;  // encoded for the cache
  std::vector<DType> dtypes;                           // declared dtypes
  // A block of a record too large to hold, written before `records`: the record's header and
  // total size on its first block, `stream_end` on its last.
  std::optional<OutputDef> stream_begin;
  std::size_t stream_bytes = 0;
  std::vector<std::byte> chunk;
  bool stream_end = false;
};

void write_finished(TensorCacheWriter& writer, const Finished& item) {
  if (item.stream_begin) {
    Shape shape;
    for (const auto& d : item.stream_begin->shape) shape.push_back(d.value);
    writer.begin_streamed(item.stream_begin->name, item.stream_begin->dtype, shape,
                          item.stream_bytes);
  }
  if (!item.chunk.empty()) writer.write_streamed(item.chunk);
  if (item.stream_end) writer.end_streamed();
  for (std::size_t i = 0; i < item.records.size(); ++i) {
    const auto& r = item.records[i];
    writer.append(r->name, item.dtypes[i], r->shape, r->bytes());
  }
}

}  // namespace

std::vector<std::string> quantization_names() {
  std::vector<std::string> out;
  for (const auto* s : schemes()) out.emplace_back(s->name());
  return out;
}

std::vector<std::string> model_types() {
  std::vector<std::string> out;
  for (const auto* a : architectures()) out.emplace_back(a->name);
  return out;
}

std::vector<std::string> source_formats() {
  return supported_weight_formats();
}

ConvertStats convert_weight(const std::filesystem::path& config, std::string_view quantization,
                            std::string_view model, std::string_view device,
                            const std::string& source, std::string_view source_format,
                            const std::filesystem::path& output, const ConvertOptions& options) {
  const auto start = Clock::now();
  auto log = [&](const std::string& line) {
    if (options.on_log) options.on_log(line);
  };
  const auto& scheme = find_scheme_or_fail(quantization);
  check_device(device);
  // CONFIG may be a GGUF file: a config.json beside it wins, else its metadata make one.
  std::optional<ModelConfig> model_config;
  std::filesystem::path config_path;
  std::string weights_arg = source;
  if (is_gguf_path(config) && std::filesystem::is_regular_file(config)) {
    config_path = config.parent_path() / "config.json";
    if (std::filesystem::is_regular_file(config_path))
      model_config = ModelConfig::load(config_path);
    else
      model_config.emplace(gguf_config(config), config);
    if (weights_arg == "auto") weights_arg = config.string();
  } else {
    config_path = detect_config(config);
    model_config = ModelConfig::load(config_path);
  }
  const auto& arch = detect_architecture(model, *model_config);
  // AWQ exports are read with the awq mapping; auto-detection alone cannot tell them apart.
  std::string_view format = source_format;
  if (scheme.kind() == QuantKind::kAwq && format == "auto") format = "awq";
  if (format == "awq" && scheme.kind() != QuantKind::kAwq)
    fail(
        "--source-format awq holds pre-quantized AutoAWQ weights: use --quantization "
        "q4f16_autoawq");
  if (scheme.kind() == QuantKind::kAwq && format != "awq")
    fail("--quantization q4f16_autoawq reads AutoAWQ exports: use --source-format awq (or auto)");
  const auto weights = detect_weight(weights_arg, config_path, format);
  const auto ckpt = open_checkpoint(weights, open_gguf_checkpoint);
  for (const auto& w : ckpt->warnings) log(w);
  // MLC checks config.json's own value, before the pre-shard override.
  if (scheme.kind() == QuantKind::kFt && model_config->get_int("tensor_parallel_shards", 1) > 1)
    fail<NotImplementedError>(
        "q4f16_ft does not support tensor_parallel_shards > 1 in config.json "
        "(MLC raises a bare NotImplementedError here)");
  // Pre-sharding for tensor parallelism: the option, else MLC's environment variable.
  int preshard = static_cast<int>(options.tensor_parallel_shards);
  if (preshard == 0)
    if (const char* env = std::getenv("MLC_INTERNAL_PRESHARD_NUM"); env && *env) {
      try {
        preshard = std::stoi(env);
      } catch (const std::exception&) {
        fail("MLC_INTERNAL_PRESHARD_NUM={} is not an integer", env);
      }
    }
  if (preshard < 0) fail("the number of tensor-parallel shards must be positive, got {}", preshard);
  if (preshard > 0) model_config->set("tensor_parallel_shards", preshard);
  // MLC's KeyError for a kind the model does not register, as a sentence.
  if (!arch.quant_kinds.contains(scheme.kind()))
    fail("{}: quantization kind '{}' ({}) is not available for model type {}", scheme.name(),
         quant_kind_name(scheme.kind()), scheme.name(), arch.name);
  ModelDef built = arch.build(*model_config);
  if (built.weight_block_size && scheme.kind() != QuantKind::kBlockScale)
    fail("The input {} model is fp8 block quantized. Please use BlockScaleQuantize for the model.",
         arch.name);
  const ModelDef model_def = scheme.adapt(std::move(built));
  const Plan plan = make_plan(model_def, *ckpt, scheme);
  if (!plan.unused.empty())
    log(fmt::format("Unused extern parameters: {}", fmt::join(plan.unused, ", ")));
  if (plan.total_params == 0)
    fail("{}: the source holds no parameters to count (BitsPerParam would divide by zero)",
         weights.path.string());

  if (options.dry_run) {
    nlohmann::ordered_json table = nlohmann::ordered_json::array();
    for (const auto& p : plan.params) {
      nlohmann::ordered_json sources = nlohmann::ordered_json::array();
      for (const auto& loc : p.sources) sources.push_back(ckpt->info(loc).name);
      for (const auto& o : p.outputs) {
        nlohmann::ordered_json shape = nlohmann::ordered_json::array();
        for (const auto& d : o.shape) shape.push_back(d.value);
        table.push_back({{"name", o.name},
                         {"shape", shape},
                         {"dtype", tvm_name(o.dtype)},
                         {"sources", sources}});
      }
    }
    log(table.dump(2));
    ConvertStats dry;
    dry.param_count = static_cast<std::int64_t>(table.size());
    dry.total_params = plan.total_params;
    return dry;
  }
  ConvertStats stats;
  stats.plan_seconds = seconds_since(start);
  ThreadPool pool(options.threads);
  TensorCacheWriter writer(output);
  BoundedQueue<Finished> queue(2);  // bounds memory: at most a few parameters in flight
  std::exception_ptr writer_error;
  std::thread writer_thread([&] {
    try {
      while (auto item = queue.pop()) {
        const auto t = Clock::now();
        write_finished(writer, *item);
        stats.write_seconds += seconds_since(t);
      }
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
    const KernelOptions kernel{options.round_mode};
    std::size_t done = 0;
    for (const auto& p : plan.params) {
      if (options.cancel && options.cancel->load())
        fail<Interrupted>("interrupted; {} was left without a new manifest", output.string());
      auto t = Clock::now();
      const SourceRows rows(p, *ckpt, p.def->dtype.value_or(scheme.model_dtype()));
      // A first record this large is produced and written 8 MiB at a time, never held whole:
      // cast from the sources when stored as is, else computed by the scheme row block by row
      // block (group quantization, NK), the other records (q_scale) following whole.
      const bool as_is = scheme.stores_as_is(*p.def) && p.outputs.size() == 1;
      if (p.shards == 1 && (as_is || scheme.computes_rows(*p.def))) {
        const auto& first = p.outputs.front();
        const bool encode = first.dtype == DType::kF32;  // tvmjs stores float32 as bf16
        const std::size_t row_elems = static_cast<std::size_t>(first.shape.back().value);
        const std::size_t row_bytes = row_elems * (encode ? 2 : dtype_size(first.dtype));
        if (rows.rows() * row_bytes >= std::max(options.stream_records_from, kShardCapBytes)) {
          std::vector<Tensor> rest =
              as_is ? std::vector<Tensor>{} : scheme.start_rows(*p.def, rows);
          const auto produce = [&](std::size_t begin, std::size_t end, std::byte* dst) {
            if (!as_is)
              return scheme.compute_rows(*p.def, rows, begin, end, dst, rest, pool, kernel);
            pool.parallel_for(end - begin, 64, [&](std::size_t b, std::size_t e) {
              std::byte* out = dst + b * row_bytes;
              if (!encode) return rows.fill(begin + b, begin + e, out);
              thread_local std::vector<float> block;
              block.resize((e - b) * row_elems);
              rows.fill(begin + b, begin + e, reinterpret_cast<std::byte*>(block.data()));
              auto* bits = reinterpret_cast<std::uint16_t*>(out);
              for (std::size_t i = 0; i < block.size(); ++i)
                bits[i] = f32_to_bf16_cache_encoding(block[i]);
            });
          };
          const std::size_t block_rows = std::max<std::size_t>(1, (8u << 20) / row_bytes);
          bool pushed = true;
          for (std::size_t b = 0; pushed && b < rows.rows(); b += block_rows) {
            const std::size_t e = std::min(rows.rows(), b + block_rows);
            Finished block;
            if (b == 0) block.stream_begin = first, block.stream_bytes = rows.rows() * row_bytes;
            block.chunk.resize((e - b) * row_bytes);
            produce(b, e, block.chunk.data());
            block.stream_end = e == rows.rows();
            pushed = queue.push(std::move(block));
          }
          if (!pushed) break;  // the writer failed
          release_sources(p, *ckpt);
          stats.param_bytes +=
              static_cast<double>(rows.rows() * row_elems * dtype_size(first.dtype));
          ++stats.param_count;
          Finished tail;
          for (std::size_t i = 0; i < rest.size(); ++i) {
            if (rest[i].name != p.outputs.at(i + 1).name)
              fail("internal error: {} does not match its plan", rest[i].name);
            stats.param_bytes += static_cast<double>(numel(rest[i].shape)) *
                                 static_cast<double>(dtype_size(rest[i].dtype));
            ++stats.param_count;
            tail.dtypes.push_back(rest[i].dtype);
            tail.records.push_back(
                std::make_unique<const Tensor>(encode_for_cache(std::move(rest[i]), pool)));
          }
          stats.compute_seconds += seconds_since(t);
          if (!tail.records.empty() && !queue.push(std::move(tail))) break;
          if (options.on_progress) options.on_progress({++done, plan.params.size(), p.def->name});
          continue;
        }
      }
      auto outputs = scheme.compute(*p.def, rows, pool, kernel);
      release_sources(p, *ckpt);
      if (p.shards > 1) {
        std::vector<Tensor> pieces;
        for (std::size_t i = 0; i < outputs.size(); ++i) {
          if (!scheme.splits_output(i)) {
            pieces.push_back(std::move(outputs[i]));
            continue;
          }
          for (auto& piece : split_shards(outputs[i], *p.shard, p.shards))
            pieces.push_back(std::move(piece));
        }
        outputs = std::move(pieces);
      }
      Finished item;
      for (std::size_t i = 0; i < outputs.size(); ++i) {
        auto& o = outputs[i];
        if (o.shape.size() != p.outputs[i].shape.size() || o.name != p.outputs[i].name)
          fail("internal error: {} does not match its plan", o.name);
        stats.param_bytes +=
            static_cast<double>(numel(o.shape)) * static_cast<double>(dtype_size(o.dtype));
        item.dtypes.push_back(o.dtype);
        item.records.push_back(
            std::make_unique<const Tensor>(encode_for_cache(std::move(o), pool)));
        ++stats.param_count;
      }
      stats.compute_seconds += seconds_since(t);
      if (!queue.push(std::move(item))) break;  // the writer failed
      if (options.on_progress) options.on_progress({++done, plan.params.size(), p.def->name});
    }
  } catch (...) {
    stop_writer();
    throw;
  }
  stop_writer();
  if (writer_error) std::rethrow_exception(writer_error);

  stats.total_params = plan.total_params;
  stats.bits_per_param = stats.param_bytes * 8.0 / static_cast<double>(stats.total_params);
  nlohmann::ordered_json metadata;
  metadata["ParamSize"] = stats.param_count;
  metadata["ParamBytes"] = stats.param_bytes;
  metadata["BitsPerParam"] = stats.bits_per_param;
  auto t = Clock::now();
  stats.shard_count = writer.commit(metadata);
  stats.write_seconds += seconds_since(t);
  stats.total_seconds = seconds_since(start);

  log(fmt::format("Parameter size after quantization: {:.3f} GB",
                  stats.param_bytes / (1024.0 * 1024.0 * 1024.0)));
  log("Total parameters: " + with_commas(stats.total_params));
  log(fmt::format("Bits per parameter: {:.3f}", stats.bits_per_param));
  log(fmt::format(
      "Time: planning {:.3f} s, reading+quantizing {:.3f} s, writing {:.3f} s "
      "(overlapped), total {:.3f} s",
      stats.plan_seconds, stats.compute_seconds, stats.write_seconds, stats.total_seconds));
  log(fmt::format("Saved to directory: {}", output.string()));
  return stats;
}

}  // namespace weightcast

// The public API: convert_weight() is the edge that turns the caller's options into a
// ConvertRequest (pre-sharding included), then runs the pipeline's four stages.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "arch/architecture.h"
#include "cache/tensor_cache_writer.h"
#include "convert/pipeline.h"
#include "formats/detect.h"
#include "util/error.h"

namespace weightcast {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Pre-sharding for tensor parallelism: the option, else MLC's environment variable.
int preshard_shards(const ConvertOptions& options) {
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
  return preshard;
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

// One line on how the plan produces the parameters (before the table, which stays pure JSON).
std::string plan_summary(const Plan& plan) {
  std::size_t whole = 0, as_is = 0, row_blocks = 0, passing = 0;
  std::vector<std::string> streamed;
  for (const auto& p : plan.params) {
    (p.production == Production::kAsIs        ? as_is
     : p.production == Production::kRowBlocks ? row_blocks
                                              : whole)++;
    if (p.streamed) streamed.push_back(p.def->name);
    if (p.passes_through) ++passing;
  }
  return fmt::format(
      "Plan: {} parameters: {} stored as mapped ({} of them written straight from the source "
      "bytes), {} computed by row blocks, {} computed whole; streamed block by block: {}",
      plan.params.size(), as_is, passing, row_blocks, whole,
      streamed.empty() ? "none" : fmt::format("{}", fmt::join(streamed, ", ")));
}

// Bytes of a record in the cache (float32 is stored as bfloat16).
std::size_t record_size(const OutputDef& o) {
  std::size_t n = cache_element_size(o.dtype);
  for (const auto& d : o.shape) n *= static_cast<std::size_t>(d.value);
  return n;
}

// The shards tvmjs' packing makes of records of these sizes, in this order
// (docs/tensor-cache.md#shard-packing).
std::size_t count_shards(const std::vector<std::size_t>& record_bytes) {
  std::size_t shards = 0, pending = 0;
  for (auto n : record_bytes) {
    if (pending + n >= kShardCapBytes) {
      if (2 * n >= kShardCapBytes) {
        ++shards;  // out of band: a shard of its own
        continue;
      }
      if (pending > 0) ++shards, pending = 0;
    }
    pending += n;
  }
  return shards + (pending > 0 ? 1 : 0);
}

// What the output will weigh and the working memory the run will need: the writer's pending
// shard, and up to three parameters in flight (one computed, two queued for the writer), each
// its mapped input in the model dtype plus its records, or 8 MiB blocks per thread when streamed.
// The memory-mapped source pages come on top (clean page cache, dropped as tensors finish).
std::string output_summary(const Plan& plan, const std::vector<std::size_t>& record_bytes) {
  std::size_t total = 0, largest = 0;
  for (auto n : record_bytes) total += n;
  const std::size_t threads = std::max(1u, std::thread::hardware_concurrency());
  for (const auto& p : plan.params) {
    std::size_t in_flight = 2 * threads * (std::size_t{8} << 20);
    if (p.passes_through) continue;  // views of the mapped sources
    if (!p.streamed) {
      in_flight = static_cast<std::size_t>(numel(p.shape)) * 4;  // mapped, at most float32
      for (const auto& o : p.outputs) in_flight += record_size(o);
    }
    largest = std::max(largest, in_flight);
  }
  const double peak = static_cast<double>(kShardCapBytes + 3 * largest) / (1 << 20);
  return fmt::format(
      "Output: {} records, {} bytes ({:.3f} GB) in {} shards; working memory about {:.0f} MiB "
      "besides the mapped sources",
      record_bytes.size(), total, static_cast<double>(total) / (1 << 30),
      count_shards(record_bytes), peak);
}

// --threads beyond what helps: more would only exhaust the system's process table.
unsigned thread_bound() {
  return std::max(256u, 4 * std::thread::hardware_concurrency());
}

ConvertStats run_pipeline(const ConvertRequest& request, ConvertOptions options) {
  const auto start = Clock::now();
  const Log log = [&](const std::string& line) {
    if (options.on_log) options.on_log(line);
  };
  const Resolved resolved = resolve(request, log);
  if (!resolved.checkpoint)  // a dry run before the weights are there
    return report_plan(
        make_plan_from_config(resolved.model, *resolved.scheme, options.stream_records_from),
        nullptr, log);
  const Plan plan = make_plan(resolved.model, *resolved.checkpoint, *resolved.scheme,
                              options.stream_records_from);
  if (!plan.unused.empty())
    log(fmt::format("Unused extern parameters: {}", fmt::join(plan.unused, ", ")));
  if (plan.total_params == 0)
    fail("{}: the source holds no parameters to count (BitsPerParam would divide by zero)",
         resolved.weights.string());
  if (options.dry_run) return report_plan(plan, resolved.checkpoint.get(), log);
  if (options.threads > thread_bound()) {
    log(fmt::format("--threads {} is more than this machine can use: using {}", options.threads,
                    thread_bound()));
    options.threads = thread_bound();
  }
  const double plan_seconds = seconds_since(start);
  ConvertStats stats = execute(plan, resolved, request.output, options);
  stats.plan_seconds = plan_seconds;
  stats.total_seconds = seconds_since(start);
  if (resolved.requant) {
    const auto s = resolved.requant->summarize();
    stats.requantized_params = static_cast<std::int64_t>(s.count);
    stats.requant_error_median = s.median;
    stats.requant_error_worst = s.worst;
    stats.requant_error_worst_param = s.worst_name;
  }
  report(stats, request.output, log);
  if (resolved.requant && stats.requantized_params > 0)
    log(RequantReport::line(resolved.requant->summarize()));
  return stats;
}

}  // namespace

ConvertStats report_plan(const Plan& plan, const Checkpoint* ckpt, const Log& log) {
  nlohmann::ordered_json table = nlohmann::ordered_json::array();
  std::vector<std::size_t> record_bytes;
  for (const auto& p : plan.params) {
    nlohmann::ordered_json sources = nlohmann::ordered_json::array();
    if (ckpt)
      for (const auto& loc : p.sources) sources.push_back(ckpt->info(loc).name);
    else
      for (const auto& name : p.def->sources) sources.push_back(name);
    for (const auto& o : p.outputs) {
      nlohmann::ordered_json shape = nlohmann::ordered_json::array();
      for (const auto& d : o.shape) shape.push_back(d.value);
      table.push_back(
          {{"name", o.name}, {"shape", shape}, {"dtype", tvm_name(o.dtype)}, {"sources", sources}});
      record_bytes.push_back(record_size(o));
    }
  }
  log(plan_summary(plan));
  log(output_summary(plan, record_bytes));
  log(table.dump(2));
  ConvertStats dry;
  dry.param_count = static_cast<std::int64_t>(table.size());
  dry.total_params = plan.total_params;
  for (auto n : record_bytes) dry.param_bytes += static_cast<double>(n);
  dry.shard_count = count_shards(record_bytes);
  return dry;
}

void report(const ConvertStats& stats, const std::filesystem::path& output, const Log& log) {
  log(fmt::format("Parameter size after quantization: {:.3f} GB",
                  stats.param_bytes / (1024.0 * 1024.0 * 1024.0)));
  log("Total parameters: " + with_commas(stats.total_params));
  log(fmt::format("Bits per parameter: {:.3f}", stats.bits_per_param));
  log(fmt::format(
      "Time: planning {:.3f} s, reading+quantizing {:.3f} s, writing {:.3f} s "
      "(two threads, overlapped), total {:.3f} s",
      stats.plan_seconds, stats.compute_seconds, stats.write_seconds, stats.total_seconds));
  log(fmt::format("Saved to directory: {}", output.string()));
}

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
  ConvertRequest request{config,          quantization,        model,  device,
                         source,          source_format,       output, preshard_shards(options),
                         options.dry_run, options.lora_adapter};
  request.dequantize_fp8 = options.dequantize_fp8;
  return run_pipeline(request, options);
}

}  // namespace weightcast

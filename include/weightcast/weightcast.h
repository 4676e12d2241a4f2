// weightcast: convert LLM checkpoints into MLC-LLM weight packs, byte-identical to
// `mlc_llm convert_weight`. This is the whole public API.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace weightcast {

// Errors mirror the Python exception types MLC-LLM raises, and carry its messages.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  virtual const char* kind() const noexcept { return "Error"; }
};
class ValueError : public Error {
 public:
  using Error::Error;
  const char* kind() const noexcept override { return "ValueError"; }
};
class NotImplementedError : public Error {
 public:
  using Error::Error;
  const char* kind() const noexcept override { return "NotImplementedError"; }
};
// An operating-system failure (open, mmap, write, rename) with the path involved.
class IOError : public Error {
 public:
  using Error::Error;
  const char* kind() const noexcept override { return "IOError"; }
};
// The run was interrupted (SIGINT/SIGTERM) and cleaned up after itself.
class Interrupted : public Error {
 public:
  using Error::Error;
  const char* kind() const noexcept override { return "Interrupted"; }
};

// How `round()` resolves exact halves in the group-quantization kernel
// (docs/mlc-format.md#rounding): TVM since 2026-04 (and every CUDA f16 build) rounds ties to even;
// older CPU builds away from 0.
enum class RoundMode { kTiesEven, kTiesAway };

struct Progress {
  std::size_t done = 0;   // MLC parameters finished
  std::size_t total = 0;  // MLC parameters planned
  std::string_view name;  // the parameter just finished
  // Source bytes behind the parameters finished, and behind all of them: what a progress line
  // shows as done / total, with a rate and an ETA.
  std::uint64_t bytes_done = 0, bytes_total = 0;
};

struct ConvertOptions {
  RoundMode round_mode = RoundMode::kTiesEven;
  // 0: all hardware threads. More than max(256, 4 x hardware threads) are cut to that bound with
  // a notice; threads the system refuses (ulimit -u) are done without, with a notice.
  unsigned threads = 0;
  // Pre-shard for N-way tensor parallelism (MLC_INTERNAL_PRESHARD_NUM); 0 reads that variable.
  unsigned tensor_parallel_shards = 0;
  // Called with each log line MLC-LLM would print (warnings, the statistics).
  std::function<void(std::string_view)> on_log;
  std::function<void(const Progress&)> on_progress;
  // Print (through on_log) one line on how each parameter will be produced (as mapped, by row
  // blocks or whole; streamed or not), then the planned records as JSON, and stop: no tensor
  // data is read and nothing is written.
  bool dry_run = false;
  // When set and true, the run stops between parameters and throws Interrupted; nothing is
  // published and an earlier output in the directory is left as it was.
  const std::atomic<bool>* cancel = nullptr;
  // Quantized records of at least this many bytes (the q_weight of an NK group scheme) are
  // produced and written block by block, never held whole, and the source pages they read are
  // dropped block by block: what keeps memory flat for giant stacked MoE experts. Records stored
  // as mapped are always produced so, whatever the value. Values below 32 MiB (tvmjs'
  // out-of-band record size) are raised to it.
  std::size_t stream_records_from = std::size_t{32} << 20;
  // Flush every shard, the manifests and the directories to disk before and after publishing, so
  // that a power loss soon after a successful run cannot leave a manifest naming short shards.
  // Off: faster scratch conversions whose durability is left to the operating system.
  bool sync = true;
  // Write the shards with O_DIRECT, past the page cache (where the file system allows it; others
  // get ordinary writes). The run then costs device bandwidth instead of page-cache memory: fewer
  // CPU cycles where fresh page-cache pages are expensive (some VMs), and the page cache is left
  // to other work; but the run waits for the device, and md5 reads the shards back from it
  // (docs/performance.md).
  bool direct_io = false;
  // A PEFT LoRA adapter directory (MLC's --lora-adapter), merged into the base tensors as they
  // are read; empty: none (docs/lora.md).
  std::filesystem::path lora_adapter;
  // Source tensors holding NaN or infinity are an error (naming the first) instead of a
  // ConvertStats::nonfinite entry.
  bool strict = false;
  // FP8 checkpoints with weight_block_size, which MLC converts only into the block-scale schemes:
  // dequantize them and requantize into the chosen scheme instead of refusing.
  bool dequantize_fp8 = false;
};

// A source tensor holding values that are not finite, with the counts among the values read.
struct NonFiniteSource {
  std::string tensor;
  std::uint64_t nan = 0, inf = 0;
};

struct ConvertStats {
  std::int64_t param_count = 0;   // records written (metadata ParamSize)
  double param_bytes = 0;         // metadata ParamBytes (float32 counted at 4 bytes)
  std::int64_t total_params = 0;  // source elements, as MLC counts them
  double bits_per_param = 0;
  std::size_t shard_count = 0;
  // Where the time went: building the plan (headers only), reading + casting + quantizing on
  // all cores, and the writer's busy time: its two writing threads' summed (records stored as
  // mapped are cast there) plus the final hashing and publishing; it overlaps the compute.
  double plan_seconds = 0, compute_seconds = 0, write_seconds = 0, total_seconds = 0;
  // Source tensors with NaN or infinity, in the order met (each named once).
  std::vector<NonFiniteSource> nonfinite;
  // A pre-quantized source requantized by a group-quant scheme: how many parameters were
  // measured, the median and worst relative L2 error against the dequantized weights, and the
  // worst parameter (docs/source-formats.md#requantization-error). 0 / empty otherwise.
  std::int64_t requantized_params = 0;
  double requant_error_median = 0, requant_error_worst = 0;
  std::string requant_error_worst_param;
};

// Mirrors mlc_llm.interface.convert_weight.convert_weight. `config` is a directory holding
// config.json or a JSON file; `model`, `device`, `source` and `source_format` accept "auto".
ConvertStats convert_weight(const std::filesystem::path& config, std::string_view quantization,
                            std::string_view model, std::string_view device,
                            const std::string& source, std::string_view source_format,
                            const std::filesystem::path& output,
                            const ConvertOptions& options = {});

// A human-readable description of a checkpoint file (.gguf: metadata and tensor table;
// .safetensors, .bin, .pt: tensor table), or of an MLC weight pack (its directory,
// tensor-cache.json or a params_shard_*.bin: records, shards, dtypes, sizes, each shard's size and
// md5 checked), read without converting anything.
std::string inspect(const std::filesystem::path& file);

// `weightcast verify` (docs/verify.md): checks an MLC weight pack's manifest against its shards
// (sizes, md5, every record inside its shard), decodes every record (NaN, infinity, group codes
// out of range) and, with `against`, compares each parameter with the checkpoint it was converted
// from, rebuilt by the conversion's own plan.
struct VerifyOptions {
  std::filesystem::path against;  // the source checkpoint's directory (config.json); empty: none
  std::string quantization;       // "": mlc-chat-config.json's, else the scheme whose plan matches
  unsigned threads = 0;
};
struct VerifyResult {
  bool ok = true;     // no problem found
  std::string json;   // the report as one JSON object (docs/verify.md#json)
  std::string table;  // the same for people
};
VerifyResult verify(const std::filesystem::path& pack, const VerifyOptions& options = {});

// What this build supports, in registry order (for --help and validation).
std::vector<std::string> quantization_names();
std::vector<std::string> model_types();
std::vector<std::string> source_formats();

}  // namespace weightcast

// The weightcast command line: `convert` mirrors `mlc_llm convert_weight`.
#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "weightcast/weightcast.h"

namespace {

std::atomic<bool> g_cancel{false};

extern "C" void on_signal(int) {
  g_cancel.store(true);
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESETHAND;  // a second Ctrl-C kills at once
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // Past `ulimit -f` a write fails with EFBIG, reported with its file, instead of killing us.
  ::signal(SIGXFSZ, SIG_IGN);
}

// Errors are printed on one line: MLC's multi-line lists become comma-separated.
std::string one_line(std::string msg) {
  std::string out;
  for (std::size_t i = 0; i < msg.size(); ++i) {
    if (msg[i] != '\n') {
      out += msg[i];
      continue;
    }
    while (i + 1 < msg.size() && msg[i + 1] == ' ') ++i;
    out += (!out.empty() && out.back() == ':') ? " " : ", ";
  }
  return out;
}

std::string list(const std::vector<std::string>& v) {
  return fmt::format("{}", fmt::join(v, ", "));
}

// The `convert` subcommand's arguments, as CLI11 fills them.
struct ConvertArgs {
  std::string config, quantization, output;
  std::string model_type = "auto", device = "auto", source = "auto", source_format = "auto";
  std::string round_mode = "ties-even";
  std::string lora_adapter;
  unsigned threads = 0, tp_shards = 0;
  std::size_t stream_mib = 32;
  bool quiet = false, dry_run = false, json = false, no_sync = false, strict = false,
       direct_io = false;
  bool dequantize_fp8 = false;
};

// One line on stderr: parameters and source bytes done of total, the rate and an ETA, redrawn at
// most five times a second.
class ProgressLine {
 public:
  void operator()(const weightcast::Progress& p) {
    const auto now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(200) && p.done != p.total) return;
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(p.bytes_done) / seconds : 0;
    const double left = static_cast<double>(p.bytes_total - p.bytes_done);
    const std::string eta = rate > 0 ? fmt::format("{:.0f} s", left / rate) : "?";
    fmt::print(stderr, "\r\033[K[{}/{}] {:.2f} / {:.2f} GB, {:.0f} MB/s, ETA {}  {}", p.done,
               p.total, static_cast<double>(p.bytes_done) / 1e9,
               static_cast<double>(p.bytes_total) / 1e9, rate / 1e6, eta, p.name);
  }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_ = Clock::now(), last_{};
};

// --json: the statistics as one JSON object on stdout, for scripts.
void print_json_summary(const weightcast::ConvertStats& s, const std::string& output) {
  nlohmann::ordered_json j;
  j["output"] = output;
  j["param_count"] = s.param_count;
  j["param_bytes"] = static_cast<std::int64_t>(s.param_bytes);
  j["size_gb"] = s.param_bytes / (1024.0 * 1024.0 * 1024.0);  // MLC's "GB" is 2^30 bytes
  j["total_params"] = s.total_params;
  j["bits_per_param"] = s.bits_per_param;
  j["shard_count"] = s.shard_count;
  j["seconds"] = {{"plan", s.plan_seconds},
                  {"compute", s.compute_seconds},
                  {"write", s.write_seconds},
                  {"total", s.total_seconds}};
  j["nonfinite_sources"] = nlohmann::ordered_json::array();
  for (const auto& n : s.nonfinite)
    j["nonfinite_sources"].push_back({{"tensor", n.tensor}, {"nan", n.nan}, {"inf", n.inf}});
  if (s.requantized_params > 0)  // a dequantized source (docs/source-formats.md)
    j["requantization_error"] = {{"parameters", s.requantized_params},
                                 {"median", s.requant_error_median},
                                 {"worst", s.requant_error_worst},
                                 {"worst_parameter", s.requant_error_worst_param}};
  fmt::print("{}\n", j.dump());
}

// The flags of `convert` that shape what it prints and how it finishes.
void add_convert_flags(CLI::App* convert, ConvertArgs& a) {
  convert->add_flag("-q,--quiet", a.quiet, "Print only errors");
  convert->add_flag("--json", a.json,
                    "Print the statistics as one JSON object on stdout at the end (the log lines "
                    "go to stderr)");
  convert->add_flag("--dry-run", a.dry_run,
                    "Print how each parameter will be produced, the output's size, shard count "
                    "and working memory, then the planned records (name, shape, dtype, HF source "
                    "tensors) as JSON, in MLC's order, without reading weights or writing "
                    "anything; with only a config.json, plans from it alone");
  convert->add_flag("--strict", a.strict,
                    "Fail when a source tensor holds NaN or infinity (default: a warning on "
                    "stderr naming each such tensor)");
  convert->add_flag("--no-sync", a.no_sync,
                    "Do not flush the output to disk before and after publishing it (faster, for "
                    "scratch conversions: a power loss soon after may leave short shards)");
  convert->add_flag("--direct-io", a.direct_io,
                    "Write the shards with O_DIRECT, past the page cache: costs device bandwidth "
                    "instead of page-cache memory (faster where fresh page-cache pages are slow, "
                    "as in some VMs; slower where the device is; see docs/performance.md)");
  convert->add_flag("--dequantize-fp8", a.dequantize_fp8,
                    "FP8 checkpoints with block scales (weight_block_size): dequantize and "
                    "requantize them into --quantization (MLC takes them only into the "
                    "block-scale schemes). GPTQ, AWQ and compressed-tensors need no flag");
}

CLI::App* add_convert(CLI::App& app, ConvertArgs& a) {
  auto* convert = app.add_subcommand(
      "convert", "Convert a checkpoint into a quantized MLC weight pack (mlc_llm convert_weight).");
  convert->alias("convert_weight");
  convert->footer(
      "Example:\n  weightcast convert ./Llama-2-7b-hf --quantization q4f16_1 -o "
      "./Llama-2-7b-q4f16_1-MLC\n\n"
      "The output directory receives params_shard_*.bin, tensor-cache.json and, when float32\n"
      "tensors are present, tensor-cache-b16.json. Nothing replaces an earlier output there until\n"
      "the new one is complete.");
  convert->add_option("config", a.config, "A directory holding config.json, or a JSON config file")
      ->required();
  convert
      ->add_option("--quantization", a.quantization,
                   "Quantization scheme, one of: " + list(weightcast::quantization_names()))
      ->required()
      ->check(CLI::IsMember(weightcast::quantization_names()));
  std::vector<std::string> model_choices = {"auto"};
  for (const auto& m : weightcast::model_types()) model_choices.push_back(m);
  convert
      ->add_option("--model-type", a.model_type,
                   "Model architecture, 'auto' reads model_type from config.json. One of: " +
                       list(model_choices))
      ->capture_default_str();
  convert
      ->add_option("--device", a.device,
                   "The device MLC would quantize on: auto, cpu, cuda[:N], rocm, metal, vulkan, "
                   "opencl. weightcast computes on the CPU and writes the same bytes for all, "
                   "except per-tensor FP8 codes: cpu (and auto without a GPU) writes TVM's CPU "
                   "cast, whose codes of subnormal results decode wrongly; a GPU device writes "
                   "nearest-even codes, the correct values")
      ->capture_default_str();
  convert
      ->add_option("--source", a.source,
                   "Weights to read: 'auto' (the config's directory), a directory, a weights file "
                   "or an *.index.json")
      ->capture_default_str();
  std::vector<std::string> format_choices = {"auto"};
  for (const auto& f : weightcast::source_formats()) format_choices.push_back(f);
  convert
      ->add_option("--source-format", a.source_format,
                   "Source format, one of: " + list(format_choices) +
                       " (auto picks the format from the files, preferring .bin over "
                       ".safetensors as MLC does)")
      ->capture_default_str();
  convert->add_option("-o,--output", a.output,
                      "Output directory (created if missing; not needed with --dry-run)");
  convert
      ->add_option("--round-mode", a.round_mode,
                   "How group quantization rounds exact halves: ties-even (TVM since 2026-04, "
                   "mlc-llm HEAD) or ties-away (older CPU builds)")
      ->check(CLI::IsMember({"ties-even", "ties-away"}))
      ->capture_default_str();
  convert->add_option("--threads", a.threads, "Worker threads (0: all cores)")
      ->capture_default_str();
  convert
      ->add_option("--tensor-parallel-shards", a.tp_shards,
                   "Pre-shard for N-way tensor parallelism, as MLC_INTERNAL_PRESHARD_NUM=N does "
                   "(records named <param>_shard-<i>); 0 reads that variable")
      ->capture_default_str();
  convert
      ->add_option("--stream-mib", a.stream_mib,
                   "Quantized records of at least this many MiB (giant embeddings, stacked MoE "
                   "experts, FP8 block checkpoints) are produced and written block by block "
                   "instead of held whole, their source pages dropped as they are read (records "
                   "stored unquantized always are); at least 32")
      ->check(CLI::Range(std::size_t{32}, std::size_t{1} << 30))
      ->capture_default_str();
  convert->add_option("--lora-adapter", a.lora_adapter,
                      "A PEFT LoRA adapter directory (adapter_config.json + adapter_model."
                      "safetensors or .bin), merged into the base weights as they are read");
  add_convert_flags(convert, a);

  return convert;
}

int run_inspect(const std::string& path) {
  // Nothing to clean up: Ctrl-C ends it at once, even when started with SIGINT ignored.
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  try {
    fmt::print("{}", weightcast::inspect(path));
  } catch (const weightcast::Error& e) {
    fmt::print(stderr, "weightcast: error: {}: {}\n", e.kind(), one_line(e.what()));
    return 1;
  }
  return 0;
}

// `verify`: exit 0 when the pack is intact and finite, 1 on any problem or error.
struct VerifyArgs {
  std::string pack, against, quantization;
  bool json = false;
};

CLI::App* add_verify(CLI::App& app, VerifyArgs& a) {
  auto* verify = app.add_subcommand(
      "verify",
      "Check an MLC weight pack: every shard's size and md5 and every record's place against the "
      "manifest, every record decoded (NaN, infinity, group codes out of range); with --against, "
      "each parameter compared with the checkpoint it was converted from (relative L2 and max "
      "abs error, NaN/Inf counts). Exit status 1 on any problem.");
  verify->add_option("pack", a.pack, "The pack's directory or its tensor-cache.json")->required();
  verify->add_option("--against", a.against,
                     "The source checkpoint's directory (with config.json) to compare with");
  verify
      ->add_option("--quantization", a.quantization,
                   "The pack's scheme (default: mlc-chat-config.json's, else the scheme whose "
                   "plan of --against gives the pack's records)")
      ->check(CLI::IsMember(weightcast::quantization_names()));
  verify->add_flag("--json", a.json, "Print the report as one JSON object");
  return verify;
}

int run_verify(const VerifyArgs& a) {
  try {
    const auto r = weightcast::verify(a.pack, {a.against, a.quantization, 0});
    fmt::print("{}", a.json ? r.json + "\n" : r.table);
    return r.ok ? 0 : 1;
  } catch (const weightcast::Error& e) {
    fmt::print(stderr, "weightcast: error: {}: {}\n", e.kind(), one_line(e.what()));
    return 1;
  }
}

int run_convert(ConvertArgs a) {
  if (a.output.empty() && !a.dry_run) {
    fmt::print(stderr,
               "--output is required (except with --dry-run)\nRun with --help for more "
               "information.\n");
    return 2;
  }
  weightcast::ConvertOptions options;
  options.sync = !a.no_sync;
  options.direct_io = a.direct_io;
  options.strict = a.strict;
  options.round_mode = a.round_mode == "ties-away" ? weightcast::RoundMode::kTiesAway
                                                   : weightcast::RoundMode::kTiesEven;
  options.threads = a.threads;
  options.tensor_parallel_shards = a.tp_shards;
  options.dry_run = a.dry_run;
  options.dequantize_fp8 = a.dequantize_fp8;
  options.stream_records_from = a.stream_mib << 20;
  options.lora_adapter = a.lora_adapter;
  if (a.dry_run) a.quiet = false;
  options.cancel = &g_cancel;
  const bool tty = ::isatty(STDERR_FILENO);
  if (!a.quiet) {
    std::FILE* log_to = a.json ? stderr : stdout;
    options.on_log = [tty, log_to](std::string_view line) {
      if (tty) std::fputs("\r\033[K", stderr);
      fmt::print(log_to, "{}\n", line);
      std::fflush(log_to);
    };
    if (tty) options.on_progress = ProgressLine{};
  }
  install_signal_handlers();
  try {
    const auto stats = weightcast::convert_weight(a.config, a.quantization, a.model_type, a.device,
                                                  a.source, a.source_format, a.output, options);
    if (tty && !a.quiet) std::fputs("\r\033[K", stderr);
    for (const auto& n : stats.nonfinite)
      fmt::print(stderr,
                 "weightcast: warning: source tensor {} holds {} NaN and {} infinite values\n",
                 n.tensor, n.nan, n.inf);
    if (a.json && !a.dry_run) print_json_summary(stats, a.output);
  } catch (const weightcast::Error& e) {
    if (tty && !a.quiet) std::fputs("\r\033[K", stderr);
    fmt::print(stderr, "weightcast: error: {}: {}\n", e.kind(), one_line(e.what()));
    return g_cancel.load() ? 130 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "weightcast: error: {}\n", one_line(e.what()));
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "weightcast: convert LLM checkpoints into MLC-LLM weight packs (params_shard_*.bin + "
      "tensor-cache.json), byte-identical to `mlc_llm convert_weight`."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "weightcast 0.1.0");
  ConvertArgs args;
  add_convert(app, args);
  auto* inspect = app.add_subcommand(
      "inspect",
      "Print what a checkpoint file holds: GGUF metadata and tensors, or the tensor table "
      "of a .safetensors / .bin / .pt file; or what an MLC weight pack holds (its directory, "
      "tensor-cache.json or a params_shard_*.bin), each shard's size and md5 checked.");
  std::string inspect_path;
  inspect->add_option("file", inspect_path, "The checkpoint file, or an MLC pack")->required();

  VerifyArgs verify_args;
  auto* verify = add_verify(app, verify_args);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (inspect->parsed()) return run_inspect(inspect_path);
  if (verify->parsed()) return run_verify(verify_args);
  return run_convert(std::move(args));
}

// Stage 1 of convert_weight(): the inputs resolved as MLC resolves them, and checked against
// each other, before any plan is made.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <optional>

#include "arch/architecture.h"
#include "arch/gguf/view.h"
#include "convert/pipeline.h"
#include "formats/detect.h"
#include "formats/gguf.h"
#include "util/error.h"

namespace weightcast {

namespace {

const Scheme& find_scheme_or_fail(std::string_view quantization) {
  if (const auto* s = find_scheme(quantization)) return *s;
  fail("Unknown quantization: {}. Available ones: ['{}']", quantization,
       fmt::join(quantization_names(), "', '"));
}

// A GPU MLC could use here: what `--device auto` picks before the CPU, as MLC does.
std::string_view detect_gpu() {
  std::error_code ec;
  const std::filesystem::path nvidia = "/proc/driver/nvidia/gpus";
  if (std::filesystem::is_directory(nvidia, ec) &&
      std::filesystem::directory_iterator(nvidia, ec) != std::filesystem::directory_iterator())
    return "cuda";
  if (std::filesystem::exists("/dev/kfd", ec)) return "rocm";
  return {};
}

// MLC's --device: "auto", or a TVM device name with an optional ":index". weightcast always
// computes on the CPU and writes the same bytes for every device, except the per-tensor FP8
// codes, which follow the cast of the device MLC would have quantized on
// (docs/mlc-format.md#per-tensor-fp8).
Fp8Cast resolve_device(std::string_view device, const Log& log) {
  const auto colon = device.find(':');
  auto type = device.substr(0, colon);
  if (colon != std::string_view::npos) {
    const auto index = device.substr(colon + 1);
    if (index.empty() || index.find_first_not_of("0123456789") != std::string_view::npos)
      fail("Invalid device name: {}", device);
  }
  if (device == "auto") {
    type = detect_gpu();
    if (type.empty()) return Fp8Cast::kTvmCpu;
  }
  if (type == "cpu" || type == "llvm") return Fp8Cast::kTvmCpu;
  if (type == "gpu" || type == "nvptx") type = "cuda";
  if (type == "cl") type = "opencl";
  for (std::string_view gpu : {"cuda", "rocm", "metal", "vulkan", "opencl", "webgpu"})
    if (type == gpu) {
      log(fmt::format(
          "Device {}: weightcast computes on the CPU and writes {}'s bytes (per-tensor FP8 codes "
          "rounded as a GPU rounds them)",
          device == "auto" ? std::string(type) + " (auto)" : std::string(device), type));
      return Fp8Cast::kNearestEven;
    }
  fail("Invalid device name: {}", device);
}

struct ConfigInputs {
  std::optional<ModelConfig> config;
  std::filesystem::path path;  // config.json, or where it would be beside a GGUF file
  std::string weights;         // the --source argument, or the GGUF file itself
  // A GGUF file whose metadata made the config, opened and parsed once for the weights too.
  std::shared_ptr<const GgufModel> gguf;
};

// CONFIG may be a GGUF file: a config.json beside it wins, else its metadata make one.
ConfigInputs load_config(const ConvertRequest& request) {
  ConfigInputs in;
  in.weights = request.source;
  const auto& config = request.config;
  if (is_gguf_path(config) && std::filesystem::is_regular_file(config)) {
    in.path = config.parent_path() / "config.json";
    if (std::filesystem::is_regular_file(in.path)) {
      in.config = ModelConfig::load(in.path);
      check_gguf_agrees(in.config->json(), GgufModel(config), in.path);
    } else {
      in.gguf = std::make_shared<const GgufModel>(config);
      in.config.emplace(gguf_config(*in.gguf), config);
    }
    if (in.weights == "auto") in.weights = config.string();
  } else {
    in.path = detect_config(config);
    in.config = ModelConfig::load(in.path);
    // A bare file name: its directory is ".", as Python's Path("config.json").parent says.
    if (!in.path.has_parent_path()) in.path = std::filesystem::path(".") / in.path;
  }
  return in;
}

// AWQ exports are read with the awq mapping; auto-detection alone cannot tell them apart.
std::string_view source_format(const Scheme& scheme, std::string_view format) {
  const bool awq = scheme.kind() == QuantKind::kAwq;
  if (awq && format == "auto") return "awq";
  if (format == "awq" && !awq)
    fail(
        "--source-format awq holds pre-quantized AutoAWQ weights: use --quantization "
        "q4f16_autoawq");
  if (awq && format != "awq")
    fail("--quantization q4f16_autoawq reads AutoAWQ exports: use --source-format awq (or auto)");
  return format;
}

ModelDef build_model(const Architecture& arch, const Scheme& scheme, const ModelConfig& config) {
  // MLC's KeyError for a kind the model does not register, as a sentence.
  if (!arch.quant_kinds.contains(scheme.kind()))
    fail("{}: quantization kind '{}' ({}) is not available for model type {}", scheme.name(),
         quant_kind_name(scheme.kind()), scheme.name(), arch.name);
  ModelDef built = arch.build(config);
  if (built.weight_block_size && scheme.kind() != QuantKind::kBlockScale)
    fail("The input {} model is fp8 block quantized. Please use BlockScaleQuantize for the model.",
         arch.name);
  return scheme.adapt(std::move(built));
}

// A dry run may come before the download: `--source auto` and nothing to read in the directory.
bool no_weights_yet(const ConfigInputs& in, std::string_view format) {
  if (in.weights != "auto") return false;
  try {
    detect_weight(in.weights, in.path, format);
    return false;
  } catch (const Error&) {
    return true;
  }
}

void open_weights(Resolved& r, const ConfigInputs& in, const ConvertRequest& request,
                  std::string_view format, const Log& log) {
  const auto weights = detect_weight(in.weights, in.path, format);
  r.weights = weights.path;
  std::error_code ec;
  const bool same_gguf = in.gguf && weights.format == "gguf" &&
                         std::filesystem::equivalent(weights.path, request.config, ec);
  r.checkpoint =
      same_gguf ? open_gguf_checkpoint(in.gguf) : open_checkpoint(weights, open_gguf_checkpoint);
  for (const auto& w : r.checkpoint->warnings) log(w);
}

}  // namespace

Resolved resolve(const ConvertRequest& request, const Log& log) {
  Resolved r;
  r.scheme = &find_scheme_or_fail(request.quantization);
  r.fp8_cast = resolve_device(request.device, log);
  auto in = load_config(request);
  const auto& arch = detect_architecture(request.model, *in.config);
  const auto format = source_format(*r.scheme, request.source_format);
  if (request.dry_run && no_weights_yet(in, format))
    log(fmt::format("No weights beside {} yet: planning from config.json alone", in.path.string()));
  else
    open_weights(r, in, request, format, log);
  // MLC checks config.json's own value, before the pre-shard override.
  if (r.scheme->kind() == QuantKind::kFt && in.config->get_int("tensor_parallel_shards", 1) > 1)
    fail<NotImplementedError>(
        "q4f16_ft does not support tensor_parallel_shards > 1 in config.json "
        "(MLC raises a bare NotImplementedError here)");
  if (request.preshard > 0) in.config->set("tensor_parallel_shards", request.preshard);
  r.model = build_model(arch, *r.scheme, *in.config);
  return r;
}

}  // namespace weightcast

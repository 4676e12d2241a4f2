// quantization_config as GPTQ, AutoAWQ, compressed-tensors and FP8 exports write it.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>

#include "dequant/source_quant.h"
#include "util/error.h"

namespace weightcast {

namespace {

using nlohmann::json;

int int_field(const json& q, const char* key, int fallback, const std::string& label) {
  if (!q.contains(key) || q[key].is_null()) return fallback;
  if (!q[key].is_number_integer())
    fail("{}: quantization_config.{} must be an integer, got {}", label, key, q[key].dump());
  return q[key].get<int>();
}

std::string str_field(const json& q, const char* key, std::string fallback) {
  return q.contains(key) && q[key].is_string() ? q[key].get<std::string>() : fallback;
}

bool bool_field(const json& q, const char* key, bool fallback) {
  return q.contains(key) && q[key].is_boolean() ? q[key].get<bool>() : fallback;
}

std::string group_text(int group) {
  return group > 0 ? fmt::format("group {}", group) : "one group per row";
}

SourceQuant read_gptq(const json& q, const std::string& label) {
  SourceQuant s;
  s.method = SourceMethod::kGptq;
  auto& g = s.gptq;
  g.bits = int_field(q, "bits", 4, label);
  g.group_size = int_field(q, "group_size", 128, label);
  g.desc_act = bool_field(q, "desc_act", false);
  const bool sym = bool_field(q, "sym", true);
  // GPTQModel writes checkpoint_format (older: "format"); AutoGPTQ wrote neither: v1.
  const auto format = str_field(q, "checkpoint_format", str_field(q, "format", "gptq"));
  if (format != "gptq" && format != "gptq_v2")
    fail("{}: GPTQ checkpoint_format \"{}\" is not supported (gptq, gptq_v2)", label, format);
  g.v1_zeros = format == "gptq";
  if (g.bits != 2 && g.bits != 3 && g.bits != 4 && g.bits != 8)
    fail("{}: GPTQ with {} bits is not supported (2, 3, 4, 8)", label, g.bits);
  if (g.group_size == 0 || g.group_size < -1)
    fail("{}: GPTQ group_size {} is not valid (a positive size, or -1)", label, g.group_size);
  s.summary = fmt::format(
      "GPTQ {}-bit, {}, {}, {}, checkpoint_format {}{}", g.bits, group_text(g.group_size),
      sym ? "symmetric" : "asymmetric", g.desc_act ? "act-order (g_idx)" : "no act-order", format,
      g.v1_zeros ? " (zeros stored minus one, restored as GPTQModel does)" : "");
  return s;
}

SourceQuant read_awq(const json& q, const std::string& label) {
  SourceQuant s;
  s.method = SourceMethod::kAwq;
  const int bits = int_field(q, "bits", int_field(q, "w_bit", 4, label), label);
  s.awq_group = int_field(q, "group_size", int_field(q, "q_group_size", 128, label), label);
  auto version = str_field(q, "version", "gemm");
  for (auto& c : version) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (bits != 4) fail("{}: AWQ with {} bits is not supported (4)", label, bits);
  if (version != "gemm")
    fail("{}: AWQ version \"{}\" is not supported (the GEMM layout only)", label, version);
  if (s.awq_group <= 0) fail("{}: AWQ group_size {} is not supported", label, s.awq_group);
  s.summary = fmt::format("AutoAWQ GEMM 4-bit, group {}", s.awq_group);
  return s;
}

// compressed-tensors releases from 0.20 pack 3/5/6/7-bit codes densely.
bool dense_version(const std::string& version) {
  int major = 0, minor = 0;
  if (std::sscanf(version.c_str(), "%d.%d", &major, &minor) != 2) return true;
  return major > 0 || minor >= 20;
}

// The weights entry every config group shares (mixed groups are not supported).
json ct_weights(const json& q, const std::string& label) {
  json found;
  if (q.contains("config_groups") && q["config_groups"].is_object())
    for (const auto& group : q["config_groups"].items()) {
      const auto& w = group.value().value("weights", json());
      if (!w.is_object()) continue;
      if (found.is_object() && (w.value("num_bits", 0) != found.value("num_bits", 0) ||
                                w.value("type", "") != found.value("type", "") ||
                                w.value("group_size", json()) != found.value("group_size", json())))
        fail(
            "{}: compressed-tensors config_groups with different weight settings are not "
            "supported",
            label);
      found = w;
    }
  if (!found.is_object()) fail("{}: compressed-tensors config_groups name no weights", label);
  return found;
}

SourceQuant read_compressed(const json& q, const std::string& label) {
  SourceQuant s;
  const auto format = str_field(q, "format", "");
  if (format == "dense") return s;  // sparsity only: the weights are plain floats
  const auto w = ct_weights(q, label);
  const auto strategy = str_field(w, "strategy", "tensor");
  const int bits = int_field(w, "num_bits", 8, label);
  const bool is_float = str_field(w, "type", "int") == "float";
  if (format == "float-quantized" || (is_float && format != "pack-quantized")) {
    s.method = SourceMethod::kFp8;
    if (bits != 8 || !is_float)
      fail("{}: compressed-tensors float-quantized needs 8-bit float weights", label);
    if (strategy == "block") {
      const auto& b = w.value("block_structure", json());
      if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_integer())
        fail("{}: block_structure must be two integers, got {}", label, b.dump());
      s.block = std::array{b[0].get<std::int64_t>(), b[1].get<std::int64_t>()};
    }
    s.summary = fmt::format("compressed-tensors float-quantized FP8 e4m3, {} scales", strategy);
    return s;
  }
  if (format != "pack-quantized")
    fail(
        "{}: compressed-tensors format \"{}\" is not supported (pack-quantized, "
        "float-quantized)",
        label, format);
  s.method = SourceMethod::kPacked;
  auto& p = s.packed;
  p.bits = bits;
  p.group_size = strategy == "group" ? int_field(w, "group_size", -1, label) : -1;
  p.dense = dense_version(str_field(q, "version", ""));
  if (bits < 2 || bits > 8)
    fail("{}: compressed-tensors with {} bits is not supported (2 to 8)", label, bits);
  if (strategy != "group" && strategy != "channel")
    fail("{}: compressed-tensors strategy \"{}\" is not supported (group, channel)", label,
         strategy);
  if (strategy == "group" && p.group_size <= 0)
    fail("{}: compressed-tensors group strategy needs a positive group_size", label);
  s.summary = fmt::format("compressed-tensors pack-quantized {}-bit, {}, {}", bits,
                          strategy == "group" ? group_text(p.group_size) : "per channel",
                          bool_field(w, "symmetric", true) ? "symmetric" : "asymmetric");
  return s;
}

SourceQuant read_fp8(const json& q, const std::string& label) {
  SourceQuant s;
  s.method = SourceMethod::kFp8;
  if (q.contains("weight_block_size") && !q["weight_block_size"].is_null()) {
    const auto& b = q["weight_block_size"];
    if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_integer() ||
        b[0].get<std::int64_t>() <= 0 || b[1].get<std::int64_t>() <= 0)
      fail("{}: weight_block_size must be two positive integers, got {}", label, b.dump());
    s.block = std::array{b[0].get<std::int64_t>(), b[1].get<std::int64_t>()};
    s.fp8_block_method = true;
  }
  s.summary = s.block ? fmt::format("FP8 e4m3 with {} x {} block scales (weight_scale_inv)",
                                    (*s.block)[0], (*s.block)[1])
                      : "FP8 e4m3 with per-tensor or per-channel scales (weight_scale)";
  return s;
}

}  // namespace

SourceQuant read_source_quant(const json& config, const std::string& label, const Scheme& scheme) {
  if (!config.is_object() || !config.contains("quantization_config")) return {};
  const auto& q = config["quantization_config"];
  if (!q.is_object()) return {};
  const auto method = str_field(q, "quant_method", "");
  if (method == "gptq") return read_gptq(q, label);
  if (method == "awq" && scheme.kind() == QuantKind::kAwq) return {};  // MLC's own path
  if (method == "awq") return read_awq(q, label);
  if (method == "compressed-tensors") return read_compressed(q, label);
  if (method == "fp8" || method == "fbgemm_fp8") return read_fp8(q, label);
  return {};
}

}  // namespace weightcast

namespace weightcast {

namespace {

std::size_t count_qweights(const Checkpoint& ckpt) {
  return static_cast<std::size_t>(
      std::count_if(ckpt.weight_map_order().begin(), ckpt.weight_map_order().end(),
                    [](const std::string& n) { return n.ends_with(".qweight"); }));
}

// Tensors only quantized checkpoints have.
bool holds_packed_tensors(const Checkpoint& ckpt) {
  return std::any_of(ckpt.weight_map_order().begin(), ckpt.weight_map_order().end(),
                     [](const std::string& n) {
                       return n.ends_with(".qweight") || n.ends_with(".weight_packed") ||
                              n.ends_with(".weight_scale") || n.ends_with(".weight_scale_inv");
                     });
}

// Does the scheme take this source's packed tensors as they are (MLC's own paths)?
bool scheme_takes_packed(const SourceQuant& q, const Scheme& scheme) {
  if (q.method == SourceMethod::kAwq) return scheme.kind() == QuantKind::kAwq;
  if (q.method == SourceMethod::kFp8 && q.fp8_block_method)
    return scheme.kind() == QuantKind::kBlockScale;
  return false;
}

}  // namespace

std::unordered_set<std::string> dequantize_source(
    std::unique_ptr<Checkpoint>& checkpoint, ModelConfig& config, const Scheme& scheme,
    bool dequantize_fp8, const std::function<void(const std::string&)>& log) {
  std::unordered_set<std::string> shown;
  if (!checkpoint) return shown;  // a dry run before the weights: nothing to read
  SourceQuant quant;
  try {
    quant = read_source_quant(config.json(), config.path().string(), scheme);
  } catch (const ValueError&) {
    if (!holds_packed_tensors(*checkpoint)) return shown;  // a stale config over float weights
    throw;
  }
  if (quant.method == SourceMethod::kNone || scheme_takes_packed(quant, scheme)) return shown;
  if (quant.fp8_block_method && !dequantize_fp8) return shown;  // MLC's error, with advice
  if (quant.method == SourceMethod::kGptq && scheme.kind() == QuantKind::kAwq)
    quant.repack_awq = true;
  const auto* base = checkpoint.get();
  checkpoint = dequantized_view(std::move(checkpoint), quant, shown);
  if (checkpoint.get() == base) return shown;  // no packed module in it
  const auto modules = quant.repack_awq ? count_qweights(*checkpoint) : shown.size();
  auto json = config.json();
  json.erase("quantization_config");  // the architecture now sees a float checkpoint
  config = ModelConfig(std::move(json), config.path());
  if (quant.repack_awq)
    log(fmt::format(
        "Source quantization: {}: {} packed modules repacked into AutoAWQ's layout for {}: "
        "lossless (the same codes, zeros and scales)",
        quant.summary, modules, scheme.name()));
  else
    log(fmt::format(
        "Source quantization: {}: {} packed modules dequantized to float32 as they are read, "
        "then quantized as {}",
        quant.summary, modules, scheme.name()));
  return shown;
}

}  // namespace weightcast

// Pre-quantized checkpoints as a float source (docs/source-formats.md#quantized-checkpoints):
// config.json's quantization_config says how the weights were packed (GPTQ, AutoAWQ GEMM,
// compressed-tensors, FP8 with scales); a decorator over the opened checkpoint then shows each
// packed module as its dequantized float32 `<module>.weight` [out, in], computed when read, and
// hides the packed parts, so that every architecture and scheme works on it unchanged.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_set>

#include "dequant/dequant.h"
#include "formats/checkpoint.h"
#include "model/config.h"
#include "quant/scheme.h"

namespace weightcast {

enum class SourceMethod { kNone, kGptq, kAwq, kPacked, kFp8 };

struct SourceQuant {
  SourceMethod method = SourceMethod::kNone;
  std::string summary;  // what was found, for the log line
  GptqParams gptq;
  int awq_group = 128;
  PackedParams packed;
  std::optional<std::array<std::int64_t, 2>> block;  // FP8 scale blocks [rows, cols]
  bool fp8_block_method = false;  // quant_method "fp8" with weight_block_size (MLC's own path)
  bool repack_awq = false;        // GPTQ shown in AutoAWQ's layout, for q4f16_autoawq (lossless)
};

// Reads quantization_config; kNone when there is none, its method is not one of these, or the
// scheme copies its tensors as they are (AWQ into q4f16_autoawq). Fails on a known method with
// settings this reader does not support.
SourceQuant read_source_quant(const nlohmann::json& config, const std::string& label,
                              const Scheme& scheme);

// A checkpoint showing `base`'s packed modules as float32 weights, whose names go to `shown`.
std::unique_ptr<Checkpoint> dequantized_view(std::unique_ptr<Checkpoint> base,
                                             const SourceQuant& quant,
                                             std::unordered_set<std::string>& shown);

// Stage 1's hook: when the checkpoint holds packed modules the scheme cannot take as they are,
// replaces it with the dequantized view, drops quantization_config from the config the
// architecture reads, and logs one line saying what was found. FP8 checkpoints with
// weight_block_size, which MLC takes only into the block-scale schemes, are dequantized for other
// schemes only when `dequantize_fp8` is set. Returns the names of the dequantized weights.
std::unordered_set<std::string> dequantize_source(
    std::unique_ptr<Checkpoint>& checkpoint, ModelConfig& config, const Scheme& scheme,
    bool dequantize_fp8, const std::function<void(const std::string&)>& log);

}  // namespace weightcast

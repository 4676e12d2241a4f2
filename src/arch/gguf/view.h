// GGUF views: how one model family's GGUF files read as its HuggingFace checkpoint. A family's
// view names each GGUF tensor as HuggingFace does (undoing llama.cpp's per-head row permutation
// where its converter applied one) and builds a config.json from the metadata. One file per
// family (src/arch/gguf/<family>.cpp) plus its line in src/arch/gguf/registry.cpp, keyed by the
// file's general.architecture.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "formats/checkpoint.h"
#include "formats/gguf.h"

namespace weightcast {

// HF row r of a reordered tensor is row `order(r)` of the GGUF rows (joined, for several parts).
using GgufRowOrder = std::function<std::int64_t(std::int64_t)>;

struct GgufTensorName {
  std::string hf;  // the HuggingFace name
  // llama.cpp interleaved this tensor's rows per head (q and k projections): the number of heads
  // to undo it for, or 0.
  std::int64_t unpermute_heads = 0;
  // One HF tensor that llama.cpp split into `parts` GGUF tensors (InternLM2's and Baichuan's
  // fused q|k|v): each part names the same `hf` and its place `part`; they are joined along rows
  // (each part un-permuted first) and the HF tensor takes the place of the first part in the file.
  int part = 0, parts = 1;
  // Set on part 0, applied to the whole (joined) tensor in this order:
  GgufRowOrder rows = {};  // regroup rows (GPT-NeoX's q|k|v per head, InternLM2's groups)
  bool transpose = false;  // the GGUF holds the 2-D tensor transposed (GPT-2's Conv1D)
  // Added to every element in float32, last (Nemotron's norms: llama.cpp stored 1 + w).
  float offset = 0.0f;
};
using GgufNaming = std::function<GgufTensorName(const std::string& gguf_name)>;

struct GgufView {
  std::string_view architecture;                     // general.architecture
  nlohmann::json (*config)(const GgufModel& model);  // config.json fields from the metadata
  GgufNaming (*naming)(const GgufModel& model);      // reads what it needs (head counts) once
};

const std::vector<const GgufView*>& gguf_views();

// The pipeline's entry points: the config.json of a GGUF model, and its tensors under HuggingFace
// names. The model overloads let a caller open the files once for both.
nlohmann::json gguf_config(const std::filesystem::path& path);
nlohmann::json gguf_config(const GgufModel& model);
std::unique_ptr<Checkpoint> open_gguf_checkpoint(const std::filesystem::path& path);
std::unique_ptr<Checkpoint> open_gguf_checkpoint(std::shared_ptr<const GgufModel> model);

}  // namespace weightcast

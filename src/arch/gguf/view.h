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

struct GgufTensorName {
  std::string hf;  // the HuggingFace name
  // llama.cpp interleaved this tensor's rows per head (q and k projections): the number of heads
  // to undo it for, or 0.
  std::int64_t unpermute_heads = 0;
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

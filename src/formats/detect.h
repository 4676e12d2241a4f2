// MLC-LLM's auto-detection of the config file and the source weights
// (docs/mlc-format.md#config-detection, docs/mlc-format.md#weight-detection).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "formats/checkpoint.h"
#include "formats/format_table.h"

namespace weightcast {

// A directory holding config.json, or a JSON file.
std::filesystem::path detect_config(const std::filesystem::path& config);

struct WeightSource {
  std::filesystem::path path;  // the file to open: a weights file or an index
  std::string format;
};

// `source` is "auto" (the config's directory) or a path; `format` is "auto" or a format name.
WeightSource detect_weight(const std::string& source, const std::filesystem::path& config_json,
                           std::string_view format);

// `open_gguf` names GGUF tensors (src/arch/gguf/view.h's open_gguf_checkpoint).
std::unique_ptr<Checkpoint> open_checkpoint(const WeightSource& source, GgufOpener open_gguf);

// The source formats, in detection order (MLC's three, then gguf).
const std::vector<std::string>& supported_weight_formats();

}  // namespace weightcast

// MLC-LLM's auto-detection of the config file and the source weights (spec 1.2, 1.4).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "formats/checkpoint.h"

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

// Opens a GGUF model under its family's HuggingFace names. That knowledge lives with the
// architectures (src/arch/gguf/), which this room does not include: the caller passes it.
using GgufOpener = std::unique_ptr<Checkpoint> (*)(const std::filesystem::path& path);
std::unique_ptr<Checkpoint> open_checkpoint(const WeightSource& source, GgufOpener open_gguf);

// Every format MLC names (for its error messages), and the subset this build reads.
const std::vector<std::string>& available_weight_formats();
std::vector<std::string> supported_weight_formats();

}  // namespace weightcast

#include "arch/architecture.h"

#include <fmt/ranges.h>

#include "util/error.h"

namespace weightcast {

const Architecture* find_architecture(std::string_view name) {
  for (const auto* a : architectures())
    if (a->name == name) return a;
  return nullptr;
}

const Architecture& detect_architecture(std::string_view model_type, const ModelConfig& config) {
  std::string name(model_type);
  if (name == "auto") {
    const auto& j = config.json();
    if (j.contains("model_type") && j["model_type"].is_string()) {
      name = j["model_type"].get<std::string>();
    } else if (j.contains("model_config") && j["model_config"].is_object() &&
               j["model_config"].contains("model_type") &&
               j["model_config"]["model_type"].is_string()) {
      name = j["model_config"]["model_type"].get<std::string>();
    } else {
      fail("'model_type' not found in: {}. Please explicitly specify `--model-type` instead.",
           config.path().string());
    }
  }
  if (name == "mixformer-sequential") name = "phi-msft";
  if (const auto* a = find_architecture(name)) return *a;
  std::vector<std::string> names;
  for (const auto* a : architectures()) names.emplace_back(a->name);
  fail("Unknown model type: {}. Available ones: ['{}']", name, fmt::join(names, "', '"));
}

}  // namespace weightcast

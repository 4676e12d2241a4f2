#include "arch/architecture.h"

#include <fmt/ranges.h>

#include "util/error.h"
#include "util/json_file.h"

namespace weightcast {

std::string expected_shape_str(const ExpectedShape& shape) {
  std::vector<std::string> parts;
  for (const auto& d : shape) parts.push_back(d.symbolic() ? d.symbol : std::to_string(d.value));
  if (parts.size() == 1) return fmt::format("({},)", parts[0]);
  return fmt::format("({})", fmt::join(parts, ", "));
}

ExpectedShape concrete(const Shape& shape) {
  ExpectedShape out;
  for (auto d : shape) out.push_back({d, {}});
  return out;
}

ModelConfig::ModelConfig(nlohmann::json json, std::filesystem::path path)
    : json_(std::move(json)), path_(std::move(path)) {}

ModelConfig ModelConfig::load(const std::filesystem::path& path) {
  nlohmann::json json = read_json_file(path);
  if (!json.is_object()) fail("{}: not a JSON object", path.string());
  return ModelConfig(std::move(json), path);
}

bool ModelConfig::has(std::string_view key) const {
  auto it = json_.find(key);
  return it != json_.end() && !it->is_null();
}

std::int64_t ModelConfig::require_int(std::string_view key) const {
  if (!has(key)) fail("{}: missing required field \"{}\"", path_.string(), key);
  return get_int(key, 0);
}

std::int64_t ModelConfig::get_int(std::string_view key, std::int64_t fallback) const {
  if (!has(key)) return fallback;
  const auto& v = json_[std::string(key)];
  if (!v.is_number_integer())
    fail("{}: field \"{}\" must be an integer, got {}", path_.string(), key, v.dump());
  return v.get<std::int64_t>();
}

bool ModelConfig::get_bool(std::string_view key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = json_[std::string(key)];
  if (!v.is_boolean())
    fail("{}: field \"{}\" must be true or false, got {}", path_.string(), key, v.dump());
  return v.get<bool>();
}

double ModelConfig::require_number(std::string_view key) const {
  if (!has(key)) fail("{}: missing required field \"{}\"", path_.string(), key);
  const auto& v = json_[std::string(key)];
  if (!v.is_number())
    fail("{}: field \"{}\" must be a number, got {}", path_.string(), key, v.dump());
  return v.get<double>();
}

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

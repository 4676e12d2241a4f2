#include "model/config.h"

#include "util/error.h"
#include "util/json_file.h"

namespace weightcast {

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
  // Every size or count a model has fits 31 bits; larger values would only overflow the shape
  // arithmetic.
  constexpr std::int64_t limit = (std::int64_t{1} << 31) - 1;
  if (v.is_number_unsigned() ? v.get<std::uint64_t>() > static_cast<std::uint64_t>(limit)
                             : (v.get<std::int64_t>() > limit || v.get<std::int64_t>() < -limit))
    fail("{}: field \"{}\" is out of range: {}", path_.string(), key, v.dump());
  return v.get<std::int64_t>();
}

std::int64_t ModelConfig::get_size(std::string_view key, std::int64_t fallback) const {
  const auto v = get_int(key, fallback);
  if (v > (std::int64_t{1} << 24))
    fail("{}: field \"{}\" is implausibly large: {}", path_.string(), key, v);
  return v;
}

std::int64_t ModelConfig::require_size(std::string_view key) const {
  require({key});
  return get_size(key, 0);
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

void ModelConfig::require(std::initializer_list<std::string_view> keys) const {
  for (auto key : keys)
    if (!has(key)) fail("{}: missing required field \"{}\"", path_.string(), key);
}

std::string ModelConfig::get_string(std::string_view key, std::string fallback) const {
  if (!has(key)) return fallback;
  const auto& v = json_[std::string(key)];
  if (!v.is_string())
    fail("{}: field \"{}\" must be a string, got {}", path_.string(), key, v.dump());
  return v.get<std::string>();
}

std::int64_t ModelConfig::shards() const {
  const auto t = get_int("tensor_parallel_shards", 1);
  if (t < 1) fail("tensor_parallel_shards must be at least 1, got {}", t);
  return t;
}

void ModelConfig::require_context_window(std::string_view fallback) const {
  if (get_int("context_window_size", 0) == 0 && !has("max_position_embeddings") && !has(fallback))
    fail(
        "Unable to determine the maximum sequence length, because none of "
        "`context_window_size`, `max_position_embeddings` or `max_sequence_length` is provided "
        "in `config.json`.");
}

}  // namespace weightcast

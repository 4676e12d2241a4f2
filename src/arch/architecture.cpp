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

bool is_moe_gate(const ParamDef& p) {
  constexpr std::string_view suffix = ".weight";
  std::string_view module = p.name;
  if (module.ends_with(suffix)) module.remove_suffix(suffix.size());
  return module.ends_with("gate") && !p.shape.empty() && !p.shape[0].symbolic() &&
         p.shape[0].value <= 256;
}

namespace {
Dim num(std::int64_t v) {
  return Dim{v, {}};
}
const std::string& or_default(const std::string& s, const std::string& fallback) {
  return s.empty() ? fallback : s;
}
}  // namespace

void ModelDef::check_size(std::size_t new_sources) {
  source_count += new_sources;
  if (params.size() >= kMaxParams || source_count > kMaxSources)
    fail(
        "config.json describes more than {} parameters or {} source tensors, which no checkpoint "
        "has: check its layer and expert counts",
        kMaxParams, kMaxSources);
}

void ModelDef::linear(const std::string& name, std::int64_t out, std::int64_t in,
                      const std::vector<std::string>& sources, std::optional<ShardStrategy> shard,
                      bool bias) {
  std::vector<std::string> weights, biases;
  for (const auto& s : sources) weights.push_back(s + ".weight"), biases.push_back(s + ".bias");
  add(name + ".weight", {num(out), num(in)}, ParamRole::kLinearWeight, weights, shard);
  if (bias) {
    std::optional<ShardStrategy> bias_shard;
    if (shard && shard->dim == 0) bias_shard = shard;
    add(name + ".bias", {num(out)}, ParamRole::kOther, biases, bias_shard);
  }
}

void ModelDef::norm(const std::string& name, std::int64_t dim, bool bias, bool add_one,
                    const std::string& source) {
  const auto& src = or_default(source, name);
  add(name + ".weight", {num(dim)}, ParamRole::kOther, {src + ".weight"}).add_one = add_one;
  if (bias) add(name + ".bias", {num(dim)}, ParamRole::kOther, {src + ".bias"});
}

void ModelDef::experts(const std::string& name, std::int64_t experts, std::int64_t out,
                       std::int64_t in, std::vector<std::string> sources,
                       std::optional<ShardStrategy> shard) {
  auto& p = add(name + ".weight", {num(experts), num(out), num(in)}, ParamRole::kExperts,
                std::move(sources), std::move(shard));
  p.combine = Combine::kStack;
  p.stack = experts;
}

void ModelDef::final_fc(const std::string& name, Dim vocab, std::int64_t hidden,
                        const std::string& source, bool bias) {
  const auto& src = or_default(source, name);
  add(name + ".weight", {vocab, num(hidden)}, ParamRole::kLinearWeight, {src + ".weight"})
      .final_fc = true;
  if (bias) add(name + ".bias", {vocab}, ParamRole::kOther, {src + ".bias"});
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

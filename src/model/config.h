// Typed access to a model's config.json, with MLC-style errors naming the missing field.
#pragma once

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace weightcast {

class ModelConfig {
 public:
  ModelConfig(nlohmann::json json, std::filesystem::path path);
  static ModelConfig load(const std::filesystem::path& path);

  bool has(std::string_view key) const;
  std::int64_t require_int(std::string_view key) const;
  std::int64_t get_int(std::string_view key, std::int64_t fallback) const;
  // A size or count (heads, head_dim, ...): at most 2^24, so that products of sizes never overflow.
  std::int64_t get_size(std::string_view key, std::int64_t fallback) const;
  std::int64_t require_size(std::string_view key) const;
  bool get_bool(std::string_view key, bool fallback) const;
  double require_number(std::string_view key) const;
  // Fails naming `key` when config.json lacks it (a dataclass field without a default in MLC).
  void require(std::initializer_list<std::string_view> keys) const;
  std::string get_string(std::string_view key, std::string fallback) const;
  // tensor_parallel_shards, at least 1.
  std::int64_t shards() const;
  // MLC's context_window_size fallback chain, with its error when none is given.
  // (`fallback` names the second key MLC tries after max_position_embeddings.)
  void require_context_window(std::string_view fallback = "max_sequence_length") const;
  const nlohmann::json& json() const { return json_; }
  // MLC sets model_config.tensor_parallel_shards from MLC_INTERNAL_PRESHARD_NUM.
  void set(std::string_view key, nlohmann::json value) {
    json_[std::string(key)] = std::move(value);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  nlohmann::json json_;
  std::filesystem::path path_;
};

}  // namespace weightcast

// An architecture declares, for a parsed config.json, every MLC parameter it expects (name,
// shape, role) and which source tensors feed it. One file per model type plus a registry line.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "util/dtype.h"

namespace weightcast {

// A dimension of an expected shape: a number, or a symbol such as "vocab_size" that accepts any
// size (a tirx.Var in MLC).
struct Dim {
  std::int64_t value = 0;
  std::string symbol;
  bool symbolic() const { return !symbol.empty(); }
};
using ExpectedShape = std::vector<Dim>;
std::string expected_shape_str(const ExpectedShape& shape);
ExpectedShape concrete(const Shape& shape);

// How the quantization schemes see a parameter (the nn.Module type it belongs to in MLC).
enum class ParamRole { kLinearWeight, kEmbedding, kOther };

// How the source tensors become the MLC tensor, before the cast to the model dtype.
enum class Combine { kIdentity, kConcatAxis0, kConcatAxis1 };

// How a parameter splits across tensor-parallel shards (MLC's tp.ShardSingleDim): along `dim`,
// optionally in segments (`segs`, per-shard lengths, e.g. q, k, v of a fused qkv_proj).
struct ShardStrategy {
  int dim = 0;
  std::vector<std::int64_t> segs;
};

struct ParamDef {
  std::string name;
  ExpectedShape shape;  // per shard when pre-sharding, as MLC builds the model
  ParamRole role = ParamRole::kOther;
  bool final_fc = false;  // lm_head & co: some schemes leave it unquantized
  std::vector<std::string> sources;
  Combine combine = Combine::kIdentity;
  std::optional<ShardStrategy> shard;
  std::optional<DType> dtype;  // when not the model dtype (e.g. AWQ's packed uint32 tensors)
};

struct ModelDef {
  int tensor_parallel_shards = 1;
  // FP8 block-quantized checkpoints: (rows, cols) of a scale block, from quantization_config.
  std::optional<std::array<std::int64_t, 2>> weight_block_size;
  std::vector<ParamDef> params;             // in MLC's extern-mapping insertion order
  std::vector<std::string> unused_sources;  // source tensors ignored on purpose

  // Appends a parameter; several sources are concatenated along axis 0 (fused q/k/v, gate/up).
  ParamDef& add(std::string name, ExpectedShape shape, ParamRole role,
                std::vector<std::string> sources, std::optional<ShardStrategy> shard = {}) {
    ParamDef p;
    p.name = std::move(name);
    p.shape = std::move(shape);
    p.role = role;
    p.combine = sources.size() > 1 ? Combine::kConcatAxis0 : Combine::kIdentity;
    p.sources = std::move(sources);
    p.shard = std::move(shard);
    return params.emplace_back(std::move(p));
  }
};

// Typed access to config.json with MLC-style errors naming the missing field.
class ModelConfig {
 public:
  ModelConfig(nlohmann::json json, std::filesystem::path path);
  static ModelConfig load(const std::filesystem::path& path);

  bool has(std::string_view key) const;
  std::int64_t require_int(std::string_view key) const;
  std::int64_t get_int(std::string_view key, std::int64_t fallback) const;
  bool get_bool(std::string_view key, bool fallback) const;
  double require_number(std::string_view key) const;
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

struct Architecture {
  std::string_view name;
  std::set<std::string_view> quant_kinds;  // quantization kinds MLC registers for it
  ModelDef (*build)(const ModelConfig& config);
};

const std::vector<const Architecture*>& architectures();
const Architecture* find_architecture(std::string_view name);
// MLC's detect_model_type: "auto" reads model_type from the config (spec 1.2).
const Architecture& detect_architecture(std::string_view model_type, const ModelConfig& config);

}  // namespace weightcast

// An architecture declares, for a parsed config.json, every MLC parameter it expects (name,
// shape, role) and which source tensors feed it. One file per model type plus a registry line.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
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

// How the quantization schemes see a parameter (the nn.Module type it belongs to in MLC):
// nn.Linear, nn.Embedding, MixtralExperts ([experts, out, in]) or anything else.
enum class ParamRole { kLinearWeight, kEmbedding, kExperts, kOther };

// How the source tensors become the MLC tensor, before the cast to the model dtype.
// kStack: `ParamDef::stack` equal groups of consecutive sources, each group concatenated along
// axis 0, stacked along a new axis 0 (MoE experts; gate and up of each expert side by side).
// kTranspose: one 2-D source, transposed (GPT-2's Conv1D weights).
// kPermuteRows: one source of `RowPermutation::rows` rows, reordered: row r is taken from
// source row `RowPermutation::source(r)` (InternLM2's wqkv, GPT-NeoX's query_key_value).
// kHeadSlice: one source seen as [heads, rows per head, cols], rows [begin, end) of each head,
// optionally with the last two axes swapped (DeepSeek's w_uk / w_uv from kv_b_proj).
enum class Combine {
  kIdentity,
  kConcatAxis0,
  kConcatAxis1,
  kStack,
  kTranspose,
  kPermuteRows,
  kHeadSlice
};

struct RowPermutation {
  std::int64_t rows = 0;
  std::function<std::int64_t(std::int64_t)> source;  // a bijection on [0, rows)
};

struct HeadSlice {
  std::int64_t heads = 0, rows_per_head = 0, begin = 0, end = 0;
  bool transpose = false;
};

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
  std::int64_t stack = 0;      // Combine::kStack: the number of groups (experts)
  RowPermutation permutation;  // Combine::kPermuteRows
  HeadSlice head_slice;        // Combine::kHeadSlice
  // Gemma's norms: the loader adds 1 in the source's numpy dtype before the cast.
  bool add_one = false;
};

// MLC's is_moe_gate: a Linear named "...gate" with at most 256 outputs stays unquantized.
bool is_moe_gate(const ParamDef& p);

struct ModelDef {
  int tensor_parallel_shards = 1;
  // FP8 block-quantized checkpoints: (rows, cols) of a scale block, from quantization_config.
  std::optional<std::array<std::int64_t, 2>> weight_block_size;
  std::vector<ParamDef> params;             // in MLC's extern-mapping insertion order
  std::vector<std::string> unused_sources;  // source tensors ignored on purpose
  std::size_t source_count = 0;

  // Appends a parameter; several sources are concatenated along axis 0 (fused q/k/v, gate/up).
  ParamDef& add(std::string name, ExpectedShape shape, ParamRole role,
                std::vector<std::string> sources, std::optional<ShardStrategy> shard = {}) {
    check_size(sources.size());
    ParamDef p;
    p.name = std::move(name);
    p.shape = std::move(shape);
    p.role = role;
    p.combine = sources.size() > 1 ? Combine::kConcatAxis0 : Combine::kIdentity;
    p.sources = std::move(sources);
    p.shard = std::move(shard);
    return params.emplace_back(std::move(p));
  }
  // A lying config.json (a billion layers) fails here, long before memory runs out.
  static constexpr std::size_t kMaxParams = 1 << 17, kMaxSources = 1 << 22;
  void check_size(std::size_t new_sources);

  // An nn.Linear: "<name>.weight" [out, in] from "<src>.weight" of each source (concatenated
  // along axis 0), and "<name>.bias" [out] from "<src>.bias" when `bias` (split like the weight
  // when the weight splits along its outputs, replicated otherwise).
  void linear(const std::string& name, std::int64_t out, std::int64_t in,
              const std::vector<std::string>& sources, std::optional<ShardStrategy> shard = {},
              bool bias = false);
  // A norm (or other 1-D per-channel weight): "<name>.weight" and, with `bias`, "<name>.bias".
  void norm(const std::string& name, std::int64_t dim, bool bias = false, bool add_one = false,
            const std::string& source = {});
  // MixtralExperts "<name>.weight" [experts, out, in]: `sources` hold one equal group per
  // expert (e.g. its gate and up projections), in expert order.
  void experts(const std::string& name, std::int64_t experts, std::int64_t out, std::int64_t in,
               std::vector<std::string> sources, std::optional<ShardStrategy> shard = {});
  // The final projection (lm_head & co), left unquantized by some schemes.
  void final_fc(const std::string& name, Dim vocab, std::int64_t hidden,
                const std::string& source = {}, bool bias = false);
};

// Typed access to config.json with MLC-style errors naming the missing field.
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

// The model room: what an MLC parameter is (name, expected shape, role, the source tensors that
// feed it and how they combine) and the whole model as the list of them. Architectures build it;
// quantization schemes and the conversion pipeline read it.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/dtype.h"

namespace weightcast {

// MLC's quantization kinds: every scheme has one, and each architecture lists those MLC registers
// for it.
enum class QuantKind : std::uint8_t { kNoQuant, kGroupQuant, kAwq, kPerTensor, kBlockScale, kFt };
// MLC's name of the kind ("group-quant", ...), used in its messages.
std::string_view quant_kind_name(QuantKind kind);

// A set of quantization kinds.
class QuantKinds {
 public:
  constexpr QuantKinds(std::initializer_list<QuantKind> kinds) {
    for (auto k : kinds) bits_ |= bit(k);
  }
  constexpr bool contains(QuantKind k) const { return (bits_ & bit(k)) != 0; }
  constexpr QuantKinds operator|(QuantKind k) const {
    QuantKinds out = *this;
    out.bits_ |= bit(k);
    return out;
  }

 private:
  static constexpr unsigned bit(QuantKind k) { return 1u << static_cast<unsigned>(k); }
  unsigned bits_ = 0;
};

// A dimension of an expected shape: a number, or a symbol such as "vocab_size" that accepts any
// size (a tirx.Var in MLC); a symbol's value is the config's, for plans made from config.json
// alone.
struct Dim {
  std::int64_t value = 0;
  std::string symbol;
  bool symbolic() const { return !symbol.empty(); }
};
inline Dim num(std::int64_t v) {
  return Dim{v, {}};
}
using ExpectedShape = std::vector<Dim>;
std::string expected_shape_str(const ExpectedShape& shape);
ExpectedShape concrete(const Shape& shape);

// How the quantization schemes see a parameter (the nn.Module type it belongs to in MLC):
// nn.Linear, nn.Embedding, MixtralExperts ([experts, out, in]) or anything else.
enum class ParamRole { kLinearWeight, kEmbedding, kExperts, kOther };

// How the source tensors become the MLC tensor (src/map/mapping.h; the kinds in src/map/kinds.h).
class Mapping;

// How a parameter splits across tensor-parallel shards (MLC's tp.ShardSingleDim): along `dim`,
// optionally in segments (`segs`, per-shard lengths, e.g. q, k, v of a fused qkv_proj).
struct ShardStrategy {
  int dim = 0;
  std::vector<std::int64_t> segs;
  // Along the outputs (rows of a Linear weight), in segments when `segs` is given.
  static ShardStrategy rows(std::vector<std::int64_t> segs = {}) { return {0, std::move(segs)}; }
  // Along the inputs (columns of a Linear weight).
  static ShardStrategy cols() { return {1, {}}; }
};

struct ParamDef {
  std::string name;
  ExpectedShape shape;  // per shard when pre-sharding, as MLC builds the model
  ParamRole role = ParamRole::kOther;
  bool final_fc = false;  // lm_head & co: some schemes leave it unquantized
  std::vector<std::string> sources;
  std::shared_ptr<const Mapping> mapping;  // null: the one source as is
  std::optional<ShardStrategy> shard;
  std::optional<DType> dtype;  // when not the model dtype (e.g. AWQ's packed uint32 tensors)
};

// MLC's is_moe_gate: a Linear named "...gate" with at most 256 outputs stays unquantized.
bool is_moe_gate(const ParamDef& p);

// The options of ModelDef's builders, named at the call site ({.bias = true}).
struct LinearOptions {
  std::optional<ShardStrategy> shard = std::nullopt;
  bool bias = false;
};
struct NormOptions {
  bool bias = false;
  bool add_one = false;     // Gemma's norms: the stored weight is 1 + w
  std::string source = {};  // the source module when not the MLC name
};
struct FinalFcOptions {
  std::string source = {};  // the source module when not the MLC name
  bool bias = false;
};
// What a builder added: the weight and, when asked for, the bias (null otherwise). The pointers
// stay valid until the next parameter is added.
struct AddedParams {
  ParamDef* weight = nullptr;
  ParamDef* bias = nullptr;
};

struct ModelDef {
  int tensor_parallel_shards = 1;
  // FP8 block-quantized checkpoints: (rows, cols) of a scale block, from quantization_config.
  std::optional<std::array<std::int64_t, 2>> weight_block_size;
  std::vector<ParamDef> params;             // in MLC's extern-mapping insertion order
  std::vector<std::string> unused_sources;  // source tensors ignored on purpose
  std::size_t source_count = 0;

  // Appends a parameter; several sources are concatenated along axis 0 (fused q/k/v, gate/up).
  ParamDef& add(std::string name, ExpectedShape shape, ParamRole role,
                std::vector<std::string> sources, std::optional<ShardStrategy> shard = {});
  // A lying config.json (a billion layers) fails here, long before memory runs out.
  static constexpr std::size_t kMaxParams = 1 << 17, kMaxSources = 1 << 22;
  void check_size(std::size_t new_sources);

  // An nn.Linear: "<name>.weight" [out, in] from "<src>.weight" of each source (concatenated
  // along axis 0), and "<name>.bias" [out] from "<src>.bias" when `bias` (split like the weight
  // when the weight splits along its outputs, replicated otherwise).
  AddedParams linear(const std::string& name, std::int64_t out, std::int64_t in,
                     const std::vector<std::string>& sources, const LinearOptions& options = {});
  // A norm (or other 1-D per-channel weight): "<name>.weight" and, with `bias`, "<name>.bias".
  AddedParams norm(const std::string& name, std::int64_t dim, const NormOptions& options = {});
  // MixtralExperts "<name>.weight" [experts, out, in]: `sources` hold one equal group per
  // expert (e.g. its gate and up projections), in expert order.
  ParamDef& experts(const std::string& name, std::int64_t experts, std::int64_t out,
                    std::int64_t in, std::vector<std::string> sources,
                    std::optional<ShardStrategy> shard = {});
  // The final projection (lm_head & co) [vocab, hidden], left unquantized by some schemes.
  AddedParams final_fc(const std::string& name, Dim vocab, std::int64_t hidden,
                       const FinalFcOptions& options = {});

 private:
  AddedParams added_since(std::size_t first);
};

}  // namespace weightcast

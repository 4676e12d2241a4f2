// Nemotron (MLC's nemotron/): the standard layout with a squared-ReLU MLP (up_proj and down_proj,
// optional biases), LayerNorms with bias (their `1 + w` is applied at run time, not stored),
// a symbolic vocabulary and optional tied embeddings.
#include "arch/standard.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"max_position_embeddings", "num_key_value_heads"});
  const auto dims =
      read_standard_dims(c, {.kv = KvHeads::kRequired, .fit = HeadFit::kCoversHidden});
  if (dims.shards > 1)
    fail<NotImplementedError>(
        "nemotron cannot be pre-sharded: MLC neither divides its MLP by the shard count nor "
        "splits up_proj along its outputs");
  return build_standard(c, dims,
                        {.mlp = StandardLayout::Mlp::kUpOnly,
                         .mlp_bias = c.get_bool("mlp_bias", false),
                         .norm_bias = true,
                         .symbolic_vocab = true,
                         .unused_rotary = true});
}

}  // namespace

// MLC lists awq for nemotron without an awq source, so q4f16_autoawq cannot load: not offered.
extern const Architecture kNemotron{"nemotron", kStandardKinds | QuantKind::kPerTensor, build};

}  // namespace weightcast

// Cohere Command-R (MLC's cohere/): fused q/k/v, `out_proj` read from HF's o_proj, gate and up
// kept apart, one (parallel-block) LayerNorm without bias per layer, tied embeddings always.
#include "arch/standard.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"num_key_value_heads", "layer_norm_eps"});
  c.require_context_window();
  const auto dims = read_standard_dims(c, {.kv = KvHeads::kRequired});
  if (dims.heads.head_dim * dims.heads.heads != dims.hidden)
    fail("head_dim * num_attention_heads != hidden_size");
  if (dims.shards > 1)
    fail<NotImplementedError>(
        "cohere cannot be pre-sharded: MLC gives its separate gate_proj and up_proj the "
        "two-segment split of a fused gate_up_proj, which fails on tensors of half that size");
  return build_standard(c, dims,
                        {.o = "out_proj",
                         .mlp = StandardLayout::Mlp::kGateAndUp,
                         .norms = {"input_layernorm"},
                         .lm_head = StandardLayout::LmHead::kNever,
                         .symbolic_vocab = true});
}

}  // namespace

// MLC lists an awq source for cohere but registers no awq quantization for it: not offered.
extern const Architecture kCohere{"cohere", kStandardKinds, build};

}  // namespace weightcast

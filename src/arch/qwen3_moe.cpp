// Qwen3-MoE (MLC's qwen3_moe_model.py / qwen3_moe_loader.py): Qwen3's attention (c_attn and
// o_proj with optional biases, per-head q_norm / k_norm), routed experts stacked per layer, an
// lm_head always.
#include "arch/moe.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"hidden_act", "attention_bias", "rope_theta", "rms_norm_eps", "num_key_value_heads"});
  c.require_context_window();
  const auto dims = read_standard_dims(c, {.kv = KvHeads::kRequired});
  const bool bias = c.get_bool("attention_bias", false);
  ModelDef def = build_standard(c, dims,
                                {.qkv = "c_attn",
                                 .qkv_bias = bias,
                                 .o_bias = bias,
                                 .qk_norm = StandardLayout::QkNorm::kPerHead,
                                 .experts = read_routed_experts(c, "num_experts", dims.shards),
                                 .lm_head = StandardLayout::LmHead::kAlways});
  def.weight_block_size = read_weight_block_size(c);
  return def;
}

}  // namespace

extern const Architecture kQwen3Moe{"qwen3_moe", kStandardKinds | QuantKind::kBlockScale, build};

}  // namespace weightcast

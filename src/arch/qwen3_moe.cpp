// Qwen3-MoE (MLC's qwen3_moe_model.py / qwen3_moe_loader.py): Qwen3's attention (c_attn and
// o_proj with optional biases, per-head q_norm / k_norm), routed experts stacked per layer, an
// lm_head always.
#include "arch/moe.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"hidden_act", "attention_bias", "rope_theta", "rms_norm_eps", "num_key_value_heads"});
  c.require_context_window();
  const auto dims = read_standard_dims(c, true);
  const bool bias = c.get_bool("attention_bias", false);
  StandardLayout layout;
  layout.qkv = "c_attn";
  layout.qkv_bias = layout.o_bias = bias;
  layout.qk_norm = StandardLayout::QkNorm::kPerHead;
  layout.experts = read_routed_experts(c, "num_experts", dims.shards);
  layout.lm_head = StandardLayout::LmHead::kAlways;
  ModelDef def = build_standard(c, dims, layout);
  read_weight_block_size(c, def);
  return def;
}

}  // namespace

extern const Architecture kQwen3Moe{
    "qwen3_moe",
    {QuantKind::kNoQuant, QuantKind::kGroupQuant, QuantKind::kFt, QuantKind::kBlockScale},
    build};

}  // namespace weightcast

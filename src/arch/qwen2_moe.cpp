// Qwen2-MoE (MLC's qwen2_moe_model.py / qwen2_moe_loader.py): Qwen2's attention, routed experts
// stacked per layer, a shared expert with its sigmoid gate, and an lm_head always.
#include "arch/moe.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"hidden_act", "rms_norm_eps", "rope_theta", "num_key_value_heads"});
  c.require_context_window();
  const auto dims =
      read_standard_dims(c, {.kv = KvHeads::kRequired, .fit = HeadFit::kCoversHidden});
  const auto experts = read_routed_experts(c, "num_experts", dims.shards);
  const auto shared = c.get_int("shared_expert_intermediate_size", 0);
  if (shared <= 0)
    fail("{}: shared_expert_intermediate_size must be positive, got {}", c.path().string(), shared);
  ModelDef def = build_standard(c, dims,
                                {.qkv = "c_attn",
                                 .qkv_bias = true,
                                 .experts = experts,
                                 .lm_head = StandardLayout::LmHead::kAlways});
  const auto si = shared / dims.shards;
  for (std::int64_t n = 0; n < dims.layers; ++n) {
    const auto m = fmt::format("model.layers.{}.mlp.", n), s = m + "shared_expert.";
    def.linear(s + "gate_up_proj", 2 * si, dims.hidden, {s + "gate_proj", s + "up_proj"},
               {.shard = ShardStrategy::rows({si, si})});
    def.linear(s + "down_proj", dims.hidden, si, {s + "down_proj"},
               {.shard = ShardStrategy::cols()});
    def.linear(m + "shared_expert_gate", 1, dims.hidden, {m + "shared_expert_gate"});
  }
  return def;
}

}  // namespace

extern const Architecture kQwen2Moe{"qwen2_moe", kStandardKinds, build};

}  // namespace weightcast

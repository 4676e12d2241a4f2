// Qwen2-MoE (MLC's qwen2_moe_model.py / qwen2_moe_loader.py): Qwen2's attention, a shared
// expert with its sigmoid gate, routed experts stacked per layer, and an lm_head always.
#include "arch/moe.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"hidden_act", "rms_norm_eps", "rope_theta", "num_key_value_heads"});
  c.require_context_window();
  const auto hidden = require_positive(c, "hidden_size");
  const auto inter = require_positive(c, "intermediate_size");
  const auto layers = require_positive(c, "num_hidden_layers");
  const auto vocab = require_positive(c, "vocab_size");
  const auto experts = c.get_int("num_experts", 0);
  const auto moe_inter = c.get_int("moe_intermediate_size", 0);
  const auto shared_inter = c.get_int("shared_expert_intermediate_size", 0);
  const auto t = c.shards();
  const auto h = read_heads(c, hidden, t, true);
  if (h.head_dim * h.heads != hidden)
    fail("{}: head_dim ({}) x num_attention_heads ({}) must equal hidden_size ({})",
         c.path().string(), h.head_dim, h.heads, hidden);
  check_every_layer_sparse(c, experts);
  if (moe_inter <= 0 || shared_inter <= 0)
    fail("{}: moe_intermediate_size and shared_expert_intermediate_size must be positive",
         c.path().string());
  check_split(moe_inter, t, "MoE intermediate size {}");
  check_split(inter, t, "MoE MLP intermediate size {}");
  const auto q = h.q_rows(t), kv = h.kv_rows(t), si = shared_inter / t, mi = moe_inter / t;

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  def.add("model.embed_tokens.weight", {num(vocab), num(hidden)}, ParamRole::kEmbedding,
          {"model.embed_tokens.weight"});
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto l = fmt::format("model.layers.{}.", n);
    const auto a = l + "self_attn.", m = l + "mlp.", s = m + "shared_expert.";
    def.linear(a + "c_attn", q + 2 * kv, hidden, {a + "q_proj", a + "k_proj", a + "v_proj"},
               ShardStrategy{0, {q, kv, kv}}, true);
    def.linear(a + "o_proj", hidden, q, {a + "o_proj"}, ShardStrategy{1, {}});
    def.linear(s + "gate_up_proj", 2 * si, hidden, {s + "gate_proj", s + "up_proj"},
               ShardStrategy{0, {si, si}});
    def.linear(s + "down_proj", hidden, si, {s + "down_proj"}, ShardStrategy{1, {}});
    def.linear(m + "shared_expert_gate", 1, hidden, {m + "shared_expert_gate"});
    def.linear(m + "gate", experts, hidden, {m + "gate"});
    add_experts(def, m + "moe_gate_up_proj", experts, 2 * mi, hidden, m + "experts.",
                {"gate_proj", "up_proj"}, ShardStrategy{1, {mi, mi}});
    add_experts(def, m + "moe_down_proj", experts, hidden, mi, m + "experts.", {"down_proj"},
                ShardStrategy{2, {}});
    def.norm(l + "input_layernorm", hidden);
    def.norm(l + "post_attention_layernorm", hidden);
  }
  def.norm("model.norm", hidden);
  def.final_fc("lm_head", num(vocab), hidden);
  return def;
}

}  // namespace

extern const Architecture kQwen2Moe{"qwen2_moe", {"no-quant", "group-quant", "ft-quant"}, build};

}  // namespace weightcast

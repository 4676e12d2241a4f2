// Qwen3-MoE (MLC's qwen3_moe_model.py / qwen3_moe_loader.py): Qwen3's attention (c_attn,
// optional biases, q_norm / k_norm), routed experts stacked per layer, an lm_head always.
#include "arch/moe.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"hidden_act", "attention_bias", "rope_theta", "rms_norm_eps", "num_key_value_heads"});
  c.require_context_window();
  const auto hidden = require_positive(c, "hidden_size");
  const auto layers = require_positive(c, "num_hidden_layers");
  const auto vocab = require_positive(c, "vocab_size");
  c.require_int("intermediate_size");
  const auto experts = c.get_int("num_experts", 0);
  const auto moe_inter = c.get_int("moe_intermediate_size", 0);
  const bool bias = c.get_bool("attention_bias", false);
  const auto t = c.shards();
  const auto h = read_heads(c, hidden, t, true);
  check_every_layer_sparse(c, experts);
  if (moe_inter <= 0)
    fail("{}: moe_intermediate_size must be positive, got {}", c.path().string(), moe_inter);
  check_split(moe_inter, t, "MoE intermediate size {}");
  const auto q = h.q_rows(t), kv = h.kv_rows(t), mi = moe_inter / t;

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  read_weight_block_size(c, def);
  def.add("model.embed_tokens.weight", {num(vocab), num(hidden)}, ParamRole::kEmbedding,
          {"model.embed_tokens.weight"});
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto l = fmt::format("model.layers.{}.", n);
    const auto a = l + "self_attn.", m = l + "mlp.";
    def.linear(a + "c_attn", q + 2 * kv, hidden, {a + "q_proj", a + "k_proj", a + "v_proj"},
               ShardStrategy{0, {q, kv, kv}}, bias);
    def.linear(a + "o_proj", hidden, q, {a + "o_proj"}, ShardStrategy{1, {}}, bias);
    def.norm(a + "q_norm", h.head_dim);
    def.norm(a + "k_norm", h.head_dim);
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

extern const Architecture kQwen3Moe{
    "qwen3_moe", {"no-quant", "group-quant", "ft-quant", "block-scale-quant"}, build};

}  // namespace weightcast

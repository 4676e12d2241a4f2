// DeepSeek-MoE (v1; MLC's deepseek/, model type "deepseek"): q|k|v fused as `wqkv_pack`, dense
// MLPs for the first first_k_dense_replace layers, then a router, routed experts stacked per
// layer and shared experts; an lm_head always.
#include "arch/standard.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"moe_intermediate_size", "num_key_value_heads", "n_shared_experts", "n_routed_experts",
             "moe_layer_freq", "first_k_dense_replace", "hidden_act", "norm_topk_prob",
             "attention_bias", "rms_norm_eps", "use_cache", "bos_token_id", "eos_token_id"});
  c.require_context_window();
  const auto dims =
      read_standard_dims(c, {.kv = KvHeads::kRequired, .fit = HeadFit::kCoversHidden});
  if (dims.shards > 1)
    fail<NotImplementedError>(
        "deepseek cannot be pre-sharded: MLC divides its shared experts by the shard count twice "
        "and gives them no split");
  const auto experts = require_positive(c, "n_routed_experts");
  const auto moe_inter = require_positive(c, "moe_intermediate_size");
  const auto shared = c.require_int("n_shared_experts");
  const auto first_dense = c.require_int("first_k_dense_replace");
  const auto freq = require_positive(c, "moe_layer_freq");
  const bool bias = c.get_bool("attention_bias", false);
  const auto hidden = dims.hidden, q = dims.heads.q_rows(1), kv = dims.heads.kv_rows(1);

  ModelDef def;
  def.add("model.embed_tokens.weight", {num(dims.vocab), num(hidden)}, ParamRole::kEmbedding,
          {"model.embed_tokens.weight"});
  for (std::int64_t n = 0; n < dims.layers; ++n) {
    const auto l = fmt::format("model.layers.{}.", n);
    const auto a = l + "self_attn.", m = l + "mlp.";
    def.linear(a + "wqkv_pack", q + 2 * kv, hidden, {a + "q_proj", a + "k_proj", a + "v_proj"});
    // MLC maps only the weight; a bias would be read under its own MLC name.
    if (bias)
      def.add(a + "wqkv_pack.bias", {num(q + 2 * kv)}, ParamRole::kOther, {a + "wqkv_pack.bias"});
    def.linear(a + "o_proj", hidden, q, {a + "o_proj"}, {.bias = bias});
    if (n >= first_dense && n % freq == 0) {
      add_routed_experts(def, l, l, {.count = experts, .intermediate = moe_inter}, hidden, 1);
      if (shared > 0) {
        const auto s = m + "shared_experts.";
        const auto si = moe_inter * shared;
        def.linear(s + "gate_up_proj", 2 * si, hidden, {s + "gate_proj", s + "up_proj"});
        def.linear(s + "down_proj", hidden, si, {s + "down_proj"});
      }
    } else {
      def.linear(m + "gate_up_proj", 2 * dims.intermediate, hidden,
                 {m + "gate_proj", m + "up_proj"});
      def.linear(m + "down_proj", hidden, dims.intermediate, {m + "down_proj"});
    }
    def.norm(l + "input_layernorm", hidden);
    def.norm(l + "post_attention_layernorm", hidden);
  }
  def.norm("model.norm", hidden);
  def.final_fc("lm_head", num(dims.vocab), hidden);
  return def;
}

}  // namespace

extern const Architecture kDeepseekMoe{"deepseek", kStandardKinds, build};

}  // namespace weightcast

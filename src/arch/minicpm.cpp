// MiniCPM (MLC's minicpm/): fused q|k|v as `wqkv_pack`, Llama's MLP or (num_experts > 0) a
// Mixtral-style MoE (`mlp.gate`, `mlp.e1_e3`, `mlp.e2`), optional tied embeddings. The muP
// scales (scale_emb, scale_depth, dim_model_base) are applied at run time, not to the weights.
#include "arch/moe.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"num_key_value_heads", "hidden_act", "rms_norm_eps", "scale_emb", "scale_depth",
             "dim_model_base", "use_cache", "bos_token_id", "eos_token_id"});
  c.require_context_window();
  const auto hidden = require_positive(c, "hidden_size");
  const auto inter = require_positive(c, "intermediate_size");
  const auto layers = require_positive(c, "num_hidden_layers");
  const auto vocab = require_positive(c, "vocab_size");
  const auto experts = c.get_int("num_experts", 0);
  const auto t = c.shards();
  const auto h = read_heads(c, hidden, t, true);
  if (h.head_dim * h.heads != hidden)
    fail("{}: head_dim ({}) x num_attention_heads ({}) must equal hidden_size ({})",
         c.path().string(), h.head_dim, h.heads, hidden);
  if (experts < 0) fail("{}: num_experts must not be negative", c.path().string());
  check_split(inter, t, "MLP intermediate size {}");
  const auto q = h.q_rows(t), kv = h.kv_rows(t), i = inter / t;

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  def.add("model.embed_tokens.weight", {num(vocab), num(hidden)}, ParamRole::kEmbedding,
          {"model.embed_tokens.weight"});
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto l = fmt::format("model.layers.{}.", n);
    const auto a = l + "self_attn.", m = l + "mlp.";
    def.linear(a + "wqkv_pack", q + 2 * kv, hidden, {a + "q_proj", a + "k_proj", a + "v_proj"},
               ShardStrategy{0, {q, kv, kv}});
    def.linear(a + "o_proj", hidden, q, {a + "o_proj"}, ShardStrategy{1, {}});
    if (experts == 0) {
      def.linear(m + "gate_up_proj", 2 * i, hidden, {m + "gate_proj", m + "up_proj"},
                 ShardStrategy{0, {i, i}});
      def.linear(m + "down_proj", hidden, i, {m + "down_proj"}, ShardStrategy{1, {}});
    } else {
      def.linear(m + "gate", experts, hidden, {m + "gate"});
      add_experts(def, m + "e1_e3", experts, 2 * i, hidden, m + "experts.", {"w1", "w3"},
                  ShardStrategy{1, {i, i}});
      add_experts(def, m + "e2", experts, hidden, i, m + "experts.", {"w2"}, ShardStrategy{2, {}});
    }
    def.norm(l + "input_layernorm", hidden);
    def.norm(l + "post_attention_layernorm", hidden);
  }
  def.norm("model.norm", hidden);
  if (!c.get_bool("tie_word_embeddings", false)) def.final_fc("lm_head", num(vocab), hidden);
  return def;
}

}  // namespace

extern const Architecture kMiniCpm{"minicpm", {"no-quant", "group-quant", "ft-quant"}, build};

}  // namespace weightcast

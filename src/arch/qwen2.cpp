// Qwen2 (MLC's qwen2_model.py / qwen2_loader.py): fused c_attn with a bias always, Llama's MLP,
// a concrete vocabulary dimension, optional tied embeddings.
#include "arch/common.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"hidden_act", "rms_norm_eps", "rope_theta", "num_key_value_heads"});
  c.require_context_window();
  const auto hidden = require_positive(c, "hidden_size");
  const auto inter = require_positive(c, "intermediate_size");
  const auto layers = require_positive(c, "num_hidden_layers");
  const auto vocab = require_positive(c, "vocab_size");
  const auto t = c.shards();
  const auto h = read_heads(c, hidden, t, true);
  if (h.head_dim * h.heads != hidden)
    fail("{}: head_dim ({}) x num_attention_heads ({}) must equal hidden_size ({})",
         c.path().string(), h.head_dim, h.heads, hidden);
  check_split(inter, t, "MLP intermediate size {}");
  const auto q = h.q_rows(t), kv = h.kv_rows(t), i = inter / t;

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  def.add("model.embed_tokens.weight", {num(vocab), num(hidden)}, ParamRole::kEmbedding,
          {"model.embed_tokens.weight"});
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto l = fmt::format("model.layers.{}.", n);
    const auto a = l + "self_attn.", m = l + "mlp.";
    def.linear(a + "c_attn", q + 2 * kv, hidden, {a + "q_proj", a + "k_proj", a + "v_proj"},
               ShardStrategy{0, {q, kv, kv}}, true);
    def.linear(a + "o_proj", hidden, q, {a + "o_proj"}, ShardStrategy{1, {}});
    def.linear(m + "gate_up_proj", 2 * i, hidden, {m + "gate_proj", m + "up_proj"},
               ShardStrategy{0, {i, i}});
    def.linear(m + "down_proj", hidden, i, {m + "down_proj"}, ShardStrategy{1, {}});
    def.norm(l + "input_layernorm", hidden);
    def.norm(l + "post_attention_layernorm", hidden);
    def.unused_sources.push_back(a + "rotary_emb.inv_freq");
  }
  def.norm("model.norm", hidden);
  if (!c.get_bool("tie_word_embeddings", false)) def.final_fc("lm_head", num(vocab), hidden);
  return def;
}

}  // namespace

extern const Architecture kQwen2{"qwen2", {"no-quant", "group-quant", "ft-quant"}, build};

}  // namespace weightcast

// StarCoder2 (MLC's starcoder2/): fused q|k|v as `wqkv_pack`, a GELU MLP (c_fc, c_proj), biases
// everywhere when use_bias, LayerNorms with bias, and an lm_head read from the embedding.
#include "arch/standard.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"num_key_value_heads", "hidden_act", "norm_epsilon", "rope_theta", "use_bias",
             "use_cache", "bos_token_id", "eos_token_id"});
  c.require_context_window();
  const bool bias = c.get_bool("use_bias", false);
  check_split(c.require_int("num_attention_heads"), c.shards(), "{} attention heads");
  const auto [hidden, inter, layers, vocab, t, h] =
      read_standard_dims(c, {.kv = KvHeads::kRequired, .fit = HeadFit::kCoversHidden});
  if (bias && t > 1)
    fail<NotImplementedError>(
        "starcoder2 with use_bias cannot be pre-sharded: MLC splits the replicated mlp.c_proj "
        "bias across GPUs, which its own shape checks reject");
  const auto q = h.q_rows(t), kv = h.kv_rows(t), i = inter / t;

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  // First in MLC's mapping, so it is loaded (and written) before the embedding it shares.
  def.final_fc("lm_head", num(vocab), hidden, {.source = "model.embed_tokens"});
  def.add("model.embed_tokens.weight", {num(vocab), num(hidden)}, ParamRole::kEmbedding,
          {"model.embed_tokens.weight"});
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto l = fmt::format("model.layers.{}.", n);
    const auto a = l + "self_attn.", m = l + "mlp.";
    def.linear(a + "wqkv_pack", q + 2 * kv, hidden, {a + "q_proj", a + "k_proj", a + "v_proj"},
               {.shard = ShardStrategy::rows({q, kv, kv}), .bias = bias});
    def.linear(a + "o_proj", hidden, q, {a + "o_proj"},
               {.shard = ShardStrategy::cols(), .bias = bias});
    def.linear(m + "c_fc", i, hidden, {m + "c_fc"}, {.shard = ShardStrategy::rows(), .bias = bias});
    def.linear(m + "c_proj", hidden, i, {m + "c_proj"},
               {.shard = ShardStrategy::cols(), .bias = bias});
    def.norm(l + "input_layernorm", hidden, {.bias = true});
    def.norm(l + "post_attention_layernorm", hidden, {.bias = true});
  }
  def.norm("model.norm", hidden, {.bias = true});
  return def;
}

}  // namespace

extern const Architecture kStarcoder2{"starcoder2", kStandardKinds, build};

}  // namespace weightcast

// ChatGLM3 (MLC's chatglm3/, model type "chatglm"): tensors read 1:1 under HF's names except
// the embedding (embedding.word_embeddings); fused query_key_value with multi-query groups; a
// swiglu dense_h_to_4h; the head `output_layer` is not a final-FC name, so it is quantized.
#include "arch/common.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"kv_channels", "layernorm_epsilon", "post_layer_norm", "rmsnorm", "add_bias_linear",
             "add_qkv_bias", "apply_query_key_layer_scaling", "multi_query_attention",
             "multi_query_group_num"});
  c.require_context_window("seq_length");
  const auto hidden = require_positive(c, "hidden_size");
  const auto layers = require_positive(c, "num_layers");
  auto h = read_heads(c, hidden, {.kv = KvHeads::kNone, .fit = HeadFit::kCoversHidden});
  const auto ffn = require_positive(c, "ffn_hidden_size");
  auto vocab = c.get_int("vocab_size", 0);
  if (vocab == 0) vocab = c.get_int("padded_vocab_size", 0);
  if (vocab <= 0) fail("{}: missing required field \"padded_vocab_size\"", c.path().string());
  const bool bias = c.get_bool("add_bias_linear", false);
  const bool qkv_bias = bias || c.get_bool("add_qkv_bias", false);
  if (c.get_bool("multi_query_attention", false))
    h.kv_heads = require_positive(c, "multi_query_group_num");
  const auto t = c.shards();
  if (h.heads % t != 0)
    fail("Cannot split {} attention headsevenly to {} GPUs.", h.heads, t);  // sic, as MLC says
  check_split(h.kv_heads, t, "{} key-value attention heads");
  check_split(ffn, t, "ffn hidden size {}");
  if (bias && t > 1)
    fail<NotImplementedError>(
        "chatglm with add_bias_linear cannot be pre-sharded: MLC splits the 1-D "
        "dense_4h_to_h bias along axis 1");
  const auto q = h.q_rows(t), kv = h.kv_rows(t), f = ffn / t;

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  def.add("transformer.embedding.weight", {num(vocab), num(hidden)}, ParamRole::kEmbedding,
          {"transformer.embedding.word_embeddings.weight"});
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto l = fmt::format("transformer.encoder.layers.{}.", n);
    def.norm(l + "input_layernorm", hidden);
    def.linear(l + "self_attention.query_key_value", q + 2 * kv, hidden,
               {l + "self_attention.query_key_value"},
               {.shard = ShardStrategy::rows({q, kv, kv}), .bias = qkv_bias});
    def.linear(l + "self_attention.dense", hidden, q, {l + "self_attention.dense"},
               {.shard = ShardStrategy::cols(), .bias = bias});
    def.norm(l + "post_attention_layernorm", hidden);
    def.linear(l + "mlp.dense_h_to_4h", 2 * f, hidden, {l + "mlp.dense_h_to_4h"},
               {.shard = ShardStrategy::rows(), .bias = bias});
    def.linear(l + "mlp.dense_4h_to_h", hidden, f, {l + "mlp.dense_4h_to_h"},
               {.shard = ShardStrategy::cols(), .bias = bias});
  }
  if (c.get_bool("post_layer_norm", false))
    def.norm("transformer.encoder.final_layernorm", hidden,
             {.bias = !c.get_bool("rmsnorm", false)});  // a LayerNorm has a bias
  def.linear("transformer.output_layer", vocab, hidden, {"transformer.output_layer"});
  return def;
}

}  // namespace

extern const Architecture kChatGlm{"chatglm", kBaseKinds, build};

}  // namespace weightcast

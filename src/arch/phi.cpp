// Phi-1, Phi-1.5 and Phi-2 in HF's "phi" layout (MLC's phi/, its phi1 loader): q/k/v fused into
// mixer.Wqkv, a parallel attention + MLP block behind one LayerNorm, biases everywhere, and a
// head made of a LayerNorm and a biased Linear. Every config field has MLC's Phi-1.5 default.
#include "arch/common.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require_context_window();
  const auto hidden = c.get_size("hidden_size", 2048);
  auto inter = c.get_size("intermediate_size", 8192);
  if (inter == 0) inter = 4 * hidden;
  const auto layers = c.get_size("num_hidden_layers", 24);
  const auto vocab = c.get_size("vocab_size", 51200);
  if (hidden <= 0 || inter <= 0 || layers <= 0 || vocab <= 0 ||
      c.get_size("num_attention_heads", 32) <= 0)
    fail(
        "{}: hidden_size, intermediate_size, num_hidden_layers, vocab_size and "
        "num_attention_heads must be positive",
        c.path().string());
  const auto t = c.shards();
  Heads h;
  h.heads = c.get_size("num_attention_heads", 32);
  h.kv_heads = c.get_size("num_key_value_heads", 0);
  if (h.kv_heads == 0) h.kv_heads = h.heads;
  h.head_dim = c.get_size("head_dim", 0);
  if (h.head_dim == 0) h.head_dim = hidden / h.heads;
  if (h.head_dim * h.heads != hidden || h.kv_heads <= 0 || h.heads % h.kv_heads != 0)
    fail(
        "{}: head_dim x num_attention_heads must equal hidden_size, and num_attention_heads "
        "must be a multiple of num_key_value_heads",
        c.path().string());
  if (h.heads % t != 0 || h.kv_heads % t != 0)
    fail("Cannot split {} attention heads ({} key-value heads) evenly to {} GPUs.", h.heads,
         h.kv_heads, t);
  check_split(inter, t, "MLP intermediate size {}");
  const auto q = h.q_rows(t), kv = h.kv_rows(t), i = inter / t;

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  def.final_fc("lm_head.linear", Dim{vocab, "vocab_size"}, hidden,
               {.source = "lm_head", .bias = true});
  def.norm("lm_head.ln", hidden, {.bias = true, .source = "model.final_layernorm"});
  def.add("transformer.embd.weight", {num(vocab), num(hidden)}, ParamRole::kEmbedding,
          {"model.embed_tokens.weight"});
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto hf = fmt::format("model.layers.{}.", n), mlc = fmt::format("transformer.h.{}.", n);
    const auto a = hf + "self_attn.";
    def.norm(mlc + "ln", hidden, {.bias = true, .source = hf + "input_layernorm"});
    def.linear(mlc + "mixer.Wqkv", q + 2 * kv, hidden, {a + "q_proj", a + "k_proj", a + "v_proj"},
               {.shard = ShardStrategy::rows({q, kv, kv}), .bias = true});
    def.linear(mlc + "mixer.out_proj", hidden, q, {a + "dense"},
               {.shard = ShardStrategy::cols(), .bias = true});
    def.linear(mlc + "mlp.fc1", i, hidden, {hf + "mlp.fc1"},
               {.shard = ShardStrategy::rows(), .bias = true});
    def.linear(mlc + "mlp.fc2", hidden, i, {hf + "mlp.fc2"},
               {.shard = ShardStrategy::cols(), .bias = true});
    def.unused_sources.push_back(hf + "mixer.rotary_emb.inv_freq");
  }
  return def;
}

}  // namespace

extern const Architecture kPhi{"phi", kStandardKinds, build};

}  // namespace weightcast

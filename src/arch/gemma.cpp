// Gemma and Gemma 2 (MLC's gemma*/ loaders): Llama's fused layout, always-tied embeddings with a
// symbolic vocabulary, GeLU only, no attention bias, and every RMSNorm weight stored + 1 (the
// loader fuses Gemma's `1 + w`). Gemma 2 adds pre/post feed-forward norms.
#include "arch/common.h"

namespace weightcast {

namespace {

ModelDef build_gemma(const ModelConfig& c, bool gemma2) {
  c.require({"attention_bias", "num_key_value_heads", "head_dim", "rms_norm_eps", "vocab_size"});
  if (gemma2) c.require({"query_pre_attn_scalar"});  // MLC divides by it
  const auto act = c.get_string("hidden_activation", c.get_string("hidden_act", ""));
  if (act != "gelu" && act != "gelu_pytorch_tanh")
    fail("Only GeLU is supported as the activation for gemma.");
  if (c.get_bool("attention_bias", false))
    fail("Only \"False\" attention_bias is supported for gemma");
  c.require_context_window();
  const auto hidden = require_positive(c, "hidden_size");
  const auto inter = require_positive(c, "intermediate_size");
  const auto layers = require_positive(c, "num_hidden_layers");
  const auto t = c.shards();
  const auto h = read_heads(c, hidden, t, true);
  if (hidden % h.heads != 0)
    fail("{}: hidden_size ({}) must be divisible by num_attention_heads ({})", c.path().string(),
         hidden, h.heads);
  check_split(inter, t, "MLP intermediate size {}");
  const auto q = h.q_rows(t), kv = h.kv_rows(t), i = inter / t;

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  def.add("model.embed_tokens.weight", {{0, "vocab_size"}, num(hidden)}, ParamRole::kEmbedding,
          {"model.embed_tokens.weight"});
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto l = fmt::format("model.layers.{}.", n);
    const auto a = l + "self_attn.", m = l + "mlp.";
    def.linear(a + "qkv_proj", q + 2 * kv, hidden, {a + "q_proj", a + "k_proj", a + "v_proj"},
               ShardStrategy{0, {q, kv, kv}});
    def.linear(a + "o_proj", hidden, q, {a + "o_proj"}, ShardStrategy{1, {}});
    def.linear(m + "gate_up_proj", 2 * i, hidden, {m + "gate_proj", m + "up_proj"},
               ShardStrategy{0, {i, i}});
    def.linear(m + "down_proj", hidden, i, {m + "down_proj"}, ShardStrategy{1, {}});
    for (const char* norm : {"input_layernorm", "post_attention_layernorm",
                             "pre_feedforward_layernorm", "post_feedforward_layernorm"}) {
      if (!gemma2 && std::string_view(norm).find("feedforward") != std::string_view::npos) continue;
      def.norm(l + norm, hidden, false, true);
    }
  }
  def.norm("model.norm", hidden, false, true);
  return def;
}

ModelDef build_gemma1(const ModelConfig& c) {
  return build_gemma(c, false);
}
ModelDef build_gemma2(const ModelConfig& c) {
  return build_gemma(c, true);
}

}  // namespace

extern const Architecture kGemma{
    "gemma", {QuantKind::kNoQuant, QuantKind::kGroupQuant}, build_gemma1};
extern const Architecture kGemma2{
    "gemma2", {QuantKind::kNoQuant, QuantKind::kGroupQuant}, build_gemma2};

}  // namespace weightcast

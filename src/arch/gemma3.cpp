// Gemma 3 (MLC's gemma3/, model types gemma3 and gemma3_text): separate q/k/v projections with
// per-head q_norm / k_norm, four norms per layer, every norm weight + 1, tied embeddings, MLC
// names under `language_model.`. A multimodal config nests the text model in text_config and
// its checkpoint prefixes the text tensors with `language_model.` (the vision tower is not
// converted); a text-only config is flat, with unprefixed tensor names.
#include "arch/common.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  const auto& j = c.json();
  const bool multimodal = j.contains("text_config") && !j["text_config"].is_null();
  if (multimodal && !j["text_config"].is_object())
    fail("{}: text_config must be an object", c.path().string());
  const ModelConfig text = multimodal ? ModelConfig(j["text_config"], c.path()) : c;
  const std::string hf = multimodal ? "language_model." : "";
  auto act = text.get_string("hidden_activation", "gelu_pytorch_tanh");
  if (text.json().contains("hidden_activation") && text.json()["hidden_activation"].is_null())
    act = text.get_string("hidden_act", "");
  if (act != "gelu" && act != "gelu_pytorch_tanh")
    fail("Only GeLU is supported as the activation for gemma.");
  if (text.get_bool("attention_bias", false))
    fail("Only \"False\" attention_bias is supported for gemma");
  if (!text.has("sliding_window_size") && !text.has("sliding_window"))
    fail("{}: missing required field \"sliding_window\" (MLC sizes the context by it)",
         c.path().string());
  const auto hidden = require_positive(text, "hidden_size");
  const auto inter = require_positive(text, "intermediate_size");
  const auto layers = require_positive(text, "num_hidden_layers");
  Heads h;
  h.heads = text.get_size("num_attention_heads", 8);
  h.kv_heads = text.get_size("num_key_value_heads", 4);
  h.head_dim = text.get_size("head_dim", 256);
  if (h.heads <= 0 || h.kv_heads <= 0 || h.head_dim <= 0 || h.heads % h.kv_heads != 0 ||
      hidden % h.heads != 0)
    fail(
        "{}: num_attention_heads ({}) must be a positive multiple of num_key_value_heads ({}) "
        "and divide hidden_size ({})",
        c.path().string(), h.heads, h.kv_heads, hidden);
  if (c.shards() > 1)
    fail<NotImplementedError>(
        "gemma3 cannot be pre-sharded: MLC splits the per-head q_norm / k_norm weights across "
        "GPUs, which its own shape checks reject");

  ModelDef def;
  const std::string mlc = "language_model.";
  def.add(mlc + "model.embed_tokens.weight", {{0, "vocab_size"}, num(hidden)},
          ParamRole::kEmbedding, {hf + "model.embed_tokens.weight"});
  const auto q = h.heads * h.head_dim, kv = h.kv_heads * h.head_dim;
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto l = fmt::format("model.layers.{}.", n);
    const auto a = l + "self_attn.", m = l + "mlp.";
    def.linear(mlc + a + "q_proj", q, hidden, {hf + a + "q_proj"});
    def.linear(mlc + a + "k_proj", kv, hidden, {hf + a + "k_proj"});
    def.linear(mlc + a + "v_proj", kv, hidden, {hf + a + "v_proj"});
    def.linear(mlc + a + "o_proj", hidden, q, {hf + a + "o_proj"});
    def.norm(mlc + a + "q_norm", h.head_dim, false, true, hf + a + "q_norm");
    def.norm(mlc + a + "k_norm", h.head_dim, false, true, hf + a + "k_norm");
    def.linear(mlc + m + "gate_up_proj", 2 * inter, hidden,
               {hf + m + "gate_proj", hf + m + "up_proj"});
    def.linear(mlc + m + "down_proj", hidden, inter, {hf + m + "down_proj"});
    for (const char* norm : {"input_layernorm", "post_attention_layernorm",
                             "pre_feedforward_layernorm", "post_feedforward_layernorm"})
      def.norm(mlc + l + norm, hidden, false, true, hf + l + norm);
  }
  def.norm(mlc + "model.norm", hidden, false, true, hf + "model.norm");
  return def;
}

}  // namespace

extern const Architecture kGemma3{"gemma3", {QuantKind::kNoQuant, QuantKind::kGroupQuant}, build};
extern const Architecture kGemma3Text{
    "gemma3_text", {QuantKind::kNoQuant, QuantKind::kGroupQuant}, build};

}  // namespace weightcast

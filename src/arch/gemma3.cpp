// Gemma 3 (MLC's gemma3/, model types gemma3 and gemma3_text): the standard layout with separate
// q/k/v projections, per-head q_norm / k_norm, four norms per layer, every norm weight + 1, tied
// embeddings, MLC names under `language_model.`. A multimodal config nests the text model in
// text_config and its checkpoint prefixes the text tensors with `language_model.` (the vision
// tower is not converted); a text-only config is flat, with unprefixed tensor names.
#include "arch/standard.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  const auto& j = c.json();
  const bool multimodal = j.contains("text_config") && !j["text_config"].is_null();
  if (multimodal && !j["text_config"].is_object())
    fail("{}: text_config must be an object", c.path().string());
  const ModelConfig text = multimodal ? ModelConfig(j["text_config"], c.path()) : c;
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
  StandardDims dims;
  dims.hidden = require_positive(text, "hidden_size");
  dims.intermediate = require_positive(text, "intermediate_size");
  dims.layers = require_positive(text, "num_hidden_layers");
  dims.vocab = text.get_size("vocab_size", 0);  // symbolic: it only sizes config-only plans
  // MLC's Gemma3TextConfig defaults, and its own messages.
  auto& h = dims.heads;
  h.heads = text.get_size("num_attention_heads", 8);
  h.kv_heads = text.get_size("num_key_value_heads", 4);
  h.head_dim = text.get_size("head_dim", 256);
  if (h.heads <= 0 || h.kv_heads <= 0 || h.head_dim <= 0 || h.heads % h.kv_heads != 0 ||
      dims.hidden % h.heads != 0)
    fail(
        "{}: num_attention_heads ({}) must be a positive multiple of num_key_value_heads ({}) "
        "and divide hidden_size ({})",
        c.path().string(), h.heads, h.kv_heads, dims.hidden);
  if (c.shards() > 1)
    fail<NotImplementedError>(
        "gemma3 cannot be pre-sharded: MLC splits the per-head q_norm / k_norm weights across "
        "GPUs, which its own shape checks reject");
  return build_standard(c, dims,
                        {.mlc_prefix = "language_model.model.",
                         .hf_prefix = multimodal ? "language_model.model." : "model.",
                         .fused_qkv = false,
                         .qk_norm = StandardLayout::QkNorm::kPerHead,
                         .norms = {"input_layernorm", "post_attention_layernorm",
                                   "pre_feedforward_layernorm", "post_feedforward_layernorm"},
                         .norm_add_one = true,
                         .lm_head = StandardLayout::LmHead::kNever,
                         .symbolic_vocab = true});
}

}  // namespace

extern const Architecture kGemma3{"gemma3", kBaseKinds, build};
extern const Architecture kGemma3Text{"gemma3_text", kBaseKinds, build};

}  // namespace weightcast

// Gemma and Gemma 2 (MLC's gemma*/ loaders): the standard layout with always-tied embeddings, a
// symbolic vocabulary, GeLU only, no attention bias, and every RMSNorm weight stored + 1 (the
// loader fuses Gemma's `1 + w`). Gemma 2 adds pre/post feed-forward norms.
#include "arch/standard.h"

namespace weightcast {

namespace {

struct GemmaVariant {
  bool feedforward_norms = false;  // Gemma 2
};

ModelDef build(const ModelConfig& c, const GemmaVariant& v) {
  c.require({"attention_bias", "num_key_value_heads", "head_dim", "rms_norm_eps", "vocab_size"});
  if (v.feedforward_norms) c.require({"query_pre_attn_scalar"});  // Gemma 2: MLC divides by it
  const auto act = c.get_string("hidden_activation", c.get_string("hidden_act", ""));
  if (act != "gelu" && act != "gelu_pytorch_tanh")
    fail("Only GeLU is supported as the activation for gemma.");
  if (c.get_bool("attention_bias", false))
    fail("Only \"False\" attention_bias is supported for gemma");
  c.require_context_window();
  StandardDims dims;
  dims.hidden = require_positive(c, "hidden_size");
  dims.intermediate = require_positive(c, "intermediate_size");
  dims.layers = require_positive(c, "num_hidden_layers");
  dims.vocab = c.require_size("vocab_size");  // symbolic: the value only sizes config-only plans
  dims.shards = c.shards();
  dims.heads =
      read_heads(c, dims.hidden,
                 {.kv = KvHeads::kRequired, .shards = dims.shards, .fit = HeadFit::kDividesHidden});
  check_split(dims.intermediate, dims.shards, "MLP intermediate size {}");
  StandardLayout layout{
      .norm_add_one = true, .lm_head = StandardLayout::LmHead::kNever, .symbolic_vocab = true};
  if (v.feedforward_norms)
    layout.norms = {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                    "post_feedforward_layernorm"};
  return build_standard(c, dims, layout);
}

ModelDef build_gemma(const ModelConfig& c) {
  return build(c, {});
}
ModelDef build_gemma2(const ModelConfig& c) {
  return build(c, {.feedforward_norms = true});
}

}  // namespace

extern const Architecture kGemma{"gemma", kBaseKinds, build_gemma};
extern const Architecture kGemma2{"gemma2", kBaseKinds, build_gemma2};

}  // namespace weightcast

// Llama (MLC's llama/): the standard layout itself (fused qkv_proj and gate_up_proj, GQA,
// optional head_dim), a symbolic vocabulary and optionally tied embeddings. Mistral
// (mistral.cpp) reads the same config through build_llama_like.
#include "arch/llama_like.h"
#include "arch/standard.h"

namespace weightcast {

// Llama's own checks and messages (MLC's llama_model.py), in its order.
StandardDims read_llama_dims(const ModelConfig& c, const LlamaVariant& v) {
  StandardDims d;
  d.hidden = c.require_size("hidden_size");
  d.intermediate = c.require_size("intermediate_size");
  const auto heads = c.require_size("num_attention_heads");
  d.layers = c.require_size("num_hidden_layers");
  c.require_number("rms_norm_eps");
  d.vocab = c.require_size("vocab_size");
  // Mistral with a sliding window needs no maximum length.
  if (!(v.sliding_window && c.has("sliding_window"))) c.require_context_window();
  if (d.hidden <= 0 || d.intermediate <= 0 || heads <= 0 || d.layers <= 0)
    fail(
        "{}: hidden_size, intermediate_size, num_attention_heads and num_hidden_layers must be "
        "positive",
        c.path().string());
  // The split is checked below, with Llama's messages.
  const auto h = d.heads = read_heads(c, d.hidden, {.fit = HeadFit::kDividesHidden});
  const auto t = d.shards = c.shards();
  check_split(d.intermediate, t, "MLP intermediate size {}");
  if (h.kv_heads % t != 0) {
    if (v.sliding_window) check_split(h.kv_heads, t, "{} key-value attention heads");
    fail("num_kv_heads({}) must be divisible by tensor_parallel_shards", h.kv_heads);
  }
  if (h.kv_heads < t) fail("Too large tensor_parallel_shards, must be smaller than {}", h.kv_heads);
  if (h.heads % t != 0)
    fail("num_attention_heads ({}) must be divisible by tensor_parallel_shards ({})", h.heads, t);
  return d;
}

ModelDef build_llama_like(const ModelConfig& c, const LlamaVariant& v) {
  using LmHead = StandardLayout::LmHead;
  return build_standard(c, read_llama_dims(c, v),
                        {.lm_head = v.may_tie_embeddings ? LmHead::kUnlessTied : LmHead::kAlways,
                         .symbolic_vocab = true,
                         .unused_rotary = true});
}

namespace {
ModelDef build(const ModelConfig& c) {
  return build_llama_like(c, {});
}
}  // namespace

extern const Architecture kLlama{"llama", kStandardKinds | QuantKind::kAwq | QuantKind::kPerTensor,
                                 build};

}  // namespace weightcast

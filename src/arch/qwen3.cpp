// Qwen3 (MLC's qwen3_model.py / qwen3_loader.py): the standard layout with q|k|v fused as
// `c_attn` and o_proj (optional biases), per-head q_norm / k_norm, a concrete vocabulary
// dimension, and FP8 block-quantized checkpoints (weight_block_size from quantization_config)
// for the block-scale schemes.
#include "arch/standard.h"

namespace weightcast {

namespace {

// Qwen3's own checks and messages: head_dim has no default, and the head counts are not
// checked against each other.
StandardDims read_dims(const ModelConfig& c) {
  c.require({"hidden_act", "attention_bias", "rope_theta"});
  c.require_number("rms_norm_eps");
  StandardDims d;
  auto& h = d.heads;
  d.hidden = c.require_size("hidden_size");
  d.intermediate = c.require_size("intermediate_size");
  h.heads = c.require_size("num_attention_heads");
  d.layers = c.require_size("num_hidden_layers");
  h.kv_heads = c.require_size("num_key_value_heads");
  d.vocab = c.require_size("vocab_size");
  h.head_dim = c.get_size("head_dim", 0);
  for (const char* flag : {"attention_bias", "tie_word_embeddings"}) c.get_bool(flag, false);
  const auto t = d.shards = c.get_int("tensor_parallel_shards", 1);
  c.require_context_window();
  if (h.head_dim <= 0 || d.hidden <= 0 || h.heads <= 0 || h.kv_heads <= 0 || d.layers <= 0 || t < 1)
    fail("{}: head_dim, hidden_size, head counts and num_hidden_layers must be positive",
         c.path().string());
  check_split(h.kv_heads, t, "{} key-value attention heads");
  check_split(d.intermediate, t, "MLP intermediate size {}");
  if (h.heads % t != 0)
    fail("num_attention_heads ({}) must be divisible by tensor_parallel_shards ({})", h.heads, t);
  return d;
}

// Qwen3-Embedding checkpoints are Qwen3's text model saved without the "model." prefix.
ModelDef build(const ModelConfig& c, std::string hf_prefix) {
  const auto dims = read_dims(c);
  const auto block_size = read_weight_block_size(c);
  const bool bias = c.get_bool("attention_bias", false);
  ModelDef def = build_standard(c, dims,
                                {.hf_prefix = std::move(hf_prefix),
                                 .qkv = "c_attn",
                                 .qkv_bias = bias,
                                 .o_bias = bias,
                                 .qk_norm = StandardLayout::QkNorm::kPerHead});
  def.weight_block_size = block_size;
  return def;
}

ModelDef build_qwen3(const ModelConfig& c) {
  return build(c, "model.");
}
ModelDef build_embedding(const ModelConfig& c) {
  return build(c, "");
}

}  // namespace

extern const Architecture kQwen3{"qwen3", kStandardKinds | QuantKind::kBlockScale, build_qwen3};
extern const Architecture kQwen3Embedding{"qwen3-embedding",
                                          kStandardKinds | QuantKind::kBlockScale, build_embedding};

}  // namespace weightcast

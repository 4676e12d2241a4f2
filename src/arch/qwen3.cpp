// Qwen3 (MLC's qwen3_model.py / qwen3_loader.py): fused c_attn (q, k, v; optional bias),
// per-head q_norm / k_norm, a concrete vocabulary dimension, and FP8 block-quantized
// checkpoints (weight_block_size from quantization_config) for the block-scale schemes.
#include <fmt/format.h>

#include "arch/common.h"
#include "util/error.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  for (const char* field : {"hidden_act", "attention_bias", "rope_theta"})
    if (!c.has(field)) fail("{}: missing required field \"{}\"", c.path().string(), field);
  c.require_number("rms_norm_eps");
  const auto hidden = c.require_size("hidden_size"), inter = c.require_size("intermediate_size");
  const auto heads = c.require_size("num_attention_heads"),
             layers = c.require_size("num_hidden_layers");
  const auto kv_heads = c.require_size("num_key_value_heads"), vocab = c.require_size("vocab_size");
  const auto head_dim = c.get_size("head_dim", 0);
  const bool bias = c.get_bool("attention_bias", false),
             tied = c.get_bool("tie_word_embeddings", false);
  const auto t = c.get_int("tensor_parallel_shards", 1);
  c.require_context_window();
  if (head_dim <= 0 || hidden <= 0 || heads <= 0 || kv_heads <= 0 || layers <= 0 || t < 1)
    fail("{}: head_dim, hidden_size, head counts and num_hidden_layers must be positive",
         c.path().string());
  if (kv_heads % t != 0)
    fail("Cannot split {} key-value attention heads evenly to {} GPUs.", kv_heads, t);
  if (inter % t != 0) fail("Cannot split MLP intermediate size {} evenly to {} GPUs.", inter, t);
  if (heads % t != 0)
    fail("num_attention_heads ({}) must be divisible by tensor_parallel_shards ({})", heads, t);

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  read_weight_block_size(c, def);

  const auto n = [](std::int64_t v) { return Dim{v, {}}; };
  const auto linear = ParamRole::kLinearWeight, other = ParamRole::kOther;
  const auto q = heads / t * head_dim, kv = kv_heads / t * head_dim, i_t = inter / t;

  def.add("model.embed_tokens.weight", {n(vocab), n(hidden)}, ParamRole::kEmbedding,
          {"model.embed_tokens.weight"});
  for (std::int64_t i = 0; i < layers; ++i) {
    const auto a = fmt::format("model.layers.{}.self_attn.", i);
    const auto m = fmt::format("model.layers.{}.mlp.", i);
    const auto l = fmt::format("model.layers.{}.", i);
    def.add(a + "c_attn.weight", {n(q + 2 * kv), n(hidden)}, linear,
            {a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"},
            ShardStrategy{0, {q, kv, kv}});
    if (bias)
      def.add(a + "c_attn.bias", {n(q + 2 * kv)}, other,
              {a + "q_proj.bias", a + "k_proj.bias", a + "v_proj.bias"},
              ShardStrategy{0, {q, kv, kv}});
    def.add(a + "o_proj.weight", {n(hidden), n(q)}, linear, {a + "o_proj.weight"},
            ShardStrategy{1, {}});
    if (bias) def.add(a + "o_proj.bias", {n(hidden)}, other, {a + "o_proj.bias"});
    def.add(a + "q_norm.weight", {n(head_dim)}, other, {a + "q_norm.weight"});
    def.add(a + "k_norm.weight", {n(head_dim)}, other, {a + "k_norm.weight"});
    def.add(m + "gate_up_proj.weight", {n(2 * i_t), n(hidden)}, linear,
            {m + "gate_proj.weight", m + "up_proj.weight"}, ShardStrategy{0, {i_t, i_t}});
    def.add(m + "down_proj.weight", {n(hidden), n(i_t)}, linear, {m + "down_proj.weight"},
            ShardStrategy{1, {}});
    def.add(l + "input_layernorm.weight", {n(hidden)}, other, {l + "input_layernorm.weight"});
    def.add(l + "post_attention_layernorm.weight", {n(hidden)}, other,
            {l + "post_attention_layernorm.weight"});
  }
  def.add("model.norm.weight", {n(hidden)}, other, {"model.norm.weight"});
  if (!tied) {
    def.add("lm_head.weight", {n(vocab), n(hidden)}, linear, {"lm_head.weight"});
    def.params.back().final_fc = true;
  }
  return def;
}

// Qwen3-Embedding checkpoints are Qwen3's text model saved without the "model." prefix.
ModelDef build_embedding(const ModelConfig& c) {
  ModelDef def = build(c);
  for (auto& p : def.params)
    for (auto& s : p.sources)
      if (s.starts_with("model.")) s.erase(0, 6);
  return def;
}

}  // namespace

extern const Architecture kQwen3{
    "qwen3",
    {QuantKind::kNoQuant, QuantKind::kGroupQuant, QuantKind::kFt, QuantKind::kBlockScale},
    build};
extern const Architecture kQwen3Embedding{
    "qwen3-embedding",
    {QuantKind::kNoQuant, QuantKind::kGroupQuant, QuantKind::kFt, QuantKind::kBlockScale},
    build_embedding};

}  // namespace weightcast

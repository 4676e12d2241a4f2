// Llama (spec 4): fused qkv_proj and gate_up_proj, GQA, optional head_dim, tied embeddings.
// Mistral shares the layout (mistral.cpp) through build_llama_like.
#include <fmt/format.h>

#include "arch/llama_like.h"
#include "util/error.h"

namespace weightcast {

namespace {

struct LlamaConfig {
  std::int64_t hidden, intermediate, heads, kv_heads, head_dim, layers, shards;
  bool tie_embeddings;
};

LlamaConfig read_config(const ModelConfig& c, const LlamaVariant& v) {
  LlamaConfig cfg{};
  cfg.hidden = c.require_size("hidden_size");
  cfg.intermediate = c.require_size("intermediate_size");
  cfg.heads = c.require_size("num_attention_heads");
  cfg.layers = c.require_size("num_hidden_layers");
  c.require_number("rms_norm_eps");
  c.require_size("vocab_size");
  cfg.tie_embeddings = v.may_tie_embeddings && c.get_bool("tie_word_embeddings", false);
  // Mistral with a sliding window needs no maximum length.
  const bool sliding = v.sliding_window && c.has("sliding_window");
  if (!sliding) c.require_context_window();
  if (cfg.hidden <= 0 || cfg.intermediate <= 0 || cfg.heads <= 0 || cfg.layers <= 0)
    fail(
        "{}: hidden_size, intermediate_size, num_attention_heads and num_hidden_layers must be "
        "positive",
        c.path().string());
  cfg.kv_heads = c.get_size("num_key_value_heads", 0);
  if (cfg.kv_heads == 0) cfg.kv_heads = cfg.heads;
  cfg.head_dim = c.get_size("head_dim", 0);
  if (cfg.head_dim == 0) cfg.head_dim = cfg.hidden / cfg.heads;
  if (cfg.kv_heads < 0 || cfg.head_dim <= 0 || cfg.heads % cfg.kv_heads != 0)
    fail("{}: num_attention_heads ({}) must be a multiple of num_key_value_heads ({})",
         c.path().string(), cfg.heads, cfg.kv_heads);
  if (cfg.hidden % cfg.heads != 0)
    fail("{}: hidden_size ({}) must be divisible by num_attention_heads ({})", c.path().string(),
         cfg.hidden, cfg.heads);
  cfg.shards = c.get_int("tensor_parallel_shards", 1);
  const auto t = cfg.shards;
  if (t < 1) fail("tensor_parallel_shards must be at least 1, got {}", t);
  if (cfg.intermediate % t != 0)
    fail("Cannot split MLP intermediate size {} evenly to {} GPUs.", cfg.intermediate, t);
  if (cfg.kv_heads % t != 0) {
    if (v.sliding_window)
      fail("Cannot split {} key-value attention heads evenly to {} GPUs.", cfg.kv_heads, t);
    fail("num_kv_heads({}) must be divisible by tensor_parallel_shards", cfg.kv_heads);
  }
  if (cfg.kv_heads < t)
    fail("Too large tensor_parallel_shards, must be smaller than {}", cfg.kv_heads);
  if (cfg.heads % t != 0)
    fail("num_attention_heads ({}) must be divisible by tensor_parallel_shards ({})", cfg.heads, t);
  return cfg;
}

}  // namespace

ModelDef build_llama_like(const ModelConfig& config, const LlamaVariant& variant) {
  const auto cfg = read_config(config, variant);
  const Dim vocab{0, "vocab_size"}, hidden{cfg.hidden, {}};
  const auto n = [](std::int64_t v) { return Dim{v, {}}; };
  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(cfg.shards);
  const auto linear = ParamRole::kLinearWeight;

  def.add("model.embed_tokens.weight", {vocab, hidden}, ParamRole::kEmbedding,
          {"model.embed_tokens.weight"});
  // Shapes are per tensor-parallel shard, as MLC builds the model (T = 1 without pre-sharding).
  const auto t = cfg.shards;
  const auto q = cfg.heads / t * cfg.head_dim, kv = cfg.kv_heads / t * cfg.head_dim;
  const auto inter = cfg.intermediate / t;
  for (std::int64_t i = 0; i < cfg.layers; ++i) {
    const auto p = fmt::format("model.layers.{}.", i);
    def.add(p + "self_attn.qkv_proj.weight", {n(q + 2 * kv), hidden}, linear,
            {p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
             p + "self_attn.v_proj.weight"},
            ShardStrategy{0, {q, kv, kv}});
    def.add(p + "self_attn.o_proj.weight", {hidden, n(q)}, linear, {p + "self_attn.o_proj.weight"},
            ShardStrategy{1, {}});
    def.add(p + "mlp.gate_up_proj.weight", {n(2 * inter), hidden}, linear,
            {p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"},
            ShardStrategy{0, {inter, inter}});
    def.add(p + "mlp.down_proj.weight", {hidden, n(inter)}, linear, {p + "mlp.down_proj.weight"},
            ShardStrategy{1, {}});
    for (const char* norm : {"input_layernorm.weight", "post_attention_layernorm.weight"})
      def.add(p + norm, {hidden}, ParamRole::kOther, {p + norm});
    def.unused_sources.push_back(p + "self_attn.rotary_emb.inv_freq");
  }
  def.add("model.norm.weight", {hidden}, ParamRole::kOther, {"model.norm.weight"});
  if (!cfg.tie_embeddings) {
    def.add("lm_head.weight", {vocab, hidden}, linear, {"lm_head.weight"});
    def.params.back().final_fc = true;
  }
  return def;
}

namespace {
ModelDef build_llama(const ModelConfig& config) {
  return build_llama_like(config, {});
}
}  // namespace

extern const Architecture kLlama{"llama",
                                 {QuantKind::kNoQuant, QuantKind::kGroupQuant, QuantKind::kAwq,
                                  QuantKind::kFt, QuantKind::kPerTensor},
                                 build_llama};

}  // namespace weightcast

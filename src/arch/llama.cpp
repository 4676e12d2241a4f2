// Llama (spec 4): fused qkv_proj and gate_up_proj, GQA, optional head_dim, tied embeddings.
#include <fmt/format.h>

#include "arch/architecture.h"
#include "util/error.h"

namespace weightcast {

namespace {

struct LlamaConfig {
  std::int64_t hidden, intermediate, heads, kv_heads, head_dim, layers;
  bool tie_embeddings;
};

LlamaConfig read_config(const ModelConfig& c) {
  LlamaConfig cfg{};
  cfg.hidden = c.require_int("hidden_size");
  cfg.intermediate = c.require_int("intermediate_size");
  cfg.heads = c.require_int("num_attention_heads");
  cfg.layers = c.require_int("num_hidden_layers");
  c.require_number("rms_norm_eps");
  c.require_int("vocab_size");
  cfg.tie_embeddings = c.get_bool("tie_word_embeddings", false);
  if (c.get_int("context_window_size", 0) == 0 && !c.has("max_position_embeddings") &&
      !c.has("max_sequence_length"))
    fail(
        "Unable to determine the maximum sequence length, because none of "
        "`context_window_size`, `max_position_embeddings` or `max_sequence_length` is provided "
        "in `config.json`.");
  if (cfg.hidden <= 0 || cfg.intermediate <= 0 || cfg.heads <= 0 || cfg.layers <= 0)
    fail(
        "{}: hidden_size, intermediate_size, num_attention_heads and num_hidden_layers must be "
        "positive",
        c.path().string());
  cfg.kv_heads = c.get_int("num_key_value_heads", 0);
  if (cfg.kv_heads == 0) cfg.kv_heads = cfg.heads;
  cfg.head_dim = c.get_int("head_dim", 0);
  if (cfg.head_dim == 0) cfg.head_dim = cfg.hidden / cfg.heads;
  if (cfg.kv_heads < 0 || cfg.head_dim <= 0 || cfg.heads % cfg.kv_heads != 0)
    fail("{}: num_attention_heads ({}) must be a multiple of num_key_value_heads ({})",
         c.path().string(), cfg.heads, cfg.kv_heads);
  if (cfg.hidden % cfg.heads != 0)
    fail("{}: hidden_size ({}) must be divisible by num_attention_heads ({})", c.path().string(),
         cfg.hidden, cfg.heads);
  return cfg;
}

ModelDef build(const ModelConfig& config) {
  const auto cfg = read_config(config);
  const Dim vocab{0, "vocab_size"}, hidden{cfg.hidden, {}};
  const auto n = [](std::int64_t v) { return Dim{v, {}}; };
  ModelDef def;
  auto linear = [&](std::string name, Dim out, Dim in, std::vector<std::string> sources) {
    const bool fused = sources.size() > 1;
    def.params.push_back({std::move(name),
                          {out, in},
                          ParamRole::kLinearWeight,
                          false,
                          std::move(sources),
                          fused ? Combine::kConcatAxis0 : Combine::kIdentity});
  };
  auto norm = [&](std::string name) {
    def.params.push_back({name, {hidden}, ParamRole::kOther, false, {name}, Combine::kIdentity});
  };

  def.params.push_back({"model.embed_tokens.weight",
                        {vocab, hidden},
                        ParamRole::kEmbedding,
                        false,
                        {"model.embed_tokens.weight"},
                        Combine::kIdentity});
  for (std::int64_t i = 0; i < cfg.layers; ++i) {
    const auto p = fmt::format("model.layers.{}.", i);
    const auto qkv_rows = (cfg.heads + 2 * cfg.kv_heads) * cfg.head_dim;
    linear(p + "self_attn.qkv_proj.weight", n(qkv_rows), hidden,
           {p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
            p + "self_attn.v_proj.weight"});
    linear(p + "self_attn.o_proj.weight", hidden, n(cfg.heads * cfg.head_dim),
           {p + "self_attn.o_proj.weight"});
    linear(p + "mlp.gate_up_proj.weight", n(2 * cfg.intermediate), hidden,
           {p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"});
    linear(p + "mlp.down_proj.weight", hidden, n(cfg.intermediate), {p + "mlp.down_proj.weight"});
    norm(p + "input_layernorm.weight");
    norm(p + "post_attention_layernorm.weight");
    def.unused_sources.push_back(p + "self_attn.rotary_emb.inv_freq");
  }
  norm("model.norm.weight");
  if (!cfg.tie_embeddings) {
    def.params.push_back({"lm_head.weight",
                          {vocab, hidden},
                          ParamRole::kLinearWeight,
                          true,
                          {"lm_head.weight"},
                          Combine::kIdentity});
  }
  return def;
}

}  // namespace

extern const Architecture kLlama{"llama", {"no-quant", "group-quant"}, build};

}  // namespace weightcast

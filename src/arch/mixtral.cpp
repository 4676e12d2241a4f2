// Mixtral (MLC's mixtral_model.py / mixtral_loader.py): Llama's attention and config, and per
// layer a router `moe.gate` (left unquantized) with experts w1|w3 stacked as `moe.e1_e3` and w2
// as `moe.e2`.
#include "arch/moe.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"rms_norm_eps"});
  c.require_context_window();
  const auto hidden = require_positive(c, "hidden_size");
  const auto inter = require_positive(c, "intermediate_size");
  const auto layers = require_positive(c, "num_hidden_layers");
  c.require_int("vocab_size");
  const auto experts = c.get_int("num_local_experts", 0);
  if (experts <= 0)
    fail("{}: num_local_experts must be positive, got {}", c.path().string(), experts);
  const auto t = c.shards();
  const auto h = read_heads(c, hidden, t);
  check_split(inter, t, "MoE intermediate size {}");
  const auto q = h.q_rows(t), kv = h.kv_rows(t), i = inter / t;
  const Dim vocab{0, "vocab_size"};

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  def.add("model.embed_tokens.weight", {vocab, num(hidden)}, ParamRole::kEmbedding,
          {"model.embed_tokens.weight"});
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto l = fmt::format("model.layers.{}.", n);
    const auto a = l + "self_attn.", hf = l + "block_sparse_moe.", moe = l + "moe.";
    def.linear(a + "qkv_proj", q + 2 * kv, hidden, {a + "q_proj", a + "k_proj", a + "v_proj"},
               ShardStrategy{0, {q, kv, kv}});
    def.linear(a + "o_proj", hidden, q, {a + "o_proj"}, ShardStrategy{1, {}});
    def.linear(moe + "gate", experts, hidden, {hf + "gate"});
    add_experts(def, moe + "e1_e3", experts, 2 * i, hidden, hf + "experts.", {"w1", "w3"},
                ShardStrategy{1, {i, i}});
    add_experts(def, moe + "e2", experts, hidden, i, hf + "experts.", {"w2"}, ShardStrategy{2, {}});
    def.norm(l + "input_layernorm", hidden);
    def.norm(l + "post_attention_layernorm", hidden);
    def.unused_sources.push_back(a + "rotary_emb.inv_freq");
  }
  def.norm("model.norm", hidden);
  if (!c.get_bool("tie_word_embeddings", false)) def.final_fc("lm_head", vocab, hidden);
  return def;
}

}  // namespace

// MLC registers an awq quantization for mixtral that raises NotImplementedError: not offered.
extern const Architecture kMixtral{
    "mixtral", {"no-quant", "group-quant", "ft-quant", "per-tensor-quant"}, build};

}  // namespace weightcast

#include "arch/standard.h"

namespace weightcast {

StandardDims read_standard_dims(const ModelConfig& c, bool kv_heads_required) {
  StandardDims d;
  d.hidden = require_positive(c, "hidden_size");
  d.intermediate = require_positive(c, "intermediate_size");
  d.layers = require_positive(c, "num_hidden_layers");
  d.vocab = require_positive(c, "vocab_size");
  d.shards = c.shards();
  d.heads = read_heads(c, d.hidden, d.shards, kv_heads_required);
  check_split(d.intermediate, d.shards, "MLP intermediate size {}");
  return d;
}

ModelDef build_standard(const ModelConfig& c, const StandardDims& dims,
                        const StandardLayout& layout) {
  const auto t = dims.shards, hidden = dims.hidden;
  const auto q = dims.heads.q_rows(t), kv = dims.heads.kv_rows(t), i = dims.intermediate / t;
  const Dim vocab = layout.symbolic_vocab ? Dim{0, "vocab_size"} : num(dims.vocab);
  const auto mlp_shard = [&](ShardStrategy s) {
    return layout.shard_mlp ? std::optional<ShardStrategy>(std::move(s)) : std::nullopt;
  };
  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  def.add("model.embed_tokens.weight", {vocab, num(hidden)}, ParamRole::kEmbedding,
          {"model.embed_tokens.weight"});
  for (std::int64_t n = 0; n < dims.layers; ++n) {
    const auto l = fmt::format("model.layers.{}.", n);
    const auto a = l + "self_attn.", m = l + "mlp.";
    def.linear(a + layout.qkv, q + 2 * kv, hidden, {a + "q_proj", a + "k_proj", a + "v_proj"},
               ShardStrategy{0, {q, kv, kv}}, layout.qkv_bias);
    def.linear(a + layout.o, hidden, q, {a + "o_proj"}, ShardStrategy{1, {}});
    if (layout.qk_norm) {
      def.norm(a + "q_norm", q);
      def.norm(a + "k_norm", kv);
    }
    if (layout.fused_gate_up) {
      def.linear(m + "gate_up_proj", 2 * i, hidden, {m + "gate_proj", m + "up_proj"},
                 mlp_shard({0, {i, i}}));
    } else {
      def.linear(m + "gate_proj", i, hidden, {m + "gate_proj"});
      def.linear(m + "up_proj", i, hidden, {m + "up_proj"});
    }
    def.linear(m + "down_proj", hidden, i, {m + "down_proj"}, mlp_shard({1, {}}));
    for (const auto& norm : layout.norms) def.norm(l + norm, hidden, layout.norm_bias);
    if (layout.unused_rotary) def.unused_sources.push_back(a + "rotary_emb.inv_freq");
  }
  if (layout.final_norm) def.norm("model.norm", hidden, layout.norm_bias);
  using LmHead = StandardLayout::LmHead;
  if (layout.lm_head == LmHead::kAlways ||
      (layout.lm_head == LmHead::kUnlessTied && !c.get_bool("tie_word_embeddings", false)))
    def.final_fc("lm_head", vocab, hidden);
  return def;
}

}  // namespace weightcast

#include "arch/standard.h"

namespace weightcast {

void add_routed_experts(ModelDef& def, const std::string& layer, const RoutedExperts& moe,
                        std::int64_t hidden, std::int64_t shards) {
  const auto i = moe.intermediate / shards;
  if (moe.count > (1 << 16))
    fail("config.json gives {} experts per layer: implausibly many", moe.count);
  std::vector<std::string> gate_up, down;
  for (std::int64_t e = 0; e < moe.count; ++e) {
    const auto expert = fmt::format("{}{}experts.{}.", layer, moe.hf, e);
    gate_up.push_back(expert + moe.hf_names[0] + ".weight");
    gate_up.push_back(expert + moe.hf_names[1] + ".weight");
    down.push_back(expert + moe.hf_names[2] + ".weight");
  }
  def.linear(layer + moe.mlc + "gate", moe.count, hidden, {layer + moe.hf + "gate"});
  def.experts(layer + moe.mlc + moe.gate_up, moe.count, 2 * i, hidden, std::move(gate_up),
              ShardStrategy{1, {i, i}});
  def.experts(layer + moe.mlc + moe.down, moe.count, hidden, i, std::move(down),
              ShardStrategy{2, {}});
}

StandardDims read_standard_dims(const ModelConfig& c, bool kv_heads_required,
                                bool head_dim_covers_hidden) {
  StandardDims d;
  d.hidden = require_positive(c, "hidden_size");
  d.intermediate = require_positive(c, "intermediate_size");
  d.layers = require_positive(c, "num_hidden_layers");
  d.vocab = require_positive(c, "vocab_size");
  d.shards = c.shards();
  d.heads = read_heads(c, d.hidden, d.shards, kv_heads_required);
  if (head_dim_covers_hidden && d.heads.head_dim * d.heads.heads != d.hidden)
    fail("{}: head_dim ({}) x num_attention_heads ({}) must equal hidden_size ({})",
         c.path().string(), d.heads.head_dim, d.heads.heads, d.hidden);
  check_split(d.intermediate, d.shards, "MLP intermediate size {}");
  return d;
}

ModelDef build_standard(const ModelConfig& c, const StandardDims& dims,
                        const StandardLayout& layout) {
  const auto t = dims.shards, hidden = dims.hidden;
  const auto q = dims.heads.q_rows(t), kv = dims.heads.kv_rows(t), i = dims.intermediate / t;
  const Dim vocab = layout.symbolic_vocab ? Dim{0, "vocab_size"} : num(dims.vocab);
  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  def.add("model.embed_tokens.weight", {vocab, num(hidden)}, ParamRole::kEmbedding,
          {"model.embed_tokens.weight"});
  for (std::int64_t n = 0; n < dims.layers; ++n) {
    const auto l = fmt::format("model.layers.{}.", n);
    const auto a = l + "self_attn.", m = l + "mlp.";
    def.linear(a + layout.qkv, q + 2 * kv, hidden, {a + "q_proj", a + "k_proj", a + "v_proj"},
               ShardStrategy{0, {q, kv, kv}}, layout.qkv_bias);
    def.linear(a + layout.o, hidden, q, {a + "o_proj"}, ShardStrategy{1, {}}, layout.o_bias);
    if (layout.qk_norm != StandardLayout::QkNorm::kNone) {
      const bool per_head = layout.qk_norm == StandardLayout::QkNorm::kPerHead;
      def.norm(a + "q_norm", per_head ? dims.heads.head_dim : q);
      def.norm(a + "k_norm", per_head ? dims.heads.head_dim : kv);
    }
    if (layout.experts) {
      add_routed_experts(def, l, *layout.experts, hidden, t);
    } else if (layout.mlp == StandardLayout::Mlp::kFusedGateUp) {
      def.linear(m + "gate_up_proj", 2 * i, hidden, {m + "gate_proj", m + "up_proj"},
                 ShardStrategy{0, {i, i}}, layout.mlp_bias);
    } else {
      if (layout.mlp == StandardLayout::Mlp::kGateAndUp)
        def.linear(m + "gate_proj", i, hidden, {m + "gate_proj"}, {}, layout.mlp_bias);
      def.linear(m + "up_proj", i, hidden, {m + "up_proj"}, {}, layout.mlp_bias);
    }
    if (!layout.experts)
      def.linear(m + "down_proj", hidden, i, {m + "down_proj"}, ShardStrategy{1, {}},
                 layout.mlp_bias);
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

#include "arch/standard.h"

#include <utility>

namespace weightcast {

void add_routed_experts(ModelDef& def, const std::string& layer, const std::string& hf_layer,
                        const RoutedExperts& moe, std::int64_t hidden, std::int64_t shards) {
  const auto i = moe.intermediate / shards;
  if (moe.count > (1 << 16))
    fail("config.json gives {} experts per layer: implausibly many", moe.count);
  std::vector<std::string> gate_up, down;
  for (std::int64_t e = 0; e < moe.count; ++e) {
    const auto expert = fmt::format("{}{}experts.{}.", hf_layer, moe.hf, e);
    gate_up.push_back(expert + moe.hf_names[0] + ".weight");
    gate_up.push_back(expert + moe.hf_names[1] + ".weight");
    down.push_back(expert + moe.hf_names[2] + ".weight");
  }
  def.linear(layer + moe.mlc + "gate", moe.count, hidden, {hf_layer + moe.hf + "gate"});
  // Stacked [experts, out, in]: the split runs along out (gate and up apart) or in.
  def.experts(layer + moe.mlc + moe.gate_up, moe.count, 2 * i, hidden, std::move(gate_up),
              ShardStrategy{1, {i, i}});
  def.experts(layer + moe.mlc + moe.down, moe.count, hidden, i, std::move(down),
              ShardStrategy{2, {}});
}

StandardDims read_standard_dims(const ModelConfig& c, HeadRules heads) {
  StandardDims d;
  d.hidden = require_positive(c, "hidden_size");
  d.intermediate = require_positive(c, "intermediate_size");
  d.layers = require_positive(c, "num_hidden_layers");
  d.vocab = require_positive(c, "vocab_size");
  d.shards = heads.shards = c.shards();
  d.heads = read_heads(c, d.hidden, heads);
  check_split(d.intermediate, d.shards, "MLP intermediate size {}");
  return d;
}

namespace {

using Layout = StandardLayout;
using Part = std::pair<const char*, std::int64_t>;  // a module name and its rows

// One layer's parameters; `mlc` and `hf` are its module prefixes ("model.layers.N.").
void add_layer(ModelDef& def, const std::string& mlc, const std::string& hf,
               const StandardDims& dims, const Layout& layout) {
  const auto t = dims.shards, hidden = dims.hidden, head_dim = dims.heads.head_dim;
  const auto q = dims.heads.q_rows(t), kv = dims.heads.kv_rows(t), i = dims.intermediate / t;
  const auto a = mlc + "self_attn.", ha = hf + "self_attn.", m = mlc + "mlp.", hm = hf + "mlp.";
  if (layout.fused_qkv) {
    def.linear(a + layout.qkv, q + 2 * kv, hidden, {ha + "q_proj", ha + "k_proj", ha + "v_proj"},
               {.shard = ShardStrategy::rows({q, kv, kv}), .bias = layout.qkv_bias});
  } else {
    for (const auto& [name, rows] : {Part{"q_proj", q}, Part{"k_proj", kv}, Part{"v_proj", kv}})
      def.linear(a + name, rows, hidden, {ha + name},
                 {.shard = ShardStrategy::rows(), .bias = layout.qkv_bias});
  }
  def.linear(a + layout.o, hidden, q, {ha + "o_proj"},
             {.shard = ShardStrategy::cols(), .bias = layout.o_bias});
  if (layout.qk_norm != Layout::QkNorm::kNone) {
    const bool per_head = layout.qk_norm == Layout::QkNorm::kPerHead;
    for (const auto& [name, rows] : {Part{"q_norm", q}, Part{"k_norm", kv}})
      def.norm(a + name, per_head ? head_dim : rows,
               {.add_one = layout.norm_add_one, .source = ha + name});
  }
  if (layout.experts) {
    add_routed_experts(def, mlc, hf, *layout.experts, hidden, t);
  } else {
    if (layout.mlp == Layout::Mlp::kFusedGateUp) {
      def.linear(m + "gate_up_proj", 2 * i, hidden, {hm + "gate_proj", hm + "up_proj"},
                 {.shard = ShardStrategy::rows({i, i}), .bias = layout.mlp_bias});
    } else {
      if (layout.mlp == Layout::Mlp::kGateAndUp)
        def.linear(m + "gate_proj", i, hidden, {hm + "gate_proj"}, {.bias = layout.mlp_bias});
      def.linear(m + "up_proj", i, hidden, {hm + "up_proj"}, {.bias = layout.mlp_bias});
    }
    def.linear(m + "down_proj", hidden, i, {hm + "down_proj"},
               {.shard = ShardStrategy::cols(), .bias = layout.mlp_bias});
  }
  for (const auto& name : layout.norms)
    def.norm(mlc + name, hidden,
             {.bias = layout.norm_bias, .add_one = layout.norm_add_one, .source = hf + name});
  if (layout.unused_rotary) def.unused_sources.push_back(ha + "rotary_emb.inv_freq");
}

}  // namespace

ModelDef build_standard(const ModelConfig& c, const StandardDims& dims, const Layout& layout) {
  const auto &mlc = layout.mlc_prefix, &hf = layout.hf_prefix;
  const Dim vocab = layout.symbolic_vocab ? Dim{dims.vocab, "vocab_size"} : num(dims.vocab);
  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(dims.shards);
  def.add(mlc + "embed_tokens.weight", {vocab, num(dims.hidden)}, ParamRole::kEmbedding,
          {hf + "embed_tokens.weight"});
  for (std::int64_t n = 0; n < dims.layers; ++n) {
    const auto layer = fmt::format("layers.{}.", n);
    add_layer(def, mlc + layer, hf + layer, dims, layout);
  }
  if (layout.final_norm)
    def.norm(mlc + "norm", dims.hidden,
             {.bias = layout.norm_bias, .add_one = layout.norm_add_one, .source = hf + "norm"});
  if (layout.lm_head == Layout::LmHead::kAlways ||
      (layout.lm_head == Layout::LmHead::kUnlessTied && !c.get_bool("tie_word_embeddings", false)))
    def.final_fc("lm_head", vocab, dims.hidden);
  return def;
}

}  // namespace weightcast

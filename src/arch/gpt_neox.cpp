// GPT-NeoX / Pythia (MLC's gpt_neox/): HF's query_key_value interleaves q, k, v per head and
// MLC regroups its rows (weight and bias) as all q, all k, all v; the MLP biases stay float32
// (the Linear's out_dtype, ffn_out_dtype); the head is embed_out.
#include "arch/common.h"
#include "map/kinds.h"

namespace weightcast {

namespace {

// HF rows run head by head as [q, k, v] of head_dim each; MLC's run part by part (all q heads,
// then all k, then all v). Row r of MLC's tensor is this row of HF's.
MappingPtr qkv_regrouping(std::int64_t heads, std::int64_t head_dim) {
  const auto part_rows = heads * head_dim;
  return map::permute_rows(3 * part_rows, [=](std::int64_t r) {
    const auto part = r / part_rows, head = r % part_rows / head_dim;
    return head * 3 * head_dim + part * head_dim + r % head_dim;
  });
}

ModelDef build(const ModelConfig& c) {
  c.require({"use_parallel_residual", "layer_norm_eps", "rotary_pct"});
  c.require_context_window();
  const auto hidden = require_positive(c, "hidden_size");
  const auto inter = require_positive(c, "intermediate_size");
  const auto h = read_heads(c, hidden, {.kv = KvHeads::kNone, .fit = HeadFit::kCoversHidden});
  const auto layers = require_positive(c, "num_hidden_layers");
  const auto vocab_size = require_positive(c, "vocab_size");
  const auto ffn_out = c.get_string("ffn_out_dtype", "float32");
  const auto ffn_dtype = dtype_from_tvm_name(ffn_out);
  if (!ffn_dtype) fail("{}: unknown ffn_out_dtype \"{}\"", c.path().string(), ffn_out);
  const auto t = c.shards();
  check_split(h.heads, t, "{} attention heads");
  check_split(inter, t, "MLP intermediate size {}");
  const auto q = h.q_rows(t), i = inter / t;
  // MLC's layout transform uses the whole model's heads (it runs before any split).
  const auto regrouping = qkv_regrouping(h.heads, h.head_dim);

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  def.add("gpt_neox.embed_in.weight", {{vocab_size, "vocab_size"}, num(hidden)},
          ParamRole::kEmbedding, {"gpt_neox.embed_in.weight"});
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto l = fmt::format("gpt_neox.layers.{}.", n);
    const auto a = l + "attention.", m = l + "mlp.";
    def.norm(l + "input_layernorm", hidden, {.bias = true});
    def.norm(l + "post_attention_layernorm", hidden, {.bias = true});
    const auto qkv = def.linear(a + "query_key_value", 3 * q, hidden, {a + "query_key_value"},
                                {.shard = ShardStrategy::rows({q, q, q}), .bias = true});
    qkv.weight->mapping = qkv.bias->mapping = regrouping;
    def.linear(a + "dense", hidden, q, {a + "dense"},
               {.shard = ShardStrategy::cols(), .bias = true});
    // Only the biases: the weights are quantized like any other Linear's.
    def.linear(m + "dense_h_to_4h", i, hidden, {m + "dense_h_to_4h"},
               {.shard = ShardStrategy::rows(), .bias = true})
        .bias->dtype = *ffn_dtype;
    def.linear(m + "dense_4h_to_h", hidden, i, {m + "dense_4h_to_h"},
               {.shard = ShardStrategy::cols(), .bias = true})
        .bias->dtype = *ffn_dtype;
    for (const char* unused : {"rotary_emb.inv_freq", "masked_bias", "bias"})
      def.unused_sources.push_back(a + unused);
  }
  def.norm("gpt_neox.final_layer_norm", hidden, {.bias = true});
  def.final_fc("embed_out", {vocab_size, "vocab_size"}, hidden);
  return def;
}

}  // namespace

extern const Architecture kGptNeox{"gpt_neox", kStandardKinds, build};

}  // namespace weightcast

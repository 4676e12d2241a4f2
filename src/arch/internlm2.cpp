// InternLM2 (MLC's internlm2/): HF's wqkv interleaves, per key-value head, its group of q heads
// then k then v; MLC reorders the rows to all q, all k, all v (its bias is copied unchanged, as
// MLC does). w1|w3 fuse into gate_up_proj; the head is `output`, which MLC does not treat as a
// final FC (so it is quantized by every scheme).
#include "arch/standard.h"
#include "map/kinds.h"

namespace weightcast {

namespace {

// HF's wqkv runs key-value head by key-value head as blocks [its `groups` q heads, k, v];
// MLC's rows are all q heads, then all k, then all v. Row r of MLC's tensor is this row of HF's.
MappingPtr wqkv_regrouping(std::int64_t heads, std::int64_t kv_heads, std::int64_t head_dim) {
  const auto groups = heads / kv_heads, block = (groups + 2) * head_dim;
  const auto q_rows = heads * head_dim, kv_rows = kv_heads * head_dim;
  return map::permute_rows(q_rows + 2 * kv_rows, [=](std::int64_t r) {
    if (r < q_rows) return r / (groups * head_dim) * block + r % (groups * head_dim);
    r -= q_rows;
    const auto first = r < kv_rows ? groups : groups + 1;  // k, then v
    r %= kv_rows;
    return r / head_dim * block + first * head_dim + r % head_dim;
  });
}

ModelDef build(const ModelConfig& c) {
  c.require({"num_key_value_heads", "rms_norm_eps", "bias", "use_cache", "rope_theta",
             "pad_token_id", "bos_token_id", "eos_token_id"});
  c.require_context_window();
  const bool bias = c.get_bool("bias", false);
  check_split(c.require_int("num_attention_heads"), c.shards(), "{} attention heads");
  const auto [hidden, inter, layers, vocab, t, h] =
      read_standard_dims(c, {.kv = KvHeads::kRequired, .fit = HeadFit::kCoversHidden});
  const auto q = h.q_rows(t), kv = h.kv_rows(t), i = inter / t;
  // MLC's layout conversion uses hidden_size / num_attention_heads as the head size.
  const auto regrouping = wqkv_regrouping(h.heads, h.kv_heads, hidden / h.heads);

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  def.add("model.tok_embeddings.weight", {num(vocab), num(hidden)}, ParamRole::kEmbedding,
          {"model.tok_embeddings.weight"});
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto l = fmt::format("model.layers.{}.", n);
    const auto a = l + "attention.", f = l + "feed_forward.";
    def.linear(a + "wqkv", q + 2 * kv, hidden, {a + "wqkv"},
               {.shard = ShardStrategy::rows({q, kv, kv}), .bias = bias})
        .weight->mapping = regrouping;
    def.linear(a + "wo", hidden, q, {a + "wo"}, {.shard = ShardStrategy::cols(), .bias = bias});
    def.linear(f + "gate_up_proj", 2 * i, hidden, {f + "w1", f + "w3"},
               {.shard = ShardStrategy::rows({i, i})});
    def.linear(f + "w2", hidden, i, {f + "w2"}, {.shard = ShardStrategy::cols()});
    def.norm(l + "attention_norm", hidden);
    def.norm(l + "ffn_norm", hidden);
  }
  def.norm("model.norm", hidden);
  def.linear("output", vocab, hidden, {"output"});
  return def;
}

}  // namespace

extern const Architecture kInternLm2{"internlm2", kStandardKinds, build};

}  // namespace weightcast

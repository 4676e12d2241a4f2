// Qwen v1 (MLC's qwen/): HF's own names (transformer.h.N), q|k|v already fused in attn.c_attn
// (with a bias), MLP w1 and w2 fused into gate_up_proj, RMSNorms ln_1 / ln_2, every head with its
// own k and v, and an lm_head always. intermediate_size counts both halves of gate_up_proj.
#include "arch/common.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
             "layer_norm_epsilon", "scale_attn_weights", "kv_channels", "rotary_emb_base",
             "intermediate_size"});
  c.require_context_window();
  const auto vocab = require_positive(c, "vocab_size");
  const auto hidden = require_positive(c, "hidden_size");
  const auto layers = require_positive(c, "num_hidden_layers");
  const auto inter = require_positive(c, "intermediate_size");
  const auto h = read_heads(c, hidden, {.kv = KvHeads::kNone, .fit = HeadFit::kCoversHidden});
  const auto t = c.shards();
  check_split(h.heads, t, "{} attention heads");
  check_split(inter, t, "MLP intermediate size {}");
  const auto q = h.q_rows(t), i = inter / t;

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  def.add("transformer.wte.weight", {num(vocab), num(hidden)}, ParamRole::kEmbedding,
          {"transformer.wte.weight"});
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto l = fmt::format("transformer.h.{}.", n);
    def.linear(l + "attn.c_attn", 3 * q, hidden, {l + "attn.c_attn"},
               {.shard = ShardStrategy::rows({q, q, q}), .bias = true});
    def.linear(l + "attn.c_proj", hidden, q, {l + "attn.c_proj"}, {.shard = ShardStrategy::cols()});
    // gate_up_proj has intermediate_size / T rows (w1 then w2, half each); c_proj reads half.
    def.linear(l + "mlp.gate_up_proj", i, hidden, {l + "mlp.w1", l + "mlp.w2"},
               {.shard = ShardStrategy::rows({i / 2, i / 2})});
    def.linear(l + "mlp.c_proj", hidden, i / 2, {l + "mlp.c_proj"},
               {.shard = ShardStrategy::cols()});
    def.norm(l + "ln_1", hidden);
    def.norm(l + "ln_2", hidden);
  }
  def.norm("transformer.ln_f", hidden);
  def.final_fc("lm_head", num(vocab), hidden);
  return def;
}

}  // namespace

extern const Architecture kQwen{"qwen", kStandardKinds, build};

}  // namespace weightcast

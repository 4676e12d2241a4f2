// Baichuan (MLC's baichuan/): HF's fused W_pack (q|k|v, no GQA) read as is, Llama's MLP and
// norms, an lm_head always.
#include "arch/common.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"initializer_range", "rms_norm_eps", "use_cache", "pad_token_id", "bos_token_id",
             "eos_token_id", "tie_word_embeddings"});
  c.require_context_window();
  const auto hidden = require_positive(c, "hidden_size");
  const auto inter = require_positive(c, "intermediate_size");
  const auto layers = require_positive(c, "num_hidden_layers");
  const auto vocab = require_positive(c, "vocab_size");
  const auto h = read_heads(c, hidden, {.kv = KvHeads::kNone, .fit = HeadFit::kCoversHidden});
  const auto t = c.shards();
  check_split(h.heads, t, "{} attention heads");
  check_split(inter, t, "MLP intermediate size {}");
  const auto q = h.q_rows(t), i = inter / t;

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  def.add("model.embed_tokens.weight", {num(vocab), num(hidden)}, ParamRole::kEmbedding,
          {"model.embed_tokens.weight"});
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto l = fmt::format("model.layers.{}.", n);
    const auto a = l + "self_attn.", m = l + "mlp.";
    def.linear(a + "W_pack", 3 * q, hidden, {a + "W_pack"},
               {.shard = ShardStrategy::rows({q, q, q})});
    def.linear(a + "o_proj", hidden, q, {a + "o_proj"}, {.shard = ShardStrategy::cols()});
    def.linear(m + "gate_up_proj", 2 * i, hidden, {m + "gate_proj", m + "up_proj"},
               {.shard = ShardStrategy::rows({i, i})});
    def.linear(m + "down_proj", hidden, i, {m + "down_proj"}, {.shard = ShardStrategy::cols()});
    def.norm(l + "input_layernorm", hidden);
    def.norm(l + "post_attention_layernorm", hidden);
  }
  def.norm("model.norm", hidden);
  def.final_fc("lm_head", num(vocab), hidden);
  return def;
}

}  // namespace

extern const Architecture kBaichuan{"baichuan", kStandardKinds, build};

}  // namespace weightcast

// GPT-2 (MLC's gpt2/): the original checkpoint layout with unprefixed names (h.N.attn.c_attn,
// ...), Conv1D weights stored [in, out] and transposed, biases everywhere, learned position
// embeddings, and an lm_head read from wte.
#include "arch/common.h"
#include "map/kinds.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"layer_norm_epsilon"});
  const auto hidden = require_positive(c, "n_embd");
  const auto layers = require_positive(c, "n_layer");
  const auto vocab_size = require_positive(c, "vocab_size");
  auto ctx = c.get_int("context_window_size", 0);
  if (ctx == 0) ctx = c.get_int("n_positions", c.get_int("max_sequence_length", 0));
  if (ctx <= 0)
    fail(
        "Unable to determine the maximum sequence length, because none of "
        "`context_window_size`, `n_positions` or `max_sequence_length` is provided in "
        "`config.json`.");
  auto inner = c.get_int("n_inner", -1);
  if (inner == -1) inner = 4 * hidden;
  const auto h = read_heads(c, hidden,
                            {.kv = KvHeads::kNone,
                             .fit = HeadFit::kCoversHidden,
                             .heads_key = "n_head",
                             .hidden_key = "n_embd"});
  const auto t = c.shards();
  check_split(h.heads, t, "{} attention heads");
  check_split(inner, t, "MLP intermediate size {}");
  const auto q = h.q_rows(t), i = inner / t;

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  const Dim vocab{vocab_size, "vocab_size"};
  // First in MLC's mapping, so it is loaded (and written) before the embedding it shares.
  def.final_fc("lm_head", vocab, hidden, {.source = "wte"});
  def.add("transformer.wte.weight", {vocab, num(hidden)}, ParamRole::kEmbedding, {"wte.weight"});
  def.add("transformer.wpe.weight", {num(ctx), num(hidden)}, ParamRole::kEmbedding, {"wpe.weight"});
  const auto conv1d = [&](const std::string& name, std::int64_t out, std::int64_t in,
                          ShardStrategy shard) {
    def.linear("transformer." + name, out, in, {name}, {.shard = shard, .bias = true})
        .weight->mapping = map::transpose();
  };
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto l = fmt::format("h.{}.", n);
    def.norm("transformer." + l + "ln_1", hidden, {.bias = true, .source = l + "ln_1"});
    conv1d(l + "attn.c_attn", 3 * q, hidden, ShardStrategy::rows({q, q, q}));
    conv1d(l + "attn.c_proj", hidden, q, ShardStrategy::cols());
    def.norm("transformer." + l + "ln_2", hidden, {.bias = true, .source = l + "ln_2"});
    conv1d(l + "mlp.c_fc", i, hidden, ShardStrategy::rows());
    conv1d(l + "mlp.c_proj", hidden, i, ShardStrategy::cols());
    def.unused_sources.push_back(l + "attn.bias");
  }
  def.norm("transformer.ln_f", hidden, {.bias = true, .source = "ln_f"});
  return def;
}

}  // namespace

extern const Architecture kGpt2{"gpt2", kStandardKinds, build};

}  // namespace weightcast

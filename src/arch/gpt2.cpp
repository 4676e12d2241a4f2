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
  const auto heads = require_positive(c, "n_head");
  require_positive(c, "vocab_size");
  auto ctx = c.get_int("context_window_size", 0);
  if (ctx == 0) ctx = c.get_int("n_positions", c.get_int("max_sequence_length", 0));
  if (ctx <= 0)
    fail(
        "Unable to determine the maximum sequence length, because none of "
        "`context_window_size`, `n_positions` or `max_sequence_length` is provided in "
        "`config.json`.");
  auto inner = c.get_int("n_inner", -1);
  if (inner == -1) inner = 4 * hidden;
  auto head_dim = c.get_int("head_dim", 0);
  if (head_dim == 0) head_dim = hidden / heads;
  if (head_dim * heads != hidden)
    fail("{}: head_dim ({}) x n_head ({}) must equal n_embd ({})", c.path().string(), head_dim,
         heads, hidden);
  const auto t = c.shards();
  check_split(heads, t, "{} attention heads");
  check_split(inner, t, "MLP intermediate size {}");
  const auto q = heads / t * head_dim, i = inner / t;

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  const Dim vocab{0, "vocab_size"};
  // First in MLC's mapping, so it is loaded (and written) before the embedding it shares.
  def.final_fc("lm_head", vocab, hidden, "wte");
  def.add("transformer.wte.weight", {vocab, num(hidden)}, ParamRole::kEmbedding, {"wte.weight"});
  def.add("transformer.wpe.weight", {num(ctx), num(hidden)}, ParamRole::kEmbedding, {"wpe.weight"});
  const auto conv1d = [&](const std::string& name, std::int64_t out, std::int64_t in,
                          ShardStrategy shard) {
    def.linear("transformer." + name, out, in, {name}, shard, true);
    def.params[def.params.size() - 2].mapping = map::transpose();
  };
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto h = fmt::format("h.{}.", n);
    def.norm("transformer." + h + "ln_1", hidden, true, false, h + "ln_1");
    conv1d(h + "attn.c_attn", 3 * q, hidden, {0, {q, q, q}});
    conv1d(h + "attn.c_proj", hidden, q, {1, {}});
    def.norm("transformer." + h + "ln_2", hidden, true, false, h + "ln_2");
    conv1d(h + "mlp.c_fc", i, hidden, {0, {}});
    conv1d(h + "mlp.c_proj", hidden, i, {1, {}});
    def.unused_sources.push_back(h + "attn.bias");
  }
  def.norm("transformer.ln_f", hidden, true, false, "ln_f");
  return def;
}

}  // namespace

extern const Architecture kGpt2{
    "gpt2", {QuantKind::kNoQuant, QuantKind::kGroupQuant, QuantKind::kFt}, build};

}  // namespace weightcast

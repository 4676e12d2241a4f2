// GPT-BigCode / StarCoder 1 (MLC's gpt_bigcode/): every tensor read 1:1 under its HF name;
// multi-query attention (c_attn = all q heads + one k + one v head), biases everywhere, learned
// position embeddings. MLC supports no tensor parallelism for it.
#include "arch/common.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"layer_norm_epsilon"});
  const auto hidden = require_positive(c, "n_embd");
  const auto inner = require_positive(c, "n_inner");
  const auto heads = require_positive(c, "n_head");
  const auto layers = require_positive(c, "n_layer");
  const auto positions = c.require_int("n_positions");
  const auto vocab_size = require_positive(c, "vocab_size");
  if (c.get_int("context_window_size", 0) == 0 && positions <= 0)
    fail(
        "Unable to determine the maximum sequence length, because none of "
        "`context_window_size`, `max_position_embeddings` or `max_sequence_length` is provided "
        "in `config.json`.");
  if (hidden % heads != 0)
    fail("{}: n_embd ({}) must be divisible by n_head ({})", c.path().string(), hidden, heads);
  if (c.shards() != 1) fail("GPT bigcode only support tensor parallel shards = 1");
  const auto d = hidden / heads;

  ModelDef def;
  const Dim vocab{vocab_size, "vocab_size"};
  def.add("transformer.wte.weight", {vocab, num(hidden)}, ParamRole::kEmbedding,
          {"transformer.wte.weight"});
  def.add("transformer.wpe.weight", {num(positions), num(hidden)}, ParamRole::kEmbedding,
          {"transformer.wpe.weight"});
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto h = fmt::format("transformer.h.{}.", n);
    def.norm(h + "ln_1", hidden, {.bias = true});
    def.linear(h + "attn.c_attn", hidden + 2 * d, hidden, {h + "attn.c_attn"}, {.bias = true});
    def.linear(h + "attn.c_proj", hidden, hidden, {h + "attn.c_proj"}, {.bias = true});
    def.norm(h + "ln_2", hidden, {.bias = true});
    def.linear(h + "mlp.c_fc", inner, hidden, {h + "mlp.c_fc"}, {.bias = true});
    def.linear(h + "mlp.c_proj", hidden, inner, {h + "mlp.c_proj"}, {.bias = true});
  }
  def.norm("transformer.ln_f", hidden, {.bias = true});
  def.final_fc("lm_head", vocab, hidden);
  return def;
}

}  // namespace

extern const Architecture kGptBigCode{"gpt_bigcode", kStandardKinds, build};

}  // namespace weightcast

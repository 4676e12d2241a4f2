// GPT-J (MLC's gpt_j/): HF's names (transformer.h.N), q, k and v fused into attn.c_attn (no
// biases), out_proj, a parallel attention + MLP block behind one LayerNorm (ln_1), fc_in / fc_out
// with biases, and an lm_head with a bias.
//
// MLC's own GPT-J loader cannot run: it looks up the fused projection as
// `transformer.h.N.self_attn.c_attn`, a name its model does not have (the model's is
// `...attn.c_attn`), and fails with a KeyError. weightcast does what that loader evidently
// intends: c_attn from HF's attn.q_proj, attn.k_proj and attn.v_proj, everything else one to one.
#include "arch/common.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"vocab_size", "n_embd", "n_layer", "n_head", "layer_norm_epsilon", "rotary_dim",
             "activation_function"});
  const auto act = c.get_string("activation_function", "");
  if (act != "gelu" && act != "relu" && act != "silu" && act != "swish" && act != "gelu_new")
    fail("{}: activation_function \"{}\" is not one MLC's GPT-J knows", c.path().string(), act);
  if (c.get_int("context_window_size", 0) == 0 && !c.has("max_position_embeddings") &&
      !c.has("n_positions"))
    c.require_context_window();  // MLC's message (it names max_sequence_length)
  const auto vocab = require_positive(c, "vocab_size");
  const auto hidden = require_positive(c, "n_embd");
  const auto layers = require_positive(c, "n_layer");
  // n_inner null means 4 x n_embd; MLC leaves an absent one at -1, which it cannot build.
  if (!c.json().contains("n_inner"))
    fail("{}: n_inner is missing (null means 4 x n_embd)", c.path().string());
  const auto inner = c.has("n_inner") ? require_positive(c, "n_inner") : 4 * hidden;
  const auto h = read_heads(c, hidden,
                            {.kv = KvHeads::kNone,
                             .fit = HeadFit::kCoversHidden,
                             .heads_key = "n_head",
                             .hidden_key = "n_embd"});
  // MLC's GPT-J divides the heads by the shard count but not out_proj, fc_in or fc_out, so its
  // own split cannot produce their shards.
  if (c.shards() > 1)
    fail<NotImplementedError>(
        "gptj cannot be pre-sharded: MLC's GPT-J keeps out_proj, fc_in and fc_out whole per "
        "shard, so its own split of them fails");
  const auto q = h.heads * h.head_dim;

  ModelDef def;
  def.add("transformer.wte.weight", {num(vocab), num(hidden)}, ParamRole::kEmbedding,
          {"transformer.wte.weight"});
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto l = fmt::format("transformer.h.{}.", n), a = l + "attn.";
    def.norm(l + "ln_1", hidden, {.bias = true});
    def.linear(a + "c_attn", 3 * q, hidden, {a + "q_proj", a + "k_proj", a + "v_proj"},
               {.shard = ShardStrategy::rows({q, q, q})});
    def.linear(a + "out_proj", hidden, hidden, {a + "out_proj"}, {.shard = ShardStrategy::cols()});
    def.linear(l + "mlp.fc_in", inner, hidden, {l + "mlp.fc_in"},
               {.shard = ShardStrategy::rows(), .bias = true});
    def.linear(l + "mlp.fc_out", hidden, inner, {l + "mlp.fc_out"},
               {.shard = ShardStrategy::cols(), .bias = true});
  }
  def.norm("transformer.ln_f", hidden, {.bias = true});
  def.final_fc("lm_head", num(vocab), hidden, {.bias = true});
  return def;
}

}  // namespace

extern const Architecture kGptJ{"gptj", kStandardKinds, build};

}  // namespace weightcast

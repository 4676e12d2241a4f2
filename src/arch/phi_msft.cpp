// Phi-1.5 / Phi-2 in Microsoft's original layouts (MLC's phi/, its phi-msft loader): the same
// MLC parameters as `phi` (phi.cpp), read from "phi-msft" names (transformer.embd.wte,
// transformer.h.N...., lm_head.ln / lm_head.linear) or, for a config whose model_type is
// "mixformer-sequential" (auto-detected as phi-msft), from the sequential layers.N. names:
// layers.0 the embedding, layers.1..n the blocks, layers.n+1 the head. Every config field has
// MLC's Phi-2 default.
#include "arch/common.h"

namespace weightcast {

namespace {

// The source name of MLC's `mlc` under each layout; `block` is the layer (-1: none).
struct Names {
  bool sequential = false;
  std::int64_t layers = 0;
  std::string block(std::int64_t n) const {
    return sequential ? fmt::format("layers.{}.", n + 1) : fmt::format("transformer.h.{}.", n);
  }
  std::string head() const {
    return sequential ? fmt::format("layers.{}.", layers + 1) : std::string("lm_head.");
  }
  std::string embedding() const {
    return sequential ? "layers.0.wte.weight" : "transformer.embd.wte.weight";
  }
};

Heads read_phi_heads(const ModelConfig& c, std::int64_t hidden, std::int64_t t) {
  Heads h;
  h.heads = c.get_size("n_head", 32);
  h.kv_heads = c.get_size("n_head_kv", 0);
  if (h.kv_heads == 0) h.kv_heads = h.heads;
  h.head_dim = c.get_size("head_dim", 0);
  if (h.heads <= 0 || h.kv_heads <= 0 || h.head_dim < 0)
    fail("{}: n_head and n_head_kv must be positive", c.path().string());
  if (h.head_dim == 0) h.head_dim = hidden / h.heads;
  if (h.head_dim * h.heads != hidden || h.heads % h.kv_heads != 0)
    fail("{}: head_dim x n_head must equal n_embd, and n_head must be a multiple of n_head_kv",
         c.path().string());
  if (h.heads % t != 0) fail("n_head({}) must be divisible by tensor_parallel_shards", h.heads);
  if (h.kv_heads % t != 0)
    fail("n_head({}) must be divisible by tensor_parallel_shards", h.kv_heads);
  return h;
}

ModelDef build(const ModelConfig& c) {
  // MLC's loader picks the names by the config's own model_type (a required field); any other
  // value maps nothing.
  c.require({"model_type"});
  const auto type = c.get_string("model_type", "");
  if (type != "phi-msft" && type != "mixformer-sequential")
    fail(
        "{}: model_type \"{}\": MLC's phi-msft loader reads only phi-msft or "
        "mixformer-sequential checkpoints",
        c.path().string(), type);
  const auto hidden = c.get_size("n_embd", 2560);
  const auto layers = c.get_size("n_layer", 32);
  const auto vocab = c.get_size("vocab_size", 51200);
  if (hidden <= 0 || layers <= 0 || vocab <= 0)
    fail("{}: n_embd, n_layer and vocab_size must be positive", c.path().string());
  auto inner = c.get_size("n_inner", 0);
  if (inner == 0) inner = 4 * hidden;
  const auto t = c.shards();
  const auto h = read_phi_heads(c, hidden, t);
  check_split(inner, t, "MLP intermediate size {}");
  const auto q = h.q_rows(t), kv = h.kv_rows(t), i = inner / t;
  const Names src{type == "mixformer-sequential", layers};

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  def.add("transformer.embd.weight", {num(vocab), num(hidden)}, ParamRole::kEmbedding,
          {src.embedding()});
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto mlc = fmt::format("transformer.h.{}.", n), hf = src.block(n);
    def.norm(mlc + "ln", hidden, {.bias = true, .source = hf + "ln"});
    def.linear(mlc + "mixer.Wqkv", q + 2 * kv, hidden, {hf + "mixer.Wqkv"},
               {.shard = ShardStrategy::rows({q, kv, kv}), .bias = true});
    def.linear(mlc + "mixer.out_proj", hidden, q, {hf + "mixer.out_proj"},
               {.shard = ShardStrategy::cols(), .bias = true});
    def.linear(mlc + "mlp.fc1", i, hidden, {hf + "mlp.fc1"},
               {.shard = ShardStrategy::rows(), .bias = true});
    def.linear(mlc + "mlp.fc2", hidden, i, {hf + "mlp.fc2"},
               {.shard = ShardStrategy::cols(), .bias = true});
    if (src.sequential) def.unused_sources.push_back(hf + "mixer.rotary_emb.inv_freq");
  }
  def.norm("lm_head.ln", hidden, {.bias = true, .source = src.head() + "ln"});
  def.final_fc("lm_head.linear", Dim{vocab, "vocab_size"}, hidden,
               {.source = src.head() + "linear", .bias = true});
  return def;
}

}  // namespace

extern const Architecture kPhiMsft{"phi-msft", kStandardKinds, build};

}  // namespace weightcast

// BERT (MLC's bert/, an embedding model; web-llm ships BGE builds of it): word, position and
// token-type embeddings (all three quantized as embeddings), a LayerNorm, then encoder layers of
// q|k|v fused into attention.self.qkv with its biases, the attention output dense + LayerNorm,
// the intermediate dense and the output dense + LayerNorm, every Linear with a bias. No head.
//
// Both model types read HF's BertModel names without a prefix (a checkpoint saved with `bert.`
// names does not convert, as in MLC); bert-bge declares BGE's pooler and position_ids unused.
// The position table has context_window_size rows.
#include "arch/common.h"

namespace weightcast {

namespace {

struct Dims {
  std::int64_t vocab, hidden, layers, heads, head_dim, intermediate, positions, types;
};

Dims read_dims(const ModelConfig& c, std::string_view type) {
  c.require({"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "hidden_act",
             "layer_norm_eps"});
  // A field without a default, which may be null (or -1): 4 x hidden_size then.
  if (!c.json().contains("intermediate_size"))
    fail("{}: missing required field \"intermediate_size\"", c.path().string());
  Dims d{};
  d.vocab = require_positive(c, "vocab_size");
  d.hidden = require_positive(c, "hidden_size");
  d.layers = require_positive(c, "num_hidden_layers");
  d.heads = require_positive(c, "num_attention_heads");
  d.intermediate = !c.has("intermediate_size") || c.get_int("intermediate_size", 0) == -1
                       ? 4 * d.hidden
                       : require_positive(c, "intermediate_size");
  d.positions = c.get_size("context_window_size", 0);
  if (d.positions == 0) {
    c.require_context_window();
    d.positions = c.has("max_position_embeddings") ? require_positive(c, "max_position_embeddings")
                                                   : require_positive(c, "max_sequence_length");
  }
  d.types = c.get_size("type_vocab_size", 2);
  d.head_dim = c.get_size("head_dim", 0);
  if (d.head_dim == 0) d.head_dim = d.hidden / d.heads;
  if (d.positions <= 0 || d.types <= 0 || d.head_dim <= 0 || d.head_dim * d.heads != d.hidden)
    fail(
        "{}: context_window_size and type_vocab_size must be positive, and head_dim ({}) x "
        "num_attention_heads ({}) must equal hidden_size ({})",
        c.path().string(), d.head_dim, d.heads, d.hidden);
  const auto act = c.get_string("hidden_act", "");
  if (act != "gelu" && act != "relu" && act != "silu" && act != "swish" && act != "gelu_new")
    fail("{}: hidden_act \"{}\" is not one MLC's BERT knows", c.path().string(), act);
  const auto t = c.shards();
  // MLC's message, missing space included.
  if (d.heads % t != 0) fail("Cannot split {} attention headsevenly to {} GPUs.", d.heads, t);
  // MLC's BERT sizes qkv per shard but keeps the output dense whole and declares no split.
  if (t > 1)
    fail<NotImplementedError>(
        "{} cannot be pre-sharded: MLC's BERT sizes qkv per shard but keeps the attention output "
        "whole and declares no tensor-parallel split, so its own model fails to build",
        type);
  return d;
}

ModelDef build(const ModelConfig& c, bool bge) {
  const auto d = read_dims(c, bge ? "bert-bge" : "bert");
  ModelDef def;
  for (auto [name, rows] : {std::pair{"word_embeddings", d.vocab},
                            {"position_embeddings", d.positions},
                            {"token_type_embeddings", d.types}}) {
    const auto full = fmt::format("embeddings.{}.weight", name);
    def.add(full, {num(rows), num(d.hidden)}, ParamRole::kEmbedding, {full});
  }
  def.norm("embeddings.LayerNorm", d.hidden, {.bias = true});
  const auto q = d.heads * d.head_dim;
  for (std::int64_t n = 0; n < d.layers; ++n) {
    const auto l = fmt::format("encoder.layer.{}.", n), a = l + "attention.";
    def.linear(a + "self.qkv", 3 * q, d.hidden,
               {a + "self.query", a + "self.key", a + "self.value"}, {.bias = true});
    def.linear(a + "output.dense", d.hidden, d.hidden, {a + "output.dense"}, {.bias = true});
    def.norm(a + "output.LayerNorm", d.hidden, {.bias = true});
    def.linear(l + "intermediate.dense", d.intermediate, d.hidden, {l + "intermediate.dense"},
               {.bias = true});
    def.linear(l + "output.dense", d.hidden, d.intermediate, {l + "output.dense"}, {.bias = true});
    def.norm(l + "output.LayerNorm", d.hidden, {.bias = true});
  }
  if (bge)
    def.unused_sources = {"pooler.dense.weight", "pooler.dense.bias", "embeddings.position_ids"};
  return def;
}

ModelDef build_bert(const ModelConfig& c) {
  return build(c, false);
}
ModelDef build_bge(const ModelConfig& c) {
  return build(c, true);
}

}  // namespace

extern const Architecture kBert{"bert", kStandardKinds, build_bert};
extern const Architecture kBertBge{"bert-bge", kStandardKinds, build_bge};

}  // namespace weightcast

// Phi-3 (MLC's phi3/): HF's already fused qkv_proj and gate_up_proj, read as is under MLC's
// transformer.h.N.{ln, mixer, mlp} names; a concrete-vocabulary embedding and an optional
// lm_head over a symbolic vocabulary.
#include "arch/phi3.h"

#include "arch/standard.h"

namespace weightcast {

ModelDef build_phi3(const ModelConfig& c, const std::string& prefix, bool always_lm_head) {
  c.require({"model_type", "rms_norm_eps", "num_key_value_heads", "max_position_embeddings"});
  const auto [hidden, inter, layers, vocab, t, h] =
      read_standard_dims(c, {.fit = HeadFit::kCoversHidden});
  const auto& j = c.json();
  if (j.contains("rope_scaling") && j["rope_scaling"].is_object() &&
      j["rope_scaling"].contains("type")) {
    const auto type = j["rope_scaling"]["type"];
    if (type != "su" && type != "longrope")
      fail("Unsupported RoPE scaling type {} for Phi3", type.dump());
  }
  const auto q = h.q_rows(t), kv = h.kv_rows(t), i = inter / t;

  ModelDef def;
  def.tensor_parallel_shards = static_cast<int>(t);
  def.add(prefix + "embd.weight", {num(vocab), num(hidden)}, ParamRole::kEmbedding,
          {"model.embed_tokens.weight"});
  for (std::int64_t n = 0; n < layers; ++n) {
    const auto hf = fmt::format("model.layers.{}.", n), mlc = fmt::format("{}h.{}.", prefix, n);
    def.norm(mlc + "ln", hidden, {.source = hf + "input_layernorm"});
    def.linear(mlc + "mixer.qkv_proj", q + 2 * kv, hidden, {hf + "self_attn.qkv_proj"},
               {.shard = ShardStrategy::rows({q, kv, kv})});
    def.linear(mlc + "mixer.out_proj", hidden, q, {hf + "self_attn.o_proj"},
               {.shard = ShardStrategy::cols()});
    def.linear(mlc + "mlp.gate_up_proj", 2 * i, hidden, {hf + "mlp.gate_up_proj"},
               {.shard = ShardStrategy::rows({i, i})});
    def.linear(mlc + "mlp.down_proj", hidden, i, {hf + "mlp.down_proj"},
               {.shard = ShardStrategy::cols()});
    def.norm(mlc + "post_attention_layernorm", hidden, {.source = hf + "post_attention_layernorm"});
  }
  def.norm(prefix + "norm", hidden, {.source = "model.norm"});
  if (always_lm_head || !c.get_bool("tie_word_embeddings", false))
    def.final_fc("lm_head", Dim{vocab, "vocab_size"}, hidden);
  return def;
}

namespace {
ModelDef build(const ModelConfig& c) {
  return build_phi3(c, "transformer.", false);
}
}  // namespace

extern const Architecture kPhi3{"phi3", kStandardKinds, build};

}  // namespace weightcast

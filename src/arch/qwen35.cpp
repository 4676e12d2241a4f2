// Qwen3.5 (MLC's qwen35/, deployed by web-llm as qwen3_5 and qwen3_5_text): a hybrid decoder
// whose every full_attention_interval-th layer is gated softmax attention and the others
// GatedDeltaNet linear attention (fused in_proj_qkv, in_proj_z / _a / _b, out_proj, a depthwise
// conv1d kernel, A_log and dt_bias kept in float32, and a gated RMSNorm). A multimodal config
// nests the text model in text_config, whose fields MLC lays over the top-level ones.
//
// MLC's loader reads every text tensor under `model.language_model.` (the layout of
// Qwen3_5ForConditionalGeneration, whatever the model type) and the head as `lm_head`; the vision
// tower and the multi-token-prediction head are left unread. Qwen3.5's RMSNorms scale by
// (1 + w): the loader adds 1 in float32, except to the gated norm of the linear-attention layers.
#include "arch/common.h"
#include "map/kinds.h"

namespace weightcast {

namespace {

struct Dims {
  std::int64_t hidden, intermediate, layers, vocab, interval;
  std::int64_t heads, kv_heads, head_dim;               // the full-attention layers
  std::int64_t k_heads, v_heads, k_dim, v_dim, kernel;  // the GatedDeltaNet layers
};

Dims read_dims(const ModelConfig& c) {
  // Every field has a default in MLC; the sizes default to 0, which builds nothing.
  Dims d{};
  for (auto [field, key] : {std::pair{&d.hidden, "hidden_size"},
                            {&d.intermediate, "intermediate_size"},
                            {&d.heads, "num_attention_heads"},
                            {&d.layers, "num_hidden_layers"},
                            {&d.kv_heads, "num_key_value_heads"},
                            {&d.vocab, "vocab_size"}})
    *field = require_positive(c, key);
  const auto positive = [&](const char* key, std::int64_t fallback) {
    const auto v = c.get_size(key, fallback);
    if (v <= 0) fail("{}: field \"{}\" must be positive, got {}", c.path().string(), key, v);
    return v;
  };
  d.head_dim = positive("head_dim", 256);
  d.k_dim = positive("linear_key_head_dim", 128);
  d.v_dim = positive("linear_value_head_dim", 128);
  d.k_heads = positive("linear_num_key_heads", 16);
  d.v_heads = positive("linear_num_value_heads", 16);
  d.kernel = positive("linear_conv_kernel_dim", 4);
  d.interval = positive("full_attention_interval", 4);  // MLC divides by it
  const auto act = c.get_string("hidden_act", "silu");
  if (act != "silu" && act != "gelu" && act != "relu")
    fail("{}: hidden_act \"{}\" is not one MLC's Qwen3.5 knows (gelu, relu, silu)",
         c.path().string(), act);
  for (const char* flag : {"attention_bias", "tie_word_embeddings"}) c.get_bool(flag, false);
  if (c.get_int("context_window_size", 0) == 0) c.require_context_window();
  // MLC's Qwen3.5 divides the attention heads and the MLP by the shard count but declares no
  // split for any parameter, so its conversion fails on the first whole tensor.
  if (c.shards() > 1)
    fail<NotImplementedError>(
        "qwen3_5 cannot be pre-sharded: MLC's Qwen3.5 declares no tensor-parallel split for its "
        "parameters while sizing its attention and MLP per shard, so its own conversion fails");
  return d;
}

void linear_attention(ModelDef& def, const Dims& d, const std::string& mlc, const std::string& hf) {
  const auto qkv = 2 * d.k_heads * d.k_dim + d.v_heads * d.v_dim, z = d.v_heads * d.v_dim;
  def.linear(mlc + "in_proj_qkv", qkv, d.hidden, {hf + "in_proj_qkv"});
  def.linear(mlc + "in_proj_z", z, d.hidden, {hf + "in_proj_z"});
  def.linear(mlc + "in_proj_a", d.v_heads, d.hidden, {hf + "in_proj_a"});
  def.linear(mlc + "in_proj_b", d.v_heads, d.hidden, {hf + "in_proj_b"});
  def.linear(mlc + "out_proj", d.hidden, z, {hf + "out_proj"});
  def.add(mlc + "conv1d_weight", {num(qkv), num(1), num(d.kernel)}, ParamRole::kOther,
          {hf + "conv1d.weight"});
  for (const char* name : {"A_log", "dt_bias"})
    def.add(mlc + name, {num(d.v_heads)}, ParamRole::kOther, {hf + name}).dtype = DType::kF32;
  def.norm(mlc + "norm", d.v_dim, {.source = hf + "norm"});  // gated: no + 1
}

// q_proj holds each head's query and output gate side by side (2 x head_dim rows per head).
void full_attention(ModelDef& def, const Dims& d, bool bias, const std::string& mlc,
                    const std::string& hf) {
  const auto rows = (2 * d.heads + 2 * d.kv_heads) * d.head_dim;
  // MLC's loader fuses only the weights; its c_attn.bias would be read under the fused name,
  // which no checkpoint has. The biases are fused like the weights, as evidently intended.
  def.linear(mlc + "c_attn", rows, d.hidden, {hf + "q_proj", hf + "k_proj", hf + "v_proj"},
             {.bias = bias});
  def.linear(mlc + "o_proj", d.hidden, d.heads * d.head_dim, {hf + "o_proj"}, {.bias = bias});
  for (const char* norm : {"q_norm", "k_norm"})
    def.norm(mlc + norm, d.head_dim, {.source = hf + norm}).weight->mapping = map::add_one_f32();
}

ModelDef build(const ModelConfig& config) {
  // Qwen35Config: tie_word_embeddings included; text_config's "kwargs" is no field.
  const auto c = merge_text_config(config, {"kwargs"}, {});
  const auto d = read_dims(c);
  const bool bias = c.get_bool("attention_bias", false);
  const std::string hf = "model.language_model.";
  const auto norm = [&](ModelDef& def, const std::string& name, std::int64_t dim) {
    def.norm("model." + name, dim, {.source = hf + name}).weight->mapping = map::add_one_f32();
  };
  ModelDef def;
  def.add("model.embed_tokens.weight", {num(d.vocab), num(d.hidden)}, ParamRole::kEmbedding,
          {hf + "embed_tokens.weight"});
  for (std::int64_t n = 0; n < d.layers; ++n) {
    const auto l = fmt::format("layers.{}.", n), ml = "model." + l, hl = hf + l;
    if ((n + 1) % d.interval == 0)
      full_attention(def, d, bias, ml + "self_attn.", hl + "self_attn.");
    else
      linear_attention(def, d, ml + "linear_attn.", hl + "linear_attn.");
    def.linear(ml + "mlp.gate_up_proj", 2 * d.intermediate, d.hidden,
               {hl + "mlp.gate_proj", hl + "mlp.up_proj"});
    def.linear(ml + "mlp.down_proj", d.hidden, d.intermediate, {hl + "mlp.down_proj"});
    norm(def, l + "input_layernorm", d.hidden);
    norm(def, l + "post_attention_layernorm", d.hidden);
  }
  norm(def, "norm", d.hidden);
  if (!c.get_bool("tie_word_embeddings", false)) def.final_fc("lm_head", num(d.vocab), d.hidden);
  return def;
}

}  // namespace

extern const Architecture kQwen35{"qwen3_5", kStandardKinds, build};
extern const Architecture kQwen35Text{"qwen3_5_text", kStandardKinds, build};

}  // namespace weightcast

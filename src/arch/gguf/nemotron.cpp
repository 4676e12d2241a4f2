// Nemotron's GGUF view: Llama's names (a squared-ReLU MLP without ffn_gate), LayerNorms with
// biases whose weights llama.cpp stored as 1 + w (its layernorm1p); the view subtracts the 1 in
// float32 (docs/source-formats.md#gguf-nemotron).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

GgufNaming naming(const GgufModel&) {
  return [](const std::string& g) {
    GgufTensorName name{gguf_to_hf(g, kLlamaStyleTop, kLlamaStyleLayer)};
    if (is_block_weight(g, {"attn_norm", "ffn_norm"}) || g == "output_norm.weight")
      name.add = -1.0f;
    return name;
  };
}

nlohmann::json config(const GgufModel& model) {
  const GgufMeta meta(model);
  auto cfg = gguf_decoder_config(meta, "nemotron");
  const auto hidden = cfg["hidden_size"].get<std::int64_t>();
  cfg["norm_eps"] = meta.find_float("attention.layer_norm_epsilon").value_or(1e-5);
  cfg["partial_rotary_factor"] = gguf_rotary_fraction(meta, hidden / meta.heads());
  cfg["mlp_bias"] = meta.has_tensor("blk.0.ffn_up.bias");
  cfg["attention_bias"] = meta.has_tensor("blk.0.attn_q.bias");
  cfg["hidden_act"] = "relu2";  // HF's defaults; GGUF does not say
  cfg["bos_token_id"] = gguf_token_id(meta, "bos", 2);
  cfg["eos_token_id"] = gguf_token_id(meta, "eos", 3);
  return cfg;
}

}  // namespace

extern const GgufView kNemotronGguf{"nemotron", config, naming};

}  // namespace weightcast

// Nemotron's GGUF view: Llama's names (a squared-ReLU MLP without ffn_gate), LayerNorms with
// biases whose weights llama.cpp stored as 1 + w (its layernorm1p); the view subtracts the 1 in
// float32 (docs/source-formats.md#gguf-nemotron).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

GgufNaming naming(const GgufModel&) {
  return [](const std::string& gguf_name) {
    static const auto table = llama_style_names();
    GgufTensorName name{rename_gguf(gguf_name, table)};
    const auto s = split_gguf_name(gguf_name);
    if (s.suffix == "weight" &&
        (s.stem == "attn_norm" || s.stem == "ffn_norm" || (s.layer < 0 && s.stem == "output_norm")))
      name.offset = -1.0f;
    return name;
  };
}

nlohmann::json config(const GgufModel& model) {
  const GgufKeys k(model, "nemotron");
  auto cfg = k.decoder_config("nemotron");
  const auto hidden = cfg["hidden_size"].get<std::int64_t>();
  cfg["norm_eps"] = k.find_float("attention.layer_norm_epsilon").value_or(1e-5);
  cfg["partial_rotary_factor"] = k.rotary_fraction(hidden / k.heads());
  cfg["rope_theta"] = k.find_float("rope.freq_base").value_or(10000.0);
  cfg["mlp_bias"] = k.has_tensor("blk.0.ffn_up.bias");
  cfg["attention_bias"] = k.has_tensor("blk.0.attn_q.bias");
  cfg["hidden_act"] = "relu2";  // HF's default; GGUF does not say
  cfg["bos_token_id"] = k.token_id("bos", 2);
  cfg["eos_token_id"] = k.token_id("eos", 3);
  return cfg;
}

}  // namespace

extern const GgufView kNemotronGguf{"nemotron", config, naming};

}  // namespace weightcast

// StarCoder2's GGUF view: Llama's names with a two-matrix GELU MLP (ffn_up = c_fc, ffn_down =
// c_proj), LayerNorms with biases, no row permutation (docs/source-formats.md#gguf-starcoder2).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

GgufNaming naming(const GgufModel&) {
  auto table = llama_style_names();
  table.block["ffn_up"] = "mlp.c_fc";
  table.block["ffn_down"] = "mlp.c_proj";
  return [table](const std::string& gguf_name) {
    return GgufTensorName{rename_gguf(gguf_name, table)};
  };
}

nlohmann::json config(const GgufModel& model) {
  const GgufKeys k(model, "starcoder2");
  auto cfg = k.decoder_config("starcoder2");
  cfg["norm_epsilon"] = k.find_float("attention.layer_norm_epsilon").value_or(1e-5);
  cfg["rope_theta"] = k.find_float("rope.freq_base").value_or(10000.0);
  cfg["use_bias"] = k.has_tensor("blk.0.attn_q.bias");
  cfg["hidden_act"] = "gelu_pytorch_tanh";  // HF's default; GGUF does not say
  cfg["use_cache"] = true;
  cfg["bos_token_id"] = k.token_id("bos", 50256);
  cfg["eos_token_id"] = k.token_id("eos", 50256);
  return cfg;
}

}  // namespace

extern const GgufView kStarcoder2Gguf{"starcoder2", config, naming};

}  // namespace weightcast

// StarCoder2's GGUF view: Llama's names with a two-matrix GELU MLP (ffn_up = c_fc, ffn_down =
// c_proj), LayerNorms with biases, no row permutation (docs/source-formats.md#gguf-starcoder2).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

const GgufNameTable kLayer = {
    {"attn_q", "self_attn.q_proj"},   {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},   {"attn_output", "self_attn.o_proj"},
    {"ffn_up", "mlp.c_fc"},           {"ffn_down", "mlp.c_proj"},
    {"attn_norm", "input_layernorm"}, {"ffn_norm", "post_attention_layernorm"},
};

GgufNaming naming(const GgufModel&) {
  return [](const std::string& g) { return GgufTensorName{gguf_to_hf(g, kLlamaStyleTop, kLayer)}; };
}

nlohmann::json config(const GgufModel& model) {
  const GgufMeta meta(model);
  auto cfg = gguf_decoder_config(meta, "starcoder2");
  cfg["norm_epsilon"] = meta.find_float("attention.layer_norm_epsilon").value_or(1e-5);
  cfg["use_bias"] = meta.has_tensor("blk.0.attn_q.bias");
  cfg["hidden_act"] = "gelu_pytorch_tanh";  // HF's defaults; GGUF does not say
  cfg["use_cache"] = true;
  cfg["bos_token_id"] = gguf_token_id(meta, "bos", 50256);
  cfg["eos_token_id"] = gguf_token_id(meta, "eos", 50256);
  return cfg;
}

}  // namespace

extern const GgufView kStarcoder2Gguf{"starcoder2", config, naming};

}  // namespace weightcast

// OLMo 2's GGUF view: Llama's names plus the post-attention and post-feedforward norms and the
// whole-projection q/k norms; no row permutation (docs/source-formats.md#gguf-olmo-2).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

const GgufNameTable kLayer = {
    {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},
    {"attn_output", "self_attn.o_proj"},
    {"ffn_gate", "mlp.gate_proj"},
    {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
    {"post_attention_norm", "post_attention_layernorm"},
    {"post_ffw_norm", "post_feedforward_layernorm"},
    {"attn_q_norm", "self_attn.q_norm"},
    {"attn_k_norm", "self_attn.k_norm"},
};

GgufNaming naming(const GgufModel&) {
  return [](const std::string& g) { return GgufTensorName{gguf_to_hf(g, kLlamaStyleTop, kLayer)}; };
}

nlohmann::json config(const GgufModel& model) {
  const GgufMeta meta(model);
  auto cfg = gguf_decoder_config(meta, "olmo2");
  cfg["rms_norm_eps"] = meta.find_float("attention.layer_norm_rms_epsilon").value_or(1e-6);
  cfg["hidden_act"] = "silu";  // HF's defaults; GGUF does not say
  cfg["attention_bias"] = false;
  cfg["pad_token_id"] = gguf_token_id(meta, "padding", 1);
  cfg["eos_token_id"] = gguf_token_id(meta, "eos", 50279);
  return cfg;
}

}  // namespace

extern const GgufView kOlmo2Gguf{"olmo2", config, naming};

}  // namespace weightcast

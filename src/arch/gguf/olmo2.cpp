// OLMo 2's GGUF view: Llama's names plus the post-attention and post-feedforward norms and the
// whole-projection q/k norms; no row permutation (docs/source-formats.md#gguf-olmo-2).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

GgufNaming naming(const GgufModel&) {
  auto table = llama_style_names();
  table.block.erase("attn_norm");
  table.block.erase("ffn_norm");
  table.block["post_attention_norm"] = "post_attention_layernorm";
  table.block["post_ffw_norm"] = "post_feedforward_layernorm";
  table.block["attn_q_norm"] = "self_attn.q_norm";
  table.block["attn_k_norm"] = "self_attn.k_norm";
  return [table](const std::string& gguf_name) {
    return GgufTensorName{rename_gguf(gguf_name, table)};
  };
}

nlohmann::json config(const GgufModel& model) {
  const GgufKeys k(model, "olmo2");
  auto cfg = k.decoder_config("olmo2");
  cfg["rms_norm_eps"] = k.find_float("attention.layer_norm_rms_epsilon").value_or(1e-6);
  cfg["rope_theta"] = k.find_float("rope.freq_base").value_or(10000.0);
  cfg["hidden_act"] = "silu";  // HF's default; GGUF does not say
  cfg["attention_bias"] = false;
  cfg["pad_token_id"] = k.token_id("padding", 1);
  cfg["eos_token_id"] = k.token_id("eos", 50279);
  return cfg;
}

}  // namespace

extern const GgufView kOlmo2Gguf{"olmo2", config, naming};

}  // namespace weightcast

// Baichuan's GGUF view: llama.cpp split the fused W_pack (q|k|v) into attn_q, attn_k and attn_v
// and permuted q and k like Llama's; the view un-permutes and concatenates them again
// (docs/source-formats.md#gguf-baichuan).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

const GgufNameTable kLayer = {
    {"attn_q", "self_attn.W_pack"},
    {"attn_k", "self_attn.W_pack"},
    {"attn_v", "self_attn.W_pack"},
    {"attn_output", "self_attn.o_proj"},
    {"ffn_gate", "mlp.gate_proj"},
    {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
    {"attn_norm", "input_layernorm"},
    {"ffn_norm", "post_attention_layernorm"},
};

GgufNaming naming(const GgufModel& model) {
  const GgufMeta meta(model);
  const auto heads = meta.heads(), kv_heads = meta.kv_heads();
  return [heads, kv_heads](const std::string& g) {
    GgufTensorName name{gguf_to_hf(g, kLlamaStyleTop, kLayer)};
    if (is_block_weight(g, {"attn_q", "attn_k", "attn_v"})) {
      const auto part = gguf_block(g)->second;
      name.concat_order = part == "attn_q" ? 0 : part == "attn_k" ? 1 : 2;
      name.unpermute_heads = part == "attn_q" ? heads : part == "attn_k" ? kv_heads : 0;
    }
    return name;
  };
}

nlohmann::json config(const GgufModel& model) {
  const GgufMeta meta(model);
  auto cfg = gguf_decoder_config(meta, "baichuan");
  cfg.erase("num_key_value_heads");  // Baichuan has none (W_pack is three equal thirds)
  cfg.erase("rope_theta");
  cfg["rms_norm_eps"] = meta.find_float("attention.layer_norm_rms_epsilon").value_or(1e-6);
  cfg["hidden_act"] = "silu";  // HF's defaults from here on; GGUF does not say
  cfg["initializer_range"] = 0.02;
  cfg["use_cache"] = true;
  cfg["pad_token_id"] = gguf_token_id(meta, "padding", 0);
  cfg["bos_token_id"] = gguf_token_id(meta, "bos", 1);
  cfg["eos_token_id"] = gguf_token_id(meta, "eos", 2);
  return cfg;
}

}  // namespace

extern const GgufView kBaichuanGguf{"baichuan", config, naming};

}  // namespace weightcast

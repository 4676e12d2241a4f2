// Baichuan's GGUF view: llama.cpp split the fused W_pack (q|k|v) into attn_q, attn_k and attn_v
// and permuted q and k like Llama's; the view un-permutes and joins them again
// (docs/source-formats.md#gguf-baichuan).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

GgufNaming naming(const GgufModel& model) {
  const GgufKeys k(model, "baichuan");
  const auto heads = k.heads(), kv_heads = k.kv_heads();
  auto table = llama_style_names();
  for (const char* part : {"attn_q", "attn_k", "attn_v"}) table.block[part] = "self_attn.W_pack";
  return [heads, kv_heads, table](const std::string& gguf_name) {
    GgufTensorName name{rename_gguf(gguf_name, table)};
    const auto s = split_gguf_name(gguf_name);
    if (s.layer < 0 || s.suffix != "weight") return name;
    if (s.stem == "attn_q" || s.stem == "attn_k" || s.stem == "attn_v") {
      name.parts = 3;
      name.part = s.stem == "attn_q" ? 0 : s.stem == "attn_k" ? 1 : 2;
      name.unpermute_heads = s.stem == "attn_q" ? heads : s.stem == "attn_k" ? kv_heads : 0;
    }
    return name;
  };
}

nlohmann::json config(const GgufModel& model) {
  const GgufKeys k(model, "baichuan");
  auto cfg = k.decoder_config("baichuan");
  cfg.erase("num_key_value_heads");  // Baichuan has none (W_pack is three equal thirds)
  cfg["rms_norm_eps"] = k.find_float("attention.layer_norm_rms_epsilon").value_or(1e-6);
  cfg["hidden_act"] = "silu";  // HF's defaults from here on; GGUF does not say
  cfg["initializer_range"] = 0.02;
  cfg["use_cache"] = true;
  cfg["pad_token_id"] = k.token_id("padding", 0);
  cfg["bos_token_id"] = k.token_id("bos", 1);
  cfg["eos_token_id"] = k.token_id("eos", 2);
  return cfg;
}

}  // namespace

extern const GgufView kBaichuanGguf{"baichuan", config, naming};

}  // namespace weightcast

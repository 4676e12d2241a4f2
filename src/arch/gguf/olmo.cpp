// OLMo's GGUF view: Llama's names and q/k row permutation (llama.cpp's OLMo converter permutes
// like Llama's); OLMo's LayerNorms have no parameters, so there are no norm tensors
// (docs/source-formats.md#gguf-olmo).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

GgufNaming naming(const GgufModel& model) {
  const GgufKeys k(model, "olmo");
  const auto heads = k.heads(), kv_heads = k.kv_heads();
  return [heads, kv_heads](const std::string& gguf_name) {
    static const auto table = llama_style_names();
    GgufTensorName name{rename_gguf(gguf_name, table)};
    const auto s = split_gguf_name(gguf_name);
    if (s.layer >= 0 && s.suffix == "weight" && s.stem == "attn_q") name.unpermute_heads = heads;
    if (s.layer >= 0 && s.suffix == "weight" && s.stem == "attn_k") name.unpermute_heads = kv_heads;
    return name;
  };
}

nlohmann::json config(const GgufModel& model) {
  const GgufKeys k(model, "olmo");
  auto cfg = k.decoder_config("olmo");
  cfg["rope_theta"] = k.find_float("rope.freq_base").value_or(10000.0);
  if (const auto clip = k.find_float("attention.clamp_kqv")) cfg["clip_qkv"] = *clip;
  cfg["hidden_act"] = "silu";  // HF's default; GGUF does not say
  cfg["attention_bias"] = false;
  cfg["pad_token_id"] = k.token_id("padding", 1);
  cfg["eos_token_id"] = k.token_id("eos", 50279);
  return cfg;
}

}  // namespace

extern const GgufView kOlmoGguf{"olmo", config, naming};

}  // namespace weightcast

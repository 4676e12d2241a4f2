// OLMo's GGUF view: Llama's names and q/k row permutation (llama.cpp's OLMo converter permutes
// like Llama's); OLMo's LayerNorms have no parameters, so there are no norm tensors
// (docs/source-formats.md#gguf-olmo).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"

namespace weightcast {

namespace {

nlohmann::json config(const GgufModel& model) {
  const GgufMeta meta(model);
  auto cfg = gguf_decoder_config(meta, "olmo");
  if (const auto clip = meta.find_float("attention.clamp_kqv")) cfg["clip_qkv"] = *clip;
  cfg["hidden_act"] = "silu";  // HF's defaults; GGUF does not say
  cfg["attention_bias"] = false;
  cfg["pad_token_id"] = gguf_token_id(meta, "padding", 1);
  cfg["eos_token_id"] = gguf_token_id(meta, "eos", 50279);
  return cfg;
}

}  // namespace

extern const GgufView kOlmoGguf{"olmo", config, llama_permuted_naming};

}  // namespace weightcast

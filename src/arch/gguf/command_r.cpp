// Command-R's GGUF view (MLC's cohere): Llama's names, one LayerNorm per layer (attn_norm), tied
// embeddings, no row permutation (docs/source-formats.md#gguf-command-r).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"
#include "util/error.h"

namespace weightcast {

namespace {

GgufNaming naming(const GgufModel&) {
  return [](const std::string& g) {
    return GgufTensorName{gguf_to_hf(g, kLlamaStyleTop, kLlamaStyleLayer)};
  };
}

nlohmann::json config(const GgufModel& model) {
  const GgufMeta meta(model);
  // Command R+'s per-head q/k norms: MLC's cohere has no place for them.
  if (meta.has_tensor("blk.0.attn_q_norm.weight"))
    fail<NotImplementedError>("{}: Command-R with q/k norms (use_qk_norm) is not supported",
                              model.path().string());
  auto cfg = gguf_decoder_config(meta, "cohere");
  cfg["layer_norm_eps"] = meta.find_float("attention.layer_norm_epsilon").value_or(1e-5);
  cfg["logit_scale"] = meta.find_float("logit_scale").value_or(0.0625);
  cfg["use_qk_norm"] = false;
  cfg["hidden_act"] = "silu";  // HF's defaults; GGUF does not say
  cfg["bos_token_id"] = gguf_token_id(meta, "bos", 5);
  cfg["eos_token_id"] = gguf_token_id(meta, "eos", 255001);
  cfg["pad_token_id"] = gguf_token_id(meta, "padding", 0);
  return cfg;
}

}  // namespace

extern const GgufView kCommandRGguf{"command-r", config, naming};

}  // namespace weightcast

// Command-R's GGUF view (MLC's cohere): Llama's names, one LayerNorm per layer (attn_norm), tied
// embeddings, no row permutation (docs/source-formats.md#gguf-command-r).
#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"
#include "util/error.h"

namespace weightcast {

namespace {

GgufNaming naming(const GgufModel&) {
  return [](const std::string& gguf_name) {
    static const auto table = llama_style_names();
    return GgufTensorName{rename_gguf(gguf_name, table)};
  };
}

nlohmann::json config(const GgufModel& model) {
  const GgufKeys k(model, "command-r");
  // Command R+'s per-head q/k norms: MLC's cohere has no place for them.
  if (k.has_tensor("blk.0.attn_q_norm.weight"))
    fail<NotImplementedError>("{}: Command-R with q/k norms (use_qk_norm) is not supported",
                              k.label());
  auto cfg = k.decoder_config("cohere");
  cfg["layer_norm_eps"] = k.find_float("attention.layer_norm_epsilon").value_or(1e-5);
  cfg["rope_theta"] = k.find_float("rope.freq_base").value_or(10000.0);
  cfg["logit_scale"] = k.find_float("logit_scale").value_or(0.0625);
  cfg["use_qk_norm"] = false;
  cfg["hidden_act"] = "silu";  // HF's default; GGUF does not say
  cfg["bos_token_id"] = k.token_id("bos", 5);
  cfg["eos_token_id"] = k.token_id("eos", 255001);
  cfg["pad_token_id"] = k.token_id("padding", 0);
  return cfg;
}

}  // namespace

extern const GgufView kCommandRGguf{"command-r", config, naming};

}  // namespace weightcast

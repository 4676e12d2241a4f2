// MiniCPM's GGUF view: Llama's names and q/k row permutation (llama.cpp's MiniCPM converter
// permutes like Llama's); the muP scales come back from the embedding, residual and logit
// scales llama.cpp stores (docs/source-formats.md#gguf-minicpm).
#include <cmath>

#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"
#include "util/error.h"

namespace weightcast {

namespace {

nlohmann::json config(const GgufModel& model) {
  const GgufMeta meta(model);
  if (meta.expert_count() > 0)
    fail<NotImplementedError>("{}: MiniCPM-MoE GGUF files are not supported yet",
                              model.path().string());
  auto cfg = gguf_decoder_config(meta, "minicpm");
  const auto layers = static_cast<double>(meta.block_count());
  const auto hidden = cfg["hidden_size"].get<double>();
  cfg["rms_norm_eps"] = meta.find_float("attention.layer_norm_rms_epsilon").value_or(1e-6);
  // llama.cpp stores scale_depth / sqrt(layers) and hidden / dim_model_base (float32).
  cfg["scale_emb"] = meta.find_float("embedding_scale").value_or(1.0);
  cfg["scale_depth"] = meta.find_float("residual_scale").value_or(1.0) * std::sqrt(layers);
  const auto logit_scale = meta.find_float("logit_scale").value_or(1.0);
  if (!(logit_scale > 0)) meta.fail_meta("GGUF metadata minicpm.logit_scale must be positive");
  cfg["dim_model_base"] = hidden / logit_scale;
  cfg["hidden_act"] = "silu";  // HF's defaults; GGUF does not say
  cfg["use_cache"] = true;
  cfg["bos_token_id"] = gguf_token_id(meta, "bos", 1);
  cfg["eos_token_id"] = gguf_token_id(meta, "eos", 2);
  return cfg;
}

}  // namespace

extern const GgufView kMiniCpmGguf{"minicpm", config, llama_permuted_naming};

}  // namespace weightcast

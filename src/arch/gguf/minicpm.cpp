// MiniCPM's GGUF view: Llama's names and q/k row permutation (llama.cpp's MiniCPM converter
// permutes like Llama's); the muP scales come back from the embedding, residual and logit
// scales llama.cpp stores (docs/source-formats.md#gguf-minicpm).
#include <cmath>

#include "arch/gguf/family_helpers.h"
#include "arch/gguf/view.h"
#include "util/error.h"

namespace weightcast {

namespace {

GgufNaming naming(const GgufModel& model) {
  const GgufKeys k(model, "minicpm");
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
  const GgufKeys k(model, "minicpm");
  if (k.find_int("expert_count").value_or(0) > 0)
    fail<NotImplementedError>("{}: MiniCPM-MoE GGUF files are not supported yet", k.label());
  auto cfg = k.decoder_config("minicpm");
  const auto layers = cfg["num_hidden_layers"].get<std::int64_t>();
  const auto hidden = cfg["hidden_size"].get<std::int64_t>();
  cfg["rms_norm_eps"] = k.find_float("attention.layer_norm_rms_epsilon").value_or(1e-6);
  cfg["rope_theta"] = k.find_float("rope.freq_base").value_or(10000.0);
  // llama.cpp stores scale_depth / sqrt(layers) and hidden / dim_model_base (float32).
  cfg["scale_emb"] = k.find_float("embedding_scale").value_or(1.0);
  cfg["scale_depth"] =
      k.find_float("residual_scale").value_or(1.0) * std::sqrt(static_cast<double>(layers));
  const auto logit_scale = k.find_float("logit_scale").value_or(1.0);
  if (!(logit_scale > 0)) fail("{}: minicpm.logit_scale must be positive", k.label());
  cfg["dim_model_base"] = static_cast<double>(hidden) / logit_scale;
  cfg["hidden_act"] = "silu";  // HF's default; GGUF does not say
  cfg["use_cache"] = true;
  cfg["bos_token_id"] = k.token_id("bos", 1);
  cfg["eos_token_id"] = k.token_id("eos", 2);
  return cfg;
}

}  // namespace

extern const GgufView kMiniCpmGguf{"minicpm", config, naming};

}  // namespace weightcast

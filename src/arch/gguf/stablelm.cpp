// StableLM's GGUF view: Llama's names and LayerNorms with biases, no row permutation; the
// rotary fraction comes from rope.dimension_count (docs/source-formats.md#gguf-stablelm).
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
  const GgufKeys k(model, "stablelm");
  // StableLM 2 12B's per-head q/k norms: MLC's stablelm has no place for them.
  if (k.has_tensor("blk.0.attn_q_norm.weight"))
    fail<NotImplementedError>(
        "{}: StableLM with per-head q/k norms (qk_layernorm) is not supported", k.label());
  auto cfg = k.decoder_config("stablelm");
  const auto hidden = cfg["hidden_size"].get<std::int64_t>();
  cfg["layer_norm_eps"] = k.find_float("attention.layer_norm_epsilon").value_or(1e-5);
  cfg["partial_rotary_factor"] = k.rotary_fraction(hidden / k.heads());
  cfg["rope_theta"] = k.find_float("rope.freq_base").value_or(10000.0);
  cfg["use_qkv_bias"] = k.has_tensor("blk.0.attn_q.bias");
  cfg["use_parallel_residual"] = k.find_bool("use_parallel_residual").value_or(false);
  cfg["hidden_act"] = "silu";  // HF's default; GGUF does not say
  cfg["bos_token_id"] = k.token_id("bos", 0);
  cfg["eos_token_id"] = k.token_id("eos", 0);
  return cfg;
}

}  // namespace

extern const GgufView kStableLmGguf{"stablelm", config, naming};

}  // namespace weightcast

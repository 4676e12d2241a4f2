// StableLM's GGUF view: Llama's names and LayerNorms with biases, no row permutation; the
// rotary fraction comes from rope.dimension_count (docs/source-formats.md#gguf-stablelm).
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
  // StableLM 2 12B's per-head q/k norms: MLC's stablelm has no place for them.
  if (meta.has_tensor("blk.0.attn_q_norm.weight"))
    fail<NotImplementedError>(
        "{}: StableLM with per-head q/k norms (qk_layernorm) is not supported",
        model.path().string());
  auto cfg = gguf_decoder_config(meta, "stablelm");
  const auto hidden = cfg["hidden_size"].get<std::int64_t>();
  cfg["layer_norm_eps"] = meta.find_float("attention.layer_norm_epsilon").value_or(1e-5);
  cfg["partial_rotary_factor"] = gguf_rotary_fraction(meta, hidden / meta.heads());
  cfg["use_qkv_bias"] = meta.has_tensor("blk.0.attn_q.bias");
  cfg["use_parallel_residual"] = find_gguf_bool(meta, "use_parallel_residual").value_or(false);
  cfg["hidden_act"] = "silu";  // HF's default; GGUF does not say
  cfg["bos_token_id"] = gguf_token_id(meta, "bos", 0);
  cfg["eos_token_id"] = gguf_token_id(meta, "eos", 0);
  return cfg;
}

}  // namespace

extern const GgufView kStableLmGguf{"stablelm", config, naming};

}  // namespace weightcast

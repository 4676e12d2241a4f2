// MiniCPM (MLC's minicpm/): the standard layout with q|k|v fused as `wqkv_pack`, Llama's MLP or
// (num_experts > 0) a Mixtral-style MoE (`mlp.gate`, `mlp.e1_e3`, `mlp.e2`), optional tied
// embeddings. The muP scales (scale_emb, scale_depth, dim_model_base) apply at run time.
#include "arch/standard.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"num_key_value_heads", "hidden_act", "rms_norm_eps", "scale_emb", "scale_depth",
             "dim_model_base", "use_cache", "bos_token_id", "eos_token_id"});
  c.require_context_window();
  const auto dims = read_standard_dims(c, true, true);
  StandardLayout layout;
  layout.qkv = "wqkv_pack";
  const auto experts = c.get_int("num_experts", 0);
  if (experts < 0) fail("{}: num_experts must not be negative", c.path().string());
  if (experts > 0) {
    RoutedExperts moe;
    moe.count = experts;
    moe.intermediate = dims.intermediate;
    moe.gate_up = "e1_e3";
    moe.down = "e2";
    moe.hf_names = {"w1", "w3", "w2"};
    layout.experts = moe;
  }
  return build_standard(c, dims, layout);
}

}  // namespace

extern const Architecture kMiniCpm{
    "minicpm", {QuantKind::kNoQuant, QuantKind::kGroupQuant, QuantKind::kFt}, build};

}  // namespace weightcast

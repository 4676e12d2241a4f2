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
  const auto dims =
      read_standard_dims(c, {.kv = KvHeads::kRequired, .fit = HeadFit::kCoversHidden});
  StandardLayout layout{.qkv = "wqkv_pack"};
  const auto experts = c.get_int("num_experts", 0);
  if (experts < 0) fail("{}: num_experts must not be negative", c.path().string());
  if (experts > 0) {
    layout.experts = RoutedExperts{.count = experts,
                                   .intermediate = dims.intermediate,
                                   .gate_up = "e1_e3",
                                   .down = "e2",
                                   .hf_names = {"w1", "w3", "w2"}};
  }
  return build_standard(c, dims, layout);
}

}  // namespace

extern const Architecture kMiniCpm{"minicpm", kStandardKinds, build};

}  // namespace weightcast

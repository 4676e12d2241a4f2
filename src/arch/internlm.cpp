// InternLM (v1; MLC's internlm/): the standard layout with q|k|v fused as `wqkv_pack` (no GQA),
// biases on it and on o_proj when `bias`, an lm_head always.
#include "arch/standard.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"rms_norm_eps", "bias", "use_cache", "pad_token_id", "bos_token_id", "eos_token_id"});
  c.require_context_window();
  const auto dims = read_standard_dims(c, false, true);
  const bool bias = c.get_bool("bias", false);
  if (bias && dims.shards > 1)
    fail<NotImplementedError>(
        "internlm with bias cannot be pre-sharded: MLC splits the replicated o_proj bias across "
        "GPUs, which its own shape checks reject");
  StandardLayout layout;
  layout.qkv = "wqkv_pack";
  layout.qkv_bias = layout.o_bias = bias;
  layout.unused_rotary = true;
  layout.lm_head = StandardLayout::LmHead::kAlways;
  return build_standard(c, dims, layout);
}

}  // namespace

extern const Architecture kInternLm{
    "internlm", {QuantKind::kNoQuant, QuantKind::kGroupQuant, QuantKind::kFt}, build};

}  // namespace weightcast

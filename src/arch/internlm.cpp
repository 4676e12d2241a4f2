// InternLM (v1; MLC's internlm/): the standard layout with q|k|v fused as `wqkv_pack` (no GQA),
// biases on it and on o_proj when `bias`, an lm_head always.
#include "arch/standard.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"rms_norm_eps", "bias", "use_cache", "pad_token_id", "bos_token_id", "eos_token_id"});
  c.require_context_window();
  const auto dims = read_standard_dims(c, {.fit = HeadFit::kCoversHidden});
  const bool bias = c.get_bool("bias", false);
  if (bias && dims.shards > 1)
    fail<NotImplementedError>(
        "internlm with bias cannot be pre-sharded: MLC splits the replicated o_proj bias across "
        "GPUs, which its own shape checks reject");
  return build_standard(c, dims,
                        {.qkv = "wqkv_pack",
                         .qkv_bias = bias,
                         .o_bias = bias,
                         .lm_head = StandardLayout::LmHead::kAlways,
                         .unused_rotary = true});
}

}  // namespace

extern const Architecture kInternLm{"internlm", kStandardKinds, build};

}  // namespace weightcast

// StableLM (MLC's stable_lm/): the standard layout with LayerNorms (weight and bias), an
// optional q/k/v bias (use_qkv_bias) and an lm_head always.
#include "arch/standard.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"num_key_value_heads", "layer_norm_eps", "partial_rotary_factor", "rope_theta"});
  c.require_context_window();
  const auto dims =
      read_standard_dims(c, {.kv = KvHeads::kRequired, .fit = HeadFit::kCoversHidden});
  return build_standard(c, dims,
                        {.qkv_bias = c.get_bool("use_qkv_bias", false),
                         .norm_bias = true,
                         .lm_head = StandardLayout::LmHead::kAlways});
}

}  // namespace

extern const Architecture kStableLm{"stablelm", kStandardKinds, build};

}  // namespace weightcast

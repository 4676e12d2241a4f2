// OLMo 2 (MLC's olmo2/): the standard layout with post-norms only (after attention and after the
// MLP), RMSNorms over the whole q and k projections, optional tied embeddings.
#include "arch/standard.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"hidden_act"});
  c.require_context_window();
  return build_standard(c, read_standard_dims(c),
                        {.qk_norm = StandardLayout::QkNorm::kWhole,
                         .norms = {"post_attention_layernorm", "post_feedforward_layernorm"},
                         .unused_rotary = true});
}

}  // namespace

extern const Architecture kOlmo2{"olmo2", kStandardKinds | QuantKind::kPerTensor, build};

}  // namespace weightcast

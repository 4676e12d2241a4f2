// OLMo 2 (MLC's olmo2/): the standard layout with post-norms only (after attention and after the
// MLP), RMSNorms over the whole q and k projections, optional tied embeddings.
#include "arch/standard.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"hidden_act"});
  c.require_context_window();
  const auto dims = read_standard_dims(c, false);
  StandardLayout layout;
  layout.norms = {"post_attention_layernorm", "post_feedforward_layernorm"};
  layout.qk_norm = StandardLayout::QkNorm::kWhole;
  layout.unused_rotary = true;
  return build_standard(c, dims, layout);
}

}  // namespace

extern const Architecture kOlmo2{
    "olmo2",
    {QuantKind::kNoQuant, QuantKind::kGroupQuant, QuantKind::kFt, QuantKind::kPerTensor},
    build};

}  // namespace weightcast

// OLMo (MLC's olmo/): the standard layout, LayerNorms without parameters (so no norm tensors at
// all), optional tied embeddings, and an optional positive clip_qkv.
#include "arch/standard.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  c.require({"hidden_act"});
  c.require_context_window();
  if (c.has("clip_qkv") && c.require_number("clip_qkv") <= 0)
    fail("'clip_qkv'({}) should be non-negative", c.json()["clip_qkv"].dump());
  return build_standard(c, read_standard_dims(c),
                        {.norms = {}, .final_norm = false, .unused_rotary = true});
}

}  // namespace

extern const Architecture kOlmo{"olmo", kStandardKinds | QuantKind::kAwq | QuantKind::kPerTensor,
                                build};

}  // namespace weightcast

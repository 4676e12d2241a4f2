// EAGLE (MLC's eagle/): a draft model reading LlamaConfig (plus `bias`), Llama's layers under
// bare names (layers.N..., HF's as well), the first layer without input_layernorm, no final norm
// and no lm_head, and `fc` [hidden, 2 x hidden] fusing the token embedding with the base model's
// hidden state (with a bias unless bias is false; never split across shards).
#include "arch/llama_like.h"

namespace weightcast {

namespace {

ModelDef build(const ModelConfig& c) {
  const auto dims = read_llama_dims(c, {});
  auto def = build_standard(c, dims,
                            {.mlc_prefix = "",
                             .hf_prefix = "",
                             .final_norm = false,
                             .lm_head = StandardLayout::LmHead::kNever,
                             .symbolic_vocab = true,
                             .unused_rotary = true});
  std::erase_if(def.params,
                [](const ParamDef& p) { return p.name == "layers.0.input_layernorm.weight"; });
  def.linear("fc", dims.hidden, 2 * dims.hidden, {"fc"}, {.bias = c.get_bool("bias", true)});
  return def;
}

}  // namespace

extern const Architecture kEagle{"eagle", kStandardKinds | QuantKind::kAwq, build};

}  // namespace weightcast

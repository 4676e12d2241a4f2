// Mistral (MLC's mistral_model.py / mistral_loader.py): Llama's parameters and mapping, an lm_head
// always, and a sliding window instead of a required maximum length.
#include "arch/llama_like.h"

namespace weightcast {

namespace {
ModelDef build(const ModelConfig& config) {
  return build_llama_like(config, {.may_tie_embeddings = false, .sliding_window = true});
}
}  // namespace

// MLC registers an awq source for mistral but no awq quantization: not offered here.
extern const Architecture kMistral{"mistral", kStandardKinds, build};

}  // namespace weightcast

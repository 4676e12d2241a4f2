// The Llama config reading and layout, shared by the model types that reuse it.
#pragma once

#include "arch/architecture.h"

namespace weightcast {

struct LlamaVariant {
  bool may_tie_embeddings = true;  // Mistral always has its own lm_head
  bool sliding_window = false;     // Mistral: a sliding window replaces the maximum length
};

ModelDef build_llama_like(const ModelConfig& config, const LlamaVariant& variant);

}  // namespace weightcast

// The Llama config reading and layout, shared by the model types that reuse it.
#pragma once

#include "arch/standard.h"

namespace weightcast {

struct LlamaVariant {
  bool may_tie_embeddings = true;  // Mistral always has its own lm_head
  bool sliding_window = false;     // Mistral: a sliding window replaces the maximum length
};

// LlamaConfig's fields, checks and messages (EAGLE and LLaVA's text model read it too).
StandardDims read_llama_dims(const ModelConfig& config, const LlamaVariant& variant);
ModelDef build_llama_like(const ModelConfig& config, const LlamaVariant& variant);

}  // namespace weightcast

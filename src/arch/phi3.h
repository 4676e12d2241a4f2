// Phi-3's language model, shared with Phi-3-vision (phi3_v.cpp).
#pragma once

#include <string>

#include "arch/architecture.h"

namespace weightcast {

// MLC's Phi3Model under `prefix` ("transformer." in phi3, "model." in phi3_v), its config checks
// included; the lm_head unless the embeddings are tied (or always).
ModelDef build_phi3(const ModelConfig& c, const std::string& prefix, bool always_lm_head);

}  // namespace weightcast

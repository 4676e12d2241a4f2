// An architecture declares, for a parsed config.json, every MLC parameter it expects (name,
// shape, role) and which source tensors feed it. One file per model type plus a registry line
// (registry.cpp).
#pragma once

#include <string_view>
#include <vector>

#include "model/config.h"
#include "model/model.h"

namespace weightcast {

struct Architecture {
  std::string_view name;
  QuantKinds quant_kinds;  // the kinds MLC registers for it
  ModelDef (*build)(const ModelConfig& config);
};

// The kinds every model type in MLC registers.
inline constexpr QuantKinds kBaseKinds{QuantKind::kNoQuant, QuantKind::kGroupQuant};
// Most also register ft-quant. Its one scheme, q4f16_ft, is refused with its reason once the
// config has been read (quant/ft.h); a model type without it refuses q4f16_ft as unavailable.
inline constexpr QuantKinds kStandardKinds = kBaseKinds | QuantKind::kFt;

const std::vector<const Architecture*>& architectures();
const Architecture* find_architecture(std::string_view name);
// MLC's detect_model_type: "auto" reads model_type from the config.
const Architecture& detect_architecture(std::string_view model_type, const ModelConfig& config);

}  // namespace weightcast

// An architecture declares, for a parsed config.json, every MLC parameter it expects (name,
// shape, role) and which source tensors feed it. One file per model type plus a registry line.
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

const std::vector<const Architecture*>& architectures();
const Architecture* find_architecture(std::string_view name);
// MLC's detect_model_type: "auto" reads model_type from the config (spec 1.2).
const Architecture& detect_architecture(std::string_view model_type, const ModelConfig& config);

}  // namespace weightcast

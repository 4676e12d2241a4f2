// Which parameters a scheme quantizes, and the names of the records it makes of them.
#pragma once

#include <string>
#include <string_view>

#include "model/model.h"

namespace weightcast {

// MLC's quantize passes replace nn.Linear modules: a linear weight is quantized unless it is the
// final projection (lm_head & co, when the scheme keeps that one) or a MoE router gate.
inline bool quantizes_linear(const ParamDef& p, bool final_fc_too = false) {
  return p.role == ParamRole::kLinearWeight && (!p.final_fc || final_fc_too) && !is_moe_gate(p) &&
         p.name.ends_with(".weight");
}

// The module a parameter belongs to: its name without the ".weight" suffix.
inline std::string module_name(const std::string& param) {
  constexpr std::string_view suffix = ".weight";
  if (param.size() > suffix.size() && param.ends_with(suffix))
    return param.substr(0, param.size() - suffix.size());
  return param;
}

// A record or source of the same module: "<module>.<part>" ("q_weight", "qzeros", ...).
inline std::string module_part(const std::string& param, std::string_view part) {
  return module_name(param) + "." + std::string(part);
}

}  // namespace weightcast

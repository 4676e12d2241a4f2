// Serialises JSON byte-for-byte like Python's `json.dump(obj, f, indent=4)` (ensure_ascii, key
// insertion order, float repr, no trailing newline). tvmjs writes tensor-cache.json that way,
// and bit-identical output is the contract. No library offers Python's exact float repr and
// layout, so this is hand-written.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace weightcast {

std::string python_json_dumps(const nlohmann::ordered_json& value, int indent = 4);
// Python's repr() of a float: shortest round-trip digits, exponent outside [1e-4, 1e16).
std::string python_float_repr(double value);

}  // namespace weightcast

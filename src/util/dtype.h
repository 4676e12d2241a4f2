// Element types shared by the readers, the schemes and the writer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weightcast {

enum class DType : std::uint8_t {
  kBool,
  kU8,
  kI8,
  kU16,
  kI16,
  kU32,
  kI32,
  kU64,
  kI64,
  kF16,
  kBF16,
  kF32,
  kF64,
  kF8E4M3,
  kF8E5M2,
  // Stored by some checkpoints; read and validated, but not cast to a model dtype.
  kF8E8M0,
  kF8E4M3FNUZ,
  kF8E5M2FNUZ,
  kF4E2M1,
  kF6E2M3,
  kF6E3M2,
  kC64,
};

// Bytes per element (sub-byte types round up; use dtype_bits for their exact size).
std::size_t dtype_size(DType t);
std::size_t dtype_bits(DType t);
// TVM's dtype string, as written in tensor-cache.json ("float16", "uint32", ...).
std::string_view tvm_name(DType t);
std::optional<DType> dtype_from_safetensors(std::string_view s);
std::optional<DType> dtype_from_tvm_name(std::string_view s);  // "float16" -> kF16

using Shape = std::vector<std::int64_t>;

// Element count, or nullopt when the product overflows int64.
std::optional<std::int64_t> checked_numel(const Shape& shape);
inline std::int64_t numel(const Shape& shape) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}
// "(5120, 1712)", the way MLC prints a tensor shape in its errors.
std::string shape_str(const Shape& shape);

}  // namespace weightcast

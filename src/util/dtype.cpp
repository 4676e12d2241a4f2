#include "util/dtype.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace weightcast {

namespace {
struct DTypeInfo {
  DType type;
  std::size_t size;
  std::string_view tvm;
  std::string_view safetensors;
};
constexpr DTypeInfo kTable[] = {
    {DType::kBool, 1, "bool", "BOOL"},
    {DType::kU8, 1, "uint8", "U8"},
    {DType::kI8, 1, "int8", "I8"},
    {DType::kU16, 2, "uint16", "U16"},
    {DType::kI16, 2, "int16", "I16"},
    {DType::kU32, 4, "uint32", "U32"},
    {DType::kI32, 4, "int32", "I32"},
    {DType::kU64, 8, "uint64", "U64"},
    {DType::kI64, 8, "int64", "I64"},
    {DType::kF16, 2, "float16", "F16"},
    {DType::kBF16, 2, "bfloat16", "BF16"},
    {DType::kF32, 4, "float32", "F32"},
    {DType::kF64, 8, "float64", "F64"},
    {DType::kF8E4M3, 1, "float8_e4m3fn", "F8_E4M3"},
    {DType::kF8E5M2, 1, "float8_e5m2", "F8_E5M2"},
};
const DTypeInfo& info(DType t) {
  return kTable[static_cast<int>(t)];
}
}  // namespace

std::size_t dtype_size(DType t) {
  return info(t).size;
}
std::string_view tvm_name(DType t) {
  return info(t).tvm;
}

std::optional<DType> dtype_from_safetensors(std::string_view s) {
  for (const auto& e : kTable)
    if (e.safetensors == s) return e.type;
  return std::nullopt;
}

bool is_float(DType t) {
  return t == DType::kF16 || t == DType::kBF16 || t == DType::kF32 || t == DType::kF64 ||
         t == DType::kF8E4M3 || t == DType::kF8E5M2;
}

std::optional<std::int64_t> checked_numel(const Shape& shape) {
  std::int64_t n = 1;
  for (auto d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return std::nullopt;
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

}  // namespace weightcast

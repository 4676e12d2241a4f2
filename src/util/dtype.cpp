#include "util/dtype.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace weightcast {

namespace {
struct DTypeInfo {
  DType type;
  std::size_t bits;
  std::string_view tvm;
  std::string_view safetensors;
};
constexpr DTypeInfo kTable[] = {
    {DType::kBool, 8, "bool", "BOOL"},
    {DType::kU8, 8, "uint8", "U8"},
    {DType::kI8, 8, "int8", "I8"},
    {DType::kU16, 16, "uint16", "U16"},
    {DType::kI16, 16, "int16", "I16"},
    {DType::kU32, 32, "uint32", "U32"},
    {DType::kI32, 32, "int32", "I32"},
    {DType::kU64, 64, "uint64", "U64"},
    {DType::kI64, 64, "int64", "I64"},
    {DType::kF16, 16, "float16", "F16"},
    {DType::kBF16, 16, "bfloat16", "BF16"},
    {DType::kF32, 32, "float32", "F32"},
    {DType::kF64, 64, "float64", "F64"},
    {DType::kF8E4M3, 8, "float8_e4m3fn", "F8_E4M3"},
    {DType::kF8E5M2, 8, "float8_e5m2", "F8_E5M2"},
    {DType::kF8E8M0, 8, "float8_e8m0fnu", "F8_E8M0"},
    {DType::kF8E4M3FNUZ, 8, "float8_e4m3fnuz", "F8_E4M3FNUZ"},
    {DType::kF8E5M2FNUZ, 8, "float8_e5m2fnuz", "F8_E5M2FNUZ"},
    {DType::kF4E2M1, 4, "float4_e2m1fn", "F4"},
    {DType::kF6E2M3, 6, "float6_e2m3fn", "F6_E2M3"},
    {DType::kF6E3M2, 6, "float6_e3m2fn", "F6_E3M2"},
    {DType::kC64, 64, "complex64", "C64"},
};
constexpr bool table_follows_enum() {
  for (std::size_t i = 0; i < std::size(kTable); ++i)
    if (static_cast<std::size_t>(kTable[i].type) != i) return false;
  return true;
}
static_assert(table_follows_enum(), "kTable must list the DType values in enum order");
const DTypeInfo& info(DType t) {
  return kTable[static_cast<int>(t)];
}
}  // namespace

std::size_t dtype_bits(DType t) {
  return info(t).bits;
}
std::size_t dtype_size(DType t) {
  return (info(t).bits + 7) / 8;
}
std::string_view tvm_name(DType t) {
  return info(t).tvm;
}

std::optional<DType> dtype_from_safetensors(std::string_view s) {
  for (const auto& e : kTable)
    if (e.safetensors == s) return e.type;
  return std::nullopt;
}

std::optional<DType> dtype_from_tvm_name(std::string_view s) {
  for (const auto& e : kTable)
    if (e.tvm == s) return e.type;
  return std::nullopt;
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

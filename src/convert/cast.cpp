#include "convert/cast.h"

#include <cstdint>
#include <cstring>

#include "util/error.h"
#include "util/float_bits.h"

namespace weightcast {

namespace {

template <typename T>
T load(const std::byte* p, std::size_t i) {
  T v;
  std::memcpy(&v, p + i * sizeof(T), sizeof(T));
  return v;
}

// Any integer or bool element as a double (exact below 2^53, which covers real checkpoints).
double integer_as_double(DType t, const std::byte* p, std::size_t i) {
  switch (t) {
    case DType::kBool:
      return load<std::uint8_t>(p, i) != 0;
    case DType::kU8:
      return load<std::uint8_t>(p, i);
    case DType::kI8:
      return load<std::int8_t>(p, i);
    case DType::kU16:
      return load<std::uint16_t>(p, i);
    case DType::kI16:
      return load<std::int16_t>(p, i);
    case DType::kU32:
      return load<std::uint32_t>(p, i);
    case DType::kI32:
      return load<std::int32_t>(p, i);
    case DType::kU64:
      return static_cast<double>(load<std::uint64_t>(p, i));
    case DType::kI64:
      return static_cast<double>(load<std::int64_t>(p, i));
    default:
      return 0;
  }
}

bool is_integer(DType t) {
  return !is_float(t);
}

}  // namespace

bool can_cast(DType from, DType to) {
  const bool to_ok = to == DType::kF16 || to == DType::kBF16 || to == DType::kF32;
  const bool from_ok = from <= DType::kF64;  // integers, bool and the IEEE-style floats
  return (to_ok && from_ok) || from == to;
}

void cast_elements(DType from, const std::byte* in, DType to, std::byte* out, std::size_t n) {
  if (from == to) {
    std::memcpy(out, in, n * dtype_size(from));
    return;
  }
  if (!can_cast(from, to))
    fail<NotImplementedError>("casting {} to {} is not supported", tvm_name(from), tvm_name(to));
  auto* o16 = reinterpret_cast<std::uint16_t*>(out);
  auto* o32 = reinterpret_cast<float*>(out);
  for (std::size_t i = 0; i < n; ++i) {
    switch (from) {
      case DType::kF16: {
        const float f = f16_to_f32(load<std::uint16_t>(in, i));
        if (to == DType::kBF16)
          o16[i] = f32_to_bf16(f);
        else
          o32[i] = f;
        break;
      }
      case DType::kBF16: {
        const float f = bf16_to_f32(load<std::uint16_t>(in, i));
        if (to == DType::kF16)
          o16[i] = f32_to_f16_eigen(f);
        else
          o32[i] = f;
        break;
      }
      case DType::kF32: {
        const float f = load<float>(in, i);
        if (to == DType::kF16)
          o16[i] = f32_to_f16(f);
        else
          o16[i] = f32_to_bf16(f);
        break;
      }
      case DType::kF64: {
        const double d = load<double>(in, i);
        if (to == DType::kF16)
          o16[i] = f64_to_f16(d);
        else if (to == DType::kBF16)
          o16[i] = f32_to_bf16(static_cast<float>(d));
        else
          o32[i] = static_cast<float>(d);
        break;
      }
      default: {
        if (!is_integer(from)) break;
        const double d = integer_as_double(from, in, i);
        if (to == DType::kF16)
          o16[i] = f64_to_f16(d);
        else if (to == DType::kBF16)
          o16[i] = f32_to_bf16(static_cast<float>(d));
        else
          o32[i] = static_cast<float>(d);
        break;
      }
    }
  }
}

}  // namespace weightcast

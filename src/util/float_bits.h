// Bit-exact conversions between float32 and the 16-bit float formats. Each one names the
// library whose rounding it reproduces, because MLC's bytes depend on exactly that library.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace weightcast {

inline float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  const std::uint32_t mant = h & 0x3FFu;
  if (exp == 0) {  // zero or subnormal: exact in float32
    const float v = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -v : v;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7F800000u | (mant << 13));
  return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
}

// IEEE round-to-nearest-even float32 -> binary16, overflow to inf; NaN keeps its top payload
// bits (numpy's npy_floatbits_to_halfbits, used by ndarray.astype("float16")).
inline std::uint16_t f32_to_f16(float f) {
  std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  x &= 0x7FFFFFFFu;
  if (x >= 0x7F800000u) {
    if (x == 0x7F800000u) return sign | 0x7C00u;
    std::uint16_t r = static_cast<std::uint16_t>(0x7C00u | ((x & 0x7FFFFFu) >> 13));
    if ((r & 0x3FFu) == 0) r |= 1;
    return sign | r;
  }
  if (x >= 0x477FF000u) return sign | 0x7C00u;  // >= 65520 rounds to inf
  if (x < 0x38800000u) {                        // below 2^-14: a binary16 subnormal or zero
    const float scaled = std::bit_cast<float>(x) * 0x1p24f;  // exact: power-of-two scaling
    return sign | static_cast<std::uint16_t>(std::nearbyint(scaled));
  }
  const std::uint32_t rounded = x + 0xFFFu + ((x >> 13) & 1u);
  return sign | static_cast<std::uint16_t>((rounded >> 13) - (112u << 10));
}

// Eigen's float_to_half_rtne, which ml_dtypes uses for bfloat16 -> float16 casts: identical to
// f32_to_f16 except that every NaN becomes the quiet NaN 0x7E00.
inline std::uint16_t f32_to_f16_eigen(float f) {
  if (std::isnan(f)) return std::signbit(f) ? 0xFE00u : 0x7E00u;
  return f32_to_f16(f);
}

inline float bf16_to_f32(std::uint16_t b) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

// ml_dtypes / Eigen float -> bfloat16: round to nearest even, NaN -> quiet NaN with its sign.
inline std::uint16_t f32_to_bf16(float f) {
  if (std::isnan(f)) return std::signbit(f) ? 0xFFC0u : 0x7FC0u;
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  return static_cast<std::uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

// TVM's BF16StorageLegalize: the same rounding with no NaN case (used when a kernel stores a
// bfloat16 buffer).
inline std::uint16_t f32_to_bf16_tvm_storage(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  return static_cast<std::uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

// tvmjs._convert_f32_to_bf16 (docs/tensor-cache.md#float32-as-bfloat16): RNE strictly inside
// +-0x7F7F0000, else truncation.
inline std::uint16_t f32_to_bf16_cache_encoding(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const float limit = std::bit_cast<float>(0x7F7F0000u);
  if (-limit < f && f < limit)
    return static_cast<std::uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
  return static_cast<std::uint16_t>(x >> 16);
}

// numpy's double -> float16 (npy_doublebits_to_halfbits): correctly rounded, no detour through
// float32 (which could round twice).
inline std::uint16_t f64_to_f16(double d) {
  if (std::isnan(d)) {
    const std::uint64_t x = std::bit_cast<std::uint64_t>(d);
    std::uint16_t r = static_cast<std::uint16_t>(0x7C00u | ((x >> 42) & 0x3FFu));
    if ((r & 0x3FFu) == 0) r |= 1;
    return static_cast<std::uint16_t>((std::signbit(d) ? 0x8000u : 0u) | r);
  }
  const std::uint16_t sign = std::signbit(d) ? 0x8000u : 0u;
  const double a = std::fabs(d);
  if (a >= 65520.0) return sign | 0x7C00u;
  if (a < 0x1p-14) return sign | static_cast<std::uint16_t>(std::nearbyint(a * 0x1p24));
  int e = 0;
  const double m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  const double q = std::nearbyint((m * 2.0 - 1.0) * 1024.0);
  return sign | static_cast<std::uint16_t>(((e - 1 + 15) << 10) + static_cast<int>(q));
}

}  // namespace weightcast

namespace weightcast {

// float32 -> FP8, round to nearest even with subnormals (the OCP FP8 formats as ml_dtypes and
// CUDA implement them). e4m3fn has no infinity: magnitudes above 464, and NaN, become 0x7F.
// e5m2 is IEEE-like: from 61440 on it overflows to infinity.
inline std::uint8_t f32_to_fp8(float f, int mantissa_bits, int bias, bool finite_only) {
  const std::uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
  const std::uint8_t nan = finite_only ? 0x7F : 0x7E;  // e5m2's quiet NaN is 0x7E (s.11111.10)
  if (std::isnan(f)) return sign | nan;
  const double a = std::fabs(static_cast<double>(f));
  const int levels = 1 << mantissa_bits;
  // The largest finite value and the midpoint above it, where rounding overflows.
  const int max_exp =
      finite_only ? (1 << (7 - mantissa_bits)) - 1 - bias : (1 << (7 - mantissa_bits)) - 2 - bias;
  const double max_mant = finite_only ? 2.0 - 2.0 / levels : 2.0 - 1.0 / levels;
  const double limit = std::ldexp(max_mant + 0.5 / levels, max_exp);
  // At the midpoint itself, ties go to even: e4m3fn's largest mantissa (110) is even, so the
  // midpoint stays finite; e5m2's (11) is odd, so it overflows.
  if (a > limit || (a == limit && !finite_only))
    return finite_only ? (sign | 0x7F) : (sign | static_cast<std::uint8_t>(0x7C));
  const int min_exp = 1 - bias;
  if (a < std::ldexp(1.0, min_exp))  // subnormal (or the smallest normal after rounding up)
    return sign | static_cast<std::uint8_t>(std::nearbyint(std::ldexp(a, mantissa_bits - min_exp)));
  int e = 0;
  const double m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  const int q = static_cast<int>(std::nearbyint((m * 2.0 - 1.0) * levels));
  return sign | static_cast<std::uint8_t>(((e - 1 + bias) << mantissa_bits) + q);
}
inline std::uint8_t f32_to_fp8_e4m3fn(float f) {
  return f32_to_fp8(f, 3, 7, true);
}
inline std::uint8_t f32_to_fp8_e5m2(float f) {
  return f32_to_fp8(f, 2, 15, false);
}

// float32 -> FP8 as TVM's CPU (LLVM) lowering computes it, which MLC's `--device cpu` writes
// (docs/mlc-format.md#per-tensor-fp8): the significand is rounded to the FP8 mantissa width
// (nearest even, a carry moving into the exponent) before the exponent is looked at. A biased
// exponent of 1 or more is the normal encoding, identical to f32_to_fp8. At 0 the code is the sign
// and the rounded fraction bits, the implicit leading 1 dropped (so it decodes to less than the
// input: a TVM defect reproduced on purpose); below 0 it is +0, the sign dropped (also for -0.0).
inline std::uint8_t f32_to_fp8_tvm_cpu(float f, int mantissa_bits, int bias, bool finite_only) {
  if (std::isnan(f) || std::isinf(f)) return f32_to_fp8(f, mantissa_bits, bias, finite_only);
  const double a = std::fabs(static_cast<double>(f));
  if (a == 0.0) return 0;
  int e = 0;
  const double m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1): significand 2m, exponent e-1
  const int levels = 1 << mantissa_bits;
  int q = static_cast<int>(std::nearbyint((m * 2.0 - 1.0) * levels));
  int biased = e - 1 + bias;
  if (q == levels) q = 0, ++biased;
  if (biased >= 1) return f32_to_fp8(f, mantissa_bits, bias, finite_only);
  if (biased < 0) return 0;
  return (std::signbit(f) ? 0x80 : 0x00) | static_cast<std::uint8_t>(q);
}

// Which float32 -> FP8 cast the per-tensor FP8 schemes use: MLC's bytes depend on the device it
// quantized on.
enum class Fp8Cast : std::uint8_t {
  kTvmCpu,       // --device cpu / auto: TVM's CPU lowering (subnormal results decode wrongly)
  kNearestEven,  // --device cuda: round to nearest even with subnormals, as a GPU cast gives
};
inline std::uint8_t f32_to_fp8_e4m3fn(float f, Fp8Cast cast) {
  return cast == Fp8Cast::kTvmCpu ? f32_to_fp8_tvm_cpu(f, 3, 7, true) : f32_to_fp8(f, 3, 7, true);
}
inline std::uint8_t f32_to_fp8_e5m2(float f, Fp8Cast cast) {
  return cast == Fp8Cast::kTvmCpu ? f32_to_fp8_tvm_cpu(f, 2, 15, false)
                                  : f32_to_fp8(f, 2, 15, false);
}

}  // namespace weightcast

// g++ 12's AVX-512 intrinsics warn about their own _mm512_undefined_*() (a known false positive);
// the pragma must precede the intrinsics headers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "map/cast.h"

#include <immintrin.h>

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
template <typename T>
void store(std::byte* p, std::size_t i, T v) {
  std::memcpy(p + i * sizeof(T), &v, sizeof(T));
}

// Reading one source element as float32 (exact for f16/bf16/f32) or as double.
float read_f16(const std::byte* p, std::size_t i) {
  return f16_to_f32(load<std::uint16_t>(p, i));
}
float read_bf16(const std::byte* p, std::size_t i) {
  return bf16_to_f32(load<std::uint16_t>(p, i));
}
float read_f32(const std::byte* p, std::size_t i) {
  return load<float>(p, i);
}

template <typename T>
double read_int(const std::byte* p, std::size_t i) {
  return static_cast<double>(load<T>(p, i));
}
double read_bool(const std::byte* p, std::size_t i) {
  return load<std::uint8_t>(p, i) != 0;
}
double read_f64(const std::byte* p, std::size_t i) {
  return load<double>(p, i);
}

// Float sources: f16/bf16/f32 widen exactly to float32, then round once to the target.
template <float (*Read)(const std::byte*, std::size_t), std::uint16_t (*Narrow)(float)>
void to_16(const std::byte* in, std::byte* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) store<std::uint16_t>(out, i, Narrow(Read(in, i)));
}
template <float (*Read)(const std::byte*, std::size_t)>
void to_f32(const std::byte* in, std::byte* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) store<float>(out, i, Read(in, i));
}
// Doubles and integers: numpy rounds doubles to float16 directly; bfloat16 goes via float.
template <double (*Read)(const std::byte*, std::size_t)>
void wide_to_f16(const std::byte* in, std::byte* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) store<std::uint16_t>(out, i, f64_to_f16(Read(in, i)));
}
template <double (*Read)(const std::byte*, std::size_t)>
void wide_to_bf16(const std::byte* in, std::byte* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    store<std::uint16_t>(out, i, f32_to_bf16(static_cast<float>(Read(in, i))));
}
template <double (*Read)(const std::byte*, std::size_t)>
void wide_to_f32(const std::byte* in, std::byte* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) store<float>(out, i, static_cast<float>(Read(in, i)));
}

template <std::size_t Size>
void copy(const std::byte* in, std::byte* out, std::size_t n) {
  if (n) std::memcpy(out, in, n * Size);
}

#if defined(__x86_64__)
// Eight at a time. A block holding a NaN goes through the scalar converter, because the
// hardware and the reference libraries encode NaN payloads differently.
WEIGHTCAST_AVX2 __m256 load_bf16x8(const std::byte* p) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

WEIGHTCAST_AVX2 void bf16_to_f16_avx2(const std::byte* in, std::byte* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = load_bf16x8(in + i * 2);
    if (_mm256_movemask_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q))) {
      to_16<read_bf16, f32_to_f16_eigen>(in + i * 2, out + i * 2, 8);
      continue;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i * 2),
                     _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  to_16<read_bf16, f32_to_f16_eigen>(in + i * 2, out + i * 2, n - i);
}

// Sixteen at a time; the same NaN rule.
WEIGHTCAST_AVX512 void bf16_to_f16_avx512(const std::byte* in, std::byte* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 x = _mm512_castsi512_ps(_mm512_slli_epi32(
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i * 2))),
        16));
    if (_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q)) {
      to_16<read_bf16, f32_to_f16_eigen>(in + i * 2, out + i * 2, 16);
      continue;
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i * 2),
                        _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  bf16_to_f16_avx2(in + i * 2, out + i * 2, n - i);
}

// bf16 -> f16 with the input check folded in: a step of sixteen whose exponents are not all ones
// (no NaN, no infinity: the usual case) costs one compare; the others are cast and counted one by
// one.
WEIGHTCAST_AVX512 void bf16_to_f16_counting_avx512(const std::byte* in, std::byte* out,
                                                   std::size_t n, NonFiniteCount& count) {
  const __m256i exponent = _mm256_set1_epi16(0x7F80);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i * 2));
    if (_mm256_cmpeq_epi16_mask(_mm256_and_si256(v, exponent), exponent)) {
      to_16<read_bf16, f32_to_f16_eigen>(in + i * 2, out + i * 2, 16);
      count_nonfinite(DType::kBF16, in + i * 2, 16, count, SimdLevel::kScalar);
      continue;
    }
    const __m512 x = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i * 2),
                        _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  to_16<read_bf16, f32_to_f16_eigen>(in + i * 2, out + i * 2, n - i);
  count_nonfinite(DType::kBF16, in + i * 2, n - i, count, SimdLevel::kScalar);
}

WEIGHTCAST_AVX2 void f32_to_f16_avx2(const std::byte* in, std::byte* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(reinterpret_cast<const float*>(in + i * 4));
    if (_mm256_movemask_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q))) {
      to_16<read_f32, f32_to_f16>(in + i * 4, out + i * 2, 8);
      continue;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i * 2),
                     _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  to_16<read_f32, f32_to_f16>(in + i * 4, out + i * 2, n - i);
}

WEIGHTCAST_AVX2 void f16_to_f32_avx2(const std::byte* in, std::byte* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i * 2)));
    if (_mm256_movemask_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q))) {  // hardware quiets sNaN
      to_f32<read_f16>(in + i * 2, out + i * 4, 8);
      continue;
    }
    _mm256_storeu_ps(reinterpret_cast<float*>(out + i * 4), x);
  }
  to_f32<read_f16>(in + i * 2, out + i * 4, n - i);
}

WEIGHTCAST_AVX2 void bf16_to_f32_avx2(const std::byte* in, std::byte* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(reinterpret_cast<float*>(out + i * 4), load_bf16x8(in + i * 2));
  to_f32<read_bf16>(in + i * 2, out + i * 4, n - i);
}

WEIGHTCAST_AVX512 void bf16_to_f32_avx512(const std::byte* in, std::byte* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_si512(
        out + i * 4,
        _mm512_slli_epi32(
            _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i * 2))),
            16));
  bf16_to_f32_avx2(in + i * 2, out + i * 4, n - i);
}
#endif

bool is_integer(DType t) {
  return t <= DType::kI64;
}

CastFn integer_cast(DType from, DType to) {
#define WEIGHTCAST_INT_CASE(D, R)                 \
  case D:                                         \
    return to == DType::kF16    ? wide_to_f16<R>  \
           : to == DType::kBF16 ? wide_to_bf16<R> \
                                : wide_to_f32<R>;
  switch (from) {
    WEIGHTCAST_INT_CASE(DType::kBool, read_bool)
    WEIGHTCAST_INT_CASE(DType::kU8, read_int<std::uint8_t>)
    WEIGHTCAST_INT_CASE(DType::kI8, read_int<std::int8_t>)
    WEIGHTCAST_INT_CASE(DType::kU16, read_int<std::uint16_t>)
    WEIGHTCAST_INT_CASE(DType::kI16, read_int<std::int16_t>)
    WEIGHTCAST_INT_CASE(DType::kU32, read_int<std::uint32_t>)
    WEIGHTCAST_INT_CASE(DType::kI32, read_int<std::int32_t>)
    WEIGHTCAST_INT_CASE(DType::kU64, read_int<std::uint64_t>)
    WEIGHTCAST_INT_CASE(DType::kI64, read_int<std::int64_t>)
    WEIGHTCAST_INT_CASE(DType::kF64, read_f64)
    default:
      return nullptr;
  }
#undef WEIGHTCAST_INT_CASE
}

}  // namespace

// int32 <-> uint32 (AWQ's packed words): numpy's astype keeps the bits.
bool same_bits(DType from, DType to) {
  return (from == DType::kI32 && to == DType::kU32) || (from == DType::kU32 && to == DType::kI32);
}

bool can_cast(DType from, DType to) {
  if (from == to || same_bits(from, to)) return true;
  const bool to_ok = to == DType::kF16 || to == DType::kBF16 || to == DType::kF32;
  return to_ok && from <= DType::kF64;  // integers, bool and the IEEE-style floats
}

CastFn cast_function(DType from, DType to, SimdLevel level) {
  if (!can_cast(from, to))
    fail<NotImplementedError>("casting {} to {} is not supported", tvm_name(from), tvm_name(to));
  if (from == to || same_bits(from, to)) {
    switch (dtype_size(from)) {
      case 1:
        return copy<1>;
      case 2:
        return copy<2>;
      case 4:
        return copy<4>;
      default:
        return copy<8>;
    }
  }
  const bool avx2 = level >= SimdLevel::kAvx2;
  (void)avx2;
#if defined(__x86_64__)
  if (level >= SimdLevel::kAvx512 && from == DType::kBF16 && to == DType::kF16)
    return bf16_to_f16_avx512;
  if (level >= SimdLevel::kAvx512 && from == DType::kBF16 && to == DType::kF32)
    return bf16_to_f32_avx512;
  if (avx2) {
    if (from == DType::kBF16 && to == DType::kF16) return bf16_to_f16_avx2;
    if (from == DType::kF32 && to == DType::kF16) return f32_to_f16_avx2;
    if (from == DType::kF16 && to == DType::kF32) return f16_to_f32_avx2;
    if (from == DType::kBF16 && to == DType::kF32) return bf16_to_f32_avx2;
  }
#endif
  switch (from) {
    case DType::kF16:
      return to == DType::kBF16 ? to_16<read_f16, f32_to_bf16> : to_f32<read_f16>;
    case DType::kBF16:
      return to == DType::kF16 ? to_16<read_bf16, f32_to_f16_eigen> : to_f32<read_bf16>;
    case DType::kF32:
      return to == DType::kF16 ? to_16<read_f32, f32_to_f16> : to_16<read_f32, f32_to_bf16>;
    default:
      break;
  }
  if (is_integer(from) || from == DType::kF64) return integer_cast(from, to);
  fail<NotImplementedError>("casting {} to {} is not supported", tvm_name(from), tvm_name(to));
}

CountingCastFn counting_cast_function(DType from, DType to, SimdLevel level) {
#if defined(__x86_64__)
  if (level >= SimdLevel::kAvx512 && from == DType::kBF16 && to == DType::kF16)
    return bf16_to_f16_counting_avx512;
#else
  (void)from, (void)to, (void)level;
#endif
  return nullptr;
}

}  // namespace weightcast

// g++ 12's AVX-512 intrinsics warn about their own _mm512_undefined_*() (a known false positive);
// the pragma must precede the intrinsics headers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "util/nonfinite.h"

#include <immintrin.h>

#include <cstring>

namespace weightcast {

namespace {

// The exponent field all ones: infinity when the mantissa is 0, NaN otherwise.
template <typename U>
void scalar(const std::byte* data, std::size_t n, U exp, U man, NonFiniteCount& c) {
  for (std::size_t i = 0; i < n; ++i) {
    U v;
    std::memcpy(&v, data + i * sizeof(U), sizeof(U));
    if ((v & exp) != exp) continue;
    ++((v & man) ? c.nan : c.inf);
  }
}

// FP8: e4m3fn has no infinity and one NaN pattern (s.1111.111); e5m2 is IEEE-like.
void fp8(DType t, const std::byte* data, std::size_t n, NonFiniteCount& c) {
  const auto* b = reinterpret_cast<const std::uint8_t*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    if (t == DType::kF8E4M3) {
      c.nan += (b[i] & 0x7F) == 0x7F;
    } else if ((b[i] & 0x7C) == 0x7C) {
      ++((b[i] & 0x03) ? c.nan : c.inf);
    }
  }
}

#if defined(__x86_64__)
// 16 half-width or 8 single-width words per step; a step with no all-ones exponent (the usual
// case) costs one compare, the rare others are counted by the scalar loop.
WEIGHTCAST_AVX2 void avx2_16(const std::byte* data, std::size_t n, std::uint16_t exp,
                             std::uint16_t man, NonFiniteCount& c) {
  const __m256i e = _mm256_set1_epi16(static_cast<short>(exp));
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i * 2));
    if (_mm256_movemask_epi8(_mm256_cmpeq_epi16(_mm256_and_si256(v, e), e)))
      scalar<std::uint16_t>(data + i * 2, 16, exp, man, c);
  }
  scalar<std::uint16_t>(data + i * 2, n - i, exp, man, c);
}

// 32 half-width words per step, two steps per iteration (the loop is bound by loads).
WEIGHTCAST_AVX512 void avx512_16(const std::byte* data, std::size_t n, std::uint16_t exp,
                                 std::uint16_t man, NonFiniteCount& c) {
  const __m512i e = _mm512_set1_epi16(static_cast<short>(exp));
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512i a = _mm512_loadu_si512(data + i * 2);
    const __m512i b = _mm512_loadu_si512(data + i * 2 + 64);
    if (_mm512_cmpeq_epi16_mask(_mm512_and_si512(a, e), e) |
        _mm512_cmpeq_epi16_mask(_mm512_and_si512(b, e), e))
      scalar<std::uint16_t>(data + i * 2, 64, exp, man, c);
  }
  avx2_16(data + i * 2, n - i, exp, man, c);
}

WEIGHTCAST_AVX2 void avx2_32(const std::byte* data, std::size_t n, NonFiniteCount& c) {
  const __m256i e = _mm256_set1_epi32(0x7F800000);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i * 4));
    if (_mm256_movemask_epi8(_mm256_cmpeq_epi32(_mm256_and_si256(v, e), e)))
      scalar<std::uint32_t>(data + i * 4, 8, 0x7F800000u, 0x007FFFFFu, c);
  }
  scalar<std::uint32_t>(data + i * 4, n - i, 0x7F800000u, 0x007FFFFFu, c);
}
#endif

}  // namespace

bool may_be_nonfinite(DType t) {
  return t == DType::kF16 || t == DType::kBF16 || t == DType::kF32 || t == DType::kF64 ||
         t == DType::kF8E4M3 || t == DType::kF8E5M2;
}

void count_nonfinite(DType t, const std::byte* data, std::size_t n, NonFiniteCount& c,
                     SimdLevel level) {
  const bool avx2 = level >= SimdLevel::kAvx2;
  (void)avx2;
  switch (t) {
    case DType::kF16:
    case DType::kBF16: {
      const std::uint16_t exp = t == DType::kF16 ? 0x7C00 : 0x7F80;
      const std::uint16_t man = t == DType::kF16 ? 0x03FF : 0x007F;
#if defined(__x86_64__)
      if (level >= SimdLevel::kAvx512) return avx512_16(data, n, exp, man, c);
      if (avx2) return avx2_16(data, n, exp, man, c);
#endif
      return scalar<std::uint16_t>(data, n, exp, man, c);
    }
    case DType::kF32:
#if defined(__x86_64__)
      if (avx2) return avx2_32(data, n, c);
#endif
      return scalar<std::uint32_t>(data, n, 0x7F800000u, 0x007FFFFFu, c);
    case DType::kF64:
      return scalar<std::uint64_t>(data, n, 0x7FF0000000000000u, 0x000FFFFFFFFFFFFFu, c);
    case DType::kF8E4M3:
    case DType::kF8E5M2:
      return fp8(t, data, n, c);
    default:
      return;
  }
}

}  // namespace weightcast

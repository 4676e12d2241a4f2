// g++ 12's AVX-512 intrinsics start from _mm512_undefined_*() and then warn that it is or may be
// uninitialized, depending on inlining (a known false positive); the pragmas must precede the
// intrinsics headers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "quant/kernels/group_kernel.h"

#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "util/error.h"
#include "util/float_bits.h"

namespace weightcast {

namespace {

constexpr int kStorageBits = 32;

// TVM lowers max/min to selects: NaN falls through to the second operand
// (docs/mlc-format.md#group-quantization-kernel). x86's MAXPS/MINPS have exactly these semantics,
// so the SIMD path uses them directly.
inline float select_max(float a, float b) {
  return a > b ? a : b;
}
inline float select_min(float a, float b) {
  return a < b ? a : b;
}

inline float round_with(float u, RoundMode mode) {
  return mode == RoundMode::kTiesEven ? std::nearbyint(u) : std::round(u);
}

// Per-dtype arithmetic. f16 rounds every operation to binary16 (LLVM promotes each half op to
// float and rounds back, which equals IEEE binary16 arithmetic); bf16 and f32 compute in float32.
struct F16Math {
  using Storage = std::uint16_t;
  static constexpr float kLowest = -65504.0f;
  static float load(Storage v) { return f16_to_f32(v); }
  static Storage store(float v) { return f32_to_f16(v); }
  static float op(float v) { return f16_to_f32(f32_to_f16(v)); }
};
struct BF16Math {
  using Storage = std::uint16_t;
  static constexpr float kLowest = std::bit_cast<float>(0xFF7F0000u);  // bfloat16 lowest
  static float load(Storage v) { return bf16_to_f32(v); }
  static Storage store(float v) { return f32_to_bf16_tvm_storage(v); }
  static float op(float v) { return v; }
};
struct F32Math {
  using Storage = float;
  static constexpr float kLowest = -FLT_MAX;
  static float load(Storage v) { return v; }
  static Storage store(float v) { return v; }
  static float op(float v) { return v; }
};

struct Geometry {
  std::size_t gs, per_word, groups, words;
  float max_int, max_code;
  Geometry(const GroupKernelArgs& a, std::size_t k)
      : gs(static_cast<std::size_t>(a.group_size)),
        per_word(static_cast<std::size_t>(kStorageBits / a.bits)),
        groups((k + gs - 1) / gs),
        words(groups * (gs / per_word)),
        max_int(static_cast<float>((1 << (a.bits - 1)) - 1)),
        max_code(2 * max_int) {}
};

// The reduction in TVM's order: sequential from the identity, padding lanes included.
template <typename Math>
float group_max_sequential(const typename Math::Storage* w, std::size_t begin, std::size_t gs,
                           std::size_t k) {
  float max_abs = Math::kLowest;
  for (std::size_t i = begin; i < begin + gs; ++i)
    max_abs = select_max(max_abs, i < k ? std::fabs(Math::load(w[i])) : Math::kLowest);
  return max_abs;
}

template <typename Math>
unsigned code_of(float w, float scale, const Geometry& g, RoundMode mode) {
  const float t = Math::op(w / scale);
  const float u = Math::op(t + g.max_int);
  return static_cast<unsigned>(select_min(select_max(round_with(u, mode), 0.0f), g.max_code));
}

// The group's scale as stored, and the one its codes divide by.
template <typename Math>
typename Math::Storage group_scale(float max_abs, const Geometry& g, bool rounded, float* scale) {
  const float raw = Math::op(max_abs / g.max_int);
  const auto stored = Math::store(raw);
  *scale = rounded ? Math::load(stored) : raw;
  return stored;
}

template <typename Math>
void quantize_rows_scalar(const GroupKernelArgs& a, const void* input, std::size_t rows,
                          std::size_t k, std::uint32_t* q_weight, void* q_scale) {
  using S = typename Math::Storage;
  const Geometry g(a, k);
  const auto* in = static_cast<const S*>(input);
  auto* scales = static_cast<S*>(q_scale);
  for (std::size_t r = 0; r < rows; ++r) {
    const S* w = in + r * k;
    std::uint32_t* qw = q_weight + r * g.words;
    std::memset(qw, 0, g.words * sizeof(std::uint32_t));
    for (std::size_t grp = 0; grp < g.groups; ++grp) {
      const std::size_t begin = grp * g.gs, end = std::min(k, begin + g.gs);
      float scale;
      scales[r * g.groups + grp] = group_scale<Math>(group_max_sequential<Math>(w, begin, g.gs, k),
                                                     g, a.rounded_scale, &scale);
      for (std::size_t i = begin; i < end; ++i)
        qw[i / g.per_word] |= code_of<Math>(Math::load(w[i]), scale, g, a.round_mode)
                              << ((i % g.per_word) * a.bits);
    }
  }
}

#if defined(__x86_64__)

// Spreads prefetches of a span over the groups of the rows that precede its use: `lines` cache
// lines per group, `next` the line to fetch next.
struct Prefetcher {
  const char* next = nullptr;
  const char* end = nullptr;
  std::size_t lines = 0;
  Prefetcher(std::span<const std::byte> span, std::size_t groups)
      : next(reinterpret_cast<const char*>(span.data())),
        end(next + span.size()),
        lines(groups == 0 ? 0 : (span.size() / 64 + groups) / groups) {}
  void step() {
    for (std::size_t i = 0; i < lines && next < end; ++i, next += 64)
      _mm_prefetch(next, _MM_HINT_T1);
  }
};

// ---- AVX2 + F16C. Full groups run eight lanes at a time; a group holding a NaN (where the
// reduction order would matter) and the partial last group take the scalar code above.

struct F16Simd {
  using Math = F16Math;
  WEIGHTCAST_AVX2 static __m256 load8(const std::uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  // Rounds to binary16 precision with integer ops on the float32 bits (round to nearest even at
  // mantissa bit 13), cheaper than a conversion round trip. It differs from a true binary16
  // rounding only for binary16 subnormals and overflow, and neither changes a code: a subnormal
  // t gives u = f16(t + 7) = 7 either way, and an overflowing t or u clamps to 0 or 14 as the
  // infinity would. NaNs keep a set quiet bit, so they stay NaN.
  WEIGHTCAST_AVX2 static __m256 op8(__m256 x) {
    const __m256i bits = _mm256_castps_si256(x);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 13), _mm256_set1_epi32(1));
    const __m256i up = _mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0xFFF)));
    return _mm256_castsi256_ps(_mm256_and_si256(up, _mm256_set1_epi32(~0x1FFF)));
  }
  static constexpr std::uint32_t kInfBits = 0x7C00;
};
struct BF16Simd {
  using Math = BF16Math;
  WEIGHTCAST_AVX2 static __m256 load8(const std::uint16_t* p) {
    const __m256i wide =
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  WEIGHTCAST_AVX2 static __m256 op8(__m256 x) { return x; }
  static constexpr std::uint32_t kInfBits = 0x7F80;
};
struct F32Simd {
  using Math = F32Math;
  WEIGHTCAST_AVX2 static __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
  WEIGHTCAST_AVX2 static __m256 op8(__m256 x) { return x; }
  static constexpr std::uint32_t kInfBits = 0x7F800000;
};

WEIGHTCAST_AVX2 inline __m256 round8(__m256 u, RoundMode mode) {
  if (mode == RoundMode::kTiesEven)
    return _mm256_round_ps(u, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // Half away from zero, exactly: truncate, then step outward when the dropped part is >= 0.5.
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 t = _mm256_round_ps(u, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(u, t));
  const __m256 step = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(u, sign));
  return _mm256_add_ps(t,
                       _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), step));
}

// The largest |x| of a group as raw bits. With the sign cleared, IEEE bit patterns order like
// the values they encode, so an integer max finds the float max; a result above the infinity
// pattern means the group holds a NaN.
WEIGHTCAST_AVX2 inline std::uint32_t max_abs_bits(const std::uint16_t* p, std::size_t n) {
  const __m256i mask = _mm256_set1_epi16(0x7FFF);
  __m256i acc = _mm256_setzero_si256();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16)
    acc = _mm256_max_epu16(
        acc, _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)), mask));
  __m128i m = _mm_max_epu16(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  for (; i + 8 <= n; i += 8)
    m = _mm_max_epu16(m, _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)),
                                       _mm256_castsi256_si128(mask)));
  // phminposuw finds the minimum of eight u16 lanes: take it of the complement.
  const __m128i inv = _mm_xor_si128(m, _mm_set1_epi32(-1));
  return 0xFFFFu - static_cast<std::uint32_t>(_mm_cvtsi128_si32(_mm_minpos_epu16(inv)) & 0xFFFF);
}
WEIGHTCAST_AVX2 inline std::uint32_t max_abs_bits(const float* p, std::size_t n) {
  const __m256i mask = _mm256_set1_epi32(0x7FFFFFFF);
  __m256i acc = _mm256_setzero_si256();
  for (std::size_t i = 0; i < n; i += 8)
    acc = _mm256_max_epu32(
        acc, _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)), mask));
  __m128i m = _mm_max_epu32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  m = _mm_max_epu32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(1, 0, 3, 2)));
  m = _mm_max_epu32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(2, 3, 0, 1)));
  return static_cast<std::uint32_t>(_mm_cvtsi128_si32(m));
}

inline float bits_value(const std::uint16_t*, std::uint32_t bits, DType dtype) {
  return dtype == DType::kF16 ? f16_to_f32(static_cast<std::uint16_t>(bits))
                              : bf16_to_f32(static_cast<std::uint16_t>(bits));
}
inline float bits_value(const float*, std::uint32_t bits, DType) {
  return std::bit_cast<float>(bits);
}

template <typename Simd>
WEIGHTCAST_AVX2 inline __m256i codes8(const typename Simd::Math::Storage* w, __m256 scale,
                                      __m256 max_int, __m256 max_code, RoundMode mode) {
  const __m256 t = Simd::op8(_mm256_div_ps(Simd::load8(w), scale));
  const __m256 u = Simd::op8(_mm256_add_ps(t, max_int));
  return _mm256_cvttps_epi32(
      _mm256_min_ps(_mm256_max_ps(round8(u, mode), _mm256_setzero_ps()), max_code));
}

// `n` codes (a whole number of words) packed LSB-first, `per_word` codes of `bits` each per word.
inline void pack_codes(const std::int32_t* codes, std::size_t n, int bits, std::size_t per_word,
                       std::uint32_t* out) {
  for (std::size_t j = 0; j < n; ++j)
    out[j / per_word] |= static_cast<std::uint32_t>(codes[j]) << ((j % per_word) * bits);
}

// Ten 3-bit codes per word from one byte each: three mask-and-shift steps on the first eight (no
// PEXT: AVX2 CPUs include AMD's before Zen 3, where it is microcoded and slow).
inline void pack_code_bytes3_shifts(const std::uint8_t* codes, std::size_t words,
                                    std::uint32_t* out) {
  for (std::size_t w = 0; w < words; ++w) {
    const std::uint8_t* c = codes + 10 * w;
    std::uint64_t x;
    std::memcpy(&x, c, 8);
    x = (x & 0x00FF00FF00FF00FFull) | ((x & 0xFF00FF00FF00FF00ull) >> 5);
    x = (x & 0x0000FFFF0000FFFFull) | ((x & 0xFFFF0000FFFF0000ull) >> 10);
    x = (x & 0xFFFFFFFFull) | ((x >> 32) << 12);
    out[w] = static_cast<std::uint32_t>(x) | static_cast<std::uint32_t>(c[8]) << 24 |
             static_cast<std::uint32_t>(c[9]) << 27;
  }
}

// Eight int32 codes (0 to 255) as eight bytes.
WEIGHTCAST_AVX2 inline void store_code_bytes8(__m256i c, std::uint8_t* out) {
  const __m128i words = _mm_packus_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_packus_epi16(words, words));
}

// 32 int4 codes (four vectors of eight, in order) packed into four LSB-first uint32 words.
WEIGHTCAST_AVX2 inline void pack_int4x32(__m256i c0, __m256i c1, __m256i c2, __m256i c3,
                                         std::uint32_t* out) {
  const __m256i bytes =
      _mm256_packus_epi16(_mm256_packus_epi32(c0, c1), _mm256_packus_epi32(c2, c3));
  // packus works per 128-bit lane: restore element order (each dword holds four codes).
  const __m256i ordered =
      _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  // byte 2i + 16 * byte 2i+1: two codes per byte, the even one in the low nibble.
  const __m256i pairs = _mm256_maddubs_epi16(ordered, _mm256_set1_epi16(0x1001));
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi16(pairs, pairs), 0x08);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(packed));
}

// Scales of eight groups at once from their max-abs bits: the stored scale (in the model dtype)
// and the float32 scale the codes divide by. Only for groups without NaN.
struct Scales8 {
  __m128i stored16;  // f16 / bf16 storage
  __m256 stored32;   // f32 storage
  __m256 divisor;
};
WEIGHTCAST_AVX2 inline Scales8 scales8(const std::uint16_t* bits, DType dtype, bool rounded,
                                       float max_int) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bits));
  const __m256 seven = _mm256_set1_ps(max_int);
  Scales8 out{};
  if (dtype == DType::kF16) {
    out.stored16 = _mm256_cvtps_ph(_mm256_div_ps(_mm256_cvtph_ps(b), seven),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    out.divisor = _mm256_cvtph_ps(out.stored16);
    return out;
  }
  // bfloat16: float32 arithmetic, stored with TVM's rounding (x + 0x7FFF + lsb) >> 16.
  const __m256 raw =
      _mm256_div_ps(_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(b), 16)), seven);
  const __m256i x = _mm256_castps_si256(raw);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
  const __m256i r =
      _mm256_srli_epi32(_mm256_add_epi32(x, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF))), 16);
  out.stored16 = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
  out.divisor = rounded ? _mm256_castsi256_ps(_mm256_slli_epi32(r, 16)) : raw;
  return out;
}
WEIGHTCAST_AVX2 inline Scales8 scales8(const std::uint32_t* bits, DType, bool, float max_int) {
  Scales8 out{};
  out.stored32 =
      _mm256_div_ps(_mm256_loadu_ps(reinterpret_cast<const float*>(bits)), _mm256_set1_ps(max_int));
  out.divisor = out.stored32;
  return out;
}
inline void store_scales8(const Scales8& s, std::uint16_t* out) {
  std::memcpy(out, &s.stored16, 16);
}
inline void store_scales8(const Scales8& s, float* out) {
  std::memcpy(out, &s.stored32, 32);
}

template <typename Simd>
WEIGHTCAST_AVX2 void quantize_rows_avx2(const GroupKernelArgs& a, const void* input,
                                        std::size_t rows, std::size_t k, std::uint32_t* q_weight,
                                        void* q_scale) {
  using Math = typename Simd::Math;
  using S = typename Math::Storage;
  using Bits = std::conditional_t<sizeof(S) == 2, std::uint16_t, std::uint32_t>;
  const Geometry g(a, k);
  const auto* in = static_cast<const S*>(input);
  auto* scales = static_cast<S*>(q_scale);
  const __m256 max_int = _mm256_set1_ps(g.max_int), max_code = _mm256_set1_ps(g.max_code);
  const bool vector_groups = g.gs % 8 == 0 && g.gs <= 256;
  const bool int4_fast = g.per_word == 8 && g.gs % 32 == 0;
  const bool int3_bytes = a.bits == 3 && g.per_word == 10;
  // Groups covered by the vector path: the full ones. The partial last group is scalar.
  const std::size_t full = vector_groups ? k / g.gs : 0;
  thread_local std::vector<Bits> max_bits;
  thread_local std::vector<float> divisors;
  max_bits.resize(full + 8);
  divisors.resize(full + 8);
  alignas(32) std::int32_t codes[256];
  alignas(32) std::uint8_t code_bytes[256];
  Prefetcher prefetch(a.prefetch, rows * g.groups);
  for (std::size_t r = 0; r < rows; ++r) {
    const S* w = in + r * k;
    S* row_scales = scales + r * g.groups;
    std::uint32_t* qw = q_weight + r * g.words;
    std::memset(qw, 0, g.words * sizeof(std::uint32_t));
    // Pass 1: the max |w| of every full group, as bits.
    for (std::size_t grp = 0; grp < full; ++grp)
      max_bits[grp] = static_cast<Bits>(max_abs_bits(w + grp * g.gs, g.gs));
    // Pass 2: scales, eight groups at a time; groups holding a NaN take the scalar path, since
    // the reduction order then matters.
    std::size_t grp = 0;
    for (; grp + 8 <= full; grp += 8) {
      bool nan = false;
      for (int j = 0; j < 8; ++j) nan |= max_bits[grp + j] > Simd::kInfBits;
      if (nan) break;
      const Scales8 sc = scales8(max_bits.data() + grp, a.dtype, a.rounded_scale, g.max_int);
      store_scales8(sc, row_scales + grp);
      _mm256_storeu_ps(divisors.data() + grp, sc.divisor);
    }
    for (; grp < full; ++grp) {
      const float max_abs = max_bits[grp] > Simd::kInfBits
                                ? group_max_sequential<Math>(w, grp * g.gs, g.gs, k)
                                : bits_value(w, max_bits[grp], a.dtype);
      row_scales[grp] = group_scale<Math>(max_abs, g, a.rounded_scale, &divisors[grp]);
    }
    // Pass 3: the codes.
    for (grp = 0; grp < full; ++grp) {
      const std::size_t begin = grp * g.gs;
      const __m256 sv = _mm256_set1_ps(divisors[grp]);
      prefetch.step();
      if (int4_fast) {
        for (std::size_t j = 0; j < g.gs; j += 32) {
          const S* p = w + begin + j;
          pack_int4x32(codes8<Simd>(p, sv, max_int, max_code, a.round_mode),
                       codes8<Simd>(p + 8, sv, max_int, max_code, a.round_mode),
                       codes8<Simd>(p + 16, sv, max_int, max_code, a.round_mode),
                       codes8<Simd>(p + 24, sv, max_int, max_code, a.round_mode),
                       qw + (begin + j) / 8);
        }
        continue;
      }
      if (int3_bytes) {
        for (std::size_t j = 0; j < g.gs; j += 8)
          store_code_bytes8(codes8<Simd>(w + begin + j, sv, max_int, max_code, a.round_mode),
                            code_bytes + j);
        pack_code_bytes3_shifts(code_bytes, g.gs / 10, qw + begin / 10);
        continue;
      }
      for (std::size_t j = 0; j < g.gs; j += 8)
        _mm256_store_si256(reinterpret_cast<__m256i*>(codes + j),
                           codes8<Simd>(w + begin + j, sv, max_int, max_code, a.round_mode));
      pack_codes(codes, g.gs, a.bits, g.per_word, qw + begin / g.per_word);
    }
    // The partial last group (or every group, when the group size does not suit the vectors).
    for (grp = full; grp < g.groups; ++grp) {
      const std::size_t begin = grp * g.gs;
      float scale;
      row_scales[grp] = group_scale<Math>(group_max_sequential<Math>(w, begin, g.gs, k), g,
                                          a.rounded_scale, &scale);
      for (std::size_t i = begin; i < std::min(k, begin + g.gs); ++i)
        qw[i / g.per_word] |= code_of<Math>(Math::load(w[i]), scale, g, a.round_mode)
                              << ((i % g.per_word) * a.bits);
    }
  }
}

#endif  // __x86_64__

#if defined(__x86_64__)

// ---- AVX-512, binary16 model dtype: sixteen lanes, and no division in the inner loop (division
// is the slowest instruction here). The quotient comes from the scale's reciprocal with one
// Markstein correction: r = RN(1/s), q = RN(x * r), e = x - q * s (exact, by FMA), then
// RN(q + e * r) is exactly RN(x / s), the division TVM performs. Checked exhaustively for every
// finite binary16 x and every positive finite binary16 s (tests/cpp/group_quant_test.cpp samples
// it); the one difference, -0 for +0, cannot change a code. Rows where s would be infinite or
// zero for a nonzero group, or holding a NaN (whose reduction order matters), go through the
// AVX2 path. 4-bit codes, groups of a multiple of 8.

WEIGHTCAST_AVX512 inline std::uint16_t group_max_bits512(const std::uint16_t* p, std::size_t gs) {
  const __m512i mask = _mm512_set1_epi16(0x7FFF);
  __m512i acc = _mm512_setzero_si512();
  std::size_t i = 0;
  for (; i + 32 <= gs; i += 32)
    acc = _mm512_max_epu16(acc, _mm512_and_si512(_mm512_loadu_si512(p + i), mask));
  if (i < gs) {  // the last 8 to 24
    const __mmask32 tail = (1u << (gs - i)) - 1;
    acc = _mm512_max_epu16(acc, _mm512_and_si512(_mm512_maskz_loadu_epi16(tail, p + i), mask));
  }
  const __m256i m =
      _mm256_max_epu16(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64(acc, 1));
  const __m128i x = _mm_max_epu16(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
  const __m128i inv = _mm_xor_si128(x, _mm_set1_epi32(-1));
  return static_cast<std::uint16_t>(0xFFFF - (_mm_cvtsi128_si32(_mm_minpos_epu16(inv)) & 0xFFFF));
}

// The max |w| bits of four groups at once, each group's |w| bits in one vector (`a`): a reduction
// tree over the four vectors instead of four horizontal reductions. False when one of them is
// infinite or NaN.
WEIGHTCAST_AVX512 inline bool four_max_bits(const __m512i a[4], std::uint16_t* out) {
  // Halves: [group 0's 16 | group 1's 16], [group 2's | group 3's].
  const __m512i x01 = _mm512_max_epu16(_mm512_shuffle_i64x2(a[0], a[1], 0x44),
                                       _mm512_shuffle_i64x2(a[0], a[1], 0xEE));
  const __m512i x23 = _mm512_max_epu16(_mm512_shuffle_i64x2(a[2], a[3], 0x44),
                                       _mm512_shuffle_i64x2(a[2], a[3], 0xEE));
  // Quarters: 128-bit chunk c holds group c's eight candidates.
  __m512i y =
      _mm512_max_epu16(_mm512_shuffle_i64x2(x01, x23, 0x88), _mm512_shuffle_i64x2(x01, x23, 0xDD));
  y = _mm512_max_epu16(y, _mm512_bsrli_epi128(y, 8));
  y = _mm512_max_epu16(y, _mm512_bsrli_epi128(y, 4));
  y = _mm512_max_epu16(y, _mm512_bsrli_epi128(y, 2));
  // Each chunk's first word is its group's max.
  constexpr __mmask32 kFirsts = 0x01010101;
  if (_mm512_mask_cmpge_epu16_mask(kFirsts, y, _mm512_set1_epi16(0x7C00))) return false;
  const __m512i firsts =
      _mm512_permutexvar_epi16(_mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 24, 16, 8, 0),
                               y);
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm512_castsi512_si128(firsts));
  return true;
}

// Four consecutive groups of 32.
WEIGHTCAST_AVX512 inline bool four_group_max_bits(const std::uint16_t* p, std::uint16_t* out) {
  const __m512i mask = _mm512_set1_epi16(0x7FFF);
  __m512i a[4];
  for (int i = 0; i < 4; ++i) a[i] = _mm512_and_si512(_mm512_loadu_si512(p + 32 * i), mask);
  return four_max_bits(a, out);
}

// Four consecutive groups of 40 (q3f16_*), five vectors: each group's lanes gathered into a
// vector of its own by masked moves (|w| bits are never negative, so zeroed lanes do not count).
WEIGHTCAST_AVX512 inline bool four_group40_max_bits(const std::uint16_t* p, std::uint16_t* out) {
  const __m512i mask = _mm512_set1_epi16(0x7FFF);
  __m512i z[5];
  for (int i = 0; i < 5; ++i) z[i] = _mm512_and_si512(_mm512_loadu_si512(p + 32 * i), mask);
  __m512i a[4];
  a[0] = _mm512_mask_max_epu16(z[0], 0x000000FF, z[0], z[1]);  // 0-39
  a[1] = _mm512_mask_max_epu16(_mm512_maskz_mov_epi16(0xFFFFFF00, z[1]), 0x0000FFFF,
                               _mm512_maskz_mov_epi16(0xFFFFFF00, z[1]), z[2]);  // 40-79
  a[2] = _mm512_mask_max_epu16(_mm512_maskz_mov_epi16(0xFFFF0000, z[2]), 0x00FFFFFF,
                               _mm512_maskz_mov_epi16(0xFFFF0000, z[2]), z[3]);  // 80-119
  a[3] = _mm512_mask_max_epu16(z[4], 0xFF000000, z[4], z[3]);                    // 120-159
  return four_max_bits(a, out);
}

// Rounds to binary16 precision with integer ops, as F16Simd::op8 (shorter latency than a
// conversion round trip; the values on this path are never NaN or infinite).
WEIGHTCAST_AVX512 inline __m512 to_f16_precision(__m512 x) {
  const __m512i bits = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 13), _mm512_set1_epi32(1));
  const __m512i up = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0xFFF)));
  return _mm512_castsi512_ps(_mm512_and_si512(up, _mm512_set1_epi32(~0x1FFF)));
}

struct Group512 {
  __m512 recip, divisor, max_int;
  __m512i max_code;
  RoundMode mode;
};

// The rounded u as int32: to nearest even in the conversion itself, or half away from zero.
WEIGHTCAST_AVX512 inline __m512i round_to_int16(__m512 u, RoundMode mode) {
  if (mode == RoundMode::kTiesEven)
    return _mm512_cvt_roundps_epi32(u, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 t = _mm512_roundscale_ps(u, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(u, t));
  const __m512 step = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(u, _mm512_set1_ps(-0.0f)));
  const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  return _mm512_cvttps_epi32(_mm512_mask_add_ps(t, up, t, step));
}

// Sixteen rounded u as int32 lanes, not yet clamped (the lanes outside `live` read as zero). On
// this path x / s is finite (s is finite and nonzero, |x| <= the group's max), so the clamp can
// work on integers.
WEIGHTCAST_AVX512 inline __m512i unclamped16(const std::uint16_t* w, const Group512& g,
                                             __mmask16 live = 0xFFFF) {
  const __m512 x = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(live, w));
  const __m512 q0 = _mm512_mul_ps(x, g.recip);
  const __m512 e = _mm512_fnmadd_ps(q0, g.divisor, x);
  const __m512 q = _mm512_fmadd_ps(e, g.recip, q0);
  const __m512 u = to_f16_precision(_mm512_add_ps(to_f16_precision(q), g.max_int));
  return round_to_int16(u, g.mode);
}

// Sixteen codes as int32 lanes.
WEIGHTCAST_AVX512 inline __m512i codes16(const std::uint16_t* w, const Group512& g,
                                         __mmask16 live = 0xFFFF) {
  return _mm512_min_epi32(_mm512_max_epi32(unclamped16(w, g, live), _mm512_setzero_si512()),
                          g.max_code);
}

// 32 4-bit codes packed two to a byte into 16 bytes. packus narrows both halves to uint16 and
// clamps below at 0 (NaN's integer, INT_MIN, included) in one step; madd makes each dword
// c_even + 16 c_odd. packus interleaves its inputs per 128-bit chunk, so the dwords' low bytes
// come out as a0 a1 b0 b1 a2 a3 b2 b3 ... (a, b: the pairs of each half) and one byte shuffle
// puts them back in order.
WEIGHTCAST_AVX512 inline __m128i int4_pairs32(__m512i lo, __m512i hi, __m512i max_code16) {
  const __m512i c = _mm512_min_epu16(_mm512_packus_epi32(lo, hi), max_code16);
  const __m512i pairs = _mm512_madd_epi16(c, _mm512_set1_epi32(0x00100001));
  const __m128i order = _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
  return _mm_shuffle_epi8(_mm512_cvtepi32_epi8(pairs), order);
}

// The first min(m, 16) of sixteen lanes.
inline __mmask16 first_lanes(std::size_t m) {
  return m >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << m) - 1);
}

// Scales of a row's groups, sixteen at a time: stored in binary16, and the reciprocal of that
// stored value (what the codes multiply by).
// False when a nonzero group's scale rounds to zero.
WEIGHTCAST_AVX512 bool row_scales512(const std::uint16_t* max_bits, std::size_t groups,
                                     float max_int, std::uint16_t* scales, float* divisors,
                                     float* recips) {
  for (std::size_t g = 0; g < groups; g += 16) {
    const __mmask16 live = first_lanes(groups - g);
    const __m512 m = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(live, max_bits + g));
    const __m256i stored = _mm512_cvtps_ph(_mm512_div_ps(m, _mm512_set1_ps(max_int)),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256i zero = _mm256_setzero_si256();
    if (_mm256_mask_cmpeq_epi16_mask(live, stored, zero) &
        _mm256_mask_cmpneq_epi16_mask(live, _mm256_maskz_loadu_epi16(live, max_bits + g), zero))
      return false;
    _mm256_mask_storeu_epi16(scales + g, live, stored);
    const __m512 divisor = _mm512_cvtph_ps(stored);
    _mm512_mask_storeu_ps(divisors + g, live, divisor);
    _mm512_mask_storeu_ps(recips + g, live, _mm512_div_ps(_mm512_set1_ps(1.0f), divisor));
  }
  return true;
}

// A row's scales (stored) and the divisors and reciprocals its codes use, in the thread's
// scratch. False when the row needs the AVX2 path (see above).
struct RowScales512 {
  const float* divisors;
  const float* recips;
};
WEIGHTCAST_AVX512 bool prepare_row512(const Geometry& geo, const std::uint16_t* w, std::size_t k,
                                      std::uint16_t* scales, RowScales512* out) {
  const std::size_t gs = geo.gs, groups = geo.groups;  // the last may be partial
  // Plain pointers into the thread's scratch: a thread_local touched in the loop costs a TLS
  // lookup (and a vzeroupper) per group.
  thread_local std::vector<float> scratch;
  scratch.resize(3 * groups);
  float* divisors = scratch.data();
  float* recips = divisors + groups;
  auto* max_bits = reinterpret_cast<std::uint16_t*>(recips + groups);
  std::size_t g = 0;
  if (gs == 32)
    for (; g + 4 <= groups; g += 4)
      if (!four_group_max_bits(w + g * gs, max_bits + g)) return false;
  if (gs == 40)
    for (; g + 4 <= k / gs; g += 4)  // whole groups only
      if (!four_group40_max_bits(w + g * gs, max_bits + g)) return false;
  for (; g < groups; ++g) {
    // A partial group's padding does not change its max (TVM pads the reduction with the lowest
    // value).
    const std::uint16_t m = group_max_bits512(w + g * gs, std::min(gs, k - g * gs));
    if (m >= 0x7C00) return false;  // infinity or NaN
    max_bits[g] = m;
  }
  if (!row_scales512(max_bits, groups, geo.max_int, scales, divisors, recips)) return false;
  *out = {divisors, recips};
  return true;
}

// False when the row needs the AVX2 path (see above).
WEIGHTCAST_AVX512 bool quantize_row_avx512(const GroupKernelArgs& a, const Geometry& geo,
                                           const std::uint16_t* w, std::size_t k, std::uint32_t* qw,
                                           std::uint16_t* scales, Prefetcher& prefetch) {
  const std::size_t gs = geo.gs, groups = k / gs;
  RowScales512 row;
  if (!prepare_row512(geo, w, k, scales, &row)) return false;
  const float* divisors = row.divisors;
  const float* recips = row.recips;
  if (a.bits != 4) std::memset(qw, 0, geo.words * sizeof(std::uint32_t));  // packed by OR
  alignas(64) std::int32_t codes[256 + 16];
  Group512 grp{{},
               {},
               _mm512_set1_ps(geo.max_int),
               _mm512_set1_epi32(static_cast<int>(geo.max_code)),
               a.round_mode};
  const __m512i max_code16 = _mm512_set1_epi16(static_cast<short>(geo.max_code));
  for (std::size_t g = 0; g < groups; ++g) {
    grp.recip = _mm512_set1_ps(recips[g]);
    grp.divisor = _mm512_set1_ps(divisors[g]);
    const std::uint16_t* p = w + g * gs;
    prefetch.step();
    if (a.bits == 4 && gs % 32 == 0) {
      for (std::size_t j = 0; j < gs; j += 32)
        _mm_storeu_si128(
            reinterpret_cast<__m128i*>(qw + (g * gs + j) / 8),
            int4_pairs32(unclamped16(p + j, grp), unclamped16(p + j + 16, grp), max_code16));
      continue;
    }
    if (a.bits == 4 && gs % 16 == 0) {  // two codes per byte: each qword's pair into one byte
      for (std::size_t j = 0; j < gs; j += 16) {
        const __m512i c = codes16(p + j, grp);
        const __m512i pairs = _mm512_or_si512(c, _mm512_srli_epi64(c, 28));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(qw + (g * gs + j) / 8),
                         _mm512_cvtepi64_epi8(pairs));
      }
      continue;
    }
    for (std::size_t j = 0; j < gs; j += 16) {
      const __mmask16 live = first_lanes(gs - j);  // 8 at the end
      _mm512_store_si512(codes + j, codes16(p + j, grp, live));
    }
    pack_codes(codes, gs, a.bits, geo.per_word, qw + g * gs / geo.per_word);
  }
  return true;
}

// Each row by `row` (geometry, row, codes, scales, prefetcher), or by the AVX2 path where it
// declines the row.
template <typename RowFn>
void quantize_rows_by(const GroupKernelArgs& a, const void* input, std::size_t rows, std::size_t k,
                      std::uint32_t* q_weight, void* q_scale, RowFn row) {
  const Geometry g(a, k);
  const auto* in = static_cast<const std::uint16_t*>(input);
  auto* scales = static_cast<std::uint16_t*>(q_scale);
  Prefetcher prefetch(a.prefetch, rows * g.groups);
  GroupKernelArgs declined = a;  // a row on its own: the prefetches stay with this loop
  declined.prefetch = {};
  for (std::size_t r = 0; r < rows; ++r) {
    const std::uint16_t* w = in + r * k;
    std::uint32_t* qw = q_weight + r * g.words;
    std::uint16_t* s = scales + r * g.groups;
    if (!row(g, w, qw, s, prefetch)) quantize_rows_avx2<F16Simd>(declined, w, 1, k, qw, s);
  }
}

// Room in the thread's scratch for a row's 3-bit codes, one byte each (the vector stores may run
// up to 64 bytes past the row's groups).
std::uint8_t* row_code_bytes3(const Geometry& geo) {
  thread_local std::vector<std::uint8_t> scratch;
  scratch.resize(geo.groups * geo.gs + 64);
  return scratch.data();
}

// A row's 3-bit code bytes, the padding of a partial last group set to code 0 as TVM writes it,
// packed ten to a word by two PEXTs (BMI2, which every AVX-512 CPU has). Packing after the whole
// row keeps the word loads from waiting on the vector stores that wrote their bytes.
__attribute__((target("bmi2"))) void pack_row_code_bytes3(std::uint8_t* codes, const Geometry& geo,
                                                          std::size_t k, std::uint32_t* qw) {
  std::memset(codes + k, 0, geo.groups * geo.gs - k);
  for (std::size_t i = 0; i < geo.words; ++i) {
    std::uint64_t first8;
    std::uint16_t last2;
    std::memcpy(&first8, codes + 10 * i, 8);
    std::memcpy(&last2, codes + 10 * i + 8, 2);
    qw[i] = static_cast<std::uint32_t>(_pext_u64(first8, 0x0707070707070707ull)) |
            _pext_u32(last2, 0x0707u) << 24;
  }
}

// 3-bit codes, ten to a word (q3f16_*: groups of 40, and rows whose last group is partial): the
// codes on float32 lanes as above, stored as bytes (the lanes past a group, read as zero, land in
// the next group's bytes and are rewritten), then packed by pack_row_code_bytes3.
WEIGHTCAST_AVX512 bool quantize_row3_avx512(const GroupKernelArgs& a, const Geometry& geo,
                                            const std::uint16_t* w, std::size_t k,
                                            std::uint32_t* qw, std::uint16_t* scales,
                                            Prefetcher& prefetch) {
  const std::size_t gs = geo.gs;
  RowScales512 row;
  if (!prepare_row512(geo, w, k, scales, &row)) return false;
  std::uint8_t* codes = row_code_bytes3(geo);
  Group512 grp{{},
               {},
               _mm512_set1_ps(geo.max_int),
               _mm512_set1_epi32(static_cast<int>(geo.max_code)),
               a.round_mode};
  for (std::size_t g = 0; g < geo.groups; ++g) {
    grp.recip = _mm512_set1_ps(row.recips[g]);
    grp.divisor = _mm512_set1_ps(row.divisors[g]);
    const std::uint16_t* p = w + g * gs;
    const std::size_t len = std::min(gs, k - g * gs);
    prefetch.step();
    for (std::size_t j = 0; j < len; j += 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + g * gs + j),
                       _mm512_cvtepi32_epi8(codes16(p + j, grp, first_lanes(len - j))));
    }
  }
  pack_row_code_bytes3(codes, geo, k, qw);
  return true;
}

bool avx512_3bit_suits(const GroupKernelArgs& a) {
  return a.dtype == DType::kF16 && a.bits == 3 && a.group_size % 10 == 0;
}

#if WEIGHTCAST_HAS_AVX512FP16

// ---- AVX512-FP16: the quotient as above (float32, sixteen lanes), then the binary16 steps on
// 32 lanes with binary16 instructions: RN16(q) by conversion, u = RN16(t + max_int) by a binary16
// addition, and u to an int16 code rounding to nearest even. These are TVM's operations exactly:
// a float32 result rounded once more to binary16 equals the binary16 operation on binary16
// operands (double rounding is innocuous when 24 >= 2 x 11 + 2, Figueroa 1995), and x / s in
// float32 is exact to the float32 rounding (checked exhaustively, see above). Ties to even only.

WEIGHTCAST_AVX512FP16 inline __m256h quotient16(__m512 x, __m512 recip, __m512 divisor) {
  const __m512 q0 = _mm512_mul_ps(x, recip);
  const __m512 e = _mm512_fnmadd_ps(q0, divisor, x);
  return _mm512_cvtxps_ph(_mm512_fmadd_ps(e, recip, q0));
}

// 32 codes as int16 lanes from two sixteen-lane quotients. NaN (an all-zero group's 0 / 0)
// converts to -32768 and clamps to 0, as TVM's selects do.
WEIGHTCAST_AVX512FP16 inline __m512i codes32(__m256h lo, __m256h hi, __m512h max_int,
                                             __m512i max_code) {
  const __m512h t = _mm512_castsi512_ph(_mm512_inserti64x4(
      _mm512_zextsi256_si512(_mm256_castph_si256(lo)), _mm256_castph_si256(hi), 1));
  const __m512i c = _mm512_cvt_roundph_epi16(_mm512_add_ph(t, max_int),
                                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return _mm512_min_epi16(_mm512_max_epi16(c, _mm512_setzero_si512()), max_code);
}

WEIGHTCAST_AVX512FP16 bool quantize_row_avx512fp16(const Geometry& geo, const std::uint16_t* w,
                                                   std::size_t k, std::uint32_t* qw,
                                                   std::uint16_t* scales, Prefetcher& prefetch) {
  const std::size_t gs = geo.gs, groups = k / gs;
  RowScales512 row;
  if (!prepare_row512(geo, w, k, scales, &row)) return false;
  const __m512h max_int = _mm512_set1_ph(static_cast<_Float16>(geo.max_int));
  const __m512i max_code = _mm512_set1_epi16(static_cast<short>(geo.max_code));
  const __m512i low_bytes = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x3C383430,
                                             0x2C282420, 0x1C181410, 0x0C080400);
  auto* out = reinterpret_cast<__m128i*>(qw);
  for (std::size_t g = 0; g < groups; ++g) {
    const __m512 recip = _mm512_set1_ps(row.recips[g]), divisor = _mm512_set1_ps(row.divisors[g]);
    const std::uint16_t* p = w + g * gs;
    prefetch.step();
    for (std::size_t j = 0; j < gs; j += 32, p += 32) {
      const __m256h lo = quotient16(
          _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), recip, divisor);
      const __m256h hi =
          quotient16(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16))),
                     recip, divisor);
      const __m512i codes = codes32(lo, hi, max_int, max_code);
      // Two codes per byte, the even one low: c0 + 16 c1 in each dword, then the dwords' low
      // bytes gathered into the first sixteen.
      const __m512i pairs = _mm512_madd_epi16(codes, _mm512_set1_epi32(0x00100001));
      _mm_storeu_si128(out++, _mm512_castsi512_si128(_mm512_permutexvar_epi8(low_bytes, pairs)));
    }
  }
  return true;
}

// 3-bit codes as quantize_row3_avx512 does them, on binary16 lanes.
WEIGHTCAST_AVX512FP16 bool quantize_row3_avx512fp16(const Geometry& geo, const std::uint16_t* w,
                                                    std::size_t k, std::uint32_t* qw,
                                                    std::uint16_t* scales, Prefetcher& prefetch) {
  const std::size_t gs = geo.gs;
  RowScales512 row;
  if (!prepare_row512(geo, w, k, scales, &row)) return false;
  std::uint8_t* codes = row_code_bytes3(geo);
  const __m512h max_int = _mm512_set1_ph(static_cast<_Float16>(geo.max_int));
  const __m512i max_code = _mm512_set1_epi16(static_cast<short>(geo.max_code));
  for (std::size_t g = 0; g < geo.groups; ++g) {
    const __m512 recip = _mm512_set1_ps(row.recips[g]), divisor = _mm512_set1_ps(row.divisors[g]);
    const std::uint16_t* p = w + g * gs;
    const std::size_t len = std::min(gs, k - g * gs);
    prefetch.step();
    for (std::size_t j = 0; j < len; j += 32) {
      const std::size_t n = std::min<std::size_t>(32, len - j);
      const __m256h lo = quotient16(
          _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(first_lanes(n), p + j)), recip, divisor);
      const __m256h hi =
          n > 16 ? quotient16(
                       _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(first_lanes(n - 16), p + j + 16)),
                       recip, divisor)
                 : _mm256_setzero_ph();
      // Lanes past the group (read as zero) land in the next group's bytes, rewritten after.
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + g * gs + j),
                          _mm512_cvtepi16_epi8(codes32(lo, hi, max_int, max_code)));
    }
  }
  pack_row_code_bytes3(codes, geo, k, qw);
  return true;
}

bool fp16_3bit_suits(const GroupKernelArgs& a) {
  return a.dtype == DType::kF16 && a.bits == 3 && a.group_size % 10 == 0 && a.rounded_scale &&
         a.round_mode == RoundMode::kTiesEven;
}

#endif  // WEIGHTCAST_HAS_AVX512FP16

bool avx512_suits(const GroupKernelArgs& a, std::size_t k) {
  const auto gs = static_cast<std::size_t>(a.group_size);
  // 4-bit codes (3-bit ones have quantize_row3_avx512): for 2- and 8-bit codes the packing, not
  // the arithmetic, bounds the speed, and AVX2 packs as fast.
  return a.dtype == DType::kF16 && a.bits == 4 && gs % 8 == 0 && gs <= 256 && k % gs == 0 &&
         gs % static_cast<std::size_t>(32 / a.bits) == 0;
}

void quantize_rows_avx512(const GroupKernelArgs& a, const void* input, std::size_t rows,
                          std::size_t k, std::uint32_t* q_weight, void* q_scale, SimdLevel level) {
#if WEIGHTCAST_HAS_AVX512FP16
  if (level >= SimdLevel::kAvx512Fp16 && a.round_mode == RoundMode::kTiesEven &&
      a.group_size % 32 == 0)
    return quantize_rows_by(
        a, input, rows, k, q_weight, q_scale,
        [k](const Geometry& g, const std::uint16_t* w, std::uint32_t* qw, std::uint16_t* s,
            Prefetcher& prefetch) { return quantize_row_avx512fp16(g, w, k, qw, s, prefetch); });
#else
  (void)level;
#endif
  quantize_rows_by(
      a, input, rows, k, q_weight, q_scale,
      [&a, k](const Geometry& g, const std::uint16_t* w, std::uint32_t* qw, std::uint16_t* s,
              Prefetcher& prefetch) { return quantize_row_avx512(a, g, w, k, qw, s, prefetch); });
}

#endif  // __x86_64__

}  // namespace

void group_quantize_rows(const GroupKernelArgs& a, const void* input, std::size_t rows,
                         std::size_t k, std::uint32_t* q_weight, void* q_scale, SimdLevel level) {
#if defined(__x86_64__)
  if (level >= SimdLevel::kAvx512 && avx512_suits(a, k))
    return quantize_rows_avx512(a, input, rows, k, q_weight, q_scale, level);
#if WEIGHTCAST_HAS_AVX512FP16
  if (level >= SimdLevel::kAvx512Fp16 && fp16_3bit_suits(a))
    return quantize_rows_by(
        a, input, rows, k, q_weight, q_scale,
        [k](const Geometry& g, const std::uint16_t* w, std::uint32_t* qw, std::uint16_t* s,
            Prefetcher& prefetch) { return quantize_row3_avx512fp16(g, w, k, qw, s, prefetch); });
#endif
  if (level >= SimdLevel::kAvx512 && avx512_3bit_suits(a))
    return quantize_rows_by(a, input, rows, k, q_weight, q_scale,
                            [&a, k](const Geometry& g, const std::uint16_t* w, std::uint32_t* qw,
                                    std::uint16_t* s, Prefetcher& prefetch) {
                              return quantize_row3_avx512(a, g, w, k, qw, s, prefetch);
                            });
  if (level >= SimdLevel::kAvx2) {
    switch (a.dtype) {
      case DType::kF16:
        return quantize_rows_avx2<F16Simd>(a, input, rows, k, q_weight, q_scale);
      case DType::kBF16:
        return quantize_rows_avx2<BF16Simd>(a, input, rows, k, q_weight, q_scale);
      case DType::kF32:
        return quantize_rows_avx2<F32Simd>(a, input, rows, k, q_weight, q_scale);
      default:
        break;
    }
  }
#else
  (void)level;
#endif
  switch (a.dtype) {
    case DType::kF16:
      return quantize_rows_scalar<F16Math>(a, input, rows, k, q_weight, q_scale);
    case DType::kBF16:
      return quantize_rows_scalar<BF16Math>(a, input, rows, k, q_weight, q_scale);
    case DType::kF32:
      return quantize_rows_scalar<F32Math>(a, input, rows, k, q_weight, q_scale);
    default:
      fail<NotImplementedError>("group quantization of {} weights", tvm_name(a.dtype));
  }
}

}  // namespace weightcast

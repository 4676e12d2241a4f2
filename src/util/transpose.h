// Matrix transposes shared by the kernels: an AVX2 8x8 block of 32-bit elements, and 2-D
// transposes of 32- and 16-bit elements (the KN layout of group quantization).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "util/simd.h"

namespace weightcast {

#if defined(__x86_64__)
// 8x8 transpose of 32-bit elements: row r of the input (lane r's eight words) becomes column r.
WEIGHTCAST_AVX2 inline void transpose8x8_epi32(__m256i r[8]) {
  const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
  const __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
  const __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
  const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
  const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
  const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
  const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
  r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
  r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
  r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
  r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
  r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
  r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
  r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
  r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

#endif

// Column i of `out` (rows of `stride` elements) = row i of `in` (n rows x cols), i < n: a block
// of rows transposed into its place in a wider matrix.
void transpose_block(const std::uint32_t* in, std::size_t n, std::size_t cols, std::uint32_t* out,
                     std::size_t stride, SimdLevel level = simd_level());
void transpose_block(const std::uint16_t* in, std::size_t n, std::size_t cols, std::uint16_t* out,
                     std::size_t stride, SimdLevel level = simd_level());

// out (cols x rows) = transpose(in (rows x cols)), for the rows [r0, r1) of `in`.
void transpose_rows(const std::uint32_t* in, std::size_t r0, std::size_t r1, std::size_t rows,
                    std::size_t cols, std::uint32_t* out, SimdLevel level = simd_level());
void transpose_rows(const std::uint16_t* in, std::size_t r0, std::size_t r1, std::size_t rows,
                    std::size_t cols, std::uint16_t* out, SimdLevel level = simd_level());

}  // namespace weightcast

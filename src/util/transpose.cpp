#include "util/transpose.h"

#include <algorithm>

namespace weightcast {

namespace {

// Small square tiles keep both the reads and the strided writes within a few pages.
template <typename T>
void transpose_scalar(const T* in, std::size_t n, std::size_t cols, T* out, std::size_t stride) {
  constexpr std::size_t kTile = 16;
  for (std::size_t rb = 0; rb < n; rb += kTile)
    for (std::size_t cb = 0; cb < cols; cb += kTile)
      for (std::size_t c = cb; c < std::min(cols, cb + kTile); ++c)
        for (std::size_t r = rb; r < std::min(n, rb + kTile); ++r)
          out[c * stride + r] = in[r * cols + c];
}

#if defined(__x86_64__)
WEIGHTCAST_AVX2 void transpose_avx2(const std::uint32_t* in, std::size_t n, std::size_t cols,
                                    std::uint32_t* out, std::size_t stride) {
  std::size_t r = 0;
  // Tiles of 64 rows x 32 columns, in blocks of 16 x 8: each output row then receives 64
  // contiguous bytes (a whole cache line) per block, and a tile's 32 output rows and 64 input
  // rows stay within a few dozen pages, so the strided writes neither split lines nor thrash the
  // TLB (q4f16_0's transpose of 8-row strips across all columns took 2.4 GB/s in a conversion).
  constexpr std::size_t kTileRows = 64, kTileCols = 32;
  // Where those 64 bytes are whole cache lines (`out` 64-byte aligned, the stride a multiple of
  // 16 words), non-temporal stores write them past the cache: ordinary stores would first read
  // every output line from memory, for a matrix written once and read later by the writer
  // (q4f16_0, TinyLlama shape: user time 0.75 -> 0.58 s).
  const bool stream = reinterpret_cast<std::uintptr_t>(out) % 64 == 0 && stride % 16 == 0;
  const std::size_t full_cols = cols - cols % 8;
  for (; r + 16 <= n; r += kTileRows) {
    const std::size_t tile_end = r + std::min(kTileRows, (n - r) / 16 * 16);
    for (std::size_t cb = 0; cb < full_cols; cb += kTileCols)
      for (std::size_t rr = r; rr < tile_end; rr += 16)
        for (std::size_t c = cb; c < std::min(full_cols, cb + kTileCols); c += 8) {
          __m256i v[8], w[8];
          for (int i = 0; i < 8; ++i) {
            v[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + (rr + i) * cols + c));
            w[i] =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + (rr + 8 + i) * cols + c));
          }
          transpose8x8_epi32(v);
          transpose8x8_epi32(w);
          if (stream)
            for (int i = 0; i < 8; ++i) {
              _mm256_stream_si256(reinterpret_cast<__m256i*>(out + (c + i) * stride + rr), v[i]);
              _mm256_stream_si256(reinterpret_cast<__m256i*>(out + (c + i) * stride + rr + 8),
                                  w[i]);
            }
          else
            for (int i = 0; i < 8; ++i) {
              _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + (c + i) * stride + rr), v[i]);
              _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + (c + i) * stride + rr + 8),
                                  w[i]);
            }
        }
    for (std::size_t c = full_cols; c < cols; ++c)
      for (std::size_t i = r; i < tile_end; ++i) out[c * stride + i] = in[i * cols + c];
    if (tile_end - r < kTileRows) {
      r = tile_end;
      break;
    }
  }
  for (; r + 8 <= n; r += 8) {
    std::size_t c = 0;
    for (; c + 8 <= cols; c += 8) {
      __m256i v[8];
      for (int i = 0; i < 8; ++i)
        v[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + (r + i) * cols + c));
      transpose8x8_epi32(v);
      for (int i = 0; i < 8; ++i)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + (c + i) * stride + r), v[i]);
    }
    for (; c < cols; ++c)
      for (std::size_t i = r; i < r + 8; ++i) out[c * stride + i] = in[i * cols + c];
  }
  if (stream) _mm_sfence();  // ordered before whatever the caller does next
  if (r < n)                 // the last rows, fewer than eight
    transpose_scalar(in + r * cols, n - r, cols, out + r, stride);
}

// 8x8 transpose of 16-bit elements: row r of the input becomes column r.
WEIGHTCAST_AVX2 inline void transpose8x8_epi16(__m128i r[8]) {
  __m128i a[8], b[8];
  for (int i = 0; i < 4; ++i) {
    a[2 * i] = _mm_unpacklo_epi16(r[2 * i], r[2 * i + 1]);
    a[2 * i + 1] = _mm_unpackhi_epi16(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {  // rows 4i..4i+3: columns 0-1, 2-3, 4-5, 6-7
    b[4 * i] = _mm_unpacklo_epi32(a[4 * i], a[4 * i + 2]);
    b[4 * i + 1] = _mm_unpackhi_epi32(a[4 * i], a[4 * i + 2]);
    b[4 * i + 2] = _mm_unpacklo_epi32(a[4 * i + 1], a[4 * i + 3]);
    b[4 * i + 3] = _mm_unpackhi_epi32(a[4 * i + 1], a[4 * i + 3]);
  }
  for (int i = 0; i < 4; ++i) {
    r[2 * i] = _mm_unpacklo_epi64(b[i], b[i + 4]);
    r[2 * i + 1] = _mm_unpackhi_epi64(b[i], b[i + 4]);
  }
}

// The KN layout's scales: blocks of 8 x 8, the rest scalar.
WEIGHTCAST_AVX2 void transpose16_avx2(const std::uint16_t* in, std::size_t n, std::size_t cols,
                                      std::uint16_t* out, std::size_t stride) {
  const std::size_t full_rows = n - n % 8, full_cols = cols - cols % 8;
  for (std::size_t r = 0; r < full_rows; r += 8) {
    for (std::size_t c = 0; c < full_cols; c += 8) {
      __m128i v[8];
      for (int i = 0; i < 8; ++i)
        v[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + (r + i) * cols + c));
      transpose8x8_epi16(v);
      for (int i = 0; i < 8; ++i)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + (c + i) * stride + r), v[i]);
    }
    for (std::size_t c = full_cols; c < cols; ++c)
      for (std::size_t i = r; i < r + 8; ++i) out[c * stride + i] = in[i * cols + c];
  }
  if (full_rows < n)
    transpose_scalar(in + full_rows * cols, n - full_rows, cols, out + full_rows, stride);
}
#endif

}  // namespace

void transpose_block(const std::uint32_t* in, std::size_t n, std::size_t cols, std::uint32_t* out,
                     std::size_t stride, SimdLevel level) {
#if defined(__x86_64__)
  if (level >= SimdLevel::kAvx2) return transpose_avx2(in, n, cols, out, stride);
#else
  (void)level;
#endif
  transpose_scalar(in, n, cols, out, stride);
}

void transpose_block(const std::uint16_t* in, std::size_t n, std::size_t cols, std::uint16_t* out,
                     std::size_t stride, SimdLevel level) {
#if defined(__x86_64__)
  if (level >= SimdLevel::kAvx2) return transpose16_avx2(in, n, cols, out, stride);
#else
  (void)level;
#endif
  transpose_scalar(in, n, cols, out, stride);
}

void transpose_rows(const std::uint32_t* in, std::size_t r0, std::size_t r1, std::size_t rows,
                    std::size_t cols, std::uint32_t* out, SimdLevel level) {
  transpose_block(in + r0 * cols, r1 - r0, cols, out + r0, rows, level);
}

void transpose_rows(const std::uint16_t* in, std::size_t r0, std::size_t r1, std::size_t rows,
                    std::size_t cols, std::uint16_t* out, SimdLevel level) {
  transpose_block(in + r0 * cols, r1 - r0, cols, out + r0, rows, level);
}

}  // namespace weightcast

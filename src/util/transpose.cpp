#include "util/transpose.h"

#include <algorithm>

namespace weightcast {

namespace {

// Small square tiles keep both the reads and the strided writes within a few pages.
template <typename T>
void transpose_scalar(const T* in, std::size_t r0, std::size_t r1, std::size_t rows,
                      std::size_t cols, T* out) {
  constexpr std::size_t kTile = 16;
  for (std::size_t rb = r0; rb < r1; rb += kTile)
    for (std::size_t cb = 0; cb < cols; cb += kTile)
      for (std::size_t c = cb; c < std::min(cols, cb + kTile); ++c)
        for (std::size_t r = rb; r < std::min(r1, rb + kTile); ++r)
          out[c * rows + r] = in[r * cols + c];
}

#if defined(__x86_64__)
WEIGHTCAST_AVX2 void transpose_avx2(const std::uint32_t* in, std::size_t r0, std::size_t r1,
                                    std::size_t rows, std::size_t cols, std::uint32_t* out) {
  std::size_t r = r0;
  // Tiles of 64 rows x 32 columns, in blocks of 16 x 8: each output row then receives 64
  // contiguous bytes (a whole cache line) per block, and a tile's 32 output rows and 64 input
  // rows stay within a few dozen pages, so the strided writes neither split lines nor thrash the
  // TLB (q4f16_0's transpose of 8-row strips across all columns took 2.4 GB/s in a conversion).
  constexpr std::size_t kTileRows = 64, kTileCols = 32;
  const std::size_t full_cols = cols - cols % 8;
  for (; r + 16 <= r1; r += kTileRows) {
    const std::size_t tile_end = r + std::min(kTileRows, (r1 - r) / 16 * 16);
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
          for (int i = 0; i < 8; ++i) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + (c + i) * rows + rr), v[i]);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + (c + i) * rows + rr + 8), w[i]);
          }
        }
    for (std::size_t c = full_cols; c < cols; ++c)
      for (std::size_t i = r; i < tile_end; ++i) out[c * rows + i] = in[i * cols + c];
    if (tile_end - r < kTileRows) {
      r = tile_end;
      break;
    }
  }
  for (; r + 8 <= r1; r += 8) {
    std::size_t c = 0;
    for (; c + 8 <= cols; c += 8) {
      __m256i v[8];
      for (int i = 0; i < 8; ++i)
        v[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + (r + i) * cols + c));
      transpose8x8_epi32(v);
      for (int i = 0; i < 8; ++i)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + (c + i) * rows + r), v[i]);
    }
    for (; c < cols; ++c)
      for (std::size_t i = r; i < r + 8; ++i) out[c * rows + i] = in[i * cols + c];
  }
  if (r < r1) transpose_scalar(in, r, r1, rows, cols, out);  // the last rows, fewer than eight
}
#endif

}  // namespace

void transpose_rows(const std::uint32_t* in, std::size_t r0, std::size_t r1, std::size_t rows,
                    std::size_t cols, std::uint32_t* out, SimdLevel level) {
#if defined(__x86_64__)
  if (level >= SimdLevel::kAvx2) return transpose_avx2(in, r0, r1, rows, cols, out);
#else
  (void)level;
#endif
  transpose_scalar(in, r0, r1, rows, cols, out);
}

void transpose_rows(const std::uint16_t* in, std::size_t r0, std::size_t r1, std::size_t rows,
                    std::size_t cols, std::uint16_t* out) {
  transpose_scalar(in, r0, r1, rows, cols, out);
}

}  // namespace weightcast

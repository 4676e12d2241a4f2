#include "formats/ggml_blocks.h"

#include <cstring>

#include "util/float_bits.h"

namespace weightcast::ggml {

namespace {

template <typename Block>
Block load(const std::byte* in) {
  Block b;
  std::memcpy(&b, in, sizeof b);
  return b;
}

float half(std::uint16_t bits) {
  return f16_to_f32(bits);
}

// The K-quants' 6-bit scale and min of sub-block j, packed in 12 bytes.
void scale_min_k4(const std::uint8_t* s, int j, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

}  // namespace

void decode_q4_0(const std::byte* in, float* y) {
  const auto b = load<BlockQ4_0>(in);
  const float d = half(b.scale);
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>((b.nibbles[j] & 0xF) - 8);
    y[j + 16] = d * static_cast<float>((b.nibbles[j] >> 4) - 8);
  }
}

void decode_q4_1(const std::byte* in, float* y) {
  const auto b = load<BlockQ4_1>(in);
  const float d = half(b.scale), m = half(b.min);
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(b.nibbles[j] & 0xF) + m;
    y[j + 16] = d * static_cast<float>(b.nibbles[j] >> 4) + m;
  }
}

namespace {

// Q5_0 and Q5_1's 5-bit code of element j.
int code5(const std::uint8_t* nibbles, std::uint32_t high_bits, int j) {
  const int lo = j < 16 ? (nibbles[j] & 0xF) : (nibbles[j - 16] >> 4);
  const int bit = static_cast<int>((high_bits >> j) & 1);
  return lo | (bit << 4);
}

}  // namespace

void decode_q5_0(const std::byte* in, float* y) {
  const auto b = load<BlockQ5_0>(in);
  const float d = half(b.scale);
  std::uint32_t qh;
  std::memcpy(&qh, b.high_bits, 4);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(code5(b.nibbles, qh, j) - 16);
}

void decode_q5_1(const std::byte* in, float* y) {
  const auto b = load<BlockQ5_1>(in);
  const float d = half(b.scale), m = half(b.min);
  std::uint32_t qh;
  std::memcpy(&qh, b.high_bits, 4);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(code5(b.nibbles, qh, j)) + m;
}

void decode_q8_0(const std::byte* in, float* y) {
  const auto b = load<BlockQ8_0>(in);
  const float d = half(b.scale);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(b.quants[j]) * d;
}

void decode_q2_k(const std::byte* in, float* y) {
  const auto b = load<BlockQ2K>(in);
  const float d = half(b.scale), dmin = half(b.min);
  for (int e = 0; e < 256; ++e) {
    const int c = e / 128, j = (e % 128) / 32, l = e % 32, s = e / 16;
    const float q = static_cast<float>((b.quants[32 * c + l] >> (2 * j)) & 3);
    const float dl = d * static_cast<float>(b.scales[s] & 0xF);
    const float ml = dmin * static_cast<float>(b.scales[s] >> 4);
    y[e] = dl * q - ml;
  }
}

void decode_q3_k(const std::byte* in, float* y) {
  const auto b = load<BlockQ3K>(in);
  const float d = half(b.scale);
  float dl[16];
  for (int i = 0; i < 16; ++i) {
    const int low = (b.scales[i % 8] >> (4 * (i / 8))) & 0xF;
    const int high = (b.scales[8 + i % 4] >> (2 * (i / 4))) & 3;
    dl[i] = d * static_cast<float>(static_cast<std::int8_t>(low | (high << 4)) - 32);
  }
  for (int e = 0; e < 256; ++e) {
    const int c = e / 128, j = (e % 128) / 32, l = e % 32;
    const int low = (b.quants[32 * c + l] >> (2 * j)) & 3;
    const int bit = ((b.high_mask[l] >> (e / 32)) & 1) ^ 1;
    y[e] = dl[e / 16] * static_cast<float>(low - (bit << 2));
  }
}

void decode_q4_k(const std::byte* in, float* y) {
  const auto b = load<BlockQ4K>(in);
  const float d = half(b.scale), dmin = half(b.min);
  for (int s = 0; s < 8; ++s) {
    int sc, m;
    scale_min_k4(b.scales, s, sc, m);
    const float ds = d * static_cast<float>(sc), dm = dmin * static_cast<float>(m);
    for (int l = 0; l < 32; ++l)
      y[32 * s + l] =
          ds * static_cast<float>((b.nibbles[32 * (s / 2) + l] >> (4 * (s % 2))) & 0xF) - dm;
  }
}

void decode_q5_k(const std::byte* in, float* y) {
  const auto b = load<BlockQ5K>(in);
  const float d = half(b.scale), dmin = half(b.min);
  for (int s = 0; s < 8; ++s) {
    int sc, m;
    scale_min_k4(b.scales, s, sc, m);
    const float ds = d * static_cast<float>(sc), dm = dmin * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) {
      const int q = ((b.nibbles[32 * (s / 2) + l] >> (4 * (s % 2))) & 0xF) |
                    (((b.high_bits[l] >> s) & 1) << 4);
      y[32 * s + l] = ds * static_cast<float>(q) - dm;
    }
  }
}

void decode_q6_k(const std::byte* in, float* y) {
  const auto b = load<BlockQ6K>(in);
  const float d = half(b.scale);
  for (int e = 0; e < 256; ++e) {
    const int c = e / 128, r = e % 128;
    const int low = (b.low[64 * c + r % 64] >> (4 * (r / 64))) & 0xF;
    const int high = (b.high[32 * c + r % 32] >> (2 * (r / 32))) & 3;
    const float ds = d * static_cast<float>(b.scales[e / 16]);
    y[e] = ds * static_cast<float>(static_cast<std::int8_t>(low | (high << 4)) - 32);
  }
}

void decode_q8_k(const std::byte* in, float* y) {
  const auto b = load<BlockQ8K>(in);
  for (int j = 0; j < 256; ++j) y[j] = b.scale * static_cast<float>(b.quants[j]);
}

}  // namespace weightcast::ggml

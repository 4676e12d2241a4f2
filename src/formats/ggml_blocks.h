// The block layouts of ggml's quantized tensor types, and a decoder per layout that turns one
// block into float32 with gguf-py's operation order, so the results are bit-identical to
// gguf.quants.dequantize (docs/source-formats.md#ggml-block-layouts). Half-precision fields hold
// their raw bits. The structs exist for their layout: decoders copy a block into one (file data
// need not be aligned) and read its fields.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weightcast::ggml {

// 32 elements: scale * (q - 8), q a 4-bit code; elements 0-15 in the low nibbles, 16-31 high.
struct BlockQ4_0 {
  std::uint16_t scale;
  std::uint8_t nibbles[16];
};
// 32 elements: scale * q + min.
struct BlockQ4_1 {
  std::uint16_t scale, min;
  std::uint8_t nibbles[16];
};
// 32 elements: a 5-bit code, its fifth bit in high_bits (bit j for element j); scale * (q - 16).
struct BlockQ5_0 {
  std::uint16_t scale;
  std::uint8_t high_bits[4];
  std::uint8_t nibbles[16];
};
// 32 elements: scale * q + min, q as in Q5_0.
struct BlockQ5_1 {
  std::uint16_t scale, min;
  std::uint8_t high_bits[4];
  std::uint8_t nibbles[16];
};
// 32 elements: scale * q, q a signed byte.
struct BlockQ8_0 {
  std::uint16_t scale;
  std::int8_t quants[32];
};

// The K-quants: 256-element super-blocks of 16 or 8 sub-blocks, each with its own 4- to 8-bit
// scale (and min) relative to the super-block's float16 scale (and min).
struct BlockQ2K {
  std::uint8_t scales[16];  // low nibble: scale, high nibble: min, per 16 elements
  std::uint8_t quants[64];  // 2-bit codes
  std::uint16_t scale, min;
};
struct BlockQ3K {
  std::uint8_t high_mask[32];  // the third bit of each code, inverted
  std::uint8_t quants[64];     // low 2 bits of each code
  std::uint8_t scales[12];     // sixteen 6-bit scales
  std::uint16_t scale;
};
struct BlockQ4K {
  std::uint16_t scale, min;
  std::uint8_t scales[12];  // eight 6-bit scales and eight 6-bit mins
  std::uint8_t nibbles[128];
};
struct BlockQ5K {
  std::uint16_t scale, min;
  std::uint8_t scales[12];
  std::uint8_t high_bits[32];
  std::uint8_t nibbles[128];
};
struct BlockQ6K {
  std::uint8_t low[128];   // low 4 bits of each code
  std::uint8_t high[64];   // high 2 bits
  std::int8_t scales[16];  // one per 16 elements
  std::uint16_t scale;
};
struct BlockQ8K {
  float scale;
  std::int8_t quants[256];
  std::int16_t sums[16];  // per-16 sums, used by ggml's dot products only
};

// The sizes GGUF files use: a struct that differs would misread every block.
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ2K) == 84);
static_assert(sizeof(BlockQ3K) == 110);
static_assert(sizeof(BlockQ4K) == 144);
static_assert(sizeof(BlockQ5K) == 176);
static_assert(sizeof(BlockQ6K) == 210);
static_assert(sizeof(BlockQ8K) == 292);

// Each decodes the block at `in` into its 32 or 256 elements at `out`.
void decode_q4_0(const std::byte* in, float* out);
void decode_q4_1(const std::byte* in, float* out);
void decode_q5_0(const std::byte* in, float* out);
void decode_q5_1(const std::byte* in, float* out);
void decode_q8_0(const std::byte* in, float* out);
void decode_q2_k(const std::byte* in, float* out);
void decode_q3_k(const std::byte* in, float* out);
void decode_q4_k(const std::byte* in, float* out);
void decode_q5_k(const std::byte* in, float* out);
void decode_q6_k(const std::byte* in, float* out);
void decode_q8_k(const std::byte* in, float* out);

}  // namespace weightcast::ggml

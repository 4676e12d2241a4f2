#include "util/float_bits.h"
#include "util/simd.h"

#include <gtest/gtest.h>
#include <immintrin.h>

#include <bit>
#include <cstdint>
#include <limits>

namespace weightcast {
namespace {

__attribute__((target("f16c"))) std::uint16_t hw_f32_to_f16(float f) {
  return static_cast<std::uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}
__attribute__((target("f16c"))) float hw_f16_to_f32(std::uint16_t h) {
  return _cvtsh_ss(h);
}

TEST(FloatBits, F16ToF32MatchesHardwareForAllNonNaN) {
  if (!cpu_has_f16c()) GTEST_SKIP() << "no F16C on this CPU";
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float hw = hw_f16_to_f32(static_cast<std::uint16_t>(h));
    if (std::isnan(hw)) continue;  // hardware quiets signalling NaNs
    ASSERT_EQ(std::bit_cast<std::uint32_t>(f16_to_f32(static_cast<std::uint16_t>(h))),
              std::bit_cast<std::uint32_t>(hw))
        << h;
  }
}

TEST(FloatBits, F32ToF16MatchesHardwareRoundToNearestEven) {
  if (!cpu_has_f16c()) GTEST_SKIP() << "no F16C on this CPU";
  // Every 61st bit pattern covers every exponent and many mantissas, both signs.
  for (std::uint64_t u = 0; u <= 0xFFFFFFFFull; u += 61) {
    const float f = std::bit_cast<float>(static_cast<std::uint32_t>(u));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), hw_f32_to_f16(f)) << std::hex << u;
  }
}

TEST(FloatBits, F32ToF16EdgeCases) {
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65519.99f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);  // the tie rounds to even: infinity
  EXPECT_EQ(f32_to_f16(-1e9f), 0xFC00);
  EXPECT_EQ(f32_to_f16(0x1p-24f), 0x0001);
  EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000);    // tie to even: zero
  EXPECT_EQ(f32_to_f16(0x1.8p-25f), 0x0001);  // above the tie
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  // numpy keeps the NaN payload's top bits, Eigen (ml_dtypes) returns the canonical quiet NaN.
  const float nan_payload = std::bit_cast<float>(0x7F800001u);
  EXPECT_EQ(f32_to_f16(nan_payload), 0x7C01);
  EXPECT_EQ(f32_to_f16_eigen(nan_payload), 0x7E00);
}

TEST(FloatBits, F64ToF16RoundsOnceNotTwice) {
  // 1 + 2^-11 + 2^-40: as a double it lies just above the f16 tie; via float32 it would first
  // round to exactly the tie and then to even (1.0).
  const double d = 1.0 + 0x1p-11 + 0x1p-40;
  EXPECT_EQ(f64_to_f16(d), 0x3C01);
  EXPECT_EQ(f32_to_f16(static_cast<float>(d)), 0x3C00);
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 1e-7f, 3.14159f, 70000.0f})
    EXPECT_EQ(f64_to_f16(f), f32_to_f16(f)) << f;
}

TEST(FloatBits, BFloat16Conversions) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3F808000u)), 0x3F80);  // tie, even stays
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3F818000u)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()), 0x7FC0);
  EXPECT_EQ(bf16_to_f32(0x4040), 3.0f);
}

TEST(FloatBits, TensorCacheEncodingLimitRule) {
  const float limit = std::bit_cast<float>(0x7F7F0000u);
  EXPECT_EQ(f32_to_bf16_cache_encoding(1.0f), 0x3F80);
  EXPECT_EQ(f32_to_bf16_cache_encoding(std::bit_cast<float>(0x3F818000u)), 0x3F82);
  // At and above the limit the low bits are truncated: FLT_MAX stays finite.
  EXPECT_EQ(f32_to_bf16_cache_encoding(limit), 0x7F7F);
  EXPECT_EQ(f32_to_bf16_cache_encoding(std::numeric_limits<float>::max()), 0x7F7F);
  EXPECT_EQ(f32_to_bf16_cache_encoding(-std::numeric_limits<float>::max()), 0xFF7F);
  EXPECT_EQ(f32_to_bf16_cache_encoding(std::numeric_limits<float>::infinity()), 0x7F80);
  // A NaN with payload only in the low bits truncates to infinity, exactly as tvmjs does.
  EXPECT_EQ(f32_to_bf16_cache_encoding(std::bit_cast<float>(0x7F800001u)), 0x7F80);
}

}  // namespace
}  // namespace weightcast

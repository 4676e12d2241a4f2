#include "map/cast.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "cache/tensor_cache_writer.h"
#include "util/float_bits.h"

namespace weightcast {
namespace {

// Every 16-bit pattern (NaNs, infinities, subnormals, values beyond binary16's range), at an
// odd length so the vector loops leave a tail.
std::vector<std::uint16_t> every_pattern() {
  std::vector<std::uint16_t> v;
  for (std::uint32_t b = 0; b < 0x10000; ++b) v.push_back(static_cast<std::uint16_t>(b));
  v.push_back(0x7FC1);
  v.push_back(0x3F80);
  v.push_back(0x0001);
  return v;
}

template <typename Out, typename In>
std::vector<Out> cast_all(DType from, DType to, const std::vector<In>& in, SimdLevel level) {
  std::vector<Out> out(in.size() * sizeof(In) / dtype_size(from));
  cast_function(from, to, level)(reinterpret_cast<const std::byte*>(in.data()),
                                 reinterpret_cast<std::byte*>(out.data()), out.size());
  return out;
}

TEST(Cast, EverySimdLevelWritesTheScalarBytes) {
  const auto patterns = every_pattern();
  std::mt19937 rng(3);
  std::vector<std::uint32_t> f32(100003);
  for (auto& x : f32) x = static_cast<std::uint32_t>(rng());
  for (SimdLevel level : {SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (level > simd_level()) continue;
    const int l = static_cast<int>(level);
    EXPECT_EQ((cast_all<std::uint16_t>(DType::kBF16, DType::kF16, patterns, SimdLevel::kScalar)),
              (cast_all<std::uint16_t>(DType::kBF16, DType::kF16, patterns, level)))
        << "bf16 -> f16, level " << l;
    EXPECT_EQ((cast_all<std::uint32_t>(DType::kBF16, DType::kF32, patterns, SimdLevel::kScalar)),
              (cast_all<std::uint32_t>(DType::kBF16, DType::kF32, patterns, level)))
        << "bf16 -> f32, level " << l;
    EXPECT_EQ((cast_all<std::uint32_t>(DType::kF16, DType::kF32, patterns, SimdLevel::kScalar)),
              (cast_all<std::uint32_t>(DType::kF16, DType::kF32, patterns, level)))
        << "f16 -> f32, level " << l;
    EXPECT_EQ((cast_all<std::uint16_t>(DType::kF32, DType::kF16, f32, SimdLevel::kScalar)),
              (cast_all<std::uint16_t>(DType::kF32, DType::kF16, f32, level)))
        << "f32 -> f16, level " << l;
  }
}

// The counting cast writes the plain cast's bytes and counts what count_nonfinite counts, on
// every bf16 pattern (65,536 NaN, infinity or finite) and on shorter blocks that end in the tail.
TEST(Cast, CountingCastWritesTheCastBytesAndCountsNonFinite) {
  const auto patterns = every_pattern();
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (level > simd_level()) continue;
    const auto counting = counting_cast_function(DType::kBF16, DType::kF16, level);
    if (!counting) continue;
    for (std::size_t n : {patterns.size(), std::size_t{15}, std::size_t{33}}) {
      // The last n patterns, so that the short blocks hold NaN and infinity (0xFF80, 0xFFC0...).
      const auto* in = reinterpret_cast<const std::byte*>(patterns.data() + patterns.size() - n);
      std::vector<std::uint16_t> got(n), want(n);
      NonFiniteCount counted, expected;
      counting(in, reinterpret_cast<std::byte*>(got.data()), n, counted);
      cast_function(DType::kBF16, DType::kF16, SimdLevel::kScalar)(
          in, reinterpret_cast<std::byte*>(want.data()), n);
      count_nonfinite(DType::kBF16, in, n, expected, SimdLevel::kScalar);
      EXPECT_EQ(got, want) << n;
      EXPECT_EQ(counted.nan, expected.nan) << n;
      EXPECT_EQ(counted.inf, expected.inf) << n;
      if (n == patterns.size()) {
        EXPECT_EQ(expected.inf, 2u);
      }
    }
  }
  if (simd_level() >= SimdLevel::kAvx512) {
    EXPECT_NE(counting_cast_function(DType::kBF16, DType::kF16), nullptr);
  }
}

TEST(Cast, BfloatToHalfRoundsToNearestEvenAndOverflowsToInfinity) {
  const std::vector<std::uint16_t> in = {0x3F80, 0x477F, 0x4780, 0x3300, 0xFF80, 0x3340};
  for (SimdLevel level : {SimdLevel::kScalar, simd_level()}) {
    std::vector<std::uint16_t> big(64, 0x3F80);  // through the vector loop too
    big.insert(big.end(), in.begin(), in.end());
    const auto out = cast_all<std::uint16_t>(DType::kBF16, DType::kF16, big, level);
    EXPECT_EQ(out[64], 0x3C00);  // 1.0
    EXPECT_EQ(out[65], 0x7BF8);  // 65280, exact
    EXPECT_EQ(out[66], 0x7C00);  // 65536 overflows
    EXPECT_EQ(out[67], 0x0000);  // 2^-25, half the least subnormal: ties to even, zero
    EXPECT_EQ(out[68], 0xFC00);  // -inf
    EXPECT_EQ(out[69], 0x0001);  // 1.5 * 2^-25 rounds up to the least subnormal
  }
}

// float32 stored as bfloat16 (docs/tensor-cache.md#float32-as-bfloat16): every level writes what
// the scalar rule writes, around the limit, for infinities, NaNs and subnormals too.
TEST(Cast, EveryLevelEncodesFloat32ForTheCacheAsTheScalarRule) {
  std::mt19937 rng(5);
  std::vector<std::uint32_t> bits = {0x7F7F0000, 0x7F7EFFFF, 0x7F7F8000, 0x7F7FFFFF, 0x7F800000,
                                     0x7F800001, 0x7FC00000, 0xFF7F0000, 0xFF7EFFFF, 0x80000001,
                                     0x00008000, 0x00018000, 0x3F818000, 0x3F808000, 0xFFFFFFFF};
  for (int i = 0; i < 100003; ++i) bits.push_back(static_cast<std::uint32_t>(rng()));
  std::vector<float> in(bits.size());
  std::memcpy(in.data(), bits.data(), bits.size() * 4);
  std::vector<std::uint16_t> expected(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) expected[i] = f32_to_bf16_cache_encoding(in[i]);
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (level > simd_level()) continue;
    std::vector<std::uint16_t> out(in.size());
    encode_f32_for_cache(in.data(), in.size(), reinterpret_cast<std::byte*>(out.data()), level);
    EXPECT_EQ(out, expected) << "level " << static_cast<int>(level);
  }
}

}  // namespace
}  // namespace weightcast

// convert's NaN/Inf scan: the AVX2 path counts what the portable one counts, at every position
// of a block and in the tail.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "util/float_bits.h"
#include "util/nonfinite.h"

namespace weightcast {
namespace {

template <typename T>
NonFiniteCount count(DType t, const std::vector<T>& v, SimdLevel level) {
  NonFiniteCount c;
  count_nonfinite(t, reinterpret_cast<const std::byte*>(v.data()), v.size(), c, level);
  return c;
}

template <typename T>
void expect_counts(DType t, std::vector<T> v, T nan, T inf, T big) {
  v[0] = nan;
  v[15] = inf;
  v[16] = big;  // the largest finite value: not counted
  v[37] = nan;
  v[70] = inf;  // in the second 64-element step
  v[130] = nan;
  v[v.size() - 1] = inf;  // the tail past the last full SIMD step
  for (auto level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (level > simd_level()) continue;
    const auto c = count(t, v, level);
    EXPECT_EQ(c.nan, 3u) << static_cast<int>(level);
    EXPECT_EQ(c.inf, 3u) << static_cast<int>(level);
  }
}

TEST(NonFinite, HalfBfloatAndFloat) {
  expect_counts<std::uint16_t>(DType::kF16, std::vector<std::uint16_t>(203, 0x3C00), 0xFE01, 0xFC00,
                               0x7BFF);
  expect_counts<std::uint16_t>(DType::kBF16, std::vector<std::uint16_t>(203, 0x3F80), 0x7FC1,
                               0x7F80, 0x7F7F);
  expect_counts<float>(DType::kF32, std::vector<float>(203, 1.0f), std::nanf(""), -INFINITY,
                       3.4028235e38f);
  expect_counts<double>(DType::kF64, std::vector<double>(203, 1.0), std::nan(""), INFINITY,
                        1.7976931348623157e308);
}

TEST(NonFinite, Fp8) {
  // e4m3fn: 0x7F / 0xFF are NaN, 0x7E (448) is finite and there is no infinity.
  const std::vector<std::uint8_t> e4m3 = {0x7F, 0xFF, 0x7E, 0x00, 0x78};
  auto c = count(DType::kF8E4M3, e4m3, SimdLevel::kScalar);
  EXPECT_EQ(c.nan, 2u);
  EXPECT_EQ(c.inf, 0u);
  // e5m2: 0x7C / 0xFC infinite, 0x7D..0x7F NaN, 0x7B finite.
  const std::vector<std::uint8_t> e5m2 = {0x7C, 0xFC, 0x7D, 0x7F, 0x7B};
  c = count(DType::kF8E5M2, e5m2, SimdLevel::kScalar);
  EXPECT_EQ(c.nan, 2u);
  EXPECT_EQ(c.inf, 2u);
}

TEST(NonFinite, IntegersHoldNone) {
  EXPECT_FALSE(may_be_nonfinite(DType::kI32));
  EXPECT_FALSE(may_be_nonfinite(DType::kU32));
  EXPECT_TRUE(may_be_nonfinite(DType::kBF16));
}

}  // namespace
}  // namespace weightcast

#include "quant/kernels/group_kernel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "util/float_bits.h"

namespace weightcast {
namespace {

std::vector<std::uint16_t> f16(const std::vector<float>& v) {
  std::vector<std::uint16_t> out;
  for (float f : v) out.push_back(f32_to_f16(f));
  return out;
}

std::vector<unsigned> codes(const std::vector<std::uint32_t>& words, int bits, std::size_t k) {
  std::vector<unsigned> out;
  const std::size_t per_word = 32 / bits;
  for (std::size_t i = 0; i < k; ++i)
    out.push_back((words[i / per_word] >> ((i % per_word) * bits)) & ((1u << bits) - 1));
  return out;
}

TEST(GroupQuant, Int4TiesFollowTheRoundingMode) {
  // max |w| = 7 gives scale 1, so w + 7 lands exactly on .5 for the half-integers.
  std::vector<float> row = {7, 0.5f, 1.5f, -0.5f, -2.5f, -7, 0, 3.25f};
  row.resize(32, 0.0f);
  const auto in = f16(row);
  std::vector<std::uint32_t> q(4);
  std::uint16_t scale = 0;
  GroupKernelArgs args{DType::kF16, 4, 32, true, RoundMode::kTiesEven};
  group_quantize_rows(args, in.data(), 1, 32, q.data(), &scale);
  EXPECT_EQ(f16_to_f32(scale), 1.0f);
  auto c = codes(q, 4, 8);
  EXPECT_EQ(c, (std::vector<unsigned>{14, 8, 8, 6, 4, 0, 7, 10}));
  args.round_mode = RoundMode::kTiesAway;
  group_quantize_rows(args, in.data(), 1, 32, q.data(), &scale);
  c = codes(q, 4, 8);
  EXPECT_EQ(c, (std::vector<unsigned>{14, 8, 9, 7, 5, 0, 7, 10}));
}

TEST(GroupQuant, AllZeroGroupGivesZeroCodesAndScale) {
  std::vector<std::uint16_t> in(32, 0);
  std::vector<std::uint32_t> q(4, 0xFFFFFFFFu);
  std::uint16_t scale = 0xFFFF;
  group_quantize_rows({DType::kF16, 4, 32}, in.data(), 1, 32, q.data(), &scale);
  EXPECT_EQ(scale, 0);
  for (auto w : q) EXPECT_EQ(w, 0u);  // 0/0 is NaN, and max(NaN, 0) selects 0, not 7
}

TEST(GroupQuant, PartialLastGroupIsZeroPadded) {
  // K = 33: two groups, the second holding one element; eight words per row, all padding 0.
  std::vector<float> row(33, 1.0f);
  row[32] = -3.0f;
  const auto in = f16(row);
  std::vector<std::uint32_t> q(8, 0xFFFFFFFFu);
  std::uint16_t scales[2];
  group_quantize_rows({DType::kF16, 4, 32}, in.data(), 1, 33, q.data(), scales);
  EXPECT_EQ(q[4], 0u);  // -3 / (3/7) + 7 = 0
  for (int w = 5; w < 8; ++w) EXPECT_EQ(q[w], 0u);
  EXPECT_EQ(f16_to_f32(scales[1]), f16_to_f32(f32_to_f16(3.0f / 7.0f)));
}

TEST(GroupQuant, Int3PacksTenCodesPerWordLsbFirst) {
  std::vector<float> row(40);
  for (int i = 0; i < 40; ++i) row[i] = static_cast<float>(i % 7 - 3);  // -3..3, scale 1
  const auto in = f16(row);
  std::vector<std::uint32_t> q(4);
  std::uint16_t scale;
  group_quantize_rows({DType::kF16, 3, 40}, in.data(), 1, 40, q.data(), &scale);
  const auto c = codes(q, 3, 40);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(c[i], static_cast<unsigned>(i % 7)) << i;
  for (auto w : q) EXPECT_EQ(w >> 30, 0u);  // the top two bits of each word stay clear
}

TEST(GroupQuant, Bf16KnLinearUsesTheUnroundedScale) {
  // max = 1.0: the f32 scale 1/7 and its bf16 rounding differ, which moves w = 0.5 across a
  // rounding boundary: 0.5 / (1/7) + 7 = 10.5 exactly vs 0.5 / 0.142578125 + 7 = 10.5068...
  std::vector<std::uint16_t> in(32, 0);
  in[0] = f32_to_bf16(1.0f);
  in[1] = f32_to_bf16(0.5f);
  std::vector<std::uint32_t> q(4);
  std::uint16_t scale;
  group_quantize_rows({DType::kBF16, 4, 32, true}, in.data(), 1, 32, q.data(), &scale);
  EXPECT_EQ(codes(q, 4, 2)[1], 11u);
  group_quantize_rows({DType::kBF16, 4, 32, false}, in.data(), 1, 32, q.data(), &scale);
  EXPECT_EQ(codes(q, 4, 2)[1], 10u);  // 10.5 ties to even
  EXPECT_EQ(scale, f32_to_bf16(1.0f / 7.0f));
}

}  // namespace
}  // namespace weightcast

namespace weightcast {
namespace {

// Random rows with the awkward values mixed in: exact ties, zeros, subnormals, huge values,
// infinities and NaNs.
std::vector<float> awkward_values(std::mt19937& rng, std::size_t n) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> pick(0, 15);
  const float specials[] = {0.0f,     -0.0f,    0.5f,   -1.5f,    7.0f,      6.5f, 1e-7f, -3e-6f,
                            65504.0f, 70000.0f, -1e30f, INFINITY, -INFINITY, NAN,  3.0f,  2.5f};
  std::vector<float> v(n);
  for (auto& x : v)
    x = pick(rng) < 12 ? normal(rng) * (pick(rng) < 2 ? 1e-4f : 1.0f) : specials[pick(rng)];
  return v;
}

// The SIMD levels this CPU has, above scalar.
std::vector<SimdLevel> simd_levels() {
  std::vector<SimdLevel> out;
  for (SimdLevel l : {SimdLevel::kAvx2, SimdLevel::kAvx512, SimdLevel::kAvx512Fp16})
    if (l <= simd_level()) out.push_back(l);
  return out;
}

TEST(GroupQuant, SimdAndScalarPathsWriteIdenticalBytes) {
  if (simd_levels().empty()) GTEST_SKIP() << "no AVX2+F16C here";
  std::mt19937 rng(42);
  for (DType dtype : {DType::kF16, DType::kBF16, DType::kF32})
    for (auto [bits, gs] : {std::pair{4, 32}, std::pair{3, 40}, std::pair{4, 128}, std::pair{2, 16},
                            std::pair{8, 64}, std::pair{3, 80}, std::pair{4, 40}})
      for (RoundMode mode : {RoundMode::kTiesEven, RoundMode::kTiesAway})
        for (bool rounded : {true, false})
          for (std::size_t k : {32u, 40u, 72u, 100u, 256u, 4000u, 4096u}) {
            const std::size_t rows = 9;
            const auto values = awkward_values(rng, rows * k);
            std::vector<std::byte> in(rows * k * dtype_size(dtype));
            for (std::size_t i = 0; i < values.size(); ++i) {
              if (dtype == DType::kF32) {
                std::memcpy(in.data() + 4 * i, &values[i], 4);
              } else {
                const std::uint16_t h =
                    dtype == DType::kF16 ? f32_to_f16(values[i]) : f32_to_bf16(values[i]);
                std::memcpy(in.data() + 2 * i, &h, 2);
              }
            }
            // Most rows finite, so the fastest path runs on them too.
            for (std::size_t r = 0; r + 2 < rows; ++r)
              for (std::size_t i = r * k; i < (r + 1) * k; ++i)
                if (dtype != DType::kF32 && !std::isfinite(values[i]))
                  std::memset(in.data() + 2 * i, 0, 2);
                else if (dtype == DType::kF32 && !std::isfinite(values[i]))
                  std::memset(in.data() + 4 * i, 0, 4);
            const std::size_t groups = (k + gs - 1) / gs, words = groups * (gs / (32 / bits));
            std::vector<std::uint32_t> q_scalar(rows * words);
            std::vector<std::byte> s_scalar(rows * groups * dtype_size(dtype));
            const GroupKernelArgs args{dtype, bits, gs, rounded, mode};
            group_quantize_rows(args, in.data(), rows, k, q_scalar.data(), s_scalar.data(),
                                SimdLevel::kScalar);
            for (SimdLevel level : simd_levels()) {
              std::vector<std::uint32_t> q_simd(rows * words);
              std::vector<std::byte> s_simd(s_scalar.size());
              group_quantize_rows(args, in.data(), rows, k, q_simd.data(), s_simd.data(), level);
              ASSERT_EQ(q_scalar, q_simd) << tvm_name(dtype) << " bits " << bits << " gs " << gs
                                          << " k " << k << " level " << static_cast<int>(level);
              ASSERT_EQ(s_scalar, s_simd) << tvm_name(dtype) << " bits " << bits << " gs " << gs
                                          << " k " << k << " level " << static_cast<int>(level);
            }
          }
}

// The AVX-512 paths divide by multiplying with the scale's reciprocal and one correction step
// (src/quant/kernels/group_kernel.cpp). Every binary16 value |x| <= m, for many group maxima m
// (subnormal, tiny, ordinary, huge), gets the code the scalar division gives, in 4- and 3-bit
// codes.
TEST(GroupQuant, ReciprocalDivisionMatchesDivisionForEveryBinary16Value) {
  if (simd_level() < SimdLevel::kAvx512) GTEST_SKIP() << "no AVX-512 here";
  std::mt19937 rng(7);
  std::vector<std::uint16_t> maxima = {0x0001, 0x0003, 0x0004, 0x0007, 0x03FF, 0x0400,
                                       0x3C00, 0x4700, 0x7BFF, 0x2E66, 0x1400, 0x5BFF};
  std::uniform_int_distribution<int> pick(1, 0x7BFF);
  for (int i = 0; i < 40; ++i) maxima.push_back(static_cast<std::uint16_t>(pick(rng)));
  for (auto [bits, gs] : {std::pair{4, std::size_t{32}}, std::pair{3, std::size_t{40}}})
    for (std::uint16_t m : maxima) {
      std::vector<std::uint16_t> row;
      std::size_t slot = 0;
      for (std::uint32_t b = 0; b < 0x10000; ++b) {
        if ((b & 0x7FFF) > m) continue;
        if (slot++ % gs == 0) row.push_back(m);  // each group's max is m
        row.push_back(static_cast<std::uint16_t>(b));
      }
      while (row.size() % gs) row.push_back(0);
      const std::size_t k = row.size(), groups = k / gs, words = groups * gs / (32 / bits);
      for (RoundMode mode : {RoundMode::kTiesEven, RoundMode::kTiesAway}) {
        const GroupKernelArgs args{DType::kF16, bits, static_cast<int>(gs), true, mode};
        std::vector<std::uint32_t> q_scalar(words);
        std::vector<std::uint16_t> s_scalar(groups);
        group_quantize_rows(args, row.data(), 1, k, q_scalar.data(), s_scalar.data(),
                            SimdLevel::kScalar);
        for (SimdLevel level : {SimdLevel::kAvx512, SimdLevel::kAvx512Fp16}) {
          if (level > simd_level()) continue;
          std::vector<std::uint32_t> q_fast(words);
          std::vector<std::uint16_t> s_fast(groups);
          group_quantize_rows(args, row.data(), 1, k, q_fast.data(), s_fast.data(), level);
          ASSERT_EQ(q_scalar, q_fast)
              << "bits " << bits << " max " << m << " level " << static_cast<int>(level);
          ASSERT_EQ(s_scalar, s_fast)
              << "bits " << bits << " max " << m << " level " << static_cast<int>(level);
        }
      }
    }
}

}  // namespace
}  // namespace weightcast

#include "util/transpose.h"

namespace weightcast {
namespace {

// Elements of type T (32-bit: q_weight; 16-bit: the KN layout's scales), transposed by the
// scalar code and, split over row ranges the way the thread pool does, by this CPU's.
template <typename T>
void check_transpose(std::size_t rows, std::size_t cols) {
  std::vector<T> in(rows * cols), a(rows * cols), b(rows * cols);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<T>(i * 2654435761u);
  transpose_rows(in.data(), 0, rows, rows, cols, a.data(), SimdLevel::kScalar);
  transpose_rows(in.data(), 0, rows / 2, rows, cols, b.data(), simd_level());
  transpose_rows(in.data(), rows / 2, rows, rows, cols, b.data(), simd_level());
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) ASSERT_EQ(a[c * rows + r], in[r * cols + c]);
  EXPECT_EQ(a, b) << sizeof(T) * 8 << "-bit " << rows << "x" << cols;
}

TEST(Transpose, SimdAndScalarAgreeOnAwkwardShapes) {
  for (auto [rows, cols] : {std::pair<std::size_t, std::size_t>{1, 1},
                            {8, 8},
                            {13, 29},
                            {64, 17},
                            {100, 256},
                            {40, 24},
                            {57, 35}}) {
    check_transpose<std::uint32_t>(rows, cols);
    check_transpose<std::uint16_t>(rows, cols);
  }
}

// A block of rows into its columns of a wider matrix (the KN layout's per-thread transpose), with
// the output 64-byte aligned and a stride of whole cache lines, so that the non-temporal stores
// run, and with neither; the other columns stay untouched.
TEST(Transpose, BlocksLandInTheirColumnsOfAWiderMatrix) {
  constexpr std::size_t kStride = 160, kCols = 40;  // 160 words: 640 bytes, ten lines
  for (std::size_t offset : {0u, 64u, 3u})
    for (std::size_t n : {64u, 16u, 21u, 5u}) {
      std::vector<std::uint32_t> in(n * kCols);
      for (std::size_t i = 0; i < in.size(); ++i)
        in[i] = static_cast<std::uint32_t>(i * 2654435761u);
      for (SimdLevel level : {SimdLevel::kScalar, simd_level()}) {
        auto* out = static_cast<std::uint32_t*>(std::aligned_alloc(64, kCols * kStride * 4));
        std::fill_n(out, kCols * kStride, 0xDEADBEEFu);
        transpose_block(in.data(), n, kCols, out + offset, kStride, level);
        for (std::size_t c = 0; c < kCols; ++c)
          for (std::size_t i = 0; i < kStride; ++i) {
            const bool inside = i >= offset && i < offset + n;
            ASSERT_EQ(out[c * kStride + i], inside ? in[(i - offset) * kCols + c] : 0xDEADBEEFu)
                << "offset " << offset << " n " << n << " column " << c << " row " << i;
          }
        std::free(out);
      }
    }
}

}  // namespace
}  // namespace weightcast

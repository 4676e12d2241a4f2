// The dequantizers on hand-built tensors: bit streams that straddle words, GPTQModel's v1 zero
// correction, FP8 decoding, and the errors for tensors that disagree with the layout.
#include <gtest/gtest.h>

#include <cstring>

#include "dequant/dequant.h"
#include "util/float_bits.h"
#include "weightcast/weightcast.h"

namespace weightcast {
namespace {

struct Owned {
  TensorInfo info;
  std::vector<std::byte> bytes;
  QuantPart part() const { return {&info, bytes}; }
};

template <typename T>
Owned make(std::string name, DType dtype, Shape shape, const std::vector<T>& values) {
  Owned o{{std::move(name), dtype, std::move(shape)},
          std::vector<std::byte>(values.size() * sizeof(T))};
  std::memcpy(o.bytes.data(), values.data(), o.bytes.size());
  return o;
}

std::vector<std::uint16_t> f16(std::initializer_list<float> v) {
  std::vector<std::uint16_t> out;
  for (float x : v) out.push_back(f32_to_f16(x));
  return out;
}

// 32 input rows of 3-bit codes (code of row r = r % 8) in 3 words per column; one output column.
std::vector<std::uint32_t> three_bit_stream() {
  std::vector<std::uint32_t> words(3, 0);
  for (std::size_t r = 0; r < 32; ++r) {
    const std::uint64_t code = r % 8, pos = r * 3;
    words[pos / 32] |= static_cast<std::uint32_t>(code << (pos % 32));
    if (pos % 32 + 3 > 32)
      words[pos / 32 + 1] |= static_cast<std::uint32_t>(code >> (32 - pos % 32));
  }
  return words;
}

TEST(Dequant, GptqThreeBitCodesStraddleWords) {
  const auto qweight = make("x.qweight", DType::kI32, {3, 1}, three_bit_stream());
  // v1 zero stored as 3 (means 4); one group.
  const auto qzeros = make("x.qzeros", DType::kI32, {1, 1}, std::vector<std::uint32_t>{3});
  const auto scales = make("x.scales", DType::kF16, {1, 1}, f16({0.5f}));
  const GptqParams p{.bits = 3, .group_size = -1, .v1_zeros = true, .desc_act = false};
  const auto d = dequant_gptq(p, qweight.part(), qzeros.part(), scales.part(), {});
  ASSERT_EQ(d.out, 1);
  ASSERT_EQ(d.in, 32);
  for (std::size_t r = 0; r < 32; ++r)
    EXPECT_EQ(d.values[r], 0.5f * (static_cast<float>(r % 8) - 4.0f)) << r;
}

TEST(Dequant, GptqV1ZeroOfZeroCarriesLikeGptqModel) {
  // Zeros (0, 5, 0, 7, 0, 0, 0, 0) written by GPTQModel's v2 -> v1: the word minus 0x11111111.
  const std::uint32_t v2 = 0x00007050u, v1 = v2 - 0x11111111u;
  std::vector<std::uint32_t> codes(8 / 8 * 8, 0);  // 8 input rows, 8 output columns: all codes 8
  for (auto& w : codes) w = 0x88888888u;
  const auto qweight = make("x.qweight", DType::kI32, {1, 8}, codes);
  const auto qzeros = make("x.qzeros", DType::kI32, {1, 1}, std::vector<std::uint32_t>{v1});
  const auto scales =
      make("x.scales", DType::kF16, {1, 8}, std::vector<std::uint16_t>(8, f32_to_f16(1.0f)));
  const GptqParams p{.bits = 4, .group_size = -1, .v1_zeros = true, .desc_act = false};
  const auto d = dequant_gptq(p, qweight.part(), qzeros.part(), scales.part(), {});
  const float zeros[8] = {0, 5, 0, 7, 0, 0, 0, 0};
  for (std::size_t c = 0; c < 8; ++c) EXPECT_EQ(d.values[c * 8], 8.0f - zeros[c]) << c;
}

TEST(Dequant, Fp8BlockScales) {
  // e4m3fn: 0x38 = 1, 0x7E = 448, 0x01 = 2^-9, 0xB8 = -1; one 2 x 2 block, scale 0.25.
  const auto weight =
      make("x.weight", DType::kF8E4M3, {2, 2}, std::vector<std::uint8_t>{0x38, 0x7E, 0x01, 0xB8});
  const auto scale = make("x.weight_scale_inv", DType::kF32, {1, 1}, std::vector<float>{0.25f});
  const auto d = dequant_fp8(weight.part(), scale.part(), std::array<std::int64_t, 2>{128, 128});
  EXPECT_EQ(d.values, (std::vector<float>{0.25f, 112.0f, 0x1p-11f, -0.25f}));
}

TEST(Dequant, ErrorsNameTheTensor) {
  const auto qweight = make("m.qweight", DType::kI32, {2, 8}, std::vector<std::uint32_t>(16));
  const auto scales = make("m.scales", DType::kF16, {2, 8}, std::vector<std::uint16_t>(16));
  const auto qzeros = make("m.qzeros", DType::kI32, {1, 1}, std::vector<std::uint32_t>(1));
  const GptqParams p{.bits = 4, .group_size = 8, .v1_zeros = false, .desc_act = true};
  try {
    dequant_gptq(p, qweight.part(), qzeros.part(), scales.part(), {});
    FAIL() << "no error";
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.what(), "m.qweight: the g_idx (desc_act is set) tensor is missing");
  }
  const GptqParams no_act{.bits = 4, .group_size = 8, .v1_zeros = false, .desc_act = false};
  try {
    dequant_gptq(no_act, qweight.part(), qzeros.part(), scales.part(), {});
    FAIL() << "no error";
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.what(),
                 "m.qzeros: has shape (1, 1), but 16 input columns in groups of 8 means (2, 1)");
  }
}

}  // namespace
}  // namespace weightcast

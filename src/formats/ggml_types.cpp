#include "formats/ggml_types.h"

#include "formats/ggml_blocks.h"
#include "util/error.h"

namespace weightcast {

namespace {

using namespace ggml;

// Ids as in ggml.h; removed ids (4, 5, 31-33, 36-38) are absent, so files using them are refused.
const GgmlType kTypes[] = {
    {0, "F32", 1, 4, DType::kF32, nullptr},
    {1, "F16", 1, 2, DType::kF16, nullptr},
    {2, "Q4_0", 32, sizeof(BlockQ4_0), std::nullopt, decode_q4_0},
    {3, "Q4_1", 32, sizeof(BlockQ4_1), std::nullopt, decode_q4_1},
    {6, "Q5_0", 32, sizeof(BlockQ5_0), std::nullopt, decode_q5_0},
    {7, "Q5_1", 32, sizeof(BlockQ5_1), std::nullopt, decode_q5_1},
    {8, "Q8_0", 32, sizeof(BlockQ8_0), std::nullopt, decode_q8_0},
    {9, "Q8_1", 32, 36, std::nullopt, nullptr},
    {10, "Q2_K", 256, sizeof(BlockQ2K), std::nullopt, decode_q2_k},
    {11, "Q3_K", 256, sizeof(BlockQ3K), std::nullopt, decode_q3_k},
    {12, "Q4_K", 256, sizeof(BlockQ4K), std::nullopt, decode_q4_k},
    {13, "Q5_K", 256, sizeof(BlockQ5K), std::nullopt, decode_q5_k},
    {14, "Q6_K", 256, sizeof(BlockQ6K), std::nullopt, decode_q6_k},
    {15, "Q8_K", 256, sizeof(BlockQ8K), std::nullopt, decode_q8_k},
    {16, "IQ2_XXS", 256, 66, std::nullopt, nullptr},
    {17, "IQ2_XS", 256, 74, std::nullopt, nullptr},
    {18, "IQ3_XXS", 256, 98, std::nullopt, nullptr},
    {19, "IQ1_S", 256, 50, std::nullopt, nullptr},
    {20, "IQ4_NL", 32, 18, std::nullopt, nullptr},
    {21, "IQ3_S", 256, 110, std::nullopt, nullptr},
    {22, "IQ2_S", 256, 82, std::nullopt, nullptr},
    {23, "IQ4_XS", 256, 136, std::nullopt, nullptr},
    {24, "I8", 1, 1, DType::kI8, nullptr},
    {25, "I16", 1, 2, DType::kI16, nullptr},
    {26, "I32", 1, 4, DType::kI32, nullptr},
    {27, "I64", 1, 8, DType::kI64, nullptr},
    {28, "F64", 1, 8, DType::kF64, nullptr},
    {29, "IQ1_M", 256, 56, std::nullopt, nullptr},
    {30, "BF16", 1, 2, DType::kBF16, nullptr},
    {34, "TQ1_0", 256, 54, std::nullopt, nullptr},
    {35, "TQ2_0", 256, 66, std::nullopt, nullptr},
    {39, "MXFP4", 32, 17, std::nullopt, nullptr},
};

}  // namespace

const GgmlType* find_ggml_type(std::uint32_t id) {
  for (const auto& t : kTypes)
    if (t.id == id) return &t;
  return nullptr;
}

const char* ggml_type_name(std::uint32_t id) {
  const auto* t = find_ggml_type(id);
  return t ? t->name : "unknown";
}

void dequantize_ggml(std::uint32_t type, const std::byte* in, float* out, std::size_t n) {
  const auto* t = find_ggml_type(type);
  if (!t) fail("unknown ggml type {}", type);
  if (!t->decode)
    fail<NotImplementedError>("ggml type {} cannot be dequantized by weightcast yet", t->name);
  for (std::size_t i = 0; i < n / t->block; ++i) t->decode(in + i * t->bytes, out + i * t->block);
}

}  // namespace weightcast

// Dequantizers for pre-quantized checkpoints (docs/source-formats.md#quantized-checkpoints): each
// turns one module's packed tensors into its float32 weight [out, in], reproducing the arithmetic
// of the format's reference library (products rounded to the scales' dtype), and fails naming the
// tensor when a shape, dtype or code disagrees with the layout.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "formats/checkpoint.h"

namespace weightcast {

// One source tensor: its name, dtype and shape, and its bytes.
struct QuantPart {
  const TensorInfo* info = nullptr;
  std::span<const std::byte> data;
  explicit operator bool() const { return info != nullptr; }
};

// With check_only, every function checks the tensors' dtypes and shapes (reading no codes) and
// returns the weight's size with no values.
struct Dequantized {
  std::int64_t out = 0, in = 0;
  std::vector<float> values;  // [out, in], C order
};

struct GptqParams {
  int bits = 4;
  int group_size = 128;   // -1: one group
  bool v1_zeros = true;   // checkpoint_format "gptq": zeros stored minus one
  bool desc_act = false;  // then g_idx is required
};
// qweight [in*bits/32, out] int32, qzeros [groups, out*bits/32] int32, scales [groups, out],
// g_idx [in] (optional unless desc_act).
Dequantized dequant_gptq(const GptqParams& p, QuantPart qweight, QuantPart qzeros, QuantPart scales,
                         QuantPart g_idx, bool check_only = false);

// A 4-bit GPTQ module without act-order repacked, losslessly, in AutoAWQ's GEMM layout: qweight
// [in, out/8] and qzeros [groups, out/8] int32 with AutoAWQ's nibble order (the scales are the
// same tensor in both formats, and both compute (q - z) * s in float16).
struct AwqRepacked {
  std::vector<std::int32_t> qweight, qzeros;
};
AwqRepacked gptq_to_awq(const GptqParams& p, QuantPart qweight, QuantPart qzeros, QuantPart scales,
                        QuantPart g_idx);

// AutoAWQ GEMM: qweight [in, out/8], qzeros [in/group, out/8] int32 (interleaved nibbles),
// scales [in/group, out].
Dequantized dequant_awq(int group_size, QuantPart qweight, QuantPart qzeros, QuantPart scales,
                        bool check_only = false);

struct PackedParams {
  int bits = 4;
  int group_size = -1;  // -1: per channel
  bool dense = true;    // 3/5/6/7-bit codes straddle words (compressed-tensors >= 0.20)
};
// compressed-tensors pack-quantized: weight_packed [out, words] int32, weight_shape int64 [2],
// weight_scale [out, groups], weight_zero_point (optional: packed int32 along out, or int8),
// weight_g_idx (optional).
Dequantized dequant_packed(const PackedParams& p, QuantPart packed, QuantPart shape,
                           QuantPart scale, QuantPart zero_point, QuantPart g_idx,
                           bool check_only = false);

// An FP8 (e4m3fn) weight [out, in] times its scale: a block grid when `block` is set
// (weight_scale_inv), else one scale, one per row, or one per row and group of columns.
Dequantized dequant_fp8(QuantPart weight, QuantPart scale,
                        std::optional<std::array<std::int64_t, 2>> block, bool check_only = false);

}  // namespace weightcast

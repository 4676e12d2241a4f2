// The group-quantization kernel (docs/mlc-format.md#group-quantization-kernel), on a block of rows.
// A portable version and an AVX2+F16C one that writes the same bytes; group_quantize_rows picks one
// at run time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "util/dtype.h"
#include "util/simd.h"
#include "weightcast/weightcast.h"

namespace weightcast {

// `rows` x `k` elements of `dtype` in; `rows` x words uint32 codes and `rows` x groups scales (in
// `dtype`) out. `rounded_scale` selects whether the codes use the scale as stored (NK layout,
// embeddings) or, for bfloat16 KN linear layers, the unrounded float32 one
// (docs/mlc-format.md#rounding).
struct GroupKernelArgs {
  DType dtype;
  int bits;
  int group_size;
  bool rounded_scale = true;
  RoundMode round_mode = RoundMode::kTiesEven;
  // Memory the caller reads next (the following rows' source): the AVX-512 paths pull it into
  // L2 a little per group while they compute, so that read does not wait on DRAM.
  std::span<const std::byte> prefetch = {};
};

void group_quantize_rows(const GroupKernelArgs& args, const void* input, std::size_t rows,
                         std::size_t k, std::uint32_t* q_weight, void* q_scale,
                         SimdLevel level = simd_level());

}  // namespace weightcast

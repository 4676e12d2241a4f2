// NaN and infinity counts of a block of floating-point source elements, for convert's input check
// (docs/verify.md#convert-checks-its-input): run on each block right after the cast has read it,
// while it is in cache, so it adds no pass over the checkpoint.
#pragma once

#include <cstddef>
#include <cstdint>

#include "util/dtype.h"
#include "util/simd.h"

namespace weightcast {

struct NonFiniteCount {
  std::uint64_t nan = 0, inf = 0;
};

// Whether `dtype` can hold NaN or infinity here (float16, bfloat16, float32, float64, FP8).
bool may_be_nonfinite(DType dtype);
// Adds the NaN and infinity counts of `n` elements of `dtype` at `data` to `count`.
void count_nonfinite(DType dtype, const std::byte* data, std::size_t n, NonFiniteCount& count,
                     SimdLevel level = simd_level());

}  // namespace weightcast

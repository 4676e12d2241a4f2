// The ExternMapping's `.astype(model_dtype)` (docs/mlc-format.md#source-dtype-cast), with numpy's
// and ml_dtypes' rounding.
#pragma once

#include <cstddef>

#include "util/dtype.h"
#include "util/nonfinite.h"
#include "util/simd.h"

namespace weightcast {

using CastFn = void (*)(const std::byte* in, std::byte* out, std::size_t n);

bool can_cast(DType from, DType to);
// The converter for a dtype pair (throws for pairs can_cast rejects). `in` and `out` must not
// overlap. The SIMD variants write the same bytes as the portable ones.
CastFn cast_function(DType from, DType to, SimdLevel level = simd_level());

// The same cast, counting NaN and infinity among the `n` input elements into `count` on the way,
// so that the input check needs no second pass over the block. Null where no such variant exists
// (then cast and count_nonfinite separately); the bytes written are cast_function's.
using CountingCastFn = void (*)(const std::byte* in, std::byte* out, std::size_t n,
                                NonFiniteCount& count);
CountingCastFn counting_cast_function(DType from, DType to, SimdLevel level = simd_level());

}  // namespace weightcast

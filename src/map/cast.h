// The ExternMapping's `.astype(model_dtype)` (docs/mlc-format.md#source-dtype-cast), with numpy's
// and ml_dtypes' rounding.
#pragma once

#include <cstddef>

#include "util/dtype.h"
#include "util/simd.h"

namespace weightcast {

using CastFn = void (*)(const std::byte* in, std::byte* out, std::size_t n);

bool can_cast(DType from, DType to);
// The converter for a dtype pair (throws for pairs can_cast rejects). `in` and `out` must not
// overlap. The SIMD variants write the same bytes as the portable ones.
CastFn cast_function(DType from, DType to, SimdLevel level = simd_level());

}  // namespace weightcast

// The ExternMapping's `.astype(model_dtype)` (spec 3.5), with numpy's and ml_dtypes' rounding.
#pragma once

#include <cstddef>

#include "util/dtype.h"

namespace weightcast {

bool can_cast(DType from, DType to);
// Converts n elements; `in` and `out` must not overlap.
void cast_elements(DType from, const std::byte* in, DType to, std::byte* out, std::size_t n);

}  // namespace weightcast

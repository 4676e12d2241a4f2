// Run-time choice of the SIMD path. Every path writes the same bytes; WEIGHTCAST_SIMD=scalar in
// the environment forces the portable one (the tests compare them).
#pragma once

#define WEIGHTCAST_AVX2 __attribute__((target("avx2,f16c")))

namespace weightcast {

enum class SimdLevel { kScalar, kAvx2 };

SimdLevel simd_level();
bool cpu_has_f16c();

}  // namespace weightcast

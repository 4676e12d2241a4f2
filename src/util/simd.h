// Run-time choice of the SIMD path. Every path writes the same bytes; WEIGHTCAST_SIMD=scalar or
// WEIGHTCAST_SIMD=avx2 in the environment caps the level (the tests compare the paths).
#pragma once

#define WEIGHTCAST_AVX2 __attribute__((target("avx2,f16c")))
#define WEIGHTCAST_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,f16c")))
#define WEIGHTCAST_AVX512FP16 \
  __attribute__((target("avx512fp16,avx512vbmi,avx512f,avx512bw,avx512vl,avx512dq,avx2,f16c")))

namespace weightcast {

// Ordered: a level implies the ones below it. kAvx512 is AVX-512 F, BW, VL and DQ; kAvx512Fp16
// adds the binary16 arithmetic and VBMI's byte permutes (Sapphire Rapids and later).
enum class SimdLevel { kScalar, kAvx2, kAvx512, kAvx512Fp16 };

SimdLevel simd_level();
bool cpu_has_f16c();

}  // namespace weightcast

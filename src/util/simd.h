// Run-time choice of the SIMD path. Every path writes the same bytes; WEIGHTCAST_SIMD=scalar or
// WEIGHTCAST_SIMD=avx2 in the environment caps the level (the tests compare the paths).
#pragma once

#define WEIGHTCAST_AVX2 __attribute__((target("avx2,f16c")))
#define WEIGHTCAST_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,f16c")))
// The AVX512-FP16 kernels use binary16 vector types under a target attribute, which GCC 12 offers;
// clang 14 has them only when a whole file is built with -mavx512fp16, so clang builds go without
// those kernels (the AVX-512 ones run instead, with the same bytes).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define WEIGHTCAST_HAS_AVX512FP16 1
#else
#define WEIGHTCAST_HAS_AVX512FP16 0
#endif
#define WEIGHTCAST_AVX512FP16 \
  __attribute__((target("avx512fp16,avx512vbmi,avx512f,avx512bw,avx512vl,avx512dq,avx2,f16c")))

namespace weightcast {

// Ordered: a level implies the ones below it. kAvx512 is AVX-512 F, BW, VL and DQ (and BMI2);
// kAvx512Fp16 adds the binary16 arithmetic and VBMI's byte permutes (Sapphire Rapids and later).
enum class SimdLevel { kScalar, kAvx2, kAvx512, kAvx512Fp16 };

SimdLevel simd_level();
bool cpu_has_f16c();

}  // namespace weightcast

#include "util/simd.h"

#include <cstdlib>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <cstring>

namespace weightcast {

namespace {

#if defined(__x86_64__)
// CPUID leaf 7 and XCR0 read directly, as for F16C below.
struct Leaf7 {
  unsigned ebx = 0, edx = 0;
};
Leaf7 leaf7() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return {};
  return {ebx, edx};
}

// The OS saves the opmask and all 512-bit registers (XCR0 bits 1, 2, 5, 6, 7).
bool os_saves_zmm() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return false;  // OSXSAVE
  unsigned lo = 0, hi = 0;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & 0xE6u) == 0xE6u;
}

// With BMI2 (the 3-bit kernels' PEXT), which every AVX-512 CPU has.
bool cpu_has_avx512() {
  const auto l = leaf7();
  const unsigned bmi2 = 1u << 8, f = 1u << 16, dq = 1u << 17, bw = 1u << 30, vl = 1u << 31;
  const unsigned all = bmi2 | f | dq | bw | vl;
  return (l.ebx & all) == all && os_saves_zmm();
}

// AVX512-FP16 (EDX bit 23) with VBMI (ECX bit 1), which every CPU with the former has.
bool cpu_has_avx512fp16() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return (edx & (1u << 23)) && (ecx & (1u << 1));
}
#endif

}  // namespace

bool cpu_has_f16c() {
#if defined(__x86_64__)
  // CPUID leaf 1, ECX bit 29.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29));
#else
  return false;
#endif
}

SimdLevel simd_level() {
  static const SimdLevel level = [] {
    const char* forced = std::getenv("WEIGHTCAST_SIMD");
    if (forced && std::strcmp(forced, "scalar") == 0) return SimdLevel::kScalar;
#if defined(__x86_64__)
    // AVX2 (which implies OS support for the wide registers) plus F16C.
    if (!__builtin_cpu_supports("avx2") || !cpu_has_f16c()) return SimdLevel::kScalar;
    if (forced && std::strcmp(forced, "avx2") == 0) return SimdLevel::kAvx2;
    if (!cpu_has_avx512()) return SimdLevel::kAvx2;
    if (forced && std::strcmp(forced, "avx512") == 0) return SimdLevel::kAvx512;
    return WEIGHTCAST_HAS_AVX512FP16 && cpu_has_avx512fp16() ? SimdLevel::kAvx512Fp16
                                                             : SimdLevel::kAvx512;
#else
    return SimdLevel::kScalar;
#endif
  }();
  return level;
}

}  // namespace weightcast

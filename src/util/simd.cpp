#include "util/simd.h"

#include <cstdlib>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <cstring>

namespace weightcast {

bool cpu_has_f16c() {
#if defined(__x86_64__)
  // CPUID leaf 1, ECX bit 29 (clang's __builtin_cpu_supports does not know "f16c").
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
    if (__builtin_cpu_supports("avx2") && cpu_has_f16c()) return SimdLevel::kAvx2;
#endif
    return SimdLevel::kScalar;
  }();
  return level;
}

}  // namespace weightcast

#include "util/simd.h"

#include <cstdlib>
#include <cstring>

namespace weightcast {

SimdLevel simd_level() {
  static const SimdLevel level = [] {
    const char* forced = std::getenv("WEIGHTCAST_SIMD");
    if (forced && std::strcmp(forced, "scalar") == 0) return SimdLevel::kScalar;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")) return SimdLevel::kAvx2;
#endif
    return SimdLevel::kScalar;
  }();
  return level;
}

const char* simd_level_name(SimdLevel level) {
  return level == SimdLevel::kAvx2 ? "avx2+f16c" : "scalar";
}

}  // namespace weightcast

#include "util/fault_point.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

namespace weightcast {

namespace {

struct Fault {
  std::string point;
  long nth = 1;
  long sleep_ms = -1;  // < 0: kill
  std::atomic<long> seen{0};
};

// Parsed once; nullptr when the variable is unset or malformed.
Fault* configured() {
  static Fault* fault = []() -> Fault* {
    const char* env = std::getenv("WEIGHTCAST_TEST_FAULT");
    if (!env || !*env) return nullptr;
    auto* f = new Fault;
    std::string spec = env;
    if (const auto colon = spec.find(':'); colon != std::string::npos) {
      const std::string action = spec.substr(colon + 1);
      if (action.rfind("sleep=", 0) != 0) return nullptr;
      f->sleep_ms = std::strtol(action.c_str() + 6, nullptr, 10);
      spec.resize(colon);
    }
    if (const auto at = spec.find('@'); at != std::string::npos) {
      f->nth = std::strtol(spec.c_str() + at + 1, nullptr, 10);
      spec.resize(at);
    }
    f->point = spec;
    return f;
  }();
  return fault;
}

}  // namespace

void fault_point(std::string_view point) {
  Fault* f = configured();
  if (!f || point != f->point || ++f->seen != f->nth) return;
  if (f->sleep_ms < 0) ::raise(SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(f->sleep_ms));
}

}  // namespace weightcast

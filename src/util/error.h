// Throw helpers: every error carries a formatted, self-contained message.
#pragma once

#include <fmt/format.h>
#include <fmt/std.h>

#include "weightcast/weightcast.h"

namespace weightcast {

template <typename E = ValueError, typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw E(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace weightcast

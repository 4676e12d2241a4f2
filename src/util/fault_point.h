// Named points of a run where the tests inject faults without root: WEIGHTCAST_TEST_FAULT=
// "<point>[@<n>][:sleep=<ms>]" kills the process with SIGKILL (or pauses it for <ms>) the n-th time
// (default: the first) <point> is reached. Unset, as in every real run, a point costs one load.
#pragma once

#include <string_view>

namespace weightcast {

void fault_point(std::string_view point);

}  // namespace weightcast

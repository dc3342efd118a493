// Runtime-dispatched Highway attention. Opt-in: add
// include/sysout/attention/highway_dynamic.cpp to one translation unit of your
// program (it compiles the kernel for every x86/ARM target Highway knows and
// picks the best one the CPU supports on first call) and link libhwy.
#pragma once
#include <cstdint>
#include <vector>

#include "sysout/attention/problem.hpp"

namespace sysout::attention {

void attend_highway_dynamic(const problem& p, const config& c, const stats& st = {});

// The targets compiled into highway_dynamic.cpp that this CPU supports (Highway
// target bits; hwy::TargetName names them). Tests force each in turn with
// hwy::SetSupportedTargetsForTest.
std::vector<std::int64_t> highway_dynamic_targets();

}  // namespace sysout::attention

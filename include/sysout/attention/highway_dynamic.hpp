// Runtime-dispatched Highway attention. Opt-in: add
// include/sysout/attention/highway_dynamic.cpp to one translation unit of your
// program (it compiles the kernel for every x86/ARM target Highway knows and
// picks the best one the CPU supports on first call) and link libhwy.
#pragma once
#include "sysout/attention/problem.hpp"

namespace sysout::attention {

void attend_highway_dynamic(const problem& p, const config& c, const stats& st = {});

}  // namespace sysout::attention

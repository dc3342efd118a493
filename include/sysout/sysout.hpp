// sysout: find, trace and remove systematic outliers in transformer LMs.
// This umbrella header includes every part that needs nothing beyond the C++20
// standard library. Optional adapters and backends (Eigen, xtensor, DLPack,
// Highway, CUDA) have their own headers: include them explicitly.
#pragma once
#include "sysout/version.hpp"
#include "sysout/core.hpp"

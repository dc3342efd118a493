// sysout: find, trace and remove systematic outliers in transformer LMs.
// This umbrella includes every part that needs nothing beyond the C++20
// standard library. Optional adapters and backends (Eigen, xtensor, DLPack,
// Highway, CUDA, nlohmann-json) have their own headers: include them explicitly.
#pragma once
#include "sysout/version.hpp"
#include "sysout/core.hpp"
#include "sysout/io.hpp"
#include "sysout/detect.hpp"
#include "sysout/attention.hpp"
#include "sysout/model.hpp"
#include "sysout/trace.hpp"

// Umbrella for sysout/attention/: includes the dependency-free headers of this area.
// The SIMD and GPU backends need their own include: sysout/attention/highway.hpp
// (Google Highway), sysout/attention/highway_dynamic.hpp (+ highway_dynamic.cpp),
// sysout/attention/cuda.cuh (nvcc).
#pragma once
#include "sysout/core.hpp"
#include "sysout/attention/variant.hpp"
#include "sysout/attention/problem.hpp"
#include "sysout/attention/reference.hpp"
#include "sysout/attention/scaling.hpp"

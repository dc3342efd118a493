// Highway SIMD backend, static dispatch: compiled for the target the including
// translation unit is built for (-march=...). Every variant, f32/f16/bf16
// inputs (converted to f32 once per call), fp32 accumulation, GQA, causal,
// sliding window, masks, fused column sums / null mass. Single-threaded: call
// it per head range from your own threads if you want more cores.
// For runtime CPU dispatch compile highway_dynamic.cpp into your program and
// call attend_highway_dynamic() (highway_dynamic.hpp).
#pragma once
// Highway 1.0.3 stops with "best baseline should be included in dynamic
// targets" under -march=native on AVX-512 "DL" CPUs (Ice Lake and later)
// unless AVX3_DL is requested; harmless elsewhere. Must precede the first
// <hwy/highway.h> of the translation unit.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#include <hwy/highway.h>

#include "sysout/attention/highway-inl.hpp"

namespace sysout::attention {

// out = attention(q, k, v) for the variant in c; fills the stats views that are set.
inline void attend_highway(const problem& p, const config& c, const stats& st = {}) {
  HWY_STATIC_DISPATCH(attend_impl)(p, c, st);
}

// Name of the SIMD target attend_highway was compiled for ("AVX3_DL", "AVX2"...).
inline const char* highway_static_target() { return hwy::TargetName(HWY_STATIC_TARGET); }

}  // namespace sysout::attention

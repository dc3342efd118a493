// The opt-in dynamic-dispatch translation unit of the Highway attention.
// Compile this file once into a program (do not include it); declare the entry
// point with highway_dynamic.hpp.
// Highway 1.0.3 stops with "best baseline should be included in dynamic
// targets" under -march=native on AVX-512 "DL" CPUs (Ice Lake and later)
// unless AVX3_DL is requested; harmless elsewhere. Must precede the first
// <hwy/highway.h> of the translation unit.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "sysout/attention/highway_dynamic.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>
#include <hwy/targets.h>

#include "sysout/attention/highway-inl.hpp"

#if HWY_ONCE
#include "sysout/attention/highway_dynamic.hpp"

namespace sysout::attention {

HWY_EXPORT(attend_impl);

void attend_highway_dynamic(const problem& p, const config& c, const stats& st) {
  HWY_DYNAMIC_DISPATCH(attend_impl)(p, c, st);
}

std::vector<std::int64_t> highway_dynamic_targets() {
  std::vector<std::int64_t> r;
  for (auto t : hwy::SupportedAndGeneratedTargets()) r.push_back(std::int64_t(t));
  return r;
}

}  // namespace sysout::attention
#endif  // HWY_ONCE

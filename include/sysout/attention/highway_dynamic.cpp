// The opt-in dynamic-dispatch translation unit of the Highway attention.
// Compile this file once into a program (do not include it); declare the entry
// point with highway_dynamic.hpp.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "sysout/attention/highway_dynamic.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include "sysout/attention/highway-inl.hpp"

#if HWY_ONCE
#include "sysout/attention/highway_dynamic.hpp"

namespace sysout::attention {

HWY_EXPORT(attend_impl);

void attend_highway_dynamic(const problem& p, const config& c, const stats& st) {
  HWY_DYNAMIC_DISPATCH(attend_impl)(p, c, st);
}

}  // namespace sysout::attention
#endif  // HWY_ONCE

// The opt-in dynamic-dispatch translation unit: every compiled target this CPU
// supports runs the sweep (Highway's own tests do the same).
#include <doctest/doctest.h>

#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif

#include <hwy/highway.h>
#include <hwy/targets.h>

#include "backend_sweep.hpp"
#include "sysout/attention/highway_dynamic.hpp"

using namespace sysout;
using namespace sysout::attention;
using namespace sysout::attention::testing;

TEST_CASE("highway (dynamic dispatch): each supported target matches the reference") {
  const auto targets = highway_dynamic_targets();
  REQUIRE(!targets.empty());
  MESSAGE(targets.size() << " compiled targets supported here");
  for (const auto t : targets) {
    hwy::SetSupportedTargetsForTest(decltype(hwy::SupportedTargets())(t));
    MESSAGE("target " << std::string(hwy::TargetName(decltype(hwy::SupportedTargets())(t))));
    CAPTURE(hwy::TargetName(decltype(hwy::SupportedTargets())(t)));
    sweep_backend([](const problem& p, const config& c, const stats& st) { attend_highway_dynamic(p, c, st); }, false);
  }
  hwy::SetSupportedTargetsForTest(0);
}

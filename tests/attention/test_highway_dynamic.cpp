// The opt-in dynamic-dispatch translation unit: every compiled target this CPU
// supports runs the sweep (Highway's own tests do the same).
#include <doctest/doctest.h>

#include <hwy/highway.h>
#include <hwy/targets.h>

#include "backend_sweep.hpp"
#include "sysout/attention/highway_dynamic.hpp"

using namespace sysout;
using namespace sysout::attention;
using namespace sysout::attention::testing;

TEST_CASE("highway (dynamic dispatch): each supported target matches the reference") {
  const std::vector<uint32_t> targets = hwy::SupportedAndGeneratedTargets();
  REQUIRE(!targets.empty());
  for (uint32_t t : targets) {
    hwy::SetSupportedTargetsForTest(t);
    MESSAGE("target " << hwy::TargetName(t));
    CAPTURE(hwy::TargetName(t));
    sweep_backend([](const problem& p, const config& c, const stats& st) { attend_highway_dynamic(p, c, st); }, false);
  }
  hwy::SetSupportedTargetsForTest(0);
}

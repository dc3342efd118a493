// The area umbrella compiles on its own and exposes the tracer.
#include "sysout/trace.hpp"

#include <doctest/doctest.h>

TEST_CASE("trace umbrella exposes recorder, adapter and lifecycle") {
  sysout::trace::recorder rec;
  sysout::trace::ggml_adapter ad(rec);
  CHECK(ad.wants("l_out-0"));
  CHECK_FALSE(sysout::trace::analyze_lifecycle(rec.snapshot()).emergence.found);
}

// Highway backend (static dispatch) against the scalar reference.
#include <doctest/doctest.h>

#include "backend_sweep.hpp"
#include "sysout/attention/highway.hpp"

using namespace sysout;
using namespace sysout::attention;
using namespace sysout::attention::testing;

TEST_CASE("highway (static dispatch): every variant over the shape sweep matches the reference") {
  MESSAGE("static target: " << std::string(highway_static_target()));
  sweep_backend([](const problem& p, const config& c, const stats& st) { attend_highway(p, c, st); }, true);
}

TEST_CASE("highway: bf16 output rounds the fp32 result once") {
  case_data cd({37, 37, 64, 64, 2, 1, true, 0, 0, mask_kind::none, false, dtype::bf16});
  config c = cd.make_config(variant::softmax1);
  problem p = cd.run_reference(c);
  std::vector<std::uint16_t> ob(std::size_t(2 * 37 * 64));
  p.out = tensor_view(ob.data(), dtype::bf16, {2, 37, 64});
  attend_highway(p, c);
  tensor<float> got = tensor<float>::from(p.out);
  // bf16 keeps 8 significant bits: relative rounding error <= 2^-9, plus fp32 noise.
  expect_close(got, cd.out_ref, 1e-4, 1.0 / 256, "bf16 out");
}

TEST_CASE("highway: rejects what the reference rejects") {
  case_data cd({4, 4, 8, 8, 2, 1, true, 0, 0, mask_kind::none, false, dtype::f32});
  problem p = cd.p;
  p.out = cd.out.view();
  config c;
  c.variant = variant::gated;
  CHECK_THROWS_AS(attend_highway(p, c), sysout::error);
  c.variant = variant::softmax;
  c.window = -1;
  CHECK_THROWS_AS(attend_highway(p, c), sysout::error);
}

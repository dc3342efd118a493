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
  CHECK_THROWS_AS(attend_highway(p, c, {}, 2), sysout::error);  // checked before any thread starts
  c.variant = variant::softmax;
  c.window = -1;
  CHECK_THROWS_AS(attend_highway(p, c), sysout::error);
}

TEST_CASE("highway: spread over threads, every head equals the single-threaded result bit for bit") {
  // Items in reverse order on the calling thread, and 3 std::threads: the same per-head work either way.
  auto reverse_for = [](std::int64_t n, const auto& f) {
    for (std::int64_t i = n - 1; i >= 0; --i) f(i);
  };
  int checked = 0;
  for (const case_spec& cs : sweep(false)) {
    for (variant var : all_variants) {
      CAPTURE(cs.str());
      CAPTURE(variant_name(var));
      case_data one(cs), three(cs), rev(cs);
      const config c = one.make_config(var);
      problem p1 = one.p, p3 = three.p, pr = rev.p;
      p1.out = one.out.view(), p3.out = three.out.view(), pr.out = rev.out.view();
      attend_highway(p1, c, one.backend_stats());
      attend_highway(p3, c, three.backend_stats(), 3);
      attend_highway_parallel(pr, c, rev.backend_stats(), reverse_for);
      CHECK(three.out.vec() == one.out.vec());
      CHECK(rev.out.vec() == one.out.vec());
      CHECK(three.cols.vec() == one.cols.vec());
      CHECK(rev.null_mass.vec() == one.null_mass.vec());
      ++checked;
    }
  }
  CHECK(checked >= 90);
}

TEST_CASE("attention: head_part narrows heads, parameters and statistics; rejects ranges across groups") {
  case_data cd({9, 9, 16, 16, 4, 2, true, 0, 0, mask_kind::additive, false, dtype::f32});
  const config c = cd.make_config(variant::sink_logit);
  const stats st = cd.backend_stats();
  problem p = cd.p;
  p.out = cd.out.view();
  const shape_info s = validate(p, c, st);
  const problem_part part = head_part(p, c, st, s, 2, 3);  // head 2 of group 1
  CHECK(part.p.q.dim(0) == 1);
  CHECK(part.p.k.dim(0) == 1);
  CHECK(part.p.k.data() == cd.p.k.select(0, 1).data());
  CHECK(part.c.sink_logit.dim(0) == 1);
  CHECK(part.c.sink_logit.data() == cd.sink.data() + 2);
  CHECK(part.c.extra_key.data() == cd.ek.data() + 1 * 16);  // [Hkv, d]: the group's row
  CHECK(part.st.column_sums.data() == cd.cols.data() + 2 * 9);
  CHECK(part.p.mask_add.rank() == 2);  // shared by every head: unchanged
  CHECK(part.p.out.data() == cd.out.data() + 2 * 9 * 16);
  CHECK_THROWS_WITH_AS(head_part(p, c, st, s, 1, 3), doctest::Contains("not whole groups"), sysout::error);
  CHECK_THROWS_AS(head_part(p, c, st, s, 2, 5), sysout::error);
}

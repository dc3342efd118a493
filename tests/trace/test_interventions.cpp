// Interventions on synthetic tensors and through a hook registry.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "sysout/core/raw.hpp"
#include "sysout/trace/interventions.hpp"

using namespace sysout;
using namespace sysout::trace;

namespace {
std::vector<float> planted(std::int64_t T, std::int64_t D) {
  std::vector<float> h(static_cast<std::size_t>(T * D));
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = 0.01f * float(int(i % 17) - 8);
  h[std::size_t(0 * D + 3)] = 1200.0f;
  h[std::size_t(0 * D + 9)] = -800.0f;
  h[std::size_t(4 * D + 3)] = 900.0f;
  h[std::size_t(2 * D + 5)] = 2.0f;  // not massive
  return h;
}
}  // namespace

TEST_CASE("zero / clamp / mean change exactly the massive entries") {
  const std::int64_t T = 6, D = 12;
  {
    auto h = planted(T, D);
    const auto before = h;
    activation_intervention iv;
    iv.kind = intervention_kind::zero;
    CHECK(apply_intervention(iv, 1, 0, view(h.data(), {T, D})) == 3);
    CHECK(h[3] == 0.0f);
    CHECK(h[9] == 0.0f);
    CHECK(h[std::size_t(4 * D + 3)] == 0.0f);
    for (std::size_t i = 0; i < h.size(); ++i)
      if (i != 3 && i != 9 && i != std::size_t(4 * D + 3)) CHECK(h[i] == before[i]);
  }
  {
    auto h = planted(T, D);
    activation_intervention iv;
    iv.kind = intervention_kind::clamp;
    iv.clamp_to = 50;
    iv.tokens = {0};  // only token 0
    CHECK(apply_intervention(iv, 1, 0, view(h.data(), {T, D})) == 2);
    CHECK(h[3] == 50.0f);
    CHECK(h[9] == -50.0f);
    CHECK(h[std::size_t(4 * D + 3)] == 900.0f);
  }
  {
    auto h = planted(T, D);
    activation_intervention iv;
    iv.kind = intervention_kind::mean;
    iv.dims = {3};
    iv.layers = {1};
    iv.mean_values[{1, 3}] = 1000.0;
    CHECK(apply_intervention(iv, 2, 0, view(h.data(), {T, D})) == 0);  // layer not selected
    CHECK(apply_intervention(iv, 1, 0, view(h.data(), {T, D})) == 2);
    CHECK(h[3] == 1000.0f);
    CHECK(h[std::size_t(4 * D + 3)] == 1000.0f);
    CHECK(h[9] == -800.0f);  // dim 9 not selected
    iv.dims = {9};
    CHECK_THROWS_WITH_AS(apply_intervention(iv, 1, 0, view(h.data(), {T, D})), doctest::Contains("corpus mean"),
                         sysout::error);
  }
  {  // only_massive = false: every entry of the chosen dims/tokens
    auto h = planted(T, D);
    activation_intervention iv;
    iv.only_massive = false;
    iv.dims = {5};
    CHECK(apply_intervention(iv, 0, 0, view(h.data(), {T, D})) >= 1);
    CHECK(h[std::size_t(2 * D + 5)] == 0.0f);
  }
}

TEST_CASE("massive_mean_collector averages the massive values per (layer, dim)") {
  const std::int64_t T = 6, D = 12;
  massive_mean_collector c;
  auto a = planted(T, D), b = planted(T, D);
  b[3] = 1400.0f;
  c.on_tensor(0, view(a.data(), {T, D}));
  c.on_tensor(0, view(b.data(), {T, D}));
  const auto m = c.means();
  CHECK(c.count(0, 3) == 4);
  CHECK(m.at({0, 3}) == doctest::Approx((1200.0 + 900 + 1400 + 900) / 4));
  CHECK(m.at({0, 9}) == doctest::Approx(-800.0));
  CHECK(m.count({0, 5}) == 0);
}

TEST_CASE("attention to sink keys is removed, with and without renormalization") {
  const std::int64_t H = 2, T = 4;
  std::vector<float> p(std::size_t(H * T * T), 0.0f);
  for (std::int64_t h = 0; h < H; ++h)
    for (std::int64_t q = 0; q < T; ++q) {
      float* r = &p[std::size_t((h * T + q) * T)];
      if (q == 0) {
        r[0] = 1;
        continue;
      }
      r[0] = 0.6f;
      for (std::int64_t k = 1; k <= q; ++k) r[k] = 0.4f / float(q);
    }
  auto p2 = p;
  attention_intervention iv;
  iv.sink_keys = {0};
  iv.renormalize = true;
  CHECK(apply_attention_intervention(iv, 0, view(p.data(), {H, T, T})) == std::vector<std::int64_t>{0});
  for (std::int64_t h = 0; h < H; ++h)
    for (std::int64_t q = 1; q < T; ++q) {
      double s = 0;
      for (std::int64_t k = 0; k < T; ++k) s += p[std::size_t((h * T + q) * T + k)];
      CHECK(p[std::size_t((h * T + q) * T)] == 0.0f);
      CHECK(s == doctest::Approx(1.0));
    }
  CHECK(p[0] == 0.0f);  // query 0 had all its mass on the sink: left at zero
  iv.renormalize = false;
  iv.sink_keys.clear();
  iv.detect_sinks = true;  // key 0 receives 1 + 3 x 0.6 = 2.8, key 1 0.4 + 0.2 + 0.133 >= 0.1 x 4; key 2 0.33 does not
  const auto keys = apply_attention_intervention(iv, 0, view(p2.data(), {H, T, T}));
  CHECK(keys == std::vector<std::int64_t>{0, 1});
  CHECK(p2[std::size_t(2 * T + 2)] == doctest::Approx(0.2f));  // not renormalized
  CHECK(p2[std::size_t(2 * T + 1)] == 0.0f);
}

TEST_CASE("intervention_set attaches to and detaches from a hook registry; lifetimes are independent") {
  const std::int64_t T = 6, D = 12;
  hook_registry hooks;
  intervention_set set;
  activation_intervention iv;
  iv.layers = {2};
  set.add(iv);
  set.attach(hooks);
  CHECK(hooks.active(site::layer_out, 2));
  auto h = planted(T, D);
  for (int l = 0; l < 4; ++l) {
    auto x = h;
    hooks.call(hook_event{site::layer_out, l, 0, view(x.data(), {T, D}), "m"});
    if (l == 2) CHECK(x[3] == 0.0f);
    else CHECK(x[3] == 1200.0f);
  }
  CHECK(set.changed() == 3);
  set.detach(hooks);
  CHECK(hooks.empty());
  {
    // the set dies first: its hooks keep working
    hook_registry h2;
    {
      intervention_set tmp;
      tmp.add(iv);
      tmp.attach(h2);
    }
    auto x = h;
    h2.call(hook_event{site::layer_out, 2, 0, view(x.data(), {T, D}), "m"});
    CHECK(x[3] == 0.0f);
  }
  {
    // the registry dies first: the set is still usable
    intervention_set s2;
    s2.add(iv);
    {
      hook_registry h3;
      s2.attach(h3);
    }
    CHECK(s2.changed() == 0);
  }
}

TEST_CASE("attention intervention: strided views take the copy path and agree with the direct path") {
  const std::int64_t H = 2, T = 3;
  std::vector<float> p = {1, 0, 0, 0.5f, 0.5f, 0, 0.6f, 0.2f, 0.2f, 1, 0, 0, 0.7f, 0.3f, 0, 0.5f, 0.25f, 0.25f};
  // the same tensor stored [Tk, T, H] (column-major view of [H, T, Tk])
  std::vector<float> pc(p.size());
  for (std::int64_t h = 0; h < H; ++h)
    for (std::int64_t q = 0; q < T; ++q)
      for (std::int64_t k = 0; k < T; ++k) pc[std::size_t(k * T * H + q * H + h)] = p[std::size_t((h * T + q) * T + k)];
  attention_intervention iv;
  iv.sink_keys = {0};
  apply_attention_intervention(iv, 0, view(p.data(), {H, T, T}));
  apply_attention_intervention(iv, 0, view(pc.data(), {H, T, T}, layout::col_major));
  for (std::int64_t h = 0; h < H; ++h)
    for (std::int64_t q = 0; q < T; ++q)
      for (std::int64_t k = 0; k < T; ++k)
        CHECK(pc[std::size_t(k * T * H + q * H + h)] == doctest::Approx(p[std::size_t((h * T + q) * T + k)]));
  CHECK(p[std::size_t(2 * T + 1)] == doctest::Approx(0.5));
}

// Lifecycle on a synthetic multi-layer story with planted emergence, spread
// and disappearance, fed through the recorder as a forward pass would.
#include <doctest/doctest.h>

#include <random>
#include <vector>

#include "sysout/core/raw.hpp"
#include "sysout/trace/lifecycle.hpp"

using namespace sysout;
using namespace sysout::trace;

namespace {

struct story {
  int L = 10;
  std::int64_t T = 16, D = 32, F = 64, H = 4, dv = 16;
  int emerge = 2, cancel = 8;  // -1 = never
  bool plant = true;
};

// Runs the story through a recorder; returns the recording.
recording run_story(const story& s, unsigned seed = 5) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n01(0.0f, 1.0f);
  auto noise = [&](std::int64_t n, float sc) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = sc * n01(g);
    return v;
  };
  recorder rec({}, "story");
  auto resid = noise(s.T * s.D, 1.0f);
  rec.on_tensor(site::embed, -1, 0, view(resid.data(), {s.T, s.D}));
  for (int l = 0; l < s.L; ++l) {
    const bool sink_phase = s.plant && l >= s.emerge;
    // attention probabilities [H, T, T], causal
    std::vector<float> p(static_cast<std::size_t>(s.H * s.T * s.T), 0.0f);
    for (std::int64_t h = 0; h < s.H; ++h)
      for (std::int64_t q = 0; q < s.T; ++q) {
        float* row = &p[std::size_t((h * s.T + q) * s.T)];
        if (q == 0) {
          row[0] = 1.0f;
          continue;
        }
        if (sink_phase) {
          row[0] = 0.7f;
          for (std::int64_t k = 1; k <= q; ++k) row[k] = 0.3f / float(q);
        } else {
          row[q] = 0.9f;
          for (std::int64_t k = 0; k < q; ++k) row[k] = 0.1f / float(q);
        }
      }
    auto v = noise(s.T * s.dv, 1.0f);
    if (sink_phase)
      for (std::int64_t j = 0; j < s.dv; ++j) v[std::size_t(j)] *= 0.05f;  // sinks carry small values
    auto attn = noise(s.T * s.D, 0.5f);
    auto dpi = noise(s.T * s.F, 0.5f);
    auto mlp = noise(s.T * s.D, 0.5f);
    if (s.plant && l == s.emerge) {
      dpi[std::size_t(0 * s.F + 41)] = 5000.0f;  // born at the MLP input, d_ff dim 41 ...
      mlp[std::size_t(0 * s.D + 7)] = 2000.0f;   // ... written to residual dims 7 and 13 of token 0
      mlp[std::size_t(0 * s.D + 13)] = -1500.0f;
    }
    if (s.plant && l == s.cancel) {
      mlp[std::size_t(0 * s.D + 7)] = -1950.0f;  // the MLP cancels them
      mlp[std::size_t(0 * s.D + 13)] = 1480.0f;
    }
    std::vector<float> mid(resid.size()), out(resid.size());
    for (std::size_t i = 0; i < resid.size(); ++i) mid[i] = resid[i] + attn[i];
    for (std::size_t i = 0; i < resid.size(); ++i) out[i] = mid[i] + mlp[i];
    rec.on_tensor(site::v, l, 0, view(v.data(), {s.T, s.dv}));
    rec.on_tensor(site::attn_probs, l, 0, view(p.data(), {s.H, s.T, s.T}));
    rec.on_tensor(site::attn_out, l, 0, view(attn.data(), {s.T, s.D}));
    rec.on_tensor(site::resid_mid, l, 0, view(mid.data(), {s.T, s.D}));
    rec.on_tensor(site::down_proj_in, l, 0, view(dpi.data(), {s.T, s.F}));
    rec.on_tensor(site::mlp_out, l, 0, view(mlp.data(), {s.T, s.D}));
    rec.on_tensor(site::layer_out, l, 0, view(out.data(), {s.T, s.D}));
    resid = out;
  }
  return rec.snapshot();
}

}  // namespace

TEST_CASE("lifecycle: planted emergence, spread and disappearance are located") {
  const story s;
  const auto rec = run_story(s);
  down_proj_channels w;
  w.layer = s.emerge;
  w.input_ranking = {41, 3, 9, 60};
  w.output_ranking = {13, 7, 0, 1};
  const auto R = analyze_lifecycle(rec, {w});
  REQUIRE(R.n_layers == s.L);
  // emergence
  CHECK(R.emergence.found);
  CHECK(R.emergence.layer == s.emerge);
  CHECK(R.emergence.dims == std::vector<std::int64_t>{7, 13});
  CHECK(R.emergence.tokens == std::vector<std::int64_t>{0});
  CHECK(R.emergence.persistent_dims == std::vector<std::int64_t>{7, 13});
  CHECK(R.emergence.persistent_onset == s.emerge);
  CHECK(R.emergence.persistent_producer == "mlp_out");
  CHECK(R.emergence.down_proj_in_dims == std::vector<std::int64_t>{41});
  CHECK(R.emergence.down_proj_in_rule == "massive");
  CHECK(R.emergence.input_match == 1.0);
  CHECK(R.emergence.output_match == 1.0);
  CHECK(R.emergence.producer == "mlp_out");
  REQUIRE(R.weight_matches.size() == 1);  // only the emergence layer has a massive down_proj input
  CHECK(R.weight_matches[0].layer == s.emerge);
  CHECK(R.weight_matches[0].input_match == 1.0);
  // layers before emergence and after cancellation have none
  for (int l = 0; l < s.L; ++l)
    CHECK_MESSAGE((R.layers[std::size_t(l)].massive_count > 0) == (l >= s.emerge && l < s.cancel), "layer " << l);
  // followed pairs: (token 0, dim 7) and (token 0, dim 13)
  REQUIRE(R.pairs.size() == 2);
  CHECK(R.pairs[0].dim == 7);
  CHECK(R.pairs[1].dim == 13);
  CHECK(R.pairs[1].peak_value < 0);
  // spread: token 0 is a sink from the emergence layer on, with small values
  CHECK(R.spread.persistent_sinks == std::vector<std::int64_t>{0});
  CHECK(R.spread.sink_onset.at(0) == s.emerge);
  for (int l = 0; l < s.emerge; ++l) CHECK(R.layers[std::size_t(l)].sinks.empty());
  CHECK(R.layers[std::size_t(s.emerge)].sink_mass > 0.6);
  CHECK(R.layers[std::size_t(s.emerge)].sink_eps_fraction == 1.0);
  CHECK(R.spread.mean_sink_value_norm < 0.2 * R.spread.mean_other_value_norm);
  CHECK(R.spread.sinks_with_massive_share == 1.0);
  // disappearance: one drop, at the planted layer, done by the MLP
  CHECK(R.disappearance.found);
  CHECK(R.disappearance.peak_layer >= s.emerge);
  CHECK(R.disappearance.peak_layer < s.cancel);
  REQUIRE(R.disappearance.drops.size() == 1);
  const auto& d = R.disappearance.drops[0];
  CHECK(d.layer == s.cancel);
  CHECK(d.canceller == "mlp_out");
  CHECK(d.mlp_contribution == doctest::Approx(-(1950.0 + 1480.0) / 2).epsilon(0.01));
  CHECK(std::fabs(d.attn_contribution) < 3.0);
  CHECK(d.before > 1500.0);
  CHECK(d.after < 100.0);
  // JSON is complete and carries the numbers
  json_writer jw;
  R.to_json(jw);
  CHECK(jw.complete());
  CHECK(jw.str().find("\"canceller\":\"mlp_out\"") != std::string::npos);
}

TEST_CASE("lifecycle: a model without massive activations reports none (and no invented drops)") {
  story s;
  s.plant = false;
  const auto R = analyze_lifecycle(run_story(s));
  CHECK_FALSE(R.emergence.found);
  CHECK(R.emergence.layer == -1);
  CHECK(R.pairs.empty());
  CHECK_FALSE(R.disappearance.found);
  for (const auto& Ly : R.layers) {
    CHECK(Ly.massive_count == 0);
    CHECK(Ly.has_attention);
    CHECK(Ly.sinks.empty());
  }
  json_writer jw;
  R.to_json(jw);
  CHECK(jw.complete());
}

TEST_CASE("lifecycle: without attn_out / mlp_out sites, contributions come from the residual stream") {
  const story s;
  const auto full = run_story(s);
  recording r = full;
  for (int l = 0; l < s.L; ++l) {
    r.activations.erase({site::attn_out, l});
    r.activations.erase({site::mlp_out, l});
  }
  const auto A = analyze_lifecycle(full), B = analyze_lifecycle(r);
  REQUIRE(B.disappearance.drops.size() == 1);
  CHECK(B.disappearance.drops[0].canceller == "mlp_out");
  for (int l = 0; l < s.L; ++l) {
    CHECK(B.layers[std::size_t(l)].mlp_contribution ==
          doctest::Approx(A.layers[std::size_t(l)].mlp_contribution).epsilon(1e-3).scale(1.0));
    CHECK(B.layers[std::size_t(l)].attn_contribution ==
          doctest::Approx(A.layers[std::size_t(l)].attn_contribution).epsilon(1e-3).scale(1.0));
  }
}

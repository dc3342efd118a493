#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "sysout/core.hpp"
#include "sysout/detect/attention_sinks.hpp"

using namespace sysout;
using namespace sysout::detect;

namespace {
// Causal softmax attention [H, Q, K] (queries are the last Q of K positions)
// with an extra logit `sink_logit` on key 0 for the heads listed as sink heads.
std::vector<float> causal_probs(std::int64_t H, std::int64_t Q, std::int64_t K, double sink_logit, std::uint32_t seed,
                                std::int64_t sink_heads) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd(0, 1);
  std::vector<float> p(static_cast<std::size_t>(H * Q * K), 0.0f);
  for (std::int64_t h = 0; h < H; ++h)
    for (std::int64_t q = 0; q < Q; ++q) {
      const std::int64_t pos = K - Q + q;
      std::vector<double> e(static_cast<std::size_t>(K), 0.0);
      double s = 0;
      for (std::int64_t k = 0; k <= pos; ++k) {
        double logit = nd(rng) + (k == 0 && h < sink_heads ? sink_logit : 0.0);
        e[std::size_t(k)] = std::exp(logit);
        s += e[std::size_t(k)];
      }
      for (std::int64_t k = 0; k <= pos; ++k) p[std::size_t((h * Q + q) * K + k)] = float(e[std::size_t(k)] / s);
    }
  return p;
}
}  // namespace

TEST_CASE("attention: a planted first-token sink is the one attention outlier") {
  const std::int64_t H = 4, Q = 64, K = 64;
  auto p = causal_probs(H, Q, K, 8.0, 1, 3);  // heads 0-2 sink on key 0, head 3 does not
  for (auto impl : {backend::best, backend::reference}) {
    attention_sink_options o;
    o.impl = impl;
    const auto r = find_attention_sinks(view(p.data(), {H, Q, K}), 5, o);
    CHECK(r.layer == 5);
    CHECK(r.outlier_tokens == std::vector<std::int64_t>{0});
    CHECK(r.top_keys.front() == 0);
    CHECK(r.received[0] > 0.1 * Q);
    // per-head first-token mass, Sink^eps: 3 of 4 heads
    REQUIRE(r.first_token_mass.size() == 4);
    CHECK(r.first_token_mass[0] > 0.9);
    CHECK(r.first_token_mass[3] < 0.3);
    CHECK(r.sink_eps_fraction == 0.75);
    CHECK(r.sink_ratio[0] == doctest::Approx(r.first_token_mass[0]).epsilon(1e-6));
    CHECK(r.off_mass_rows == 0);
    CHECK(r.nonfinite_rows == 0);
    CHECK(r.min_row_mass == doctest::Approx(1.0).epsilon(1e-5));
    for (double m : r.head_mass) CHECK(m == doctest::Approx(double(Q)).epsilon(1e-5));
    // received sums to Q (each query distributes mass 1), averaged over heads
    double tot = 0;
    for (double x : r.received) tot += x;
    CHECK(tot == doctest::Approx(double(Q)).epsilon(1e-5));
  }
}

TEST_CASE("attention: without a sink, all_queries flags nothing; visible_queries normalization is per key") {
  const std::int64_t H = 2, Q = 32, K = 32;
  auto p = causal_probs(H, Q, K, 0.0, 2, 0);
  const auto r = find_attention_sinks(view(p.data(), {H, Q, K}));
  // causal uniform-ish attention: key 0 receives sum_q 1/(q+1) ~ ln(32) + 0.58 ~ 4.0 > 0.1 x 32 = 3.2.
  // This is the bias of the all_queries rule towards early keys, shown as a fact:
  CHECK(r.received[0] > 0.1 * Q);
  attention_sink_options o;
  o.normalization = sink_normalization::visible_queries;
  o.outlier_ratio = 0.5;  // a key must get half of what its visible queries give
  const auto rv = find_attention_sinks(view(p.data(), {H, Q, K}), -1, o);
  // the last key is seen by 1 query, with mass ~1/32: below 0.5
  for (auto k : rv.outlier_tokens) CHECK(k < K - 1);
}

TEST_CASE("attention: streaming query blocks and column sums equal the full form") {
  const std::int64_t H = 3, Q = 40, K = 48;
  auto p = causal_probs(H, Q, K, 5.0, 3, 3);
  auto full_v = view(p.data(), {H, Q, K});
  for (auto impl : {backend::best, backend::reference}) {
    attention_sink_options o;
    o.impl = impl;
    const auto full = find_attention_sinks(full_v, 1, o);
    attention_sink_accumulator acc(H, K, o, 1);
    std::int64_t q0 = 0;
    for (std::int64_t len : {1, 7, 16, 16}) {
      acc.add_queries(full_v.slice(1, q0, q0 + len));
      q0 += len;
    }
    REQUIRE(q0 == Q);
    const auto st = acc.finish();
    CHECK(st.received == full.received);  // same additions in the same order: bit-equal
    CHECK(st.outlier_tokens == full.outlier_tokens);
    CHECK(st.sink_ratio == full.sink_ratio);
    CHECK(st.first_token_mass == full.first_token_mass);
    CHECK(st.off_mass_rows == full.off_mass_rows);

    // Column sums as a fused kernel would produce them (f32), in two query halves.
    attention_sink_accumulator acc2(H, K, o, 1);
    for (std::int64_t half = 0; half < 2; ++half) {
      std::vector<float> cs(static_cast<std::size_t>(H * K), 0.0f);
      for (std::int64_t h = 0; h < H; ++h)
        for (std::int64_t q = half * Q / 2; q < (half + 1) * Q / 2; ++q)
          for (std::int64_t k = 0; k < K; ++k) cs[std::size_t(h * K + k)] += p[std::size_t((h * Q + q) * K + k)];
      acc2.add_column_sums(view(cs.data(), {H, K}), Q / 2);
    }
    const auto cr = acc2.finish();
    CHECK(cr.queries == Q);
    CHECK(cr.outlier_tokens == full.outlier_tokens);
    for (std::int64_t k = 0; k < K; ++k)
      CHECK(cr.received[std::size_t(k)] == doctest::Approx(full.received[std::size_t(k)]).epsilon(1e-5));
    CHECK(cr.sink_eps_fraction == full.sink_eps_fraction);
    CHECK(cr.off_mass_rows == -1);  // unknown from column sums
    CHECK(std::isnan(cr.min_row_mass));
  }
}

TEST_CASE("attention: f16/bf16 and strided (key-major) probabilities give the f32 result") {
  const std::int64_t H = 2, Q = 24, K = 24;
  auto p = causal_probs(H, Q, K, 6.0, 4, 2);
  const auto ref = find_attention_sinks(view(p.data(), {H, Q, K}));
  std::vector<f16> ph(p.size());
  std::vector<bf16> pb(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    ph[i] = to_f16(p[i]);
    pb[i] = to_bf16(p[i]);
  }
  const auto rh = find_attention_sinks(view(ph.data(), {H, Q, K}));
  const auto rb = find_attention_sinks(view(pb.data(), {H, Q, K}));
  CHECK(rh.outlier_tokens == ref.outlier_tokens);
  CHECK(rb.outlier_tokens == ref.outlier_tokens);
  CHECK(rh.received[0] == doctest::Approx(ref.received[0]).epsilon(1e-3));  // f16 rounding: 2^-11 per entry
  CHECK(rb.received[0] == doctest::Approx(ref.received[0]).epsilon(1e-2));  // bf16: 2^-8
  // [H, K, Q] storage viewed as [H, Q, K] through a transpose
  std::vector<float> t(p.size());
  for (std::int64_t h = 0; h < H; ++h)
    for (std::int64_t q = 0; q < Q; ++q)
      for (std::int64_t k = 0; k < K; ++k) t[std::size_t((h * K + k) * Q + q)] = p[std::size_t((h * Q + q) * K + k)];
  const auto rt = find_attention_sinks(view(t.data(), {H, K, Q}).transpose(1, 2));
  CHECK(rt.received == ref.received);
}

TEST_CASE("attention: mass that does not sum to 1 is reported, not an error; NaN rows counted") {
  const std::int64_t H = 1, Q = 8, K = 8;
  auto p = causal_probs(H, Q, K, 3.0, 5, 1);
  for (std::int64_t k = 0; k < K; ++k) p[std::size_t(2 * K + k)] *= 0.8f;  // a learned sink took 20%
  p[std::size_t(5 * K + 1)] = std::nanf("");
  const auto r = find_attention_sinks(view(p.data(), {H, Q, K}));
  CHECK(r.off_mass_rows == 1);
  CHECK(r.nonfinite_rows == 1);
  CHECK(r.min_row_mass == doctest::Approx(0.8).epsilon(1e-6));
  CHECK(r.max_row_mass == doctest::Approx(1.0).epsilon(1e-6));
}

TEST_CASE("attention: value norms of sink tokens vs the rest, both V layouts") {
  const std::int64_t H = 2, Q = 16, K = 16, KVH = 2, d = 4;
  auto p = causal_probs(H, Q, K, 8.0, 6, 2);
  std::vector<float> v(static_cast<std::size_t>(K * KVH * d), 1.0f);  // [tokens, kv_heads*d], norm 2 per head
  for (std::int64_t j = 0; j < KVH * d; ++j) v[std::size_t(j)] = 0.1f;  // sink token 0: norm 0.2
  attention_sink_options o;
  o.value_heads = KVH;
  const auto r = find_attention_sinks(view(p.data(), {H, Q, K}), 0, o, view(v.data(), {K, KVH * d}));
  REQUIRE(r.has_value_norms);
  CHECK(r.outlier_tokens == std::vector<std::int64_t>{0});
  CHECK(r.sink_value_norm == doctest::Approx(0.2));
  CHECK(r.other_value_norm == doctest::Approx(2.0));
  // [kv_heads, tokens, d]
  std::vector<float> v3(v.size());
  for (std::int64_t t = 0; t < K; ++t)
    for (std::int64_t h = 0; h < KVH; ++h)
      for (std::int64_t j = 0; j < d; ++j) v3[std::size_t((h * K + t) * d + j)] = v[std::size_t(t * KVH * d + h * d + j)];
  const auto r3 = find_attention_sinks(view(p.data(), {H, Q, K}), 0, o, view(v3.data(), {KVH, K, d}));
  CHECK(r3.value_norm == r.value_norm);
  o.value_heads = 3;
  CHECK_THROWS_WITH_AS(find_attention_sinks(view(p.data(), {H, Q, K}), 0, o, view(v.data(), {K, KVH * d})),
                       doctest::Contains("[16, 8]"), sysout::error);
}

TEST_CASE("attention: bad shapes name the shape") {
  std::vector<float> p(64, 0.0f);
  CHECK_THROWS_WITH_AS(find_attention_sinks(view(p.data(), {8, 8})), doctest::Contains("[8, 8]"), sysout::error);
  attention_sink_accumulator acc(2, 8);
  CHECK_THROWS_WITH_AS(acc.add_queries(view(p.data(), {4, 2, 8})), doctest::Contains("[4, 2, 8]"), sysout::error);
  CHECK_THROWS_WITH_AS(acc.add_column_sums(view(p.data(), {2, 4}), 3), doctest::Contains("[2, 4]"), sysout::error);
  // empty: zero queries
  const auto r = find_attention_sinks(view(p.data(), {2, 0, 8}));
  CHECK(r.outlier_tokens.empty());
  CHECK(r.sink_eps_fraction == 0.0);
}

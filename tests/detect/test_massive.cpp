#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "detect_test_util.hpp"
#include "sysout/detect/massive_activations.hpp"

using namespace sysout;
using namespace sysout::detect;
using sysout::testing::make_layout;

namespace {
const dtype float_types[] = {dtype::f32, dtype::f64, dtype::f16, dtype::bf16};

std::set<std::pair<std::int64_t, std::int64_t>> positions(const massive_activation_report& r) {
  std::set<std::pair<std::int64_t, std::int64_t>> s;
  for (const auto& o : r.outliers) s.insert({o.token, o.dim});
  return s;
}

void check_reports_equal(const massive_activation_report& a, const massive_activation_report& b) {
  REQUIRE(a.outliers.size() == b.outliers.size());
  for (std::size_t i = 0; i < a.outliers.size(); ++i) {
    CHECK(a.outliers[i].token == b.outliers[i].token);
    CHECK(a.outliers[i].dim == b.outliers[i].dim);
    CHECK(a.outliers[i].value == b.outliers[i].value);
  }
  CHECK(a.stats.median_abs == b.stats.median_abs);
  CHECK(a.stats.max_abs == b.stats.max_abs);
  CHECK(a.stats.nan_count == b.stats.nan_count);
  CHECK(a.stats.inf_count == b.stats.inf_count);
  CHECK(a.stats.over_f16_count == b.stats.over_f16_count);
  // f32 lane sums per 2 KiB chunk vs one double sum: 1e-5 relative is far above
  // the f32 rounding of a 2048-term sum (~2048 * 2^-24 = 1.2e-4 worst case, ~1e-6 typical)
  CHECK(a.stats.mean_abs == doctest::Approx(b.stats.mean_abs).epsilon(1e-4));
  REQUIRE(a.top.size() == b.top.size());
  for (std::size_t i = 0; i < a.top.size(); ++i) {
    CHECK(a.top[i].token == b.top[i].token);
    CHECK(a.top[i].dim == b.top[i].dim);
  }
  CHECK(a.massive_dims == b.massive_dims);
  CHECK(a.massive_tokens == b.massive_tokens);
}
}  // namespace

TEST_CASE("massive: planted outliers are found exactly in every dtype and layout, none invented") {
  struct planted {
    std::int64_t t, d;
    double v;
  };
  for (auto shape : {std::pair<std::int64_t, std::int64_t>{64, 96}, {300, 700}}) {
    const auto [T, D] = shape;
    const std::vector<planted> plant = {{0, 5, 3000.0}, {0, 77, -2500.0}, {T / 2, 5, 4096.0}, {T - 1, D - 1, -8192.0}};
    for (dtype t : float_types) {
      for (int which = 0; which < 4; ++which) {
        auto c = make_layout(t, T, D, which);
        CAPTURE(dtype_name(t));
        CAPTURE(c.name);
        CAPTURE(T);
        sysout::testing::fill_normal(c.v, 42);
        // Near-misses that must NOT be reported: above 100 but below 1000 x median (~674).
        c.v.set(150.0, 1, 1);
        c.v.set(-600.0, 2, 3);
        for (const auto& p : plant) c.v.set(p.v, p.t, p.d);
        const auto r = find_massive_activations(c.v, 3, "layer_out");
        std::set<std::pair<std::int64_t, std::int64_t>> want;
        for (const auto& p : plant) want.insert({p.t, p.d});
        CHECK(positions(r) == want);
        for (const auto& o : r.outliers) {
          CHECK(o.layer == 3);
          CHECK(o.site == "layer_out");
          CHECK(o.value == c.v.get(o.token, o.dim));
        }
        CHECK(r.massive_dims == std::vector<std::int64_t>{5, 77, D - 1});
        CHECK(r.massive_tokens == std::vector<std::int64_t>{0, T / 2, T - 1});
        CHECK(r.stats.median_abs > 0.5);
        CHECK(r.stats.median_abs < 0.85);  // median |N(0,1)| = 0.674
        CHECK(r.threshold == doctest::Approx(1000 * r.stats.median_abs));
        // top-k: the planted ones lead, by magnitude
        REQUIRE(r.top.size() == 10);
        CHECK(r.top[0].token == T - 1);
        CHECK(r.top[0].dim == D - 1);
        CHECK(r.top[1].token == T / 2);
        CHECK(r.top[4].value == -600.0);  // the near-miss is 5th by magnitude
        check_reports_equal(r, find_massive_activations(c.v, 3, "layer_out", {.impl = backend::reference}));
      }
    }
  }
}

TEST_CASE("massive: mean reference and configurable thresholds") {
  auto c = make_layout(dtype::f32, 32, 32, 0);
  sysout::testing::fill_normal(c.v, 7);
  c.v.set(50.0, 3, 4);
  massive_options o;
  o.threshold_abs = 20;
  o.ratio = 10;
  o.reference = reference_stat::mean;
  const auto r = find_massive_activations(c.v, 0, "down_proj_in", o);
  CHECK(r.reference_value == doctest::Approx(r.stats.mean_abs));
  REQUIRE(r.outliers.size() == 1);
  CHECK(r.outliers[0].token == 3);
  CHECK(r.outliers[0].dim == 4);
  o.threshold_abs = 60;  // AND rule: the absolute test now fails
  CHECK_FALSE(find_massive_activations(c.v, 0, "down_proj_in", o).found());
}

TEST_CASE("massive: edge cases") {
  for (auto impl : {backend::best, backend::reference}) {
    CAPTURE(int(impl));
    massive_options o;
    o.impl = impl;
    SUBCASE("one token") {
      std::vector<float> a(64, 0.5f);
      a[9] = 900.0f;
      const auto r = find_massive_activations(view(a.data(), {1, 64}), 0, "layer_out", o);
      REQUIRE(r.outliers.size() == 1);
      CHECK(r.outliers[0].dim == 9);
      CHECK(r.stats.median_abs == 0.5);
    }
    SUBCASE("all equal") {
      std::vector<float> a(100000, 200.0f);
      const auto r = find_massive_activations(view(a.data(), {1000, 100}), 0, "layer_out", o);
      CHECK_FALSE(r.found());
      CHECK(r.stats.median_abs == 200.0);
      CHECK(r.threshold == 200000.0);
    }
    SUBCASE("all zeros: median 0, only the absolute threshold decides") {
      std::vector<float> a(70000, 0.0f);
      auto v = view(a.data(), {700, 100});
      CHECK_FALSE(find_massive_activations(v, 0, "layer_out", o).found());
      a[123] = 150.0f;
      a[124] = 99.0f;
      const auto r = find_massive_activations(v, 0, "layer_out", o);
      CHECK(r.stats.median_abs == 0.0);
      CHECK(r.threshold == 100.0);
      REQUIRE(r.outliers.size() == 1);
      CHECK(r.outliers[0].token == 1);
      CHECK(r.outliers[0].dim == 23);
    }
    SUBCASE("NaN counted, never an outlier; Inf is an outlier and counted; values beyond fp16") {
      std::vector<float> a(20000, 1.0f);
      a[5] = std::numeric_limits<float>::quiet_NaN();
      a[6] = -std::numeric_limits<float>::quiet_NaN();
      a[10] = std::numeric_limits<float>::infinity();
      a[11] = 70000.0f;
      a[12] = -65504.0f;  // exactly fp16 max: not beyond
      a[19999] = 2000.0f;
      const auto r = find_massive_activations(view(a.data(), {200, 100}), 0, "layer_out", o);
      CHECK(r.stats.nan_count == 2);
      CHECK(r.stats.inf_count == 1);
      CHECK(r.stats.over_f16_count == 1);
      CHECK(r.stats.count == 20000);
      CHECK(r.stats.median_abs == 1.0);
      CHECK(std::isinf(r.stats.max_abs));
      CHECK(r.stats.mean_abs == doctest::Approx((19994.0 + 70000 + 65504 + 2000) / 19997.0));
      REQUIRE(r.outliers.size() == 4);
      CHECK(r.outliers[0].dim == 10);
      CHECK(std::isinf(r.outliers[0].value));
      CHECK(r.outliers[1].dim == 11);
      CHECK(r.outliers[2].value == -65504.0);
      CHECK(r.outliers[3].token == 199);
      const std::string js = to_json_string(r);
      CHECK(js.find("\"value\":null") != std::string::npos);  // Inf as null by default
    }
    SUBCASE("huge values in f16 storage become Inf and are reported") {
      std::vector<f16> a(4096, to_f16(1.0f));
      a[7] = to_f16(1e6f);  // overflows to +Inf in f16
      const auto r = find_massive_activations(view(a.data(), {64, 64}), 0, "layer_out", o);
      CHECK(r.stats.inf_count == 1);
      REQUIRE(r.outliers.size() == 1);
      CHECK(std::isinf(r.outliers[0].value));
    }
    SUBCASE("empty tensor") {
      std::vector<float> a;
      const auto r = find_massive_activations(view(a.data(), {0, 576}), 0, "layer_out", o);
      CHECK_FALSE(r.found());
      CHECK(r.stats.count == 0);
      CHECK(r.stats.median_abs == 0.0);
      CHECK(r.top.empty());
    }
    SUBCASE("more outliers than the candidate cap still exact") {
      std::vector<float> a(200000, 0.0f);
      for (std::size_t i = 0; i < a.size(); i += 2) a[i] = 500.0f;  // median 0 (ties at 0 and 500 -> mean 250)
      const auto r = find_massive_activations(view(a.data(), {2000, 100}), 0, "layer_out", o);
      CHECK(r.stats.median_abs == 250.0);
      CHECK_FALSE(r.found());  // 1000 x 250 > 500
      massive_options o2 = o;
      o2.ratio = 1.0;
      const auto r2 = find_massive_activations(view(a.data(), {2000, 100}), 0, "layer_out", o2);
      CHECK(r2.outliers.size() == 100000);
      CHECK(r2.massive_dims.size() == 50);
      o2.candidate_cap = 1000;  // forces the second (exact) pass
      const auto r3 = find_massive_activations(view(a.data(), {2000, 100}), 0, "layer_out", o2);
      CHECK(r3.outliers.size() == 100000);
      CHECK(r3.outliers.back().token == 1999);
      CHECK(r3.outliers.back().dim == 98);
    }
  }
}

TEST_CASE("massive: bad shapes and options give errors naming the shape") {
  std::vector<float> a(24, 1.0f);
  CHECK_THROWS_WITH_AS(find_massive_activations(view(a.data(), {24}, layout::row_major, "h"), 0, "layer_out"),
                       doctest::Contains("[24]"), sysout::error);
  CHECK_THROWS_WITH_AS(find_massive_activations(view(a.data(), {2, 3, 4}), 1, "layer_out"),
                       doctest::Contains("[2, 3, 4]"), sysout::error);
  std::vector<std::int32_t> ints(6);
  CHECK_THROWS_AS(find_massive_activations(view(ints.data(), {2, 3}), 0, "layer_out"), sysout::error);
  massive_options bad;
  bad.ratio = -1;
  CHECK_THROWS_AS(find_massive_activations(view(a.data(), {4, 6}), 0, "layer_out", bad), sysout::error);
}

TEST_CASE("stats: large inputs (recursive bracket selection) equal the reference; NaN-heavy data") {
  std::mt19937 rng(11);
  std::normal_distribution<double> nd(0, 1);
  for (int kind = 0; kind < 4; ++kind) {
    const std::int64_t n = 600001;
    std::vector<float> a(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      double x = nd(rng);
      if (kind == 1) x = double(i % 7);                            // ties everywhere
      if (kind == 2) x = i % 2 ? x : std::nan("");                 // half NaN: chunks go the scalar way
      if (kind == 3) x = double(n - i) * 1e-3 + (i == 5 ? 1e9 : 0);  // sorted input + one huge value
      a[std::size_t(i)] = float(x);
    }
    CAPTURE(kind);
    const auto v = view(a.data(), {n});
    const auto f = magnitude_statistics(v), r = magnitude_statistics(v, backend::reference);
    CHECK(f.median_abs == r.median_abs);
    CHECK(f.nan_count == r.nan_count);
    CHECK(f.over_f16_count == r.over_f16_count);
    CHECK(f.max_abs == r.max_abs);
    const auto tf = top_magnitudes(v, 20), tr = top_magnitudes(v, 20, backend::reference);
    REQUIRE(tf.size() == tr.size());
    for (std::size_t i = 0; i < tf.size(); ++i) CHECK(tf[i].index == tr[i].index);
  }
}

TEST_CASE("stats: fast path equals reference across sizes, dtypes, ties and bimodal data") {
  std::mt19937 rng(3);
  std::normal_distribution<double> nd(0, 1);
  for (std::int64_t n : {1, 2, 3, 15, 16, 17, 31, 33, 2047, 2048, 2049, 65536, 65537, 150001}) {
    for (dtype t : float_types) {
      for (int kind = 0; kind < 3; ++kind) {
        auto c = make_layout(t, 1, n, 0);
        for (std::int64_t i = 0; i < n; ++i) {
          double x = nd(rng);
          if (kind == 1) x = (i % 3 == 0) ? 0.0 : 2.0;           // many ties
          if (kind == 2) x = (i < n / 2) ? 1e-3 * x : 1e3 * x;  // bimodal: median at the gap
          c.v.set(x, 0, i);
        }
        CAPTURE(n);
        CAPTURE(dtype_name(t));
        CAPTURE(kind);
        const auto a = magnitude_statistics(c.v), b = magnitude_statistics(c.v, backend::reference);
        CHECK(a.median_abs == b.median_abs);
        CHECK(a.max_abs == b.max_abs);
        CHECK(a.mean_abs == doctest::Approx(b.mean_abs).epsilon(1e-4));
        CHECK(a.nan_count == b.nan_count);
        const auto ta = top_magnitudes(c.v, 5), tb = top_magnitudes(c.v, 5, backend::reference);
        REQUIRE(ta.size() == tb.size());
        for (std::size_t i = 0; i < ta.size(); ++i) CHECK(ta[i].index == tb[i].index);
      }
    }
  }
}

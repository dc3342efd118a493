// The vectorized detector paths against their scalar references on inputs
// built to reach the corners of the kernels: lengths that are not a multiple
// of the vector width (tails of 1..lanes-1 values), special values inside a
// vector tail, f16 Inf, bf16 values just below and beyond 65504, -0, and every
// layout (contiguous rows use the direct kernels, the others gather first).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <random>
#include <vector>

#include "detect_test_util.hpp"
#include "sysout/detect/attention_sinks.hpp"
#include "sysout/detect/massive_activations.hpp"
#include "sysout/detect/weight_outliers.hpp"

using namespace sysout;
using namespace sysout::detect;
using sysout::testing::make_layout;

namespace {
constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_v = std::numeric_limits<double>::infinity();
const dtype fast_types[] = {dtype::f32, dtype::f16, dtype::bf16};

// Fills a [rows, cols] view with N(0, 1) and plants specials at the ends of
// rows (the vector tails of contiguous rows) and in the middle.
void fill_with_specials(const tensor_view& v, std::uint32_t seed, bool specials) {
  sysout::testing::fill_normal(v, seed);
  const std::int64_t R = v.shape()[0], C = v.shape()[1];
  v.set(-0.0, 0, 0);
  v.set(500.0, R / 2, C / 3);  // a massive activation
  v.set(-250.0, R - 1, C - 1);
  if (!specials) return;
  v.set(nan_v, 1 % R, C - 1);           // NaN as the last value of a row (tail)
  v.set(-inf_v, (2 % R), C / 2);        // Inf mid-row
  v.set(65504.0, 3 % R, 0);             // exactly f16 max: not beyond (bf16 rounds it to 65536: beyond)
  v.set(-70000.0, 4 % R, C - 2);        // beyond fp16 (f16 storage: Inf)
  v.set(65280.0, 5 % R, std::min<std::int64_t>(7, C - 1));  // largest bf16 below 65504
  v.set(nan_v, R - 1, C - 2);           // NaN in the last vector of the tensor
}

void check_stats_equal(const magnitude_stats& a, const magnitude_stats& b) {
  CHECK(a.count == b.count);
  CHECK(a.nan_count == b.nan_count);
  CHECK(a.inf_count == b.inf_count);
  CHECK(a.over_f16_count == b.over_f16_count);
  CHECK(a.max_abs == b.max_abs);
  CHECK(a.median_abs == b.median_abs);
  CHECK(a.mean_abs == doctest::Approx(b.mean_abs).epsilon(1e-4));
}
}  // namespace

TEST_CASE("fast paths: massive activations equal the reference for odd shapes, specials, every dtype and layout") {
  // 70 x 1001 = 70070 values: above the 65536 where the sampled median bracket
  // starts; 1001 = 62 * 16 + 9 leaves a tail after every row's last vector.
  const std::pair<std::int64_t, std::int64_t> shapes[] = {{3, 5}, {7, 33}, {70, 1001}, {129, 517}};
  for (auto [R, C] : shapes)
    for (dtype t : fast_types)
      for (int layout = 0; layout < 4; ++layout)
        for (bool specials : {false, true}) {
          auto c = make_layout(t, R, C, layout);
          fill_with_specials(c.v, std::uint32_t(R * 7 + C), specials);
          CAPTURE(R);
          CAPTURE(C);
          CAPTURE(dtype_name(t));
          CAPTURE(c.name);
          CAPTURE(specials);
          massive_options ref;
          ref.impl = backend::reference;
          const auto a = find_massive_activations(c.v, 0, "layer_out");
          const auto b = find_massive_activations(c.v, 0, "layer_out", ref);
          check_stats_equal(a.stats, b.stats);
          REQUIRE(a.outliers.size() == b.outliers.size());
          for (std::size_t i = 0; i < a.outliers.size(); ++i) {
            CHECK(a.outliers[i].token == b.outliers[i].token);
            CHECK(a.outliers[i].dim == b.outliers[i].dim);
            CHECK(a.outliers[i].value == b.outliers[i].value);
          }
          REQUIRE(a.top.size() == b.top.size());
          for (std::size_t i = 0; i < a.top.size(); ++i) {
            CHECK(a.top[i].token == b.top[i].token);
            CHECK(a.top[i].dim == b.top[i].dim);
          }
        }
}

TEST_CASE("fast paths: fp16-overflow and Inf counts per dtype, in vector tails") {
  // One row of 37 values (2 vectors of 16 f32 + a tail of 5; 1 vector of 32
  // 16-bit patterns + 5): the specials sit in the tail and in the vectors.
  for (dtype t : fast_types) {
    CAPTURE(dtype_name(t));
    auto c = make_layout(t, 1, 37, 0);
    for (std::int64_t i = 0; i < 37; ++i) c.v.set(1.0 + 0.01 * double(i), 0, i);
    c.v.set(65504.0, 0, 3);    // f32/f16: exactly f16 max; bf16 stores 65536: beyond
    c.v.set(65280.0, 0, 20);   // below 65504 in every dtype
    c.v.set(-66000.0, 0, 35);  // f32: beyond; f16: Inf; bf16: 66048, beyond
    c.v.set(nan_v, 0, 36);
    const auto s = magnitude_statistics(c.v);
    check_stats_equal(s, magnitude_statistics(c.v, backend::reference));
    CHECK(s.nan_count == 1);
    if (t == dtype::f32) {
      CHECK(s.over_f16_count == 1);
      CHECK(s.inf_count == 0);
    } else if (t == dtype::f16) {
      CHECK(s.over_f16_count == 0);
      CHECK(s.inf_count == 1);
    } else {
      CHECK(s.over_f16_count == 2);
      CHECK(s.inf_count == 0);
    }
  }
}

TEST_CASE("fast paths: large f16/bf16 tensors (bracketed median) equal the reference") {
  std::mt19937 rng(5);
  std::normal_distribution<double> nd(0, 1);
  for (dtype t : {dtype::f16, dtype::bf16}) {
    for (int kind = 0; kind < 3; ++kind) {
      const std::int64_t n = 300007;
      auto c = make_layout(t, 1, n, 0);
      for (std::int64_t i = 0; i < n; ++i) {
        double x = nd(rng);
        if (kind == 1) x = double(i % 5) * 0.25;                   // ties
        if (kind == 2) x = (i < n / 2) ? 1e-3 * x : 3e3 * x;        // bimodal; bf16 values beyond fp16
        c.v.set(x, 0, i);
      }
      CAPTURE(dtype_name(t));
      CAPTURE(kind);
      check_stats_equal(magnitude_statistics(c.v), magnitude_statistics(c.v, backend::reference));
      const auto ta = top_magnitudes(c.v, 12), tb = top_magnitudes(c.v, 12, backend::reference);
      REQUIRE(ta.size() == tb.size());
      for (std::size_t i = 0; i < ta.size(); ++i) CHECK(ta[i].index == tb[i].index);
    }
  }
}

TEST_CASE("fast paths: rows of very different scales (the sampled bracket misses the median) equal the reference") {
  // The sample is 256 runs of 16 neighbours, each inside one row: with row
  // scales spread over e^-3..e^3 the sample median wanders more than its
  // bracket allows, as on SmolLM2's layer-4 down_proj input, and the detector
  // re-brackets on the side of the median. NaN and Inf rows take the exact
  // redo of a chunk in both passes.
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(-3, 3);
  std::normal_distribution<double> nd(0, 1);
  for (dtype t : fast_types) {
    for (int seed = 0; seed < 8; ++seed) {
      const std::int64_t R = 256, C = 1536;
      auto c = make_layout(t, R, C, 0);
      for (std::int64_t r = 0; r < R; ++r) {
        const double scale = std::exp(u(rng)) * (seed % 2 ? 1.0 : 0.01);
        for (std::int64_t j = 0; j < C; ++j) c.v.set(scale * nd(rng), r, j);
      }
      if (seed >= 6) c.v.set(nan_v, 7, 9), c.v.set(inf_v, 100, 3);
      CAPTURE(dtype_name(t));
      CAPTURE(seed);
      check_stats_equal(magnitude_statistics(c.v), magnitude_statistics(c.v, backend::reference));
    }
  }
}

TEST_CASE("fast paths: weight outliers equal the reference with NaN/Inf rows, odd widths, every dtype and layout") {
  for (auto [R, C] : {std::pair<std::int64_t, std::int64_t>{9, 37}, {40, 1001}, {300, 64}})
    for (dtype t : fast_types)
      for (int layout = 0; layout < 4; ++layout)
        for (bool specials : {false, true}) {
          auto c = make_layout(t, R, C, layout);
          sysout::testing::fill_normal(c.v, std::uint32_t(R + C), 0.02);
          c.v.set(0.9, R / 2, C / 3);
          if (specials) {
            c.v.set(nan_v, 0, C - 1);
            c.v.set(inf_v, R - 1, 0);
            c.v.set(-inf_v, R / 2, C - 1);
          }
          CAPTURE(R);
          CAPTURE(C);
          CAPTURE(dtype_name(t));
          CAPTURE(c.name);
          CAPTURE(specials);
          weight_outlier_options ro;
          ro.impl = backend::reference;
          const auto a = find_weight_outliers(c.v), b = find_weight_outliers(c.v, ro);
          CHECK(a.nan_count == b.nan_count);
          CHECK(a.inf_count == b.inf_count);
          for (const auto* pr : {&a.input, &a.output}) {
            const auto& q = pr == &a.input ? b.input : b.output;
            REQUIRE(pr->max_abs.size() == q.max_abs.size());
            for (std::size_t i = 0; i < q.max_abs.size(); ++i) {
              CHECK(pr->max_abs[i] == q.max_abs[i]);
              CHECK(pr->mean_abs[i] == doctest::Approx(q.mean_abs[i]).epsilon(1e-5));
            }
            CHECK(pr->ranking.front() == q.ranking.front());
          }
          REQUIRE(a.top.size() == b.top.size());
          for (std::size_t i = 0; i < a.top.size(); ++i) {
            CHECK(a.top[i].row == b.top[i].row);
            CHECK(a.top[i].col == b.top[i].col);
            CHECK(a.top[i].value == b.top[i].value);
          }
        }
}

TEST_CASE("fast paths: attention rows in f16/bf16 with key counts off the vector width equal the reference") {
  for (std::int64_t K : {1, 15, 37, 100}) {
    const std::int64_t H = 3, Q = 5;
    std::mt19937 rng{std::uint32_t(K)};
    std::uniform_real_distribution<double> u(0, 1);
    for (dtype t : fast_types) {
      std::vector<unsigned char> buf(std::size_t(H * Q * K) * dtype_size(t));
      const tensor_view p(static_cast<void*>(buf.data()), t, extents{H, Q, K});
      for (std::int64_t h = 0; h < H; ++h)
        for (std::int64_t q = 0; q < Q; ++q)
          for (std::int64_t k = 0; k < K; ++k) p.set(u(rng) / double(K), h, q, k);
      p.set(nan_v, 1, 2, K - 1);  // a non-finite row, NaN in the tail
      CAPTURE(K);
      CAPTURE(dtype_name(t));
      attention_sink_options ro;
      ro.impl = backend::reference;
      const auto a = find_attention_sinks(p), b = find_attention_sinks(p, -1, ro);
      CHECK(a.nonfinite_rows == b.nonfinite_rows);
      CHECK(a.off_mass_rows == b.off_mass_rows);
      CHECK(a.outlier_tokens == b.outlier_tokens);
      for (std::int64_t k = 0; k < K - 1; ++k)
        CHECK(a.received[std::size_t(k)] == doctest::Approx(b.received[std::size_t(k)]).epsilon(1e-6));
      CHECK(std::isnan(a.received[std::size_t(K - 1)]));
    }
  }
}

TEST_CASE("fast paths: even-sized f16/bf16 tensors whose two middle values differ; subnormal-heavy bf16 sums") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  for (dtype t : {dtype::f16, dtype::bf16}) {
    // Lower half in [0.5, 1), upper half in [2, 4): the median averages the
    // largest of one and the smallest of the other (two separate selections).
    const std::int64_t n = 2 * 70001;
    auto c = make_layout(t, 1, n, 0);
    for (std::int64_t i = 0; i < n; ++i) c.v.set(i % 2 ? 2.0 + 2.0 * u(rng) : 0.5 + 0.5 * u(rng), 0, i);
    CAPTURE(dtype_name(t));
    const auto a = magnitude_statistics(c.v), b = magnitude_statistics(c.v, backend::reference);
    check_stats_equal(a, b);
    CHECK(a.median_abs > 1.0);
    CHECK(a.median_abs < 2.0);
  }
  // bf16 subnormals (below 2^-126) and tiny normals: the vectorized sum may
  // take subnormal inputs as 0, so such chunks must be summed exactly.
  for (int kind = 0; kind < 3; ++kind) {
    const std::int64_t n = 100003;
    auto c = make_layout(dtype::bf16, 1, n, 0);
    for (std::int64_t i = 0; i < n; ++i) {
      double x = (0.1 + u(rng)) * 1e-39;                   // subnormal
      if (kind == 1 && i % 1000 == 0) x = 2e-38;           // a few tiny normals among them
      if (kind == 2 && i % 2 == 0) x = (1 + u(rng)) * 1e-3;  // half ordinary values
      c.v.set(i % 3 ? x : -x, 0, i);
    }
    CAPTURE(kind);
    const auto a = magnitude_statistics(c.v), b = magnitude_statistics(c.v, backend::reference);
    check_stats_equal(a, b);
    CHECK(a.mean_abs > 0.0);
  }
}

TEST_CASE("fast paths: f16/bf16 attention streamed in odd query blocks equals the whole matrix bit for bit") {
  const std::int64_t H = 3, Q = 29, K = 53;  // K: a tail after the last vector of each row
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  for (dtype t : fast_types) {
    std::vector<unsigned char> buf(std::size_t(H * Q * K) * dtype_size(t));
    const tensor_view p(static_cast<void*>(buf.data()), t, extents{H, Q, K});
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t q = 0; q < Q; ++q)
        for (std::int64_t k = 0; k < K; ++k) p.set(u(rng) * (k == 0 ? 40.0 : 1.0) / double(K), h, q, k);
    CAPTURE(dtype_name(t));
    const auto whole = find_attention_sinks(p);
    attention_sink_accumulator acc(H, K);
    std::int64_t q0 = 0;
    for (std::int64_t len : {1, 5, 3, 13, 7}) {
      acc.add_queries(p.slice(1, q0, q0 + len));  // strided over queries: rows addressed through the strides
      q0 += len;
    }
    REQUIRE(q0 == Q);
    const auto st = acc.finish();
    CHECK(st.received == whole.received);
    CHECK(st.head_mass == whole.head_mass);
    CHECK(st.outlier_tokens == whole.outlier_tokens);
    attention_sink_options ro;
    ro.impl = backend::reference;
    const auto ref = find_attention_sinks(p, -1, ro);
    CHECK(whole.outlier_tokens == ref.outlier_tokens);
    for (std::int64_t k = 0; k < K; ++k)
      CHECK(whole.received[std::size_t(k)] == doctest::Approx(ref.received[std::size_t(k)]).epsilon(1e-6));
    for (std::int64_t h = 0; h < H; ++h)
      CHECK(whole.head_mass[std::size_t(h)] == doctest::Approx(ref.head_mass[std::size_t(h)]).epsilon(1e-6));
  }
}

TEST_CASE("fast paths: f16 sums at subnormals, near 65504 and mixed; NaN among the sampled 16-bit values") {
  // The f16 sum widens the patterns of |x| by an integer shift (values x 2^-112,
  // subnormal f32 for subnormal f16); the sample keeps NaN patterns and counts
  // them out. Contiguous rows (the direct sample) and padded rows (gathered).
  std::mt19937 rng(17);
  std::normal_distribution<double> nd(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  for (dtype t : {dtype::f16, dtype::bf16}) {
    for (int layout : {0, 2}) {
      for (int kind = 0; kind < 5; ++kind) {
        const std::int64_t R = 300, C = 1001;  // 300300 values: the sampled median bracket
        auto c = make_layout(t, R, C, layout);
        for (std::int64_t i = 0; i < R; ++i)
          for (std::int64_t j = 0; j < C; ++j) {
            double x = nd(rng);
            if (kind == 0) x = (0.01 + u(rng)) * 6e-5;                       // f16 subnormals
            if (kind == 1) x = (i + j) % 2 ? x : (0.01 + u(rng)) * 6e-5;     // half subnormal
            if (kind == 2) x = 60000.0 + 5504.0 * u(rng);                    // up to f16 max
            if (kind == 3) x = (i * C + j) % 10 < 3 ? nan_v : x;              // 30% NaN
            if (kind == 4) x = (i * C + j) % 10 < 7 ? nan_v : x;              // NaN the majority
            c.v.set((i * C + j) % 3 ? x : -x, i, j);
          }
        CAPTURE(dtype_name(t));
        CAPTURE(c.name);
        CAPTURE(kind);
        const auto a = find_massive_activations(c.v, 0, "layer_out");
        massive_options ro;
        ro.impl = backend::reference;
        const auto b = find_massive_activations(c.v, 0, "layer_out", ro);
        check_stats_equal(a.stats, b.stats);
        CHECK(a.stats.mean_abs == doctest::Approx(b.stats.mean_abs).epsilon(1e-5));  // f32 chunk sums
        CHECK(a.outliers.size() == b.outliers.size());
        REQUIRE(a.top.size() == b.top.size());
        for (std::size_t i = 0; i < a.top.size(); ++i) {
          CHECK(a.top[i].token == b.top[i].token);
          CHECK(a.top[i].dim == b.top[i].dim);
        }
      }
    }
  }
}

#ifdef SYSOUT_DETECT_HAVE_HIGHWAY
namespace {
template <class S>
void check_scan_at_least_16(const std::vector<std::uint16_t>& p, float thr) {
  std::vector<std::pair<std::size_t, float>> want, got;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const float a = std::fabs(S::scalar(p[i]));
    if (a >= thr) want.push_back({i, a});
  }
  simd::scan_at_least<S>(p.data(), p.size(), thr, [&](std::size_t i, float a) { got.push_back({i, a}); });
  CAPTURE(thr);
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].first == want[i].first);
    CHECK(got[i].second == want[i].second);
  }
}
}  // namespace

TEST_CASE("fast paths: 16-bit threshold scans equal a scalar scan at thresholds on, between and beyond the patterns") {
  // The scan compares patterns of |x| against the smallest pattern whose value
  // reaches the threshold; NaN (either sign) never passes, Inf always does.
  std::mt19937 rng(23);
  std::normal_distribution<double> nd(0, 1);
  std::uniform_int_distribution<int> e(-30, 20);
  for (bool bf : {false, true}) {
    CAPTURE(bf);
    const std::uint16_t inf_b = bf ? 0x7f80 : 0x7c00, max_b = bf ? 0x7f7f : 0x7bff;
    for (std::size_t n : {std::size_t(5), std::size_t(31), std::size_t(1037)}) {
      std::vector<std::uint16_t> p(n);
      for (auto& b : p) {
        const float x = float(nd(rng) * std::ldexp(1.0, e(rng)));
        b = bf ? f32_to_bf16(x) : f32_to_f16(x);
      }
      const std::uint16_t specials[] = {std::uint16_t(inf_b | 0x200), std::uint16_t(0x8000 | inf_b | 0x1), inf_b,
                                        std::uint16_t(0x8000 | inf_b), 0x0000, 0x8000, 0x0001, 0x8003, max_b,
                                        std::uint16_t(0x8000 | max_b)};
      for (std::size_t k = 0; k < std::size(specials); ++k) p[(k * 7 + 3) % n] = specials[k];
      p[n - 1] = std::uint16_t(inf_b | 0x40);  // NaN in the tail
      auto val = [&](std::uint16_t b) { return bf ? bf16_to_f32(b) : f16_to_f32(b); };
      const float some = std::fabs(val(p[n / 2]));
      const float thrs[] = {-1.0f, 0.0f, 1e-9f, val(0x0001), std::nextafter(val(0x0001), 1.0f), some,
                            std::nextafter(some, 0.0f), std::nextafter(some, 1e30f), 1.0f, 65504.0f, 65505.0f,
                            65520.0f, 1e5f, 3.3e38f, val(max_b), std::numeric_limits<float>::max(),
                            std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()};
      for (float thr : thrs) {
        if (bf)
          check_scan_at_least_16<simd::bf16_src>(p, thr);
        else
          check_scan_at_least_16<simd::f16_src>(p, thr);
      }
    }
  }
}

TEST_CASE("fast paths: counting selection (its count of <= answer), two-threshold counts and min_above equal sorting") {
  std::mt19937 rng(29);
  for (std::size_t n : {std::size_t(1), std::size_t(31), std::size_t(33), std::size_t(1000), std::size_t(5001)}) {
    for (int spread : {3, 300, 65536}) {  // many ties .. all distinct-ish
      std::uniform_int_distribution<int> d(0, spread - 1);
      std::vector<std::uint16_t> p(n);
      for (auto& v : p) v = std::uint16_t(spread == 65536 ? d(rng) : 1000 + d(rng));
      std::vector<std::uint16_t> s = p;
      std::sort(s.begin(), s.end());
      CAPTURE(n);
      CAPTURE(spread);
      for (std::size_t k : {std::size_t(0), n / 2, (n - 1) / 2, n - 1}) {
        for (bool interp : {false, true}) {
          std::size_t upto = 0;
          const std::uint16_t v = simd::select_u16(p.data(), n, k, 0, 0xffff, interp, 0, n, &upto);
          CAPTURE(k);
          CAPTURE(interp);
          CHECK(v == s[k]);
          CHECK(upto == std::size_t(std::upper_bound(s.begin(), s.end(), v) - s.begin()));
          // from a bracket [lo, hi] around the answer with the counts at its ends
          const std::uint16_t lo = s[k / 2], hi = s[std::min(n - 1, k + (n - k) / 2)];
          const std::size_t c_lo = std::size_t(std::lower_bound(s.begin(), s.end(), lo) - s.begin());
          const std::size_t c_hi = std::size_t(std::upper_bound(s.begin(), s.end(), hi) - s.begin());
          CHECK(simd::select_u16(p.data(), n, k, lo, hi, interp, c_lo, c_hi, &upto) == s[k]);
          CHECK(upto == std::size_t(std::upper_bound(s.begin(), s.end(), v) - s.begin()));
        }
        const std::uint16_t t = s[k];
        std::size_t c1 = 0, c2 = 0;
        simd::count_below2<std::uint16_t>(p.data(), n, t, std::uint16_t(t + 1), c1, c2);
        CHECK(c1 == std::size_t(std::lower_bound(s.begin(), s.end(), t) - s.begin()));
        CHECK(c2 == std::size_t(std::lower_bound(s.begin(), s.end(), std::uint16_t(t + 1)) - s.begin()));
        const auto above = std::upper_bound(s.begin(), s.end(), t);
        CHECK(simd::min_above_u16(p.data(), n, t) == (above == s.end() ? 0xffff : *above));
      }
    }
  }
}
#endif  // SYSOUT_DETECT_HAVE_HIGHWAY

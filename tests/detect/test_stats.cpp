#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "sysout/core.hpp"
#include "sysout/detect/stats.hpp"

using namespace sysout;
using namespace sysout::detect;

namespace {
void check_same(const magnitude_stats& a, const magnitude_stats& b) {
  CHECK(a.count == b.count);
  CHECK(a.nan_count == b.nan_count);
  CHECK(a.inf_count == b.inf_count);
  CHECK(a.over_f16_count == b.over_f16_count);
  CHECK(a.max_abs == b.max_abs);
  CHECK(a.median_abs == b.median_abs);  // exact: same order statistic
  // mean: f32 lane sums vs double sums; relative 1e-5 is ~100 ulp of f32 over chunks of 2048
  CHECK(a.mean_abs == doctest::Approx(b.mean_abs).epsilon(1e-5));
}
}  // namespace

TEST_CASE("stats: fast path equals reference on random f32 of many sizes") {
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (std::int64_t n : {0, 1, 2, 3, 15, 16, 17, 100, 4095, 4097, 65537, 300001}) {
    std::vector<float> a(static_cast<std::size_t>(n));
    for (auto& x : a) x = nd(rng);
    auto v = view(a.data(), {n});
    check_same(magnitude_statistics(v), magnitude_statistics(v, backend::reference));
  }
}

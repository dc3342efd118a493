#include <doctest/doctest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "sysout/core.hpp"

using namespace sysout;

TEST_CASE("row- and column-major raw views address the same logical element") {
  std::vector<float> a(6);
  std::iota(a.begin(), a.end(), 0.0f);
  auto r = view(a.data(), {2, 3});
  auto c = view(a.data(), {2, 3}, layout::col_major);
  CHECK(r.get(1, 2) == 5.0);
  CHECK(c.get(1, 2) == 5.0);  // col-major: offset 1 + 2*2
  CHECK(c.get(0, 1) == 2.0);
  CHECK(r.is_contiguous());
  CHECK_FALSE(c.is_contiguous());
  CHECK(c.transpose(0, 1).is_contiguous());
}

TEST_CASE("select, slice, reshape and strided iteration") {
  std::vector<double> a(24);
  std::iota(a.begin(), a.end(), 0.0);
  auto v = view(a.data(), {2, 3, 4});
  auto s = v.select(1, 2);  // [2, 4]
  CHECK(s.shape() == extents{2, 4});
  CHECK(s.get(1, 3) == 12 + 8 + 3);
  auto sl = v.slice(2, 1, 3);  // [2, 3, 2]
  CHECK(sl.get(1, 2, 1) == 12 + 8 + 2);
  std::vector<double> seen;
  for_each_offset(sl, [&](std::int64_t off) { seen.push_back(load_as_double(sl.ptr_at(off), sl.type())); });
  REQUIRE(seen.size() == 12);
  CHECK(seen[0] == 1);
  CHECK(seen[1] == 2);
  CHECK(seen[2] == 5);
  CHECK(v.reshape({6, 4}).get(5, 3) == 23);
  CHECK_THROWS_WITH_AS(sl.reshape({12}), doctest::Contains("non-contiguous"), error);
}

TEST_CASE("bad shapes, strides and indices give clear errors") {
  std::vector<float> a(4);
  CHECK_THROWS_WITH_AS(view(a.data(), {2, 2}, {1}), doctest::Contains("differ in rank"), error);
  CHECK_THROWS_WITH_AS(view(a.data(), {2, -1}), doctest::Contains("negative extent"), error);
  CHECK_THROWS_WITH_AS(view(a.data(), {2, 2}, {-1, 1}), doctest::Contains("negative stride"), error);
  CHECK_THROWS_WITH_AS(view<float>(nullptr, {2, 2}), doctest::Contains("null data"), error);
  auto v = view(a.data(), {2, 2}, layout::row_major, "hidden");
  CHECK_THROWS_WITH_AS(v.get(2, 0), doctest::Contains("tensor 'hidden': index 2 out of range on axis 0 of shape [2, 2]"), error);
  CHECK_THROWS_WITH_AS(v.reshape({3}), doctest::Contains("cannot reshape [2, 2] to [3]"), error);
  CHECK_THROWS_WITH_AS(v.data_as<double>(), doctest::Contains("dtype is f32"), error);
  CHECK_THROWS_WITH_AS(check_fits(view(a.data(), {2, 3}), 4), doctest::Contains("reaches element 5"), error);
  const float* ca = a.data();
  auto cv = view(ca, {4});
  CHECK_THROWS_WITH_AS(cv.set(1.0, 0), doctest::Contains("read-only"), error);
  CHECK_THROWS_AS(view(a.data(), {1, 1, 1, 1, 1, 1, 1}), error);
}

TEST_CASE("f16 and bf16 views read and write through exact conversion") {
  std::vector<f16> h(3);
  std::vector<bf16> b(3);
  auto hv = view(h.data(), {3});
  auto bv = view(b.data(), {3});
  hv.set(1.5, 0);
  hv.set(70000.0, 1);  // beyond f16 range -> inf
  bv.set(-3.25, 2);
  CHECK(hv.get(0) == 1.5);
  CHECK(std::isinf(hv.get(1)));
  CHECK(bv.get(2) == -3.25);
}

TEST_CASE("owning tensor copies any view") {
  std::vector<float> a{1, 2, 3, 4, 5, 6};
  auto c = view(a.data(), {2, 3}, layout::col_major);
  auto t = tensor<double>::from(c);
  CHECK(t(0, 1) == 3);
  CHECK(t(1, 0) == 2);
  CHECK(t.view().get(1, 2) == 6);
  CHECK_THROWS_AS(t(2, 0), error);
}

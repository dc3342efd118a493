// xtensor adapter on real xtensor objects: containers, adaptors over foreign
// buffers and strided views must alias xtensor's memory (no copy).
#include <doctest/doctest.h>

#include <numeric>
#include <vector>

#if __has_include(<xtensor/containers/xarray.hpp>)
#include <xtensor/containers/xadapt.hpp>
#include <xtensor/containers/xarray.hpp>
#include <xtensor/containers/xtensor.hpp>
#include <xtensor/views/xstrided_view.hpp>
#include <xtensor/views/xview.hpp>
#else
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xstrided_view.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>
#endif

#include "sysout/core.hpp"
#include "sysout/core/xtensor.hpp"

using namespace sysout;

TEST_CASE("xt::xtensor row-major: shared memory, xtensor's strides") {
  xt::xtensor<float, 3> a = xt::zeros<float>({2, 3, 4});
  std::iota(a.begin(), a.end(), 0.0f);
  auto v = sysout::view(a, "a");
  CHECK(v.type() == dtype::f32);
  CHECK(v.data() == a.data());
  CHECK(v.shape() == extents{2, 3, 4});
  CHECK(v.strides() == extents{12, 4, 1});
  CHECK(v.is_contiguous());
  CHECK(v.get(1, 2, 3) == 23.0);
  CHECK(v.ptr(1, 2, 3) == &a(1, 2, 3));
  v.set(-1.0, 0, 1, 2);
  CHECK(a(0, 1, 2) == -1.0f);
  a(1, 0, 0) = 77.0f;
  CHECK(v.get(1, 0, 0) == 77.0);
}

TEST_CASE("xt::xarray column-major and xt::xarray<double> row-major") {
  xt::xarray<double, xt::layout_type::column_major> c = xt::zeros<double>({3, 5});
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 5; ++j) c(i, j) = double(10 * i + j);
  auto v = sysout::view(c);
  CHECK(v.type() == dtype::f64);
  CHECK(v.strides() == extents{1, 3});
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 5; ++j) {
      CHECK(v.get(i, j) == c(i, j));
      CHECK(v.ptr(i, j) == &c(i, j));
    }

  xt::xarray<std::int64_t> r = {{1, 2, 3}, {4, 5, 6}};
  CHECK(sysout::view(r).type() == dtype::i64);
  CHECK(sysout::view(r).get(1, 1) == 5.0);
}

TEST_CASE("xt::adapt over a host buffer: no copy, writes visible in the buffer") {
  std::vector<float> buf(24);
  std::iota(buf.begin(), buf.end(), 0.0f);
  std::vector<std::size_t> shape = {4, 6};
  auto ad = xt::adapt(buf.data(), buf.size(), xt::no_ownership(), shape);
  auto v = sysout::view(ad);
  CHECK(v.data() == buf.data());
  CHECK(v.shape() == extents{4, 6});
  v.set(100.0, 3, 5);
  CHECK(buf[23] == 100.0f);

  auto adv = xt::adapt(buf, shape);  // adaptor over the std::vector itself
  CHECK(sysout::view(adv).data() == buf.data());

  const std::vector<float>& cbuf = buf;
  auto cad = xt::adapt(cbuf, shape);
  CHECK_FALSE(sysout::view(cad).writable());
}

TEST_CASE("xt::view with ranges and steps, xt::strided_view: strided alias") {
  xt::xtensor<float, 2> a = xt::zeros<float>({6, 8});
  std::iota(a.begin(), a.end(), 0.0f);
  auto sub = xt::view(a, xt::range(1, 5), xt::range(2, 8, 2));  // [4, 3]
  auto v = sysout::view(sub);
  CHECK(v.shape() == extents{4, 3});
  CHECK(v.strides() == extents{8, 2});
  CHECK(v.data() == &a(1, 2));
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 3; ++j) {
      CHECK(v.get(i, j) == sub(i, j));
      CHECK(v.ptr(i, j) == &sub(i, j));
    }
  v.set(-5.0, 3, 2);
  CHECK(a(4, 6) == -5.0f);

  auto row = xt::view(a, 2, xt::all());  // integer index drops an axis
  CHECK(sysout::view(row).rank() == 1);
  CHECK(sysout::view(row).data() == &a(2, 0));

  auto sv = xt::strided_view(a, {xt::range(0, 6, 3), xt::range(1, 3)});
  auto w = sysout::view(sv);
  CHECK(w.shape() == extents{2, 2});
  CHECK(w.get(1, 1) == a(3, 2));
  CHECK(w.ptr(1, 1) == &a(3, 2));

  auto tr = xt::transpose(a);
  auto t = sysout::view(tr);
  CHECK(t.strides() == extents{1, 8});
  CHECK(t.get(7, 5) == a(5, 7));
}

TEST_CASE("xtensor: reversed views and rank above max_rank are clear errors") {
  xt::xtensor<float, 2> a = xt::zeros<float>({4, 4});
  auto rev = xt::view(a, xt::range(3, xt::placeholders::_, -1), xt::all());
  CHECK_THROWS_WITH_AS(sysout::view(rev, "rev"), doctest::Contains("negative stride on axis 0"), error);
  xt::xarray<float> big = xt::zeros<float>({1, 1, 1, 1, 1, 1, 2});
  CHECK_THROWS_WITH_AS(sysout::view(big), doctest::Contains("rank 7 exceeds"), error);
}

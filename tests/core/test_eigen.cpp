// Eigen adapter on real Eigen objects: the view must alias Eigen's memory
// (same addresses, writes visible both ways) for every storage order and for
// blocks whose outer stride differs from their size.
#include <doctest/doctest.h>

#include <Eigen/Core>
#include <numeric>
#include <vector>

#include "sysout/core.hpp"
#include "sysout/core/eigen.hpp"

using namespace sysout;

namespace {
// Every element of v equals m(i, j) and sits at the address of m(i, j).
template <class M>
void check_aliases(const tensor_view& v, M& m) {
  REQUIRE(v.rank() == 2);
  REQUIRE(v.dim(0) == m.rows());
  REQUIRE(v.dim(1) == m.cols());
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) {
      CHECK(v.ptr(i, j) == static_cast<const void*>(&m.coeffRef(i, j)));
      CHECK(v.get(i, j) == double(m(i, j)));
    }
}
}  // namespace

TEST_CASE("Eigen column-major MatrixXf: shared memory, strides {1, rows}") {
  Eigen::MatrixXf m(3, 4);
  for (int j = 0; j < 4; ++j)
    for (int i = 0; i < 3; ++i) m(i, j) = float(10 * i + j);
  auto v = view(m, "m");
  CHECK(v.type() == dtype::f32);
  CHECK(v.data() == m.data());
  CHECK(v.strides() == extents{1, 3});
  CHECK_FALSE(v.is_contiguous());
  CHECK(v.transpose(0, 1).is_contiguous());
  check_aliases(v, m);
  v.set(-7.5, 2, 3);
  CHECK(m(2, 3) == -7.5f);
  m(1, 2) = 99.0f;
  CHECK(v.get(1, 2) == 99.0);
}

TEST_CASE("Eigen row-major Matrix<double>: contiguous, strides {cols, 1}") {
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> m(5, 2);
  std::iota(m.data(), m.data() + m.size(), 0.0);
  auto v = view(m);
  CHECK(v.type() == dtype::f64);
  CHECK(v.is_contiguous());
  CHECK(v.strides() == extents{2, 1});
  check_aliases(v, m);
  CHECK(v.data_as<double>() == m.data());
}

TEST_CASE("Eigen blocks keep the parent's outer stride, in both storage orders") {
  Eigen::MatrixXf cm(6, 8);
  std::iota(cm.data(), cm.data() + cm.size(), 0.0f);
  auto b = view(cm.block(1, 2, 3, 4));
  CHECK(b.shape() == extents{3, 4});
  CHECK(b.strides() == extents{1, 6});
  CHECK(b.data() == &cm(1, 2));
  b.set(1234.0, 2, 3);
  CHECK(cm(3, 5) == 1234.0f);

  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rm(6, 8);
  std::iota(rm.data(), rm.data() + rm.size(), 0.0f);
  auto blk = rm.block(2, 1, 4, 5);
  auto rb = view(blk);
  CHECK(rb.strides() == extents{8, 1});
  CHECK(rb.rows_contiguous());
  CHECK_FALSE(rb.is_contiguous());
  check_aliases(rb, blk);
}

TEST_CASE("Eigen Map with inner and outer strides") {
  std::vector<float> buf(64);
  std::iota(buf.begin(), buf.end(), 0.0f);
  // 3x4 column-major, every second element, columns 10 apart.
  Eigen::Map<Eigen::MatrixXf, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>> m(
      buf.data(), 3, 4, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(10, 2));
  auto v = view(m);
  CHECK(v.data() == buf.data());
  CHECK(v.strides() == extents{2, 10});
  CHECK(v.get(2, 3) == 34.0);
  check_aliases(v, m);
  check_fits(v, std::int64_t(buf.size()));
  CHECK_THROWS_WITH_AS(check_fits(v, 30), doctest::Contains("reaches element 34"), error);

  // A Map over const data gives a read-only view.
  const std::vector<float>& cbuf = buf;
  Eigen::Map<const Eigen::MatrixXf> cm(cbuf.data(), 4, 4);
  auto cv = view(cm);
  CHECK_FALSE(cv.writable());
  CHECK_THROWS_WITH_AS(cv.set(1.0, 0, 0), doctest::Contains("read-only"), error);
}

TEST_CASE("Eigen Ref: writable Ref<MatrixXf> and read-only Ref<const MatrixXf>") {
  Eigen::MatrixXf m(4, 4);
  m.setZero();
  Eigen::Ref<Eigen::MatrixXf> r = m.block(1, 1, 2, 3);
  auto v = view(r);
  CHECK(v.data() == &m(1, 1));
  CHECK(v.strides() == extents{1, 4});
  v.set(5.0, 1, 2);
  CHECK(m(2, 3) == 5.0f);

  Eigen::Ref<const Eigen::MatrixXf> cr = m;
  auto cv = view(cr);
  CHECK(cv.data() == m.data());
  CHECK_FALSE(cv.writable());
  const Eigen::MatrixXf& cref = m;
  CHECK_FALSE(view(cref).writable());
}

TEST_CASE("Eigen vectors are rank 1; a row of a column-major matrix strides by rows") {
  Eigen::VectorXd x = Eigen::VectorXd::LinSpaced(5, 0.0, 4.0);
  auto v = view(x);
  CHECK(v.rank() == 1);
  CHECK(v.shape() == extents{5});
  CHECK(v.get(4) == 4.0);

  Eigen::MatrixXf m(3, 5);
  std::iota(m.data(), m.data() + m.size(), 0.0f);
  auto row = view(m.row(1));
  CHECK(row.rank() == 1);
  CHECK(row.strides() == extents{3});
  CHECK(row.get(4) == double(m(1, 4)));
  CHECK(row.ptr(4) == &m(1, 4));
}

TEST_CASE("Eigen half, bfloat16 and integer scalars map to sysout dtypes bit for bit") {
  Eigen::Matrix<Eigen::half, 2, 2> h;
  h << Eigen::half(1.5f), Eigen::half(-65504.0f), Eigen::half(0.000061035156f), Eigen::half(3.0f);
  auto hv = view(h);
  CHECK(hv.type() == dtype::f16);
  CHECK(hv.get(0, 1) == -65504.0);
  CHECK(hv.get(1, 0) == 0.000061035156f);

  Eigen::Matrix<Eigen::bfloat16, 1, 3> b;
  b << Eigen::bfloat16(1.0f), Eigen::bfloat16(-2.5f), Eigen::bfloat16(3.0e38f);
  auto bv = view(b);
  CHECK(bv.type() == dtype::bf16);
  CHECK(bv.rank() == 1);
  CHECK(bv.get(1) == -2.5);
  CHECK(bv.get(2) == double(float(Eigen::bfloat16(3.0e38f))));

  Eigen::Matrix<std::int32_t, 2, 3, Eigen::RowMajor> im;
  im << 1, 2, 3, 4, 5, 6;
  CHECK(view(im).type() == dtype::i32);
  CHECK(view(im).get(1, 2) == 6.0);
}

TEST_CASE("eigen::map gives Eigen a strided sysout view; mismatches are errors") {
  tensor<float> t({3, 4});
  std::iota(t.vec().begin(), t.vec().end(), 0.0f);
  auto cols = t.view().slice(1, 1, 3);  // [3, 2], strides {4, 1}
  auto em = eigen::map<float>(cols);
  CHECK(em.rows() == 3);
  CHECK(em.cols() == 2);
  CHECK(em(2, 1) == 10.0f);
  em(0, 0) = -1.0f;
  CHECK(t(0, 1) == -1.0f);
  CHECK(&em(2, 1) == &t(2, 2));
  CHECK(eigen::map<const float>(cols.as_const()).sum() == doctest::Approx(-1 + 2 + 5 + 6 + 9 + 10));

  CHECK_THROWS_WITH_AS(eigen::map<double>(cols), doctest::Contains("dtype is f32, requested f64"), error);
  tensor<float> t3({2, 2, 2});
  CHECK_THROWS_WITH_AS(eigen::map<float>(t3.view()), doctest::Contains("rank-1 or rank-2"), error);
  CHECK_THROWS_WITH_AS(eigen::map<float>(cols.as_const()), doctest::Contains("read-only"), error);
}

// Eigen adapter: sysout::view(...) over any Eigen object with direct memory
// access (Matrix, Array, Map, Ref, Block of those, both storage orders, inner
// and outer strides). No copy: the view points at the object's coefficients,
// so writes through a view of a non-const object are visible in Eigen.
//
// Shapes: a matrix/array is a rank-2 view [rows, cols]; an object that is a
// vector at compile time (VectorXf, RowVectorXf, a column/row block declared as
// such) is a rank-1 view [size]. Strides are element strides taken from
// Eigen's innerStride()/outerStride(), assigned by storage order.
//
// The reverse direction, eigen::map<T>(view), gives an Eigen::Map over a
// rank-2 (or rank-1) sysout view, e.g. to hand a sysout result to Eigen code.
//
// Needs Eigen 3.3+ (tested with 3.4.0). Not included by sysout/sysout.hpp.
#pragma once
#include <Eigen/Core>

#include <string>
#include <type_traits>

#include "sysout/core/raw.hpp"
#include "sysout/core/tensor_view.hpp"

namespace sysout {
namespace eigen {

// Scalar type -> sysout dtype; Eigen::half / Eigen::bfloat16 have the same
// 16-bit storage as sysout::f16 / bf16 (IEEE binary16 and the top half of
// binary32), so they map to those dtypes bit for bit.
template <class S>
struct scalar_dtype {
  static constexpr bool supported = false;
};
#define SYSOUT_EIGEN_SCALAR(T, D)                         \
  template <>                                             \
  struct scalar_dtype<T> {                                \
    static constexpr bool supported = true;               \
    static constexpr dtype value = D;                     \
  }
SYSOUT_EIGEN_SCALAR(float, dtype::f32);
SYSOUT_EIGEN_SCALAR(double, dtype::f64);
SYSOUT_EIGEN_SCALAR(std::int8_t, dtype::i8);
SYSOUT_EIGEN_SCALAR(std::int32_t, dtype::i32);
SYSOUT_EIGEN_SCALAR(std::int64_t, dtype::i64);
SYSOUT_EIGEN_SCALAR(sysout::f16, dtype::f16);
SYSOUT_EIGEN_SCALAR(sysout::bf16, dtype::bf16);
#if EIGEN_VERSION_AT_LEAST(3, 3, 0)
SYSOUT_EIGEN_SCALAR(Eigen::half, dtype::f16);
#endif
#if EIGEN_VERSION_AT_LEAST(3, 4, 0)
SYSOUT_EIGEN_SCALAR(Eigen::bfloat16, dtype::bf16);
#endif
#undef SYSOUT_EIGEN_SCALAR

// An Eigen dense object whose coefficients live in memory we can point at.
template <class E>
concept direct_access = std::is_base_of_v<Eigen::EigenBase<E>, E> &&
                        ((int(Eigen::internal::traits<E>::Flags) & Eigen::DirectAccessBit) != 0);

// Plain objects (Matrix, Array) own their storage: a view of a temporary one
// would dangle, so only lvalues are accepted. Map/Ref/Block refer to storage
// owned elsewhere and may be passed as temporaries (m.block(...)).
template <class E>
inline constexpr bool owns_storage_v = std::is_base_of_v<Eigen::PlainObjectBase<E>, E>;

}  // namespace eigen

template <class E>
  requires eigen::direct_access<std::remove_cvref_t<E>>
tensor_view view(E&& m, std::string name = {}) {
  using D = std::remove_cvref_t<E>;
  using S = typename D::Scalar;
  static_assert(eigen::scalar_dtype<S>::supported,
                "sysout::view(Eigen): scalar type has no sysout dtype (float, double, half, bfloat16, "
                "int8, int32, int64)");
  static_assert(!(eigen::owns_storage_v<D> && !std::is_lvalue_reference_v<E>),
                "sysout::view(Eigen): a view of a temporary Matrix/Array would dangle; pass an lvalue");
  constexpr dtype t = eigen::scalar_dtype<S>::value;
  auto* p = m.data();
  using P = std::remove_pointer_t<decltype(p)>;
  const std::int64_t inner = std::int64_t(m.innerStride()), outer = std::int64_t(m.outerStride());
  extents shape, strides;
  if constexpr (D::IsVectorAtCompileTime) {
    shape = {std::int64_t(m.size())};
    strides = {inner};
  } else if constexpr (D::IsRowMajor) {
    shape = {std::int64_t(m.rows()), std::int64_t(m.cols())};
    strides = {outer, inner};
  } else {
    shape = {std::int64_t(m.rows()), std::int64_t(m.cols())};
    strides = {inner, outer};
  }
  if (name.empty()) name = "eigen";
  if constexpr (std::is_const_v<P>)
    return tensor_view(static_cast<const void*>(p), t, shape, strides, std::move(name));
  else
    return tensor_view(static_cast<void*>(p), t, shape, strides, std::move(name));
}

namespace eigen {

template <class T>
using strided_matrix_map =
    Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Unaligned,
               Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;

// Eigen::Map over a rank-2 view (row-major indexing, any non-negative
// strides). T must match the view's dtype; a const T gives a read-only map.
template <class T>
Eigen::Map<std::conditional_t<std::is_const_v<T>,
                              const Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>,
                              Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>,
           Eigen::Unaligned, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>
map(const tensor_view& v) {
  using U = std::remove_const_t<T>;
  static_assert(scalar_dtype<U>::supported, "sysout::eigen::map: unsupported scalar type");
  if (v.type() != scalar_dtype<U>::value)
    throw_error(v.where(), "eigen::map: view dtype is ", dtype_name(v.type()), ", requested ",
                dtype_name(scalar_dtype<U>::value));
  if (v.rank() != 1 && v.rank() != 2)
    throw_error(v.where(), "eigen::map: needs a rank-1 or rank-2 view, got shape ", v.shape().str());
  if constexpr (!std::is_const_v<T>) v.require_writable();
  const Eigen::Index rows = v.rank() == 2 ? v.dim(0) : 1;
  const Eigen::Index cols = v.rank() == 2 ? v.dim(1) : v.dim(0);
  const Eigen::Index outer = v.rank() == 2 ? v.stride(0) : 0;
  const Eigen::Index inner = v.rank() == 2 ? v.stride(1) : v.stride(0);
  return {static_cast<T*>(v.data()), rows, cols, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(outer, inner)};
}

}  // namespace eigen
}  // namespace sysout

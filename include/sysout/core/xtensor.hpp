// xtensor adapter: sysout::view(...) over any xtensor expression that exposes
// its memory (xt::xtensor, xt::xarray, xt::xtensor_fixed, xt::adapt(...)
// adaptors, and xt::view / xt::strided_view of those when the slices keep it
// strided: ranges, steps, integers, newaxis, all). No copy: the view points at
// the expression's buffer (data() + data_offset()) with its strides, which
// xtensor keeps in elements like sysout does; both row- and column-major work.
//
// Rejected with a sysout::error: negative strides (reversed ranges such as
// xt::range(_, _, -1); copy into a container first), rank above max_rank.
// Expressions without a data interface (lazy functions like a + b, keep/drop
// views) fail to match at compile time: evaluate them first.
//
// Works with xtensor 0.24 (Debian, C++14 headers) and 0.26/0.27 (C++20, headers
// moved under xtensor/core/...). Not included by sysout/sysout.hpp.
#pragma once
#if __has_include(<xtensor/core/xtensor_forward.hpp>)
#include <xtensor/core/xexpression.hpp>
#include <xtensor/core/xtensor_forward.hpp>
#else
#include <xtensor/xexpression.hpp>
#include <xtensor/xtensor_forward.hpp>
#endif

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "sysout/core/raw.hpp"
#include "sysout/core/tensor_view.hpp"

namespace sysout {
namespace xtensor {

template <class S>
struct value_dtype {
  static constexpr bool supported = false;
};
#define SYSOUT_XT_SCALAR(T, D)              \
  template <>                               \
  struct value_dtype<T> {                   \
    static constexpr bool supported = true; \
    static constexpr dtype value = D;       \
  }
SYSOUT_XT_SCALAR(float, dtype::f32);
SYSOUT_XT_SCALAR(double, dtype::f64);
SYSOUT_XT_SCALAR(std::int8_t, dtype::i8);
SYSOUT_XT_SCALAR(std::int32_t, dtype::i32);
SYSOUT_XT_SCALAR(std::int64_t, dtype::i64);
SYSOUT_XT_SCALAR(sysout::f16, dtype::f16);
SYSOUT_XT_SCALAR(sysout::bf16, dtype::bf16);
#undef SYSOUT_XT_SCALAR

// An xtensor expression with a strided data interface.
template <class E>
concept strided_expression = std::is_base_of_v<xt::xexpression<E>, E> && requires(E& e) {
  e.data();
  e.data_offset();
  e.strides();
  e.shape();
  e.dimension();
};

// Containers that own their buffer: a view of a temporary one would dangle.
template <class E>
struct owns_storage : std::false_type {};
template <class EC, xt::layout_type L, class SC, class Tag>
struct owns_storage<xt::xarray_container<EC, L, SC, Tag>> : std::true_type {};
template <class EC, std::size_t N, xt::layout_type L, class Tag>
struct owns_storage<xt::xtensor_container<EC, N, L, Tag>> : std::true_type {};
template <class ET, class S, xt::layout_type L, bool Sh, class Tag>
struct owns_storage<xt::xfixed_container<ET, S, L, Sh, Tag>> : std::true_type {};

// Adaptors over const storage (xt::adapt(const std::vector&)) are read-only
// even when the adaptor object itself is not const.
template <class D>
constexpr bool const_storage() {
  if constexpr (requires { typename D::storage_type; })
    return std::is_const_v<std::remove_reference_t<typename D::storage_type>>;
  else
    return false;
}

}  // namespace xtensor

template <class E>
  requires xtensor::strided_expression<std::remove_cvref_t<E>>
tensor_view view(E&& e, std::string name = {}) {
  using D = std::remove_cvref_t<E>;
  using V = std::remove_cv_t<typename D::value_type>;
  static_assert(xtensor::value_dtype<V>::supported,
                "sysout::view(xtensor): value type has no sysout dtype (float, double, int8, int32, int64)");
  static_assert(!(xtensor::owns_storage<D>::value && !std::is_lvalue_reference_v<E>),
                "sysout::view(xtensor): a view of a temporary container would dangle; pass an lvalue");
  if (name.empty()) name = "xtensor";
  const std::size_t r = e.dimension();
  if (r > std::size_t(max_rank))
    throw_error("tensor '" + name + "'", "xtensor expression of rank ", r, " exceeds sysout's max_rank ",
                max_rank);
  extents shape, strides;
  shape.rank = strides.rank = int(r);
  for (std::size_t i = 0; i < r; ++i) {
    shape[int(i)] = std::int64_t(e.shape()[i]);
    strides[int(i)] = std::int64_t(e.strides()[i]);
  }
  for (int i = 0; i < int(r); ++i)
    if (strides[i] < 0)
      throw_error("tensor '" + name + "'", "xtensor expression of shape ", shape.str(), " has strides ",
                  strides.str(), ": negative stride on axis ", i,
                  " (a reversed view); sysout views need non-negative strides, copy into a container first");
  // Read the pointer through a const reference: xtensor 0.24 cannot even
  // instantiate the non-const data() of an adaptor over const storage.
  const auto* p = std::as_const(e).data() + e.data_offset();
  constexpr bool writable = !std::is_const_v<std::remove_reference_t<E>> && !xtensor::const_storage<D>() &&
                            !std::is_const_v<std::remove_pointer_t<decltype(e.data())>>;
  if constexpr (!writable)
    return tensor_view(static_cast<const void*>(p), xtensor::value_dtype<V>::value, shape, strides,
                       std::move(name));
  else  // the expression refers to non-const memory: dropping const is sound
    return tensor_view(const_cast<void*>(static_cast<const void*>(p)), xtensor::value_dtype<V>::value, shape,
                       strides, std::move(name));
}

}  // namespace sysout

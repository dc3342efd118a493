// Views over raw pointers: the adapter every host has.
#pragma once
#include "sysout/core/tensor_view.hpp"

namespace sysout {

// view(ptr, {rows, cols}) : dense row-major (or col-major) view, no copy.
template <class T>
tensor_view view(T* data, extents shape, layout l = layout::row_major, std::string name = {}) {
  if constexpr (std::is_const_v<T>)
    return tensor_view(static_cast<const void*>(data), dtype_of_v<T>, shape, l, std::move(name));
  else
    return tensor_view(static_cast<void*>(data), dtype_of_v<T>, shape, l, std::move(name));
}

// view(ptr, shape, strides) : explicit element strides.
template <class T>
tensor_view view(T* data, extents shape, extents strides, std::string name = {}) {
  if constexpr (std::is_const_v<T>)
    return tensor_view(static_cast<const void*>(data), dtype_of_v<T>, shape, strides, std::move(name));
  else
    return tensor_view(static_cast<void*>(data), dtype_of_v<T>, shape, strides, std::move(name));
}

// Checks that a strided view of `shape` / `strides` stays inside a buffer of
// `capacity` elements; hosts that pass raw pointers with a length call this.
inline void check_fits(const tensor_view& v, std::int64_t capacity) {
  if (v.empty()) return;
  std::int64_t last = 0;
  for (int i = 0; i < v.rank(); ++i) last += (v.shape()[i] - 1) * v.strides()[i];
  if (last >= capacity)
    throw_error(v.where(), "shape ", v.shape().str(), " with strides ", v.strides().str(), " reaches element ",
                last, " but the buffer holds ", capacity);
}

}  // namespace sysout

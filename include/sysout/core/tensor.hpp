// tensor<T>: a small owning, dense, row-major tensor for results (detector
// outputs, captured activations). Not a general array library: it owns memory
// and hands out tensor_views.
#pragma once
#include <cstdint>
#include <vector>

#include "sysout/core/tensor_view.hpp"

namespace sysout {

template <class T = float>
class tensor {
 public:
  tensor() = default;
  explicit tensor(extents shape, T fill = T{}) : shape_(shape) {
    for (int i = 0; i < shape.rank; ++i)
      if (shape[i] < 0) throw_error("tensor", "negative extent in shape ", shape.str());
    data_.assign(std::size_t(shape.product()), fill);
  }
  // Deep copy of any view, converting each element (via double) to T.
  static tensor from(const tensor_view& v) {
    tensor t(v.shape());
    std::size_t k = 0;
    for_each_offset(v, [&](std::int64_t off) { t.data_[k++] = T(load_as_double(v.ptr_at(off), v.type())); });
    return t;
  }

  const extents& shape() const noexcept { return shape_; }
  int rank() const noexcept { return shape_.rank; }
  std::int64_t dim(int i) const { return shape_[i]; }
  std::int64_t size() const noexcept { return std::int64_t(data_.size()); }
  T* data() noexcept { return data_.data(); }
  const T* data() const noexcept { return data_.data(); }
  std::vector<T>& vec() noexcept { return data_; }
  const std::vector<T>& vec() const noexcept { return data_; }

  template <class... I>
  T& operator()(I... i) {
    return data_[index(i...)];
  }
  template <class... I>
  const T& operator()(I... i) const {
    return data_[index(i...)];
  }

  tensor_view view() { return tensor_view(static_cast<void*>(data_.data()), dtype_of_v<T>, shape_); }
  tensor_view view() const {
    return tensor_view(static_cast<const void*>(data_.data()), dtype_of_v<T>, shape_);
  }
  operator tensor_view() { return view(); }
  operator tensor_view() const { return view(); }

 private:
  template <class... I>
  std::size_t index(I... i) const {
    const std::array<std::int64_t, sizeof...(I)> idx{std::int64_t(i)...};
    if (int(sizeof...(I)) != shape_.rank)
      throw_error("tensor", "index of rank ", sizeof...(I), " into shape ", shape_.str());
    std::int64_t off = 0;
    for (int a = 0; a < shape_.rank; ++a) {
      if (idx[std::size_t(a)] < 0 || idx[std::size_t(a)] >= shape_[a])
        throw_error("tensor", "index ", idx[std::size_t(a)], " out of range on axis ", a, " of shape ",
                    shape_.str());
      off = off * shape_[a] + idx[std::size_t(a)];
    }
    return std::size_t(off);
  }

  extents shape_{};
  std::vector<T> data_;
};

}  // namespace sysout

// tensor_view: the non-owning, strided, dtype-tagged view every sysout API takes.
// A host engine wraps its own memory (raw pointer, Eigen, xtensor, DLPack...) in
// a view; nothing is copied. Strides are in elements, not bytes, and may be
// zero (broadcast) or any positive value; negative strides are rejected because
// no host we adapt produces them and they make bounds reasoning error-prone.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <sstream>
#include <string>

#include "sysout/core/dtype.hpp"
#include "sysout/core/error.hpp"

namespace sysout {

inline constexpr int max_rank = 6;

enum class layout : std::uint8_t { row_major, col_major };

// Small fixed-capacity extent list; shapes and strides print as [a, b, c].
struct extents {
  std::array<std::int64_t, max_rank> v{};
  int rank = 0;

  extents() = default;
  extents(std::initializer_list<std::int64_t> il) {
    if (il.size() > std::size_t(max_rank)) throw error("extents", "rank > max_rank (6)");
    for (auto x : il) v[std::size_t(rank++)] = x;
  }
  explicit extents(std::span<const std::int64_t> s) {
    if (s.size() > std::size_t(max_rank)) throw error("extents", "rank > max_rank (6)");
    for (auto x : s) v[std::size_t(rank++)] = x;
  }
  std::int64_t operator[](int i) const { return v[std::size_t(i)]; }
  std::int64_t& operator[](int i) { return v[std::size_t(i)]; }
  std::int64_t product() const {
    std::int64_t p = 1;
    for (int i = 0; i < rank; ++i) p *= v[std::size_t(i)];
    return p;
  }
  bool operator==(const extents& o) const {
    if (rank != o.rank) return false;
    for (int i = 0; i < rank; ++i)
      if (v[std::size_t(i)] != o.v[std::size_t(i)]) return false;
    return true;
  }
  std::string str() const {
    std::ostringstream os;
    os << '[';
    for (int i = 0; i < rank; ++i) os << (i ? ", " : "") << v[std::size_t(i)];
    os << ']';
    return os.str();
  }
};

// Strides of a dense tensor of this shape in the given layout.
inline extents dense_strides(const extents& shape, layout l = layout::row_major) {
  extents s;
  s.rank = shape.rank;
  std::int64_t acc = 1;
  if (l == layout::row_major) {
    for (int i = shape.rank - 1; i >= 0; --i) {
      s[i] = acc;
      acc *= shape[i] > 0 ? shape[i] : 1;
    }
  } else {
    for (int i = 0; i < shape.rank; ++i) {
      s[i] = acc;
      acc *= shape[i] > 0 ? shape[i] : 1;
    }
  }
  return s;
}

class tensor_view {
 public:
  tensor_view() = default;

  // Dense view in the given layout.
  tensor_view(void* data, dtype t, extents shape, layout l = layout::row_major, std::string name = {})
      : tensor_view(data, t, shape, dense_strides(shape, l), std::move(name)) {}
  tensor_view(const void* data, dtype t, extents shape, layout l = layout::row_major, std::string name = {})
      : tensor_view(const_cast<void*>(data), t, shape, dense_strides(shape, l), std::move(name)) {
    writable_ = false;
  }
  // Explicit strides (elements).
  tensor_view(void* data, dtype t, extents shape, extents strides, std::string name = {})
      : data_(data), dtype_(t), shape_(shape), strides_(strides), name_(std::move(name)) {
    validate();
  }
  tensor_view(const void* data, dtype t, extents shape, extents strides, std::string name = {})
      : tensor_view(const_cast<void*>(data), t, shape, strides, std::move(name)) {
    writable_ = false;
  }

  void* data() const noexcept { return data_; }
  dtype type() const noexcept { return dtype_; }
  int rank() const noexcept { return shape_.rank; }
  const extents& shape() const noexcept { return shape_; }
  const extents& strides() const noexcept { return strides_; }
  std::int64_t dim(int i) const { check_axis(i); return shape_[i]; }
  std::int64_t stride(int i) const { check_axis(i); return strides_[i]; }
  std::int64_t size() const noexcept { return shape_.product(); }
  bool empty() const noexcept { return size() == 0; }
  bool writable() const noexcept { return writable_; }
  const std::string& name() const noexcept { return name_; }
  tensor_view& set_name(std::string n) { name_ = std::move(n); return *this; }
  std::size_t element_size() const noexcept { return dtype_size(dtype_); }

  // Dense in row-major order (the fast path of every kernel).
  bool is_contiguous() const noexcept {
    std::int64_t acc = 1;
    for (int i = shape_.rank - 1; i >= 0; --i) {
      if (shape_[i] == 1) continue;
      if (strides_[i] != acc) return false;
      acc *= shape_[i];
    }
    return true;
  }
  // Last axis has unit stride (rows are contiguous).
  bool rows_contiguous() const noexcept {
    return shape_.rank == 0 || shape_[shape_.rank - 1] <= 1 || strides_[shape_.rank - 1] == 1;
  }

  // Element offset of a multi-index (checked).
  std::int64_t offset(std::span<const std::int64_t> idx) const {
    if (int(idx.size()) != rank())
      throw_error(where(), "index of rank ", idx.size(), " into tensor of shape ", shape_.str());
    std::int64_t off = 0;
    for (int i = 0; i < rank(); ++i) {
      if (idx[std::size_t(i)] < 0 || idx[std::size_t(i)] >= shape_[i])
        throw_error(where(), "index ", idx[std::size_t(i)], " out of range on axis ", i, " of shape ",
                    shape_.str());
      off += idx[std::size_t(i)] * strides_[i];
    }
    return off;
  }
  template <class... I>
  void* ptr(I... i) const {
    const std::array<std::int64_t, sizeof...(I)> idx{std::int64_t(i)...};
    return static_cast<char*>(data_) + offset(idx) * std::int64_t(element_size());
  }
  // Unchecked pointer to the element at a precomputed element offset.
  void* ptr_at(std::int64_t elem_offset) const noexcept {
    return static_cast<char*>(data_) + elem_offset * std::int64_t(element_size());
  }

  template <class... I>
  double get(I... i) const {
    return load_as_double(ptr(i...), dtype_);
  }
  template <class... I>
  void set(double v, I... i) const {
    require_writable();
    store_from_double(ptr(i...), dtype_, v);
  }

  // Typed pointer; throws when the dtype differs.
  template <class T>
  T* data_as() const {
    if (dtype_of_v<T> != dtype_)
      throw_error(where(), "dtype is ", dtype_name(dtype_), ", requested ", dtype_name(dtype_of_v<T>));
    if constexpr (!std::is_const_v<T>) require_writable();
    return static_cast<T*>(data_);
  }

  // Select index i on axis a: rank drops by one.
  tensor_view select(int a, std::int64_t i) const {
    check_axis(a);
    if (i < 0 || i >= shape_[a])
      throw_error(where(), "select index ", i, " out of range on axis ", a, " of shape ", shape_.str());
    tensor_view r = *this;
    r.data_ = static_cast<char*>(data_) + i * strides_[a] * std::int64_t(element_size());
    for (int k = a; k + 1 < rank(); ++k) {
      r.shape_[k] = shape_[k + 1];
      r.strides_[k] = strides_[k + 1];
    }
    r.shape_.rank = r.strides_.rank = rank() - 1;
    return r;
  }
  // Half-open range [b, e) on axis a.
  tensor_view slice(int a, std::int64_t b, std::int64_t e) const {
    check_axis(a);
    if (b < 0 || e < b || e > shape_[a])
      throw_error(where(), "slice [", b, ", ", e, ") out of range on axis ", a, " of shape ", shape_.str());
    tensor_view r = *this;
    r.data_ = static_cast<char*>(data_) + b * strides_[a] * std::int64_t(element_size());
    r.shape_[a] = e - b;
    return r;
  }
  tensor_view transpose(int a, int b) const {
    check_axis(a);
    check_axis(b);
    tensor_view r = *this;
    std::swap(r.shape_[a], r.shape_[b]);
    std::swap(r.strides_[a], r.strides_[b]);
    return r;
  }
  // Reshape a contiguous view.
  tensor_view reshape(extents s) const {
    if (s.product() != size())
      throw_error(where(), "cannot reshape ", shape_.str(), " to ", s.str(), ": sizes differ");
    if (!is_contiguous()) throw_error(where(), "cannot reshape non-contiguous view of shape ", shape_.str());
    tensor_view r = *this;
    r.shape_ = s;
    r.strides_ = dense_strides(s);
    return r;
  }
  tensor_view as_const() const {
    tensor_view r = *this;
    r.writable_ = false;
    return r;
  }

  // "tensor 'name'" or "tensor" for messages.
  std::string where() const { return name_.empty() ? std::string("tensor") : "tensor '" + name_ + "'"; }

  // Throws unless the view has exactly this rank.
  void expect_rank(int r, const char* what = "") const {
    if (rank() != r)
      throw_error(where(), what, (*what ? ": " : ""), "expected rank ", r, ", got shape ", shape_.str());
  }
  void require_writable() const {
    if (!writable_) throw_error(where(), "view is read-only");
  }

 private:
  void check_axis(int a) const {
    if (a < 0 || a >= rank()) throw_error(where(), "axis ", a, " out of range for shape ", shape_.str());
  }
  void validate() const {
    if (shape_.rank != strides_.rank)
      throw_error(where(), "shape ", shape_.str(), " and strides ", strides_.str(), " differ in rank");
    for (int i = 0; i < shape_.rank; ++i) {
      if (shape_[i] < 0) throw_error(where(), "negative extent in shape ", shape_.str());
      if (strides_[i] < 0)
        throw_error(where(), "negative stride in strides ", strides_.str(), " (shape ", shape_.str(), ")");
    }
    if (data_ == nullptr && size() != 0)
      throw_error(where(), "null data pointer for non-empty shape ", shape_.str());
  }

  void* data_ = nullptr;
  dtype dtype_ = dtype::f32;
  extents shape_{};
  extents strides_{};
  std::string name_{};
  bool writable_ = true;
};

// Calls f(elem_offset) for every element in row-major index order. Used by
// generic (strided) paths; kernels special-case contiguous views.
template <class F>
void for_each_offset(const tensor_view& v, F&& f) {
  if (v.empty()) return;
  const int r = v.rank();
  if (r == 0) {
    f(std::int64_t{0});
    return;
  }
  std::array<std::int64_t, max_rank> idx{};
  std::int64_t off = 0;
  const std::int64_t inner = v.shape()[r - 1], istride = v.strides()[r - 1];
  for (;;) {
    for (std::int64_t j = 0; j < inner; ++j) f(off + j * istride);
    int a = r - 2;
    for (; a >= 0; --a) {
      off += v.strides()[a];
      if (++idx[std::size_t(a)] < v.shape()[a]) break;
      off -= v.strides()[a] * v.shape()[a];
      idx[std::size_t(a)] = 0;
    }
    if (a < 0) return;
  }
}

}  // namespace sysout

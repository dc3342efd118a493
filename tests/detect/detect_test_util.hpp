// Helpers for the detector tests: typed random tensors in several layouts.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "sysout/core.hpp"

namespace sysout::testing {

// A [rows, cols] tensor of dtype t stored in one of several layouts; owns the buffer.
struct layout_case {
  std::string name;
  std::vector<unsigned char> storage;
  tensor_view v;
};

inline const char* layout_names[] = {"row_major", "col_major", "strided_rows", "strided_both"};

inline layout_case make_layout(dtype t, std::int64_t rows, std::int64_t cols, int which) {
  layout_case c;
  c.name = layout_names[which];
  const std::size_t es = dtype_size(t);
  std::int64_t cap = rows * cols;
  extents shape{rows, cols}, strides;
  switch (which) {
    case 0: strides = dense_strides(shape, layout::row_major); break;
    case 1: strides = dense_strides(shape, layout::col_major); break;
    case 2: strides = extents{cols + 5, 1}; cap = rows * (cols + 5); break;            // padded rows (a slice)
    default: strides = extents{3 * cols + 1, 2}; cap = rows * (3 * cols + 1); break;  // nothing unit-stride
  }
  c.storage.assign(std::size_t(std::max<std::int64_t>(cap, 1)) * es, 0);
  c.v = tensor_view(static_cast<void*>(c.storage.data()), t, shape, strides, "x_" + c.name);
  return c;
}

inline void fill_normal(const tensor_view& v, std::uint32_t seed, double sd = 1.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd(0.0, sd);
  for (std::int64_t i = 0; i < v.shape()[0]; ++i)
    for (std::int64_t j = 0; j < v.shape()[1]; ++j) v.set(nd(rng), i, j);
}

}  // namespace sysout::testing

// Element types a tensor view can carry.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "sysout/core/half.hpp"

namespace sysout {

enum class dtype : std::uint8_t { f32, f64, f16, bf16, i8, i32, i64 };

constexpr std::size_t dtype_size(dtype t) noexcept {
  switch (t) {
    case dtype::f32: return 4;
    case dtype::f64: return 8;
    case dtype::f16: return 2;
    case dtype::bf16: return 2;
    case dtype::i8: return 1;
    case dtype::i32: return 4;
    case dtype::i64: return 8;
  }
  return 0;
}

constexpr std::string_view dtype_name(dtype t) noexcept {
  switch (t) {
    case dtype::f32: return "f32";
    case dtype::f64: return "f64";
    case dtype::f16: return "f16";
    case dtype::bf16: return "bf16";
    case dtype::i8: return "i8";
    case dtype::i32: return "i32";
    case dtype::i64: return "i64";
  }
  return "?";
}

constexpr bool is_floating(dtype t) noexcept {
  return t == dtype::f32 || t == dtype::f64 || t == dtype::f16 || t == dtype::bf16;
}

template <class T>
struct dtype_of;
template <> struct dtype_of<float> { static constexpr dtype value = dtype::f32; };
template <> struct dtype_of<double> { static constexpr dtype value = dtype::f64; };
template <> struct dtype_of<f16> { static constexpr dtype value = dtype::f16; };
template <> struct dtype_of<bf16> { static constexpr dtype value = dtype::bf16; };
template <> struct dtype_of<std::int8_t> { static constexpr dtype value = dtype::i8; };
template <> struct dtype_of<std::int32_t> { static constexpr dtype value = dtype::i32; };
template <> struct dtype_of<std::int64_t> { static constexpr dtype value = dtype::i64; };
template <class T>
inline constexpr dtype dtype_of_v = dtype_of<std::remove_cv_t<T>>::value;

// Reads one element of type t at p as double (exact for every supported type).
inline double load_as_double(const void* p, dtype t) noexcept {
  switch (t) {
    case dtype::f32: return *static_cast<const float*>(p);
    case dtype::f64: return *static_cast<const double*>(p);
    case dtype::f16: return f16_to_f32(*static_cast<const std::uint16_t*>(p));
    case dtype::bf16: return bf16_to_f32(*static_cast<const std::uint16_t*>(p));
    case dtype::i8: return *static_cast<const std::int8_t*>(p);
    case dtype::i32: return *static_cast<const std::int32_t*>(p);
    case dtype::i64: return double(*static_cast<const std::int64_t*>(p));
  }
  return 0.0;
}

// Stores v into an element of type t at p (rounding to nearest even for narrow floats).
inline void store_from_double(void* p, dtype t, double v) noexcept {
  switch (t) {
    case dtype::f32: *static_cast<float*>(p) = float(v); break;
    case dtype::f64: *static_cast<double*>(p) = v; break;
    case dtype::f16: *static_cast<std::uint16_t*>(p) = f32_to_f16(float(v)); break;
    case dtype::bf16: *static_cast<std::uint16_t*>(p) = f32_to_bf16(float(v)); break;
    case dtype::i8: *static_cast<std::int8_t*>(p) = std::int8_t(v); break;
    case dtype::i32: *static_cast<std::int32_t*>(p) = std::int32_t(v); break;
    case dtype::i64: *static_cast<std::int64_t*>(p) = std::int64_t(v); break;
  }
}

}  // namespace sysout

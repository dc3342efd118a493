// IEEE binary16 (f16) and bfloat16 storage types with exact conversions.
// Bit-level code instead of _Float16 so that any C++20 compiler and any host
// (including CUDA hosts with their own __half) can use them.
#pragma once
#include <bit>
#include <cstdint>
#include <cstring>

namespace sysout {

struct f16 {
  std::uint16_t bits = 0;
};
struct bf16 {
  std::uint16_t bits = 0;
};

// f16 -> f32 is exact for every input, including subnormals, inf and NaN.
constexpr float f16_to_f32(std::uint16_t h) noexcept {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      mant &= 0x3ffu;
      bits = sign | (std::uint32_t(127 - 15 - e) << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / NaN (payload kept)
  } else {
    bits = sign | ((exp + (127 - 15)) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

// f32 -> f16 with round-to-nearest-even; overflow gives inf, NaN stays NaN.
constexpr std::uint16_t f32_to_f16(float f) noexcept {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint16_t sign = std::uint16_t((x >> 16) & 0x8000u);
  const std::uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) {  // inf or NaN
    return std::uint16_t(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));
  }
  if (absx >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // rounds to >= 65520 -> inf
  const int exp = int(absx >> 23) - 127;
  if (exp < -25) return sign;  // below half of the smallest subnormal
  std::uint32_t mant = (absx & 0x7fffffu) | 0x800000u;
  int shift;
  std::uint32_t hexp;
  if (exp < -14) {  // subnormal result
    shift = 13 + (-14 - exp);
    hexp = 0;
  } else {
    shift = 13;
    hexp = std::uint32_t(exp + 15);
    mant &= 0x7fffffu;
  }
  const std::uint32_t halfway = 1u << (shift - 1);
  const std::uint32_t rem = mant & ((1u << shift) - 1u);
  std::uint32_t m = mant >> shift;
  std::uint32_t result = (hexp << 10) + m;  // mantissa carry rolls into the exponent
  if (rem > halfway || (rem == halfway && (m & 1u))) ++result;
  return std::uint16_t(sign | result);
}

// bf16 is the top half of an f32: widening is exact.
constexpr float bf16_to_f32(std::uint16_t b) noexcept {
  return std::bit_cast<float>(std::uint32_t(b) << 16);
}

// f32 -> bf16 with round-to-nearest-even; NaN stays a quiet NaN.
constexpr std::uint16_t f32_to_bf16(float f) noexcept {
  std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return std::uint16_t(x >> 16);
}

constexpr float to_f32(f16 h) noexcept { return f16_to_f32(h.bits); }
constexpr float to_f32(bf16 b) noexcept { return bf16_to_f32(b.bits); }
constexpr f16 to_f16(float f) noexcept { return f16{f32_to_f16(f)}; }
constexpr bf16 to_bf16(float f) noexcept { return bf16{f32_to_bf16(f)}; }

// Largest finite f16: activations beyond it overflow fp16 kernels.
inline constexpr float f16_max = 65504.0f;

}  // namespace sysout

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "sysout/core/half.hpp"

using namespace sysout;

TEST_CASE("f16: every bit pattern round-trips through f32 exactly") {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const float f = f16_to_f32(std::uint16_t(b));
    const std::uint16_t back = f32_to_f16(f);
    if (std::isnan(f)) {
      CHECK((back & 0x7c00u) == 0x7c00u);
      CHECK((back & 0x3ffu) != 0u);
    } else {
      REQUIRE(back == b);
    }
  }
}

TEST_CASE("f16: known values, subnormals, overflow and rounding") {
  CHECK(f16_to_f32(0x3c00) == 1.0f);
  CHECK(f16_to_f32(0xc000) == -2.0f);
  CHECK(f16_to_f32(0x7bff) == 65504.0f);
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(f16_to_f32(0x03ff) == std::ldexp(1023.0f, -24));
  CHECK(std::isinf(f16_to_f32(0x7c00)));
  CHECK(f32_to_f16(65504.0f) == 0x7bff);
  CHECK(f32_to_f16(65519.0f) == 0x7bff);   // below the halfway point to 65536
  CHECK(f32_to_f16(65520.0f) == 0x7c00);   // halfway, ties to even -> inf
  CHECK(f32_to_f16(1e10f) == 0x7c00);
  CHECK(f32_to_f16(-1e10f) == 0xfc00);
  CHECK(f32_to_f16(std::ldexp(1.0f, -25)) == 0x0000);  // tie to even -> 0
  CHECK(f32_to_f16(std::ldexp(1.5f, -25)) == 0x0001);
  CHECK(f32_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);  // tie, even stays
  CHECK(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);  // tie, odd rounds up
}

TEST_CASE("f16: f32 -> f16 is the nearest representable value (random sweep)") {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> expo(-26.0f, 16.0f);
  for (int i = 0; i < 200000; ++i) {
    float x = std::exp2(expo(rng)) * ((rng() & 1) ? 1.0f : -1.0f);
    const std::uint16_t h = f32_to_f16(x);
    const double err = std::fabs(double(f16_to_f32(h)) - double(x));
    // neighbours can not be closer
    const std::uint16_t up = std::uint16_t(h + 1), dn = std::uint16_t(h - 1);
    if ((up & 0x7c00u) != 0x7c00u) CHECK(err <= std::fabs(double(f16_to_f32(up)) - double(x)));
    if ((h & 0x7fffu) != 0) CHECK(err <= std::fabs(double(f16_to_f32(dn)) - double(x)));
  }
}

TEST_CASE("bf16: widening is exact and narrowing rounds to nearest even") {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_to_f32(std::uint16_t(b));
    std::uint32_t bits;
    std::memcpy(&bits, &f, 4);
    REQUIRE(bits == b << 16);
    if (!std::isnan(f)) REQUIRE(f32_to_bf16(f) == b);
  }
  CHECK(f32_to_bf16(1.0f) == 0x3f80);
  float tie;  // 1 + 2^-8: halfway between 1 and 1+2^-7, ties to even (1)
  tie = 1.0f + std::ldexp(1.0f, -8);
  CHECK(f32_to_bf16(tie) == 0x3f80);
  CHECK(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82);
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

// ggml types and the scalar reference dequantization on hand-built blocks whose
// values follow from the format definition (ggml-common.h), independent of ggml's code.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "sysout/io/ggml_quants.hpp"

using namespace sysout;
using namespace sysout::io;

TEST_CASE("ggml_type: llama.cpp numbering and block traits") {
  CHECK(std::uint32_t(ggml_type::q4_0) == 2);
  CHECK(std::uint32_t(ggml_type::q8_0) == 8);
  CHECK(std::uint32_t(ggml_type::q2_k) == 10);
  CHECK(std::uint32_t(ggml_type::q8_k) == 15);
  CHECK(std::uint32_t(ggml_type::bf16) == 30);
  CHECK(type_name(ggml_type::q4_k) == "q4_K");
  CHECK(type_name(ggml_type(4)) == "unknown type id 4");
  CHECK_FALSE(is_known(ggml_type(31)));
  CHECK(row_size(ggml_type::q4_1, 576) == 18 * 20);
  CHECK(row_size(ggml_type::q6_k, 512) == 2 * 210);
  CHECK(row_size(ggml_type::f16, 7) == 14);
  CHECK_THROWS_WITH_AS(row_size(ggml_type::q4_k, 100), doctest::Contains("not a whole number of q4_K blocks of 256"),
                       sysout::error);
  CHECK_THROWS_AS(row_size(ggml_type(5), 32), sysout::error);
}

TEST_CASE("dequantize_row_ref: q4_0, q4_1, q8_0, q5_0 on hand-built blocks") {
  block_q4_0 b4{};
  b4.d = f32_to_f16(0.5f);
  for (int j = 0; j < 16; ++j) b4.qs[j] = std::uint8_t(j | ((15 - j) << 4));
  std::vector<float> y(32);
  dequantize_row_ref(ggml_type::q4_0, &b4, y.data(), 32);
  for (int j = 0; j < 16; ++j) {
    CHECK(y[std::size_t(j)] == 0.5f * float(j - 8));
    CHECK(y[std::size_t(j + 16)] == 0.5f * float(15 - j - 8));
  }

  block_q4_1 b41{};
  b41.d = f32_to_f16(2.f);
  b41.m = f32_to_f16(-3.f);
  for (int j = 0; j < 16; ++j) b41.qs[j] = std::uint8_t(j | (j << 4));
  dequantize_row_ref(ggml_type::q4_1, &b41, y.data(), 32);
  for (int j = 0; j < 16; ++j) CHECK(y[std::size_t(j)] == 2.f * float(j) - 3.f);

  block_q8_0 b8{};
  b8.d = f32_to_f16(0.25f);
  for (int j = 0; j < 32; ++j) b8.qs[j] = std::int8_t(j * 8 - 128);
  dequantize_row_ref(ggml_type::q8_0, &b8, y.data(), 32);
  for (int j = 0; j < 32; ++j) CHECK(y[std::size_t(j)] == 0.25f * float(j * 8 - 128));

  // q5_0: element j's 5th bit is bit j of qh (little-endian u32).
  block_q5_0 b5{};
  b5.d = f32_to_f16(1.f);
  const std::uint32_t qh = 0xA5A5F00Fu;
  std::memcpy(b5.qh, &qh, 4);
  for (int j = 0; j < 16; ++j) b5.qs[j] = std::uint8_t((j & 0xF) | ((j ^ 0xF) << 4));
  dequantize_row_ref(ggml_type::q5_0, &b5, y.data(), 32);
  for (int j = 0; j < 32; ++j) {
    const int lo = j < 16 ? (j & 0xF) : ((j - 16) ^ 0xF);
    const int q = lo | (int((qh >> j) & 1u) << 4);
    CHECK(y[std::size_t(j)] == float(q - 16));
  }
}

TEST_CASE("dequantize_row_ref: q6_K and q4_K follow the k-quant layout") {
  // q6_K: element e of a 128 half: l = e % 32, which = e / 32; low nibble from ql, 2 high bits from qh.
  block_q6_K b{};
  b.d = f32_to_f16(0.125f);
  for (int k = 0; k < 16; ++k) b.scales[k] = std::int8_t(k - 8);
  for (int k = 0; k < 128; ++k) b.ql[k] = std::uint8_t(k * 37);
  for (int k = 0; k < 64; ++k) b.qh[k] = std::uint8_t(k * 91 + 3);
  std::vector<float> y(256);
  dequantize_row_ref(ggml_type::q6_k, &b, y.data(), 256);
  for (int e = 0; e < 256; ++e) {
    const int half = e / 128, w = (e % 128) / 32, l = e % 32;
    const int qlb = b.ql[half * 64 + l + (w & 1) * 32];
    const int lo = (w < 2) ? (qlb & 0xF) : (qlb >> 4);
    const int hi = (b.qh[half * 32 + l] >> (2 * w)) & 3;
    const int sc = b.scales[half * 8 + l / 16 + 2 * w];
    CHECK(y[std::size_t(e)] == 0.125f * float(sc) * float((lo | (hi << 4)) - 32));
  }

  // q4_K with the 6-bit scales: sub-block s (32 elements) uses scale/min s.
  block_q4_K k{};
  k.d = f32_to_f16(0.5f);
  k.dmin = f32_to_f16(0.25f);
  const int sc[8] = {1, 63, 17, 5, 33, 2, 60, 9}, mn[8] = {0, 7, 63, 31, 12, 48, 1, 40};
  for (int j = 0; j < 4; ++j) {
    k.scales[j] = std::uint8_t((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    k.scales[j + 4] = std::uint8_t((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
    k.scales[j + 8] = std::uint8_t((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
  }
  for (int j = 0; j < 128; ++j) k.qs[j] = std::uint8_t(j * 13);
  dequantize_row_ref(ggml_type::q4_k, &k, y.data(), 256);
  for (int e = 0; e < 256; ++e) {
    const int s = e / 32, chunk = e / 64, l = e % 32;
    const int qb = k.qs[chunk * 32 + l];
    const int q = (s % 2 == 0) ? (qb & 0xF) : (qb >> 4);
    const float expect = std::fma(0.5f * float(sc[s]), float(q), -(0.25f * float(mn[s])));
    CHECK(y[std::size_t(e)] == expect);
  }
}

TEST_CASE("dequantize_row_ref: errors name the type") {
  std::vector<float> y(256);
  std::vector<std::byte> src(1024);
  CHECK_THROWS_WITH_AS(dequantize_row_ref(ggml_type::iq2_xxs, src.data(), y.data(), 256),
                       "dequantize_row_ref: dequantization of iq2_xxs is not supported", sysout::error);
  CHECK_THROWS_WITH_AS(dequantize_row_ref(ggml_type::q8_0, src.data(), y.data(), 33),
                       doctest::Contains("33 elements is not a whole number of q8_0 blocks"), sysout::error);
  CHECK_THROWS_AS(dequantize_row_ref(ggml_type(77), src.data(), y.data(), 1), sysout::error);
}

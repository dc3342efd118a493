// Highway dequantization == scalar reference, bit for bit: random blocks, the
// extremes of the scales, awkward lengths, and every tensor of the real models.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <random>
#include <vector>

#include "sysout/io/ggml_quants_highway.hpp"
#include "test_support.hpp"

using namespace sysout;
using namespace sysout::io;

namespace {

// Same bits, or both NaN (F16C quiets signalling NaNs; a NaN's payload is not a value).
bool same(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

// Byte offsets of the f16 scale fields inside one block of t.
std::vector<int> half_fields(ggml_type t) {
  switch (t) {
    case ggml_type::q4_0: case ggml_type::q5_0: case ggml_type::q8_0: case ggml_type::iq4_nl: return {0};
    case ggml_type::q4_1: case ggml_type::q5_1: case ggml_type::q4_k: case ggml_type::q5_k: return {0, 2};
    case ggml_type::q6_k: return {208};
    case ggml_type::q2_k: return {80, 82};
    case ggml_type::q3_k: return {108};
    default: return {};
  }
}

// nb random blocks; scales drawn from finite f16 values including the extremes.
std::vector<std::byte> random_blocks(ggml_type t, std::int64_t nb, std::mt19937& rng) {
  const std::int64_t bytes = nb * type_size(t);
  std::vector<std::byte> buf(std::size_t(bytes) + 64);
  for (auto& b : buf) b = std::byte(rng() & 0xFF);
  const std::uint16_t extremes[] = {0x7bff, 0xfbff, 0x0001, 0x8001, 0x0000, 0x8000, 0x0400, 0x3c00, 0x03ff};
  for (std::int64_t i = 0; i < nb; ++i)
    for (int off : half_fields(t)) {
      std::uint16_t h;
      const unsigned pick = rng() % 4;
      if (pick == 0) h = extremes[rng() % 9];
      else {
        do h = std::uint16_t(rng()); while (((h >> 10) & 0x1f) == 0x1f);  // finite
      }
      std::memcpy(buf.data() + i * type_size(t) + off, &h, 2);
    }
  if (t == ggml_type::q8_k)
    for (std::int64_t i = 0; i < nb; ++i) {
      const float d = float(int(rng() % 2001) - 1000) / 7.f;
      std::memcpy(buf.data() + i * type_size(t), &d, 4);
    }
  return buf;
}

void check_row(ggml_type t, const void* src, std::int64_t n, const char* what) {
  std::vector<float> a(std::size_t(n) + 1, -7.f), b(std::size_t(n) + 1, -7.f);
  dequantize_row_ref(t, src, a.data(), n);
  dequantize_row(t, src, b.data(), n);
  std::int64_t bad = 0, first = -1;
  for (std::int64_t i = 0; i < n; ++i)
    if (!same(a[std::size_t(i)], b[std::size_t(i)])) {
      if (first < 0) first = i;
      ++bad;
    }
  CHECK(b[std::size_t(n)] == -7.f);  // no write past the row
  if (bad) {
    FAIL_CHECK(type_name(t), " ", std::string(what), ": ", bad, " of ", n, " differ, first at ", first, ": ref ",
               a[std::size_t(first)], " fast ", b[std::size_t(first)]);
  }
}

}  // namespace

TEST_CASE("dequantize_row (Highway) == dequantize_row_ref on random blocks with extreme scales") {
  std::mt19937 rng(1234);
  const ggml_type types[] = {ggml_type::q4_0, ggml_type::q4_1, ggml_type::q5_0, ggml_type::q5_1,
                             ggml_type::q8_0, ggml_type::q4_k, ggml_type::q5_k, ggml_type::q6_k,
                             ggml_type::q2_k, ggml_type::q3_k, ggml_type::iq4_nl, ggml_type::q8_k};
  for (auto t : types) {
    CAPTURE(type_name(t));
    for (std::int64_t nb : {0, 1, 2, 3, 7, 64}) {
      const auto buf = random_blocks(t, nb, rng);
      check_row(t, buf.data(), nb * block_size(t), "random");
    }
  }
}

TEST_CASE("dequantize_row (Highway): f16 over all 65536 values and bf16 on awkward lengths") {
  std::vector<std::uint16_t> all(65536);
  for (int i = 0; i < 65536; ++i) all[std::size_t(i)] = std::uint16_t(i);
  check_row(ggml_type::f16, all.data(), 65536, "all f16");
  for (std::int64_t n : {0, 1, 7, 15, 16, 17, 33}) {
    check_row(ggml_type::f16, all.data() + 31000, n, "f16 tail");
    check_row(ggml_type::bf16, all.data() + 16000, n, "bf16 tail");
  }
  check_row(ggml_type::bf16, all.data(), 65536, "all bf16");
}

TEST_CASE("dequantize_row (Highway): errors like the reference") {
  std::vector<float> y(64);
  std::vector<std::byte> src(256);
  CHECK_THROWS_WITH_AS(dequantize_row(ggml_type::q4_k, src.data(), y.data(), 32),
                       doctest::Contains("32 elements is not a whole number of q4_K blocks of 256"), sysout::error);
  CHECK_THROWS_WITH_AS(dequantize_row(ggml_type::tq1_0, src.data(), y.data(), 256),
                       doctest::Contains("dequantization of tq1_0 is not supported"), sysout::error);
}

TEST_CASE("dequantize_row (Highway) == reference on every tensor of SmolLM2 and Gemma 3") {
  for (const char* f : {"SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf", "stories260K.gguf"}) {
    SYSOUT_REQUIRE_MODEL(path, f);
    const gguf_file g(path);
    std::int64_t elements = 0;
    for (const auto& t : g.tensors()) {
      CAPTURE(t.name);
      REQUIRE(can_dequantize(t.type));
      // Chunks of rows keep memory small; the comparison covers every row.
      const std::int64_t chunk = std::max<std::int64_t>(1, (1 << 20) / std::max<std::int64_t>(1, t.ne[0]));
      std::vector<float> a, b;
      for (std::int64_t r = 0; r < t.n_rows(); r += chunk) {
        const std::int64_t nr = std::min(chunk, t.n_rows() - r);
        a.resize(std::size_t(nr * t.ne[0]));
        b.resize(a.size());
        dequantize_rows_ref(t, r, nr, a.data());
        dequantize_rows(t, r, nr, b.data());
        std::int64_t bad = 0;
        for (std::size_t i = 0; i < a.size(); ++i) bad += !same(a[i], b[i]);
        if (bad) FAIL_CHECK(std::string(f), " tensor ", t.name, " rows ", r, "+", nr, ": ", bad, " values differ");
        elements += std::int64_t(a.size());
      }
    }
    MESSAGE(std::string(f), ": ", g.tensors().size(), " tensors, ", elements, " values equal bit for bit");
  }
}

// ggml tensor types as GGUF stores them: llama.cpp's numbering (ggml.h, enum
// ggml_type) so that the 32-bit type id read from a file casts straight to
// ggml_type. Ids 4, 5 (Q4_2, Q4_3) and 31-33, 36-38 (repacked Q4_0 layouts)
// were removed from ggml; a file using them is rejected.
//
// A ggml tensor is stored as rows of ne[0] elements; each row is a sequence of
// blocks of block_size elements taking type_size bytes (1 and sizeof(scalar)
// for plain types).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "sysout/core/error.hpp"

namespace sysout::io {

enum class ggml_type : std::uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q5_0 = 6,
  q5_1 = 7,
  q8_0 = 8,
  q8_1 = 9,
  q2_k = 10,
  q3_k = 11,
  q4_k = 12,
  q5_k = 13,
  q6_k = 14,
  q8_k = 15,
  iq2_xxs = 16,
  iq2_xs = 17,
  iq3_xxs = 18,
  iq1_s = 19,
  iq4_nl = 20,
  iq3_s = 21,
  iq2_s = 22,
  iq4_xs = 23,
  i8 = 24,
  i16 = 25,
  i32 = 26,
  i64 = 27,
  f64 = 28,
  iq1_m = 29,
  bf16 = 30,
  tq1_0 = 34,
  tq2_0 = 35,
  mxfp4 = 39,
};

// Number of elements per super-block in the k-quants (QK_K).
inline constexpr std::int64_t qk_k = 256;

struct ggml_type_traits {
  std::string_view name;       // llama.cpp's spelling: "f32", "q4_K", ...
  std::int64_t block_size = 0;  // elements per block (0: unknown / removed id)
  std::int64_t type_size = 0;   // bytes per block
  bool quantized = false;
};

// Traits of a type id; block_size == 0 when the id is not a ggml type.
constexpr ggml_type_traits type_traits(ggml_type t) noexcept {
  switch (t) {
    case ggml_type::f32: return {"f32", 1, 4, false};
    case ggml_type::f16: return {"f16", 1, 2, false};
    case ggml_type::q4_0: return {"q4_0", 32, 18, true};
    case ggml_type::q4_1: return {"q4_1", 32, 20, true};
    case ggml_type::q5_0: return {"q5_0", 32, 22, true};
    case ggml_type::q5_1: return {"q5_1", 32, 24, true};
    case ggml_type::q8_0: return {"q8_0", 32, 34, true};
    case ggml_type::q8_1: return {"q8_1", 32, 36, true};
    case ggml_type::q2_k: return {"q2_K", qk_k, 84, true};
    case ggml_type::q3_k: return {"q3_K", qk_k, 110, true};
    case ggml_type::q4_k: return {"q4_K", qk_k, 144, true};
    case ggml_type::q5_k: return {"q5_K", qk_k, 176, true};
    case ggml_type::q6_k: return {"q6_K", qk_k, 210, true};
    case ggml_type::q8_k: return {"q8_K", qk_k, 292, true};
    case ggml_type::iq2_xxs: return {"iq2_xxs", qk_k, 66, true};
    case ggml_type::iq2_xs: return {"iq2_xs", qk_k, 74, true};
    case ggml_type::iq3_xxs: return {"iq3_xxs", qk_k, 98, true};
    case ggml_type::iq1_s: return {"iq1_s", qk_k, 50, true};
    case ggml_type::iq4_nl: return {"iq4_nl", 32, 18, true};
    case ggml_type::iq3_s: return {"iq3_s", qk_k, 110, true};
    case ggml_type::iq2_s: return {"iq2_s", qk_k, 82, true};
    case ggml_type::iq4_xs: return {"iq4_xs", qk_k, 136, true};
    case ggml_type::i8: return {"i8", 1, 1, false};
    case ggml_type::i16: return {"i16", 1, 2, false};
    case ggml_type::i32: return {"i32", 1, 4, false};
    case ggml_type::i64: return {"i64", 1, 8, false};
    case ggml_type::f64: return {"f64", 1, 8, false};
    case ggml_type::iq1_m: return {"iq1_m", qk_k, 56, true};
    case ggml_type::bf16: return {"bf16", 1, 2, false};
    case ggml_type::tq1_0: return {"tq1_0", qk_k, 54, true};
    case ggml_type::tq2_0: return {"tq2_0", qk_k, 66, true};
    case ggml_type::mxfp4: return {"mxfp4", 32, 17, true};
  }
  return {"?", 0, 0, false};
}

constexpr bool is_known(ggml_type t) noexcept { return type_traits(t).block_size != 0; }
constexpr std::int64_t block_size(ggml_type t) noexcept { return type_traits(t).block_size; }
constexpr std::int64_t type_size(ggml_type t) noexcept { return type_traits(t).type_size; }
constexpr bool is_quantized(ggml_type t) noexcept { return type_traits(t).quantized; }

// "q4_K" for known ids, "type id 4" for the rest (messages must name what they saw).
inline std::string type_name(ggml_type t) {
  if (is_known(t)) return std::string(type_traits(t).name);
  return "unknown type id " + std::to_string(std::uint32_t(t));
}

// Bytes of a row of n elements. Throws when n is negative or not a whole number of
// blocks (ggml requires ne[0] % block_size == 0) or when the type is unknown.
inline std::int64_t row_size(ggml_type t, std::int64_t n) {
  const auto tr = type_traits(t);
  if (tr.block_size == 0) throw_error("row_size", type_name(t), " is not a ggml type");
  if (n < 0 || n % tr.block_size != 0)
    throw_error("row_size", "a row of ", n, " elements is not a whole number of ", tr.name, " blocks of ",
                tr.block_size);
  return (n / tr.block_size) * tr.type_size;
}

}  // namespace sysout::io

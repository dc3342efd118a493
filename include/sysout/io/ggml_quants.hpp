// ggml block quantizations: the block structs exactly as llama.cpp lays them
// out (ggml-common.h) and plain scalar dequantization, the reference every
// fast path (ggml_quants_highway.hpp) is held against.
//
// Arithmetic follows ggml-quants.c (dequantize_row_*) operation by operation.
// Every product here is exact in f32: a scale is an f16 (11 significant bits)
// times a small integer sub-scale (<= 8 bits), times a quant (<= 6 bits), so
// at most 25 bits, and only q6_K's last product can round. Hence each output
// is the exact value or one correctly rounded operation, whatever the order
// of the multiplications and whether `a * q - m` is fused into an FMA. Any
// correct implementation (ggml, the gguf Python package, our Highway kernels)
// gives the same bits, which is what the tests assert.
//
// Source pointers must be aligned as the block structs (2 bytes; 4 for q8_K),
// which GGUF's 32-byte tensor alignment guarantees.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "sysout/core/error.hpp"
#include "sysout/core/half.hpp"
#include "sysout/io/ggml_types.hpp"

namespace sysout::io {

// ggml_half is IEEE binary16 stored as raw bits.
using ggml_half = std::uint16_t;

inline constexpr int qk4_0 = 32, qk4_1 = 32, qk5_0 = 32, qk5_1 = 32, qk8_0 = 32, qk4_nl = 32;

struct block_q4_0 {
  ggml_half d;              // delta
  std::uint8_t qs[qk4_0 / 2];  // nibbles: element j in the low nibble of qs[j], j+16 in the high one
};
struct block_q4_1 {
  ggml_half d;  // delta
  ggml_half m;  // min
  std::uint8_t qs[qk4_1 / 2];
};
struct block_q5_0 {
  ggml_half d;
  std::uint8_t qh[4];  // 5th bit of each of the 32 elements (little-endian uint32)
  std::uint8_t qs[qk5_0 / 2];
};
struct block_q5_1 {
  ggml_half d;
  ggml_half m;
  std::uint8_t qh[4];
  std::uint8_t qs[qk5_1 / 2];
};
struct block_q8_0 {
  ggml_half d;
  std::int8_t qs[qk8_0];
};
struct block_q8_1 {
  ggml_half d;
  ggml_half s;  // d * sum(qs)
  std::int8_t qs[qk8_0];
};
struct block_iq4_nl {
  ggml_half d;
  std::uint8_t qs[qk4_nl / 2];
};

// k-quants: super-blocks of 256 elements (QK_K) split into sub-blocks with
// their own small scales (and mins), which are themselves quantized.
struct block_q2_K {
  std::uint8_t scales[qk_k / 16];  // 4-bit scale (low) and min (high) per 16 elements
  std::uint8_t qs[qk_k / 4];       // 2-bit quants
  ggml_half d;                     // super-block scale for the scales
  ggml_half dmin;                  // super-block scale for the mins
};
struct block_q3_K {
  std::uint8_t hmask[qk_k / 8];  // high bit of each quant
  std::uint8_t qs[qk_k / 4];     // low 2 bits
  std::uint8_t scales[12];       // 16 6-bit scales, packed
  ggml_half d;
};
struct block_q4_K {
  ggml_half d;
  ggml_half dmin;
  std::uint8_t scales[12];     // 8 6-bit scales and 8 6-bit mins, packed (get_scale_min_k4)
  std::uint8_t qs[qk_k / 2];   // 4-bit quants
};
struct block_q5_K {
  ggml_half d;
  ggml_half dmin;
  std::uint8_t scales[12];
  std::uint8_t qh[qk_k / 8];  // 5th bits
  std::uint8_t qs[qk_k / 2];
};
struct block_q6_K {
  std::uint8_t ql[qk_k / 2];      // low 4 bits
  std::uint8_t qh[qk_k / 4];      // high 2 bits
  std::int8_t scales[qk_k / 16];  // 8-bit scales per 16 elements
  ggml_half d;
};
struct block_q8_K {
  float d;
  std::int8_t qs[qk_k];
  std::int16_t bsums[qk_k / 16];
};

static_assert(sizeof(block_q4_0) == 18 && sizeof(block_q4_0) == type_size(ggml_type::q4_0));
static_assert(sizeof(block_q4_1) == 20 && sizeof(block_q4_1) == type_size(ggml_type::q4_1));
static_assert(sizeof(block_q5_0) == 22 && sizeof(block_q5_0) == type_size(ggml_type::q5_0));
static_assert(sizeof(block_q5_1) == 24 && sizeof(block_q5_1) == type_size(ggml_type::q5_1));
static_assert(sizeof(block_q8_0) == 34 && sizeof(block_q8_0) == type_size(ggml_type::q8_0));
static_assert(sizeof(block_q8_1) == 36 && sizeof(block_q8_1) == type_size(ggml_type::q8_1));
static_assert(sizeof(block_iq4_nl) == 18 && sizeof(block_iq4_nl) == type_size(ggml_type::iq4_nl));
static_assert(sizeof(block_q2_K) == 84 && sizeof(block_q2_K) == type_size(ggml_type::q2_k));
static_assert(sizeof(block_q3_K) == 110 && sizeof(block_q3_K) == type_size(ggml_type::q3_k));
static_assert(sizeof(block_q4_K) == 144 && sizeof(block_q4_K) == type_size(ggml_type::q4_k));
static_assert(sizeof(block_q5_K) == 176 && sizeof(block_q5_K) == type_size(ggml_type::q5_k));
static_assert(sizeof(block_q6_K) == 210 && sizeof(block_q6_K) == type_size(ggml_type::q6_k));
static_assert(sizeof(block_q8_K) == 292 && sizeof(block_q8_K) == type_size(ggml_type::q8_k));

// Non-linear 4-bit codebook of iq4_nl (ggml-common.h kvalues_iq4nl).
inline constexpr std::int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                  1,    13,   25,  38,  53,  69,  89,  113};

// The 6-bit scale and min j (0..7) of a q4_K / q5_K block (ggml get_scale_min_k4).
inline void get_scale_min_k4(int j, const std::uint8_t* q, std::uint8_t& d, std::uint8_t& m) noexcept {
  if (j < 4) {
    d = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    d = std::uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    m = std::uint8_t((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
  }
}

namespace ref {

inline float h2f(ggml_half h) noexcept { return f16_to_f32(h); }

inline void dequantize_q4_0(const block_q4_0* x, float* y, std::int64_t nb) noexcept {
  for (std::int64_t i = 0; i < nb; ++i, y += qk4_0) {
    const float d = h2f(x[i].d);
    for (int j = 0; j < qk4_0 / 2; ++j) {
      const int x0 = (x[i].qs[j] & 0x0F) - 8;
      const int x1 = (x[i].qs[j] >> 4) - 8;
      y[j] = float(x0) * d;
      y[j + qk4_0 / 2] = float(x1) * d;
    }
  }
}

inline void dequantize_q4_1(const block_q4_1* x, float* y, std::int64_t nb) noexcept {
  for (std::int64_t i = 0; i < nb; ++i, y += qk4_1) {
    const float d = h2f(x[i].d), m = h2f(x[i].m);
    for (int j = 0; j < qk4_1 / 2; ++j) {
      y[j] = float(x[i].qs[j] & 0x0F) * d + m;
      y[j + qk4_1 / 2] = float(x[i].qs[j] >> 4) * d + m;
    }
  }
}

inline void dequantize_q5_0(const block_q5_0* x, float* y, std::int64_t nb) noexcept {
  for (std::int64_t i = 0; i < nb; ++i, y += qk5_0) {
    const float d = h2f(x[i].d);
    std::uint32_t qh;
    std::memcpy(&qh, x[i].qh, sizeof(qh));
    for (int j = 0; j < qk5_0 / 2; ++j) {
      const std::uint8_t xh_0 = std::uint8_t(((qh >> (j + 0)) << 4) & 0x10);
      const std::uint8_t xh_1 = std::uint8_t(((qh >> (j + 12))) & 0x10);
      const int x0 = ((x[i].qs[j] & 0x0F) | xh_0) - 16;
      const int x1 = ((x[i].qs[j] >> 4) | xh_1) - 16;
      y[j] = float(x0) * d;
      y[j + qk5_0 / 2] = float(x1) * d;
    }
  }
}

inline void dequantize_q5_1(const block_q5_1* x, float* y, std::int64_t nb) noexcept {
  for (std::int64_t i = 0; i < nb; ++i, y += qk5_1) {
    const float d = h2f(x[i].d), m = h2f(x[i].m);
    std::uint32_t qh;
    std::memcpy(&qh, x[i].qh, sizeof(qh));
    for (int j = 0; j < qk5_1 / 2; ++j) {
      const std::uint8_t xh_0 = std::uint8_t(((qh >> (j + 0)) << 4) & 0x10);
      const std::uint8_t xh_1 = std::uint8_t(((qh >> (j + 12))) & 0x10);
      const int x0 = (x[i].qs[j] & 0x0F) | xh_0;
      const int x1 = (x[i].qs[j] >> 4) | xh_1;
      y[j] = float(x0) * d + m;
      y[j + qk5_1 / 2] = float(x1) * d + m;
    }
  }
}

inline void dequantize_q8_0(const block_q8_0* x, float* y, std::int64_t nb) noexcept {
  for (std::int64_t i = 0; i < nb; ++i, y += qk8_0) {
    const float d = h2f(x[i].d);
    for (int j = 0; j < qk8_0; ++j) y[j] = float(x[i].qs[j]) * d;
  }
}

inline void dequantize_iq4_nl(const block_iq4_nl* x, float* y, std::int64_t nb) noexcept {
  for (std::int64_t i = 0; i < nb; ++i, y += qk4_nl) {
    const float d = h2f(x[i].d);
    for (int j = 0; j < qk4_nl / 2; ++j) {
      y[j] = d * float(kvalues_iq4nl[x[i].qs[j] & 0xf]);
      y[j + qk4_nl / 2] = d * float(kvalues_iq4nl[x[i].qs[j] >> 4]);
    }
  }
}

inline void dequantize_q2_K(const block_q2_K* x, float* y, std::int64_t nb) noexcept {
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = h2f(x[i].d), dmin = h2f(x[i].dmin);
    const std::uint8_t* q = x[i].qs;
    int is = 0;
    for (int n = 0; n < qk_k; n += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        std::uint8_t sc = x[i].scales[is++];
        float dl = d * float(sc & 0xF), ml = dmin * float(sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * float((q[l] >> shift) & 3) - ml;
        sc = x[i].scales[is++];
        dl = d * float(sc & 0xF);
        ml = dmin * float(sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * float((q[l + 16] >> shift) & 3) - ml;
        shift += 2;
      }
      q += 32;
    }
  }
}

inline void dequantize_q3_K(const block_q3_K* x, float* y, std::int64_t nb) noexcept {
  constexpr std::uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d_all = h2f(x[i].d);
    const std::uint8_t* q = x[i].qs;
    const std::uint8_t* hm = x[i].hmask;
    std::uint8_t m = 1;
    std::uint32_t aux[4];
    std::memcpy(aux, x[i].scales, 12);
    const std::uint32_t tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    std::int8_t scales[16];
    std::memcpy(scales, aux, 16);
    int is = 0;
    for (int n = 0; n < qk_k; n += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        float dl = d_all * float(scales[is++] - 32);
        for (int l = 0; l < 16; ++l)
          *y++ = dl * float(int((q[l + 0] >> shift) & 3) - ((hm[l + 0] & m) ? 0 : 4));
        dl = d_all * float(scales[is++] - 32);
        for (int l = 0; l < 16; ++l)
          *y++ = dl * float(int((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
        shift += 2;
        m = std::uint8_t(m << 1);
      }
      q += 32;
    }
  }
}

inline void dequantize_q4_K(const block_q4_K* x, float* y, std::int64_t nb) noexcept {
  for (std::int64_t i = 0; i < nb; ++i) {
    const std::uint8_t* q = x[i].qs;
    const float d = h2f(x[i].d), dmin = h2f(x[i].dmin);
    int is = 0;
    std::uint8_t sc, m;
    for (int j = 0; j < qk_k; j += 64) {
      get_scale_min_k4(is + 0, x[i].scales, sc, m);
      const float d1 = d * float(sc), m1 = dmin * float(m);
      get_scale_min_k4(is + 1, x[i].scales, sc, m);
      const float d2 = d * float(sc), m2 = dmin * float(m);
      for (int l = 0; l < 32; ++l) *y++ = d1 * float(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * float(q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

inline void dequantize_q5_K(const block_q5_K* x, float* y, std::int64_t nb) noexcept {
  for (std::int64_t i = 0; i < nb; ++i) {
    const std::uint8_t* ql = x[i].qs;
    const std::uint8_t* qh = x[i].qh;
    const float d = h2f(x[i].d), dmin = h2f(x[i].dmin);
    int is = 0;
    std::uint8_t sc, m, u1 = 1, u2 = 2;
    for (int j = 0; j < qk_k; j += 64) {
      get_scale_min_k4(is + 0, x[i].scales, sc, m);
      const float d1 = d * float(sc), m1 = dmin * float(m);
      get_scale_min_k4(is + 1, x[i].scales, sc, m);
      const float d2 = d * float(sc), m2 = dmin * float(m);
      for (int l = 0; l < 32; ++l) *y++ = d1 * float((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * float((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      is += 2;
      u1 = std::uint8_t(u1 << 2);
      u2 = std::uint8_t(u2 << 2);
    }
  }
}

inline void dequantize_q6_K(const block_q6_K* x, float* y, std::int64_t nb) noexcept {
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = h2f(x[i].d);
    const std::uint8_t* ql = x[i].ql;
    const std::uint8_t* qh = x[i].qh;
    const std::int8_t* sc = x[i].scales;
    for (int n = 0; n < qk_k; n += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = int((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = int((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        // ggml: d * sc[is] * q, i.e. (d * sc) * q, two roundings in this order.
        y[l + 0] = d * float(sc[is + 0]) * float(q1);
        y[l + 32] = d * float(sc[is + 2]) * float(q2);
        y[l + 64] = d * float(sc[is + 4]) * float(q3);
        y[l + 96] = d * float(sc[is + 6]) * float(q4);
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

inline void dequantize_q8_K(const block_q8_K* x, float* y, std::int64_t nb) noexcept {
  for (std::int64_t i = 0; i < nb; ++i, y += qk_k)
    for (int j = 0; j < qk_k; ++j) y[j] = x[i].d * float(x[i].qs[j]);
}

}  // namespace ref

// Whether dequantize_row_ref handles this type.
constexpr bool can_dequantize(ggml_type t) noexcept {
  switch (t) {
    case ggml_type::f32: case ggml_type::f16: case ggml_type::bf16: case ggml_type::f64:
    case ggml_type::i8: case ggml_type::i16: case ggml_type::i32:
    case ggml_type::q4_0: case ggml_type::q4_1: case ggml_type::q5_0: case ggml_type::q5_1:
    case ggml_type::q8_0: case ggml_type::iq4_nl: case ggml_type::q2_k: case ggml_type::q3_k:
    case ggml_type::q4_k: case ggml_type::q5_k: case ggml_type::q6_k: case ggml_type::q8_k:
      return true;
    default:
      return false;
  }
}

// Throws unless n elements of type t can be dequantized (known, supported, whole blocks).
inline void check_dequantize_args(ggml_type t, std::int64_t n, const char* where) {
  if (!can_dequantize(t)) throw_error(where, "dequantization of ", type_name(t), " is not supported");
  if (n < 0 || n % block_size(t) != 0)
    throw_error(where, n, " elements is not a whole number of ", type_name(t), " blocks of ", block_size(t));
}

// Scalar reference: n elements (a multiple of the block size) of type t at src -> f32.
inline void dequantize_row_ref(ggml_type t, const void* src, float* dst, std::int64_t n) {
  check_dequantize_args(t, n, "dequantize_row_ref");
  const std::int64_t nb = n / block_size(t);
  switch (t) {
    case ggml_type::f32: if (n) std::memcpy(dst, src, std::size_t(n) * 4); return;
    case ggml_type::f16: {
      const auto* s = static_cast<const std::uint16_t*>(src);
      for (std::int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case ggml_type::bf16: {
      const auto* s = static_cast<const std::uint16_t*>(src);
      for (std::int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case ggml_type::f64: {
      const auto* s = static_cast<const double*>(src);
      for (std::int64_t i = 0; i < n; ++i) dst[i] = float(s[i]);
      return;
    }
    case ggml_type::i8: {
      const auto* s = static_cast<const std::int8_t*>(src);
      for (std::int64_t i = 0; i < n; ++i) dst[i] = float(s[i]);
      return;
    }
    case ggml_type::i16: {
      const auto* s = static_cast<const std::int16_t*>(src);
      for (std::int64_t i = 0; i < n; ++i) dst[i] = float(s[i]);
      return;
    }
    case ggml_type::i32: {
      const auto* s = static_cast<const std::int32_t*>(src);
      for (std::int64_t i = 0; i < n; ++i) dst[i] = float(s[i]);
      return;
    }
    case ggml_type::q4_0: ref::dequantize_q4_0(static_cast<const block_q4_0*>(src), dst, nb); return;
    case ggml_type::q4_1: ref::dequantize_q4_1(static_cast<const block_q4_1*>(src), dst, nb); return;
    case ggml_type::q5_0: ref::dequantize_q5_0(static_cast<const block_q5_0*>(src), dst, nb); return;
    case ggml_type::q5_1: ref::dequantize_q5_1(static_cast<const block_q5_1*>(src), dst, nb); return;
    case ggml_type::q8_0: ref::dequantize_q8_0(static_cast<const block_q8_0*>(src), dst, nb); return;
    case ggml_type::iq4_nl: ref::dequantize_iq4_nl(static_cast<const block_iq4_nl*>(src), dst, nb); return;
    case ggml_type::q2_k: ref::dequantize_q2_K(static_cast<const block_q2_K*>(src), dst, nb); return;
    case ggml_type::q3_k: ref::dequantize_q3_K(static_cast<const block_q3_K*>(src), dst, nb); return;
    case ggml_type::q4_k: ref::dequantize_q4_K(static_cast<const block_q4_K*>(src), dst, nb); return;
    case ggml_type::q5_k: ref::dequantize_q5_K(static_cast<const block_q5_K*>(src), dst, nb); return;
    case ggml_type::q6_k: ref::dequantize_q6_K(static_cast<const block_q6_K*>(src), dst, nb); return;
    case ggml_type::q8_k: ref::dequantize_q8_K(static_cast<const block_q8_K*>(src), dst, nb); return;
    default: break;
  }
  throw_error("dequantize_row_ref", "dequantization of ", type_name(t), " is not supported");
}

}  // namespace sysout::io

// Highway (static dispatch) dequantization of ggml blocks into f32: the fast
// twin of ggml_quants.hpp's scalar reference. Needs Highway (target
// sysout::highway); compile with the flags of the target you run on
// (-march=native in sysout's own programs).
//
// Vectorized: f16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K, q6_K; every
// other type falls back to dequantize_row_ref (bf16 too: GCC vectorizes its
// shift-only widening as well as a hand-written kernel, see bench/io_dequant). Results equal the
// reference bit for bit: each output is an exact product or one correctly
// rounded operation computed in the same order (see ggml_quants.hpp), which
// tests/io/test_quants_highway.cpp checks on random blocks, on the extremes
// of the scales and on every tensor of the real models. The one exception is
// f16 signalling NaNs, which the F16C conversion quiets (still NaN).
//
// Vectors are capped at 16 f32 lanes so that one vector never straddles a
// 16-element group of a block (ggml's sub-block granularity).
#pragma once
// Highway 1.0.3 stops with "best baseline should be included in dynamic
// targets" under -march=native on AVX-512 "DL" CPUs (Ice Lake and later):
// its baseline then has AVX3_DL, which it counts as attainable only when asked.
// Static dispatch makes the request harmless elsewhere. (Must come before the
// first <hwy/highway.h> of the translation unit.)
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#include <hwy/highway.h>

#include <cstdint>
#include <cstring>

#include "sysout/io/ggml_quants.hpp"

namespace sysout::io {
namespace hwy_quants {

namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::CappedTag<float, 16>;
using DI = hn::Rebind<std::int32_t, DF>;
using DU8 = hn::Rebind<std::uint8_t, DF>;
using DI8 = hn::Rebind<std::int8_t, DF>;
using DU16 = hn::Rebind<std::uint16_t, DF>;
using DU32 = hn::Rebind<std::uint32_t, DF>;

// bit k set in lane k: selects element k's high bit from q5's 32-bit qh.
alignas(64) inline constexpr std::int32_t lane_bits[32] = {
    1 << 0,  1 << 1,  1 << 2,  1 << 3,  1 << 4,  1 << 5,  1 << 6,  1 << 7,  1 << 8,  1 << 9,  1 << 10,
    1 << 11, 1 << 12, 1 << 13, 1 << 14, 1 << 15, 1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 21,
    1 << 22, 1 << 23, 1 << 24, 1 << 25, 1 << 26, 1 << 27, 1 << 28, 1 << 29, 1 << 30, std::int32_t(1u << 31)};

// N bytes at p, widened to i32 lanes.
inline hn::Vec<DI> load_u8(const std::uint8_t* p) { return hn::PromoteTo(DI(), hn::LoadU(DU8(), p)); }
inline hn::Vec<DI> load_i8(const std::int8_t* p) { return hn::PromoteTo(DI(), hn::LoadU(DI8(), p)); }
inline hn::Vec<DF> to_f(hn::Vec<DI> v) { return hn::ConvertTo(DF(), v); }

inline void f16_row(const std::uint16_t* s, float* y, std::int64_t n) {
  const DF df;
  const hn::Rebind<hwy::float16_t, DF> dh;
  const std::int64_t N = std::int64_t(hn::Lanes(df));
  std::int64_t i = 0;
  for (; i + N <= n; i += N)
    hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(s + i))), df, y + i);
  for (; i < n; ++i) y[i] = f16_to_f32(s[i]);
}

inline void q4_0_row(const block_q4_0* x, float* y, std::int64_t nb) {
  const DF df;
  const DI di;
  const int N = int(hn::Lanes(df));
  const auto mask = hn::Set(di, 0xF), eight = hn::Set(di, 8);
  for (std::int64_t i = 0; i < nb; ++i, y += 32) {
    const auto d = hn::Set(df, f16_to_f32(x[i].d));
    for (int j = 0; j < 16; j += N) {
      const auto q = load_u8(x[i].qs + j);
      hn::StoreU(hn::Mul(to_f(hn::Sub(hn::And(q, mask), eight)), d), df, y + j);
      hn::StoreU(hn::Mul(to_f(hn::Sub(hn::ShiftRight<4>(q), eight)), d), df, y + j + 16);
    }
  }
}

inline void q4_1_row(const block_q4_1* x, float* y, std::int64_t nb) {
  const DF df;
  const DI di;
  const int N = int(hn::Lanes(df));
  const auto mask = hn::Set(di, 0xF);
  for (std::int64_t i = 0; i < nb; ++i, y += 32) {
    const auto d = hn::Set(df, f16_to_f32(x[i].d)), m = hn::Set(df, f16_to_f32(x[i].m));
    for (int j = 0; j < 16; j += N) {
      const auto q = load_u8(x[i].qs + j);
      hn::StoreU(hn::Add(hn::Mul(to_f(hn::And(q, mask)), d), m), df, y + j);
      hn::StoreU(hn::Add(hn::Mul(to_f(hn::ShiftRight<4>(q)), d), m), df, y + j + 16);
    }
  }
}

// q5_0 / q5_1 share the 5th-bit extraction; Min says whether a min is added (q5_1) or 16 subtracted (q5_0).
template <bool Min, class Block>
inline void q5_row(const Block* x, float* y, std::int64_t nb) {
  const DF df;
  const DI di;
  const int N = int(hn::Lanes(df));
  const auto mask = hn::Set(di, 0xF), sixteen = hn::Set(di, 16), zero = hn::Zero(di);
  for (std::int64_t i = 0; i < nb; ++i, y += 32) {
    const auto d = hn::Set(df, f16_to_f32(x[i].d));
    std::uint32_t qh32;
    std::memcpy(&qh32, x[i].qh, 4);
    const auto qh = hn::Set(di, std::int32_t(qh32));
    for (int j = 0; j < 16; j += N) {
      const auto q = load_u8(x[i].qs + j);
      const auto h0 = hn::IfThenElse(hn::TestBit(qh, hn::Load(di, lane_bits + j)), sixteen, zero);
      const auto h1 = hn::IfThenElse(hn::TestBit(qh, hn::Load(di, lane_bits + 16 + j)), sixteen, zero);
      auto q0 = hn::Or(hn::And(q, mask), h0);
      auto q1 = hn::Or(hn::ShiftRight<4>(q), h1);
      if constexpr (Min) {
        const auto m = hn::Set(df, f16_to_f32(x[i].m));
        hn::StoreU(hn::Add(hn::Mul(to_f(q0), d), m), df, y + j);
        hn::StoreU(hn::Add(hn::Mul(to_f(q1), d), m), df, y + j + 16);
      } else {
        hn::StoreU(hn::Mul(to_f(hn::Sub(q0, sixteen)), d), df, y + j);
        hn::StoreU(hn::Mul(to_f(hn::Sub(q1, sixteen)), d), df, y + j + 16);
      }
    }
  }
}

inline void q8_0_row(const block_q8_0* x, float* y, std::int64_t nb) {
  const DF df;
  const int N = int(hn::Lanes(df));
  for (std::int64_t i = 0; i < nb; ++i, y += 32) {
    const auto d = hn::Set(df, f16_to_f32(x[i].d));
    for (int j = 0; j < 32; j += N) hn::StoreU(hn::Mul(to_f(load_i8(x[i].qs + j)), d), df, y + j);
  }
}

// q4_K and q5_K: 4 chunks of 64 elements; chunk c uses scale/min 2c (low nibbles) and 2c+1 (high nibbles).
template <bool Q5, class Block>
inline void qk45_row(const Block* x, float* y, std::int64_t nb) {
  const DF df;
  const DI di;
  const int N = int(hn::Lanes(df));
  const auto mask = hn::Set(di, 0xF), sixteen = hn::Set(di, 16), zero = hn::Zero(di);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d), dmin = f16_to_f32(x[i].dmin);
    const std::uint8_t* q = x[i].qs;
    for (int c = 0; c < 4; ++c, q += 32, y += 64) {
      std::uint8_t sc, m;
      get_scale_min_k4(2 * c, x[i].scales, sc, m);
      const auto d1 = hn::Set(df, d * float(sc)), m1 = hn::Set(df, dmin * float(m));
      get_scale_min_k4(2 * c + 1, x[i].scales, sc, m);
      const auto d2 = hn::Set(df, d * float(sc)), m2 = hn::Set(df, dmin * float(m));
      for (int l = 0; l < 32; l += N) {
        const auto qb = load_u8(q + l);
        auto lo = hn::And(qb, mask), hi = hn::ShiftRight<4>(qb);
        if constexpr (Q5) {
          const auto h = load_u8(x[i].qh + l);
          lo = hn::Add(lo, hn::IfThenElse(hn::TestBit(h, hn::Set(di, 1 << (2 * c))), sixteen, zero));
          hi = hn::Add(hi, hn::IfThenElse(hn::TestBit(h, hn::Set(di, 2 << (2 * c))), sixteen, zero));
        }
        hn::StoreU(hn::Sub(hn::Mul(d1, to_f(lo)), m1), df, y + l);
        hn::StoreU(hn::Sub(hn::Mul(d2, to_f(hi)), m2), df, y + 32 + l);
      }
    }
  }
}

inline void q6_K_row(const block_q6_K* x, float* y, std::int64_t nb) {
  const DF df;
  const DI di;
  const int N = int(hn::Lanes(df));
  const auto mask = hn::Set(di, 0xF), three = hn::Set(di, 3), c32 = hn::Set(di, 32);
  for (std::int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    const std::uint8_t* ql = x[i].ql;
    const std::uint8_t* qh = x[i].qh;
    const std::int8_t* sc = x[i].scales;
    for (int n = 0; n < qk_k; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; l += N) {
        const int is = l / 16;  // N <= 16 and divides 16: one scale per vector
        const auto a = load_u8(ql + l), b = load_u8(ql + l + 32), h = load_u8(qh + l);
        const auto q1 = hn::Sub(hn::Or(hn::And(a, mask), hn::ShiftLeft<4>(hn::And(h, three))), c32);
        const auto q2 =
            hn::Sub(hn::Or(hn::And(b, mask), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<2>(h), three))), c32);
        const auto q3 = hn::Sub(hn::Or(hn::ShiftRight<4>(a), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<4>(h), three))),
                                c32);
        const auto q4 = hn::Sub(hn::Or(hn::ShiftRight<4>(b), hn::ShiftLeft<4>(hn::ShiftRight<6>(h))), c32);
        // (d * sc) * q as in ggml; d * sc is exact.
        hn::StoreU(hn::Mul(hn::Set(df, d * float(sc[is + 0])), to_f(q1)), df, y + l);
        hn::StoreU(hn::Mul(hn::Set(df, d * float(sc[is + 2])), to_f(q2)), df, y + l + 32);
        hn::StoreU(hn::Mul(hn::Set(df, d * float(sc[is + 4])), to_f(q3)), df, y + l + 64);
        hn::StoreU(hn::Mul(hn::Set(df, d * float(sc[is + 6])), to_f(q4)), df, y + l + 96);
      }
    }
  }
}

}  // namespace hwy_quants

// Whether dequantize_row has a vectorized kernel for t (others use the reference).
constexpr bool has_fast_dequantize(ggml_type t) noexcept {
  switch (t) {
    case ggml_type::f16: case ggml_type::q4_0: case ggml_type::q4_1:
    case ggml_type::q5_0: case ggml_type::q5_1: case ggml_type::q8_0: case ggml_type::q4_k:
    case ggml_type::q5_k: case ggml_type::q6_k:
      return true;
    default:
      return false;
  }
}

// n elements (a multiple of the block size) of type t at src -> f32 at dst.
inline void dequantize_row(ggml_type t, const void* src, float* dst, std::int64_t n) {
  check_dequantize_args(t, n, "dequantize_row");
  const std::int64_t nb = n / block_size(t);
  namespace hq = hwy_quants;
  switch (t) {
    case ggml_type::f16: hq::f16_row(static_cast<const std::uint16_t*>(src), dst, n); return;
    case ggml_type::q4_0: hq::q4_0_row(static_cast<const block_q4_0*>(src), dst, nb); return;
    case ggml_type::q4_1: hq::q4_1_row(static_cast<const block_q4_1*>(src), dst, nb); return;
    case ggml_type::q5_0: hq::q5_row<false>(static_cast<const block_q5_0*>(src), dst, nb); return;
    case ggml_type::q5_1: hq::q5_row<true>(static_cast<const block_q5_1*>(src), dst, nb); return;
    case ggml_type::q8_0: hq::q8_0_row(static_cast<const block_q8_0*>(src), dst, nb); return;
    case ggml_type::q4_k: hq::qk45_row<false>(static_cast<const block_q4_K*>(src), dst, nb); return;
    case ggml_type::q5_k: hq::qk45_row<true>(static_cast<const block_q5_K*>(src), dst, nb); return;
    case ggml_type::q6_k: hq::q6_K_row(static_cast<const block_q6_K*>(src), dst, nb); return;
    default: dequantize_row_ref(t, src, dst, n); return;
  }
}

}  // namespace sysout::io

// ---- whole tensors / row ranges of a GGUF file, through the fast kernels ----
#include "sysout/io/gguf.hpp"

namespace sysout::io {

// Rows [row_begin, row_begin + n_rows) of t into dst (n_rows * ne[0] floats).
inline void dequantize_rows(const gguf_tensor_info& t, std::int64_t row_begin, std::int64_t n_rows, float* dst) {
  dequantize_rows_with(t, row_begin, n_rows, dst,
                       [](ggml_type ty, const void* src, float* d, std::int64_t n) { dequantize_row(ty, src, d, n); });
}

// Whole tensor as an owning f32 tensor of shape t.shape() (row-major, [ne1, ne0] for a matrix).
inline tensor<float> dequantize(const gguf_tensor_info& t) {
  return dequantize_with(t, [](ggml_type ty, const void* src, float* d, std::int64_t n) { dequantize_row(ty, src, d, n); });
}

}  // namespace sysout::io

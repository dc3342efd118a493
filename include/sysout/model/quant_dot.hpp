// Quantized weight x activation dot products, the way llama.cpp computes them
// (ggml-quants.c / ggml-cpu quants.c): the activation row is quantized once to
// 8-bit blocks that match the weight's block structure (Q8_0 for Q4_0/Q5_0/Q8_0,
// Q8_1 for Q4_1/Q5_1, Q8_K for the k-quants), and each weight block is dotted in
// integers and scaled once per block. This file is the plain scalar reference;
// model/quant_dot_highway.hpp has the SIMD twins that tests hold against it.
//
// Types without a dot kernel here fall back to dequantize-then-f32 dot
// (activation_format::f32), which is correct for any type io can dequantize.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "sysout/core/half.hpp"
#include "sysout/io/ggml_quants.hpp"
#include "sysout/io/ggml_types.hpp"

namespace sysout::model {

using io::ggml_type;

// How an activation row must be prepared to be dotted with a weight row of a type.
enum class activation_format : std::uint8_t { f32, q8_0, q8_1, q8_k };

constexpr activation_format activation_format_for(ggml_type t) noexcept {
  switch (t) {
    case ggml_type::q4_0: case ggml_type::q5_0: case ggml_type::q8_0: return activation_format::q8_0;
    case ggml_type::q4_1: case ggml_type::q5_1: return activation_format::q8_1;
    case ggml_type::q4_k: case ggml_type::q6_k: return activation_format::q8_k;
    default: return activation_format::f32;
  }
}

// Bytes of one prepared activation row of n elements.
inline std::size_t activation_row_bytes(activation_format f, std::int64_t n) {
  switch (f) {
    case activation_format::f32: return std::size_t(n) * 4;
    case activation_format::q8_0: return std::size_t(n / 32) * sizeof(io::block_q8_0);
    case activation_format::q8_1: return std::size_t(n / 32) * sizeof(io::block_q8_1);
    case activation_format::q8_k: return std::size_t(n / io::qk_k) * sizeof(io::block_q8_K);
  }
  return 0;
}

namespace ref {

// Activation rows are quantized as ggml-cpu does on x86 (AVX2/AVX-512 paths of
// quantize_row_q8_0 / q8_1): id = 127/amax, q = round-half-even(x * id),
// d = amax/127 stored as f16. (ggml's portable *_ref uses x * (1/d) and
// round-half-away; the two differ by one quantum on near-ties, and a 30-layer
// model with massive activations amplifies that into ~0.1-0.5 logit differences,
// so we follow the code path llama.cpp actually runs here.)
inline void quantize_row_q8_0(const float* x, io::block_q8_0* y, std::int64_t n) noexcept {
  for (std::int64_t i = 0; i < n / 32; ++i) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[i * 32 + j]));
    const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
    y[i].d = f32_to_f16(d);
    for (int j = 0; j < 32; ++j) y[i].qs[j] = std::int8_t(std::nearbyint(x[i * 32 + j] * id));
  }
}

// As q8_0, plus s = d * sum(q) for the min term of q4_1/q5_1.
inline void quantize_row_q8_1(const float* x, io::block_q8_1* y, std::int64_t n) noexcept {
  for (std::int64_t i = 0; i < n / 32; ++i) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[i * 32 + j]));
    const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
    y[i].d = f32_to_f16(d);
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
      const int q = int(std::nearbyint(x[i * 32 + j] * id));
      y[i].qs[j] = std::int8_t(q);
      sum += q;
    }
    y[i].s = f32_to_f16(d * float(sum));
  }
}

// ggml quantize_row_q8_K_ref: scale from the signed max, sums per 16 for the k-quant mins.
inline void quantize_row_q8_K(const float* x, io::block_q8_K* y, std::int64_t n) noexcept {
  for (std::int64_t i = 0; i < n / io::qk_k; ++i, x += io::qk_k) {
    float max = 0.0f, amax = 0.0f;
    for (int j = 0; j < io::qk_k; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      y[i].d = 0.0f;
      std::memset(y[i].qs, 0, sizeof y[i].qs);
      std::memset(y[i].bsums, 0, sizeof y[i].bsums);
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < io::qk_k; ++j) {
      const int v = int(std::nearbyint(iscale * x[j]));
      y[i].qs[j] = std::int8_t(std::min(127, v));
    }
    for (int j = 0; j < io::qk_k / 16; ++j) {
      int sum = 0;
      for (int ii = 0; ii < 16; ++ii) sum += y[i].qs[j * 16 + ii];
      y[i].bsums[j] = std::int16_t(sum);
    }
    y[i].d = 1.0f / iscale;
  }
}

inline float h2f(std::uint16_t h) noexcept { return f16_to_f32(h); }

inline float vec_dot_q4_0_q8_0(std::int64_t n, const io::block_q4_0* x, const io::block_q8_0* y) noexcept {
  float s = 0.0f;
  for (std::int64_t i = 0; i < n / 32; ++i) {
    int sumi = 0;
    for (int j = 0; j < 16; ++j) {
      sumi += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j];
      sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
    }
    s += float(sumi) * h2f(x[i].d) * h2f(y[i].d);
  }
  return s;
}

inline float vec_dot_q4_1_q8_1(std::int64_t n, const io::block_q4_1* x, const io::block_q8_1* y) noexcept {
  float s = 0.0f;
  for (std::int64_t i = 0; i < n / 32; ++i) {
    int sumi = 0;
    for (int j = 0; j < 16; ++j) {
      sumi += (x[i].qs[j] & 0x0F) * y[i].qs[j];
      sumi += (x[i].qs[j] >> 4) * y[i].qs[j + 16];
    }
    s += h2f(x[i].d) * h2f(y[i].d) * float(sumi) + h2f(x[i].m) * h2f(y[i].s);
  }
  return s;
}

inline float vec_dot_q5_0_q8_0(std::int64_t n, const io::block_q5_0* x, const io::block_q8_0* y) noexcept {
  float s = 0.0f;
  for (std::int64_t i = 0; i < n / 32; ++i) {
    std::uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    int sumi = 0;
    for (int j = 0; j < 16; ++j) {
      const int h0 = int((qh >> j) << 4) & 0x10, h1 = int(qh >> (j + 12)) & 0x10;
      sumi += (((x[i].qs[j] & 0x0F) | h0) - 16) * y[i].qs[j];
      sumi += (((x[i].qs[j] >> 4) | h1) - 16) * y[i].qs[j + 16];
    }
    s += float(sumi) * h2f(x[i].d) * h2f(y[i].d);
  }
  return s;
}

inline float vec_dot_q5_1_q8_1(std::int64_t n, const io::block_q5_1* x, const io::block_q8_1* y) noexcept {
  float s = 0.0f;
  for (std::int64_t i = 0; i < n / 32; ++i) {
    std::uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    int sumi = 0;
    for (int j = 0; j < 16; ++j) {
      const int h0 = int((qh >> j) << 4) & 0x10, h1 = int(qh >> (j + 12)) & 0x10;
      sumi += ((x[i].qs[j] & 0x0F) | h0) * y[i].qs[j];
      sumi += ((x[i].qs[j] >> 4) | h1) * y[i].qs[j + 16];
    }
    s += h2f(x[i].d) * h2f(y[i].d) * float(sumi) + h2f(x[i].m) * h2f(y[i].s);
  }
  return s;
}

inline float vec_dot_q8_0_q8_0(std::int64_t n, const io::block_q8_0* x, const io::block_q8_0* y) noexcept {
  float s = 0.0f;
  for (std::int64_t i = 0; i < n / 32; ++i) {
    int sumi = 0;
    for (int j = 0; j < 32; ++j) sumi += x[i].qs[j] * y[i].qs[j];
    s += float(sumi) * h2f(x[i].d) * h2f(y[i].d);
  }
  return s;
}

// q4_K: 8 sub-blocks of 32 with 6-bit scale sc and min m:
// w = d*sc*q - dmin*m, so w.x = d*dy*sum(sc*q.qy) - dmin*dy*sum(m*bsum).
inline float vec_dot_q4_K_q8_K(std::int64_t n, const io::block_q4_K* x, const io::block_q8_K* y) noexcept {
  float s = 0.0f;
  for (std::int64_t i = 0; i < n / io::qk_k; ++i) {
    const std::uint8_t* q = x[i].qs;
    const std::int8_t* q8 = y[i].qs;
    int sumi = 0, summ = 0;
    for (int j = 0; j < 8; j += 2) {
      std::uint8_t sc0, m0, sc1, m1;
      io::get_scale_min_k4(j, x[i].scales, sc0, m0);
      io::get_scale_min_k4(j + 1, x[i].scales, sc1, m1);
      int d0 = 0, d1 = 0;
      for (int l = 0; l < 32; ++l) {
        d0 += (q[l] & 0xF) * q8[l];
        d1 += (q[l] >> 4) * q8[l + 32];
      }
      sumi += sc0 * d0 + sc1 * d1;
      summ += m0 * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]) + m1 * (y[i].bsums[2 * j + 2] + y[i].bsums[2 * j + 3]);
      q += 32;
      q8 += 64;
    }
    s += y[i].d * h2f(x[i].d) * float(sumi) - y[i].d * h2f(x[i].dmin) * float(summ);
  }
  return s;
}

// q6_K: 16 sub-blocks of 16 with int8 scales; q = (ql | qh<<4) - 32.
inline float vec_dot_q6_K_q8_K(std::int64_t n, const io::block_q6_K* x, const io::block_q8_K* y) noexcept {
  float s = 0.0f;
  for (std::int64_t i = 0; i < n / io::qk_k; ++i) {
    std::int8_t w[io::qk_k];
    const std::uint8_t* ql = x[i].ql;
    const std::uint8_t* qh = x[i].qh;
    for (int nn = 0; nn < io::qk_k; nn += 128) {
      for (int l = 0; l < 32; ++l) {
        w[nn + l + 0] = std::int8_t(((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        w[nn + l + 32] = std::int8_t(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        w[nn + l + 64] = std::int8_t(((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        w[nn + l + 96] = std::int8_t(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
      ql += 64;
      qh += 32;
    }
    int sumi = 0;
    for (int g = 0; g < 16; ++g) {
      int d = 0;
      for (int l = 0; l < 16; ++l) d += w[g * 16 + l] * y[i].qs[g * 16 + l];
      sumi += x[i].scales[g] * d;
    }
    s += h2f(x[i].d) * y[i].d * float(sumi);
  }
  return s;
}

}  // namespace ref

// Prepares activation row x (n elements) for weights of type t (scalar reference).
inline void prepare_activation_ref(ggml_type t, const float* x, void* out, std::int64_t n) {
  switch (activation_format_for(t)) {
    case activation_format::f32: std::memcpy(out, x, std::size_t(n) * 4); return;
    case activation_format::q8_0: ref::quantize_row_q8_0(x, static_cast<io::block_q8_0*>(out), n); return;
    case activation_format::q8_1: ref::quantize_row_q8_1(x, static_cast<io::block_q8_1*>(out), n); return;
    case activation_format::q8_k: ref::quantize_row_q8_K(x, static_cast<io::block_q8_K*>(out), n); return;
  }
}

// Dot of one weight row (type t, n elements) with a prepared activation row (scalar
// reference). `scratch` holds n floats for the dequantize fallback.
inline float vec_dot_ref(ggml_type t, std::int64_t n, const void* w, const void* a, float* scratch) {
  switch (t) {
    case ggml_type::q4_0: return ref::vec_dot_q4_0_q8_0(n, static_cast<const io::block_q4_0*>(w), static_cast<const io::block_q8_0*>(a));
    case ggml_type::q4_1: return ref::vec_dot_q4_1_q8_1(n, static_cast<const io::block_q4_1*>(w), static_cast<const io::block_q8_1*>(a));
    case ggml_type::q5_0: return ref::vec_dot_q5_0_q8_0(n, static_cast<const io::block_q5_0*>(w), static_cast<const io::block_q8_0*>(a));
    case ggml_type::q5_1: return ref::vec_dot_q5_1_q8_1(n, static_cast<const io::block_q5_1*>(w), static_cast<const io::block_q8_1*>(a));
    case ggml_type::q8_0: return ref::vec_dot_q8_0_q8_0(n, static_cast<const io::block_q8_0*>(w), static_cast<const io::block_q8_0*>(a));
    case ggml_type::q4_k: return ref::vec_dot_q4_K_q8_K(n, static_cast<const io::block_q4_K*>(w), static_cast<const io::block_q8_K*>(a));
    case ggml_type::q6_k: return ref::vec_dot_q6_K_q8_K(n, static_cast<const io::block_q6_K*>(w), static_cast<const io::block_q8_K*>(a));
    default: break;
  }
  const float* x = static_cast<const float*>(a);
  const float* wf;
  if (t == ggml_type::f32) {
    wf = static_cast<const float*>(w);
  } else {
    io::dequantize_row_ref(t, w, scratch, n);
    wf = scratch;
  }
  float s = 0.0f;
  for (std::int64_t i = 0; i < n; ++i) s += wf[i] * x[i];
  return s;
}

}  // namespace sysout::model

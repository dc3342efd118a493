// Highway twins of the forward pass's elementwise stages (forward.hpp has the
// scalar ones): the MLP gates silu(g) * u and gelu_tanh(g) * u, and the softmax
// exponentials. hwy/contrib/math's Exp and Tanh are within a few ulp of libm;
// tests/model/test_quant_dot.cpp compares against the scalar functions.
#pragma once
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include <cmath>
#include <cstdint>

namespace sysout::model::hwy_kernels {

namespace hn = hwy::HWY_NAMESPACE;

// out[i] = silu(g[i]) * u[i] = g / (1 + exp(-g)) * u
inline void silu_mul(const float* g, const float* u, float* out, std::int64_t n) {
  const hn::ScalableTag<float> d;
  const std::int64_t N = std::int64_t(hn::Lanes(d));
  const auto one = hn::Set(d, 1.0f);
  std::int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto x = hn::LoadU(d, g + i);
    const auto s = hn::Div(x, hn::Add(one, hn::Exp(d, hn::Neg(x))));
    hn::StoreU(hn::Mul(s, hn::LoadU(d, u + i)), d, out + i);
  }
  for (; i < n; ++i) out[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

// out[i] = gelu_tanh(g[i]) * (u ? u[i] : 1)
inline void gelu_tanh_mul(const float* g, const float* u, float* out, std::int64_t n) {
  const hn::ScalableTag<float> d;
  const std::int64_t N = std::int64_t(hn::Lanes(d));
  const auto k = hn::Set(d, 0.7978845608028654f), c = hn::Set(d, 0.044715f), half = hn::Set(d, 0.5f),
             one = hn::Set(d, 1.0f);
  std::int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto x = hn::LoadU(d, g + i);
    const auto inner = hn::Mul(k, hn::MulAdd(hn::Mul(c, hn::Mul(x, x)), x, x));
    auto y = hn::Mul(hn::Mul(half, x), hn::Add(one, hn::Tanh(d, inner)));
    if (u) y = hn::Mul(y, hn::LoadU(d, u + i));
    hn::StoreU(y, d, out + i);
  }
  for (; i < n; ++i) {
    const float x = g[i];
    const float y = 0.5f * x * (1.0f + std::tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    out[i] = u ? y * u[i] : y;
  }
}

// s[i] = exp(s[i] - mx) (exp(-inf) = 0 for masked entries); returns the sum.
inline float exp_shift_sum(float* s, std::int64_t n, float mx) {
  const hn::ScalableTag<float> d;
  const std::int64_t N = std::int64_t(hn::Lanes(d));
  const auto m = hn::Set(d, mx);
  const auto lo = hn::Set(d, -88.0f);  // below: exp underflows to 0 (and -inf stays 0)
  auto acc = hn::Zero(d);
  std::int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto x = hn::Sub(hn::LoadU(d, s + i), m);
    const auto e = hn::IfThenZeroElse(hn::Lt(x, lo), hn::Exp(d, hn::Max(x, lo)));
    hn::StoreU(e, d, s + i);
    acc = hn::Add(acc, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, acc));
  for (; i < n; ++i) sum += (s[i] = std::exp(s[i] - mx));
  return sum;
}

// z[i] = sum over j < n (in order, skipping p[j] == 0) of p[j] * v[j * ldv + i]
// for i < d: the attention output of one query row. Columns are taken a block
// of registers at a time with j innermost, so z is stored once instead of
// loaded and stored per key; each z[i] sees the same fused multiply-adds in the
// same order as the plain j-outer loop, which handles the leftover columns.
inline void weighted_rows_sum(const float* p, const float* v, std::int64_t ldv, std::int64_t n, float* z,
                              std::int64_t d) {
  const hn::ScalableTag<float> df;
  const std::int64_t N = std::int64_t(hn::Lanes(df));
  std::int64_t i = 0;
  for (; i + 4 * N <= d; i += 4 * N) {
    auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
    for (std::int64_t j = 0; j < n; ++j) {
      if (p[j] == 0.0f) continue;
      const auto pj = hn::Set(df, p[j]);
      const float* vj = v + j * ldv + i;
      a0 = hn::MulAdd(pj, hn::LoadU(df, vj), a0);
      a1 = hn::MulAdd(pj, hn::LoadU(df, vj + N), a1);
      a2 = hn::MulAdd(pj, hn::LoadU(df, vj + 2 * N), a2);
      a3 = hn::MulAdd(pj, hn::LoadU(df, vj + 3 * N), a3);
    }
    hn::StoreU(a0, df, z + i);
    hn::StoreU(a1, df, z + i + N);
    hn::StoreU(a2, df, z + i + 2 * N);
    hn::StoreU(a3, df, z + i + 3 * N);
  }
  for (; i + N <= d; i += N) {
    auto a = hn::Zero(df);
    for (std::int64_t j = 0; j < n; ++j)
      if (p[j] != 0.0f) a = hn::MulAdd(hn::Set(df, p[j]), hn::LoadU(df, v + j * ldv + i), a);
    hn::StoreU(a, df, z + i);
  }
  if (i == d) return;
  for (std::int64_t c = i; c < d; ++c) z[c] = 0.0f;
  for (std::int64_t j = 0; j < n; ++j) {
    const float pj = p[j];
    if (pj == 0.0f) continue;
    const float* vj = v + j * ldv;
    for (std::int64_t c = i; c < d; ++c) z[c] += pj * vj[c];
  }
}

}  // namespace sysout::model::hwy_kernels

// Per-target Highway code of the flash-style CPU attention. Included once per
// target: by highway.hpp (static dispatch) or by highway_dynamic.cpp through
// hwy/foreach_target.h (dynamic dispatch). Include highway.hpp, not this file.
//
// Algorithm (one query head h, a block of BQ query rows at a time):
//   1. K of the kv-head is packed once per call into f32 tiles Kt[tile][c][BK]
//      (transposed, zero-padded) and V into f32 rows padded to whole vectors,
//      so f16/bf16/strided inputs cost one conversion per element per call.
//   2. Per key tile: S[BQ][BK] = Qs Kt (a register-blocked 4 x BK GEMM with
//      q broadcasts); causal/window masks as vector selects on the tiles that
//      need them (tiles no row of the block sees are never visited); then the
//      online softmax (running max m, normalizer l; exp(m_old - m_new) for all
//      BQ rows in one vector, O rescaled by it inside the PV kernel), then
//      O += P V (register-blocked 4 x 4 vectors). exp is exp_neg: every
//      argument is <= 0, which allows a cheaper kernel than hn::Exp.
//   3. Column sums: the tile probabilities P_t = exp(S - m_t) stay in a per-block
//      buffer [span/BK][BQ][BK] (span = keys the block can see) with the rows'
//      running max m_t; after the last tile p = P_t * exp(m_t - m)/l, summed over
//      rows. Cost: one extra FMA per score (vs 2d FMAs of QK+PV) and BQ*span*4
//      bytes of buffer (L2-resident: 16 x 8192 x 4 = 512 KiB at T = 8192). We
//      chose it over recomputing S per tile (a second QK^T: ~+50% time).
//   sigmoid attention tiles the same way without a normalizer. The clipped
//   softmax needs the final normalizer before its nonlinearity: it keeps its
//   tiles like the column sums do, runs the online softmax without PV, then
//   turns the kept exp(S - m_t) into clip((zeta - gamma) P + gamma) and runs PV
//   (no second QK^T, no second exp).

// Target-independent helpers: normal include guard.
#ifndef SYSOUT_ATTENTION_HIGHWAY_COMMON_
#define SYSOUT_ATTENTION_HIGHWAY_COMMON_
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "sysout/attention/problem.hpp"
#include "sysout/attention/variant.hpp"
#include "sysout/core/half.hpp"

namespace sysout::attention::detail {

inline float load_f32(const tensor_view& t, std::int64_t off) noexcept {
  const void* p = t.ptr_at(off);
  switch (t.type()) {
    case dtype::f32: return *static_cast<const float*>(p);
    case dtype::f16: return f16_to_f32(*static_cast<const std::uint16_t*>(p));
    case dtype::bf16: return bf16_to_f32(*static_cast<const std::uint16_t*>(p));
    default: return float(load_as_double(p, t.type()));
  }
}

// Copies row `row` of a [rows, n] (or [n] when row < 0) parameter into f32.
inline void param_row(const tensor_view& t, std::int64_t row, float* dst, std::int64_t n) {
  for (std::int64_t e = 0; e < n; ++e) dst[e] = float(row < 0 ? t.get(e) : t.get(row, e));
}

inline std::int64_t round_up(std::int64_t x, std::int64_t m) noexcept { return (x + m - 1) / m * m; }

// Element offset of (h, i, j) in a rank-2 or rank-3 mask.
inline std::int64_t mask_offset(const tensor_view& m, std::int64_t h, std::int64_t i, std::int64_t j) noexcept {
  return m.rank() == 3 ? h * m.strides()[0] + i * m.strides()[1] + j * m.strides()[2]
                       : i * m.strides()[0] + j * m.strides()[1];
}

}  // namespace sysout::attention::detail
#endif  // SYSOUT_ATTENTION_HIGHWAY_COMMON_

#if defined(SYSOUT_ATTENTION_HIGHWAY_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SYSOUT_ATTENTION_HIGHWAY_INL_H_
#undef SYSOUT_ATTENTION_HIGHWAY_INL_H_
#else
#define SYSOUT_ATTENTION_HIGHWAY_INL_H_
#endif

#include <hwy/aligned_allocator.h>
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

HWY_BEFORE_NAMESPACE();
namespace sysout::attention::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Vectors per register block: 32-register targets (AVX-512, SVE, RVV...) hold a
// 4 x 4 block of accumulators; 16-register x86 targets (SSE4, AVX2) 4 x 2.
#if HWY_ARCH_X86 && HWY_TARGET > HWY_AVX3
inline constexpr int kVecsPerBlock = 2;
#else
inline constexpr int kVecsPerBlock = 4;
#endif
inline constexpr int kRowsPerBlock = 4;  // register block rows
inline constexpr int kQueryBlock = 16;   // BQ: query rows sharing one pass over K/V

// exp(x) for x <= 0 (NaN and -inf give 0 on x86). Cheaper than hn::Exp (no
// positive range, no two-step scaling): 2^n from the rounding constant's
// mantissa times a degree-5 minimax polynomial on |r| <= ln2/2 (relative error
// 1.5e-7, fitted for relative error with float32 coefficients). Below -87.68
// the result flushes to 0 (the true value is < 1e-38).
template <class D>
HWY_INLINE hn::Vec<D> exp_neg(D df, hn::Vec<D> x) {
  const hn::RebindToSigned<D> di;
  // 1.5 * 2^23 rounds x log2(e) to an integer n in the low mantissa bits; +127 biases it.
  const auto magic = hn::Set(df, 12582912.0f + 127.0f);
  x = hn::Max(x, hn::Set(df, -88.0f));
  const auto t = hn::MulAdd(x, hn::Set(df, 1.44269504088896341f), magic);
  const auto nf = hn::Sub(t, magic);
  auto r = hn::NegMulAdd(nf, hn::Set(df, 0.693145751953125f), x);
  r = hn::NegMulAdd(nf, hn::Set(df, 1.428606765330187045e-6f), r);
  auto p = hn::Set(df, 0.008290305733680725f);
  p = hn::MulAdd(p, r, hn::Set(df, 0.0418979749083519f));
  p = hn::MulAdd(p, r, hn::Set(df, 0.1666763722896576f));
  p = hn::MulAdd(p, r, hn::Set(df, 0.4999915063381195f));
  p = hn::MulAdd(p, r, hn::Set(df, 0.9999997019767761f));
  p = hn::MulAdd(p, r, hn::Set(df, 1.0f));
  // (n + 127) << 23 is 2^n; n + 127 = 0 (x < -87.68) gives +0.
  const auto scale = hn::BitCast(df, hn::ShiftLeft<23>(hn::BitCast(di, t)));
  return hn::Mul(p, scale);
}

// dst[e] = mul * t[off + e * stride] in f32 for e < n. Vector loads for unit-stride f32/bf16.
template <class D>
HWY_INLINE void load_row(D df, const tensor_view& t, std::int64_t off, std::int64_t stride, std::int64_t n, float mul,
                         float* HWY_RESTRICT dst) {
  const std::int64_t L = std::int64_t(hn::Lanes(df));
  const auto vm = hn::Set(df, mul);
  std::int64_t e = 0;
  if (stride == 1 && t.type() == dtype::f32) {
    const float* src = static_cast<const float*>(t.ptr_at(off));
    for (; e + L <= n; e += L) hn::StoreU(hn::Mul(vm, hn::LoadU(df, src + e)), df, dst + e);
    for (; e < n; ++e) dst[e] = mul * src[e];
  } else if (stride == 1 && t.type() == dtype::bf16) {
    const std::uint16_t* src = static_cast<const std::uint16_t*>(t.ptr_at(off));
    const hn::Rebind<std::uint16_t, D> d16;
    const hn::RebindToUnsigned<D> d32;
    for (; e + L <= n; e += L) {
      const auto bits = hn::ShiftLeft<16>(hn::PromoteTo(d32, hn::LoadU(d16, src + e)));
      hn::StoreU(hn::Mul(vm, hn::BitCast(df, bits)), df, dst + e);
    }
    for (; e < n; ++e) dst[e] = mul * bf16_to_f32(src[e]);
  } else {
    for (; e < n; ++e) dst[e] = mul * detail::load_f32(t, off + e * stride);
  }
}

// S[r][0..BK) = sum_c Q[r][c] * Kt[c][0..BK) for kQueryBlock rows.
template <class D>
HWY_INLINE void qk_tile(D df, const float* HWY_RESTRICT qs, std::int64_t ldq, std::int64_t d,
                        const float* HWY_RESTRICT kt, float* HWY_RESTRICT s) {
  constexpr int NV = kVecsPerBlock;
  const std::int64_t n = std::int64_t(hn::Lanes(df)), bk = NV * n;
  using V = hn::Vec<D>;
  for (int r0 = 0; r0 < kQueryBlock; r0 += kRowsPerBlock) {
    V acc[kRowsPerBlock][NV];
    for (int r = 0; r < kRowsPerBlock; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v] = hn::Zero(df);
    const float* q0 = qs + r0 * ldq;
    for (std::int64_t c = 0; c < d; ++c) {
      V kv[NV];
      for (int v = 0; v < NV; ++v) kv[v] = hn::LoadU(df, kt + c * bk + v * n);
      for (int r = 0; r < kRowsPerBlock; ++r) {
        const V qb = hn::Set(df, q0[r * ldq + c]);
        for (int v = 0; v < NV; ++v) acc[r][v] = hn::MulAdd(qb, kv[v], acc[r][v]);
      }
    }
    for (int r = 0; r < kRowsPerBlock; ++r)
      for (int v = 0; v < NV; ++v) hn::StoreU(acc[r][v], df, s + (r0 + r) * bk + v * n);
  }
}

// O[r][:] = alpha[r] * O[r][:] + sum_{j < nk} P[r][j] V[j][:] for kQueryBlock rows.
template <class D>
HWY_INLINE void pv_tile(D df, const float* HWY_RESTRICT p, std::int64_t ldp, const float* HWY_RESTRICT alpha,
                        const float* HWY_RESTRICT vt, std::int64_t ldv, std::int64_t nk, float* HWY_RESTRICT o) {
  constexpr int NV = kVecsPerBlock;
  const std::int64_t n = std::int64_t(hn::Lanes(df));
  using V = hn::Vec<D>;
  for (int r0 = 0; r0 < kQueryBlock; r0 += kRowsPerBlock) {
    std::int64_t c0 = 0;
    for (; c0 + NV * n <= ldv; c0 += NV * n) {
      V acc[kRowsPerBlock][NV];
      for (int r = 0; r < kRowsPerBlock; ++r) {
        const V a = hn::Set(df, alpha[r0 + r]);
        for (int v = 0; v < NV; ++v) acc[r][v] = hn::Mul(a, hn::LoadU(df, o + (r0 + r) * ldv + c0 + v * n));
      }
      for (std::int64_t j = 0; j < nk; ++j) {
        V vv[NV];
        for (int v = 0; v < NV; ++v) vv[v] = hn::LoadU(df, vt + j * ldv + c0 + v * n);
        for (int r = 0; r < kRowsPerBlock; ++r) {
          const V pb = hn::Set(df, p[(r0 + r) * ldp + j]);
          for (int v = 0; v < NV; ++v) acc[r][v] = hn::MulAdd(pb, vv[v], acc[r][v]);
        }
      }
      for (int r = 0; r < kRowsPerBlock; ++r)
        for (int v = 0; v < NV; ++v) hn::StoreU(acc[r][v], df, o + (r0 + r) * ldv + c0 + v * n);
    }
    for (; c0 < ldv; c0 += n) {  // leftover single vectors (ldv is a multiple of n)
      V acc[kRowsPerBlock];
      for (int r = 0; r < kRowsPerBlock; ++r)
        acc[r] = hn::Mul(hn::Set(df, alpha[r0 + r]), hn::LoadU(df, o + (r0 + r) * ldv + c0));
      for (std::int64_t j = 0; j < nk; ++j) {
        const V vv = hn::LoadU(df, vt + j * ldv + c0);
        for (int r = 0; r < kRowsPerBlock; ++r) acc[r] = hn::MulAdd(hn::Set(df, p[(r0 + r) * ldp + j]), vv, acc[r]);
      }
      for (int r = 0; r < kRowsPerBlock; ++r) hn::StoreU(acc[r], df, o + (r0 + r) * ldv + c0);
    }
  }
}

// s[j] = -inf outside the visible keys [lo, hi) (tile-relative, clamped to [0, bk]).
template <class D>
HWY_INLINE void mask_range(D df, float* HWY_RESTRICT s, std::int64_t bk, std::int64_t lo, std::int64_t hi) {
  const std::int64_t n = std::int64_t(hn::Lanes(df));
  const auto vlo = hn::Set(df, float(lo)), vhi = hn::Set(df, float(hi));
  const auto ninf = hn::Set(df, -std::numeric_limits<float>::infinity());
  for (std::int64_t j = 0; j < bk; j += n) {
    const auto idx = hn::Iota(df, float(j));
    const auto ok = hn::And(hn::Not(hn::Lt(idx, vlo)), hn::Lt(idx, vhi));
    hn::StoreU(hn::IfThenElse(ok, hn::LoadU(df, s + j), ninf), df, s + j);
  }
}

template <class D>
HWY_INLINE float row_max(D df, const float* HWY_RESTRICT s, std::int64_t bk) {
  const std::int64_t n = std::int64_t(hn::Lanes(df));
  auto m = hn::Set(df, -std::numeric_limits<float>::infinity());
  for (std::int64_t j = 0; j < bk; j += n) m = hn::Max(m, hn::LoadU(df, s + j));
  return hn::GetLane(hn::MaxOfLanes(df, m));
}

// s[j] = exp(s[j] - m) in place (s[j] <= m); returns the sum.
template <class D>
HWY_INLINE float exp_row(D df, float* HWY_RESTRICT s, std::int64_t bk, float m) {
  const std::int64_t n = std::int64_t(hn::Lanes(df));
  const auto vm = hn::Set(df, m);
  auto sum0 = hn::Zero(df), sum1 = hn::Zero(df);
  std::int64_t j = 0;
  for (; j + 2 * n <= bk; j += 2 * n) {
    const auto e0 = exp_neg(df, hn::Sub(hn::LoadU(df, s + j), vm));
    const auto e1 = exp_neg(df, hn::Sub(hn::LoadU(df, s + j + n), vm));
    hn::StoreU(e0, df, s + j);
    hn::StoreU(e1, df, s + j + n);
    sum0 = hn::Add(sum0, e0), sum1 = hn::Add(sum1, e1);
  }
  for (; j < bk; j += n) {
    const auto e = exp_neg(df, hn::Sub(hn::LoadU(df, s + j), vm));
    hn::StoreU(e, df, s + j);
    sum0 = hn::Add(sum0, e);
  }
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(sum0, sum1)));
}

// Online-softmax step of one tile S (kQueryBlock rows of bk, row stride bk): S becomes
// exp(S - m_new), alpha[r] = exp(m_old - m_new), l = l alpha + row sum. Rows that have
// seen no visible key yet keep m = -inf, get alpha = 1 and P = 0.
template <class D>
HWY_INLINE void softmax_tile(D df, float* HWY_RESTRICT sp, std::int64_t bk, float* HWY_RESTRICT m,
                             float* HWY_RESTRICT l, float* HWY_RESTRICT alpha) {
  const float ninf = -std::numeric_limits<float>::infinity();
  float mn[kQueryBlock];
  for (int r = 0; r < kQueryBlock; ++r) mn[r] = std::max(m[r], row_max(df, sp + r * bk, bk));
  // exp(m_old - m_new) for a whole vector of rows at a time.
  const hn::CappedTag<float, kQueryBlock> dq;
  const int nq = int(hn::Lanes(dq));
  for (int r = 0; r < kQueryBlock; r += nq) {
    const auto vo = hn::LoadU(dq, m + r), vn = hn::LoadU(dq, mn + r);
    const auto seen = hn::Ne(vn, hn::Set(dq, ninf));
    hn::StoreU(hn::IfThenElse(seen, exp_neg(dq, hn::Sub(vo, vn)), hn::Set(dq, 1.0f)), dq, alpha + r);
    hn::StoreU(vn, dq, m + r);
  }
  for (int r = 0; r < kQueryBlock; ++r) {
    float* sr = sp + r * bk;
    if (m[r] == ninf) {
      std::fill(sr, sr + bk, 0.0f);
    } else {
      l[r] = l[r] * alpha[r] + exp_row(df, sr, bk, m[r]);
    }
  }
}

// s[j] = sigmoid(s[j] + b) in place, 0 for -inf scores (stable in both tails).
template <class D>
HWY_INLINE void sigmoid_row(D df, float* HWY_RESTRICT s, std::int64_t bk, float b) {
  const std::int64_t n = std::int64_t(hn::Lanes(df));
  const auto vb = hn::Set(df, b), one = hn::Set(df, 1.0f), two = hn::Set(df, 2.0f), zero = hn::Zero(df);
  for (std::int64_t j = 0; j < bk; j += n) {
    const auto z = hn::Add(hn::LoadU(df, s + j), vb);
    const auto e = exp_neg(df, hn::Neg(hn::Abs(z)));  // in [0, 1]
    // 1 / (1 + e) with the denominator in [1, 2]: one Newton step on the estimate.
    const auto den = hn::Add(one, e);
    auto inv = hn::ApproximateReciprocal(den);
    inv = hn::Mul(inv, hn::NegMulAdd(den, inv, two));
    hn::StoreU(hn::IfThenElse(hn::Ge(z, zero), inv, hn::Mul(e, inv)), df, s + j);
  }
}

// s[j] = clip(k s[j] + gamma, 0, 1) in place, with k = (zeta - gamma) exp(m_t - m) / l.
template <class D>
HWY_INLINE void clip_row(D df, float* HWY_RESTRICT s, std::int64_t bk, float k, float gamma) {
  const std::int64_t n = std::int64_t(hn::Lanes(df));
  const auto vk = hn::Set(df, k), g = hn::Set(df, gamma), zero = hn::Zero(df), one = hn::Set(df, 1.0f);
  for (std::int64_t j = 0; j < bk; j += n)
    hn::StoreU(hn::Min(hn::Max(hn::MulAdd(vk, hn::LoadU(df, s + j), g), zero), one), df, s + j);
}

// colsum[j] += c * p[j]
template <class D>
HWY_INLINE void axpy(D df, float c, const float* HWY_RESTRICT p, float* HWY_RESTRICT colsum, std::int64_t nk) {
  const std::int64_t n = std::int64_t(hn::Lanes(df));
  const auto vc = hn::Set(df, c);
  std::int64_t j = 0;
  for (; j + n <= nk; j += n) hn::StoreU(hn::MulAdd(vc, hn::LoadU(df, p + j), hn::LoadU(df, colsum + j)), df, colsum + j);
  for (; j < nk; ++j) colsum[j] += c * p[j];
}

template <class D>
HWY_INLINE float dot(D df, const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, std::int64_t n_padded) {
  const std::int64_t n = std::int64_t(hn::Lanes(df));
  auto acc = hn::Zero(df);
  for (std::int64_t c = 0; c < n_padded; c += n) acc = hn::MulAdd(hn::LoadU(df, a + c), hn::LoadU(df, b + c), acc);
  return hn::GetLane(hn::SumOfLanes(df, acc));
}

// c[r] = mul exp(mt[r] - m[r]) / l[r] over the kQueryBlock rows; 0 where l = 0 or m_t = -inf.
inline void rescale_coeffs(const float* HWY_RESTRICT mt, const float* HWY_RESTRICT m, const float* HWY_RESTRICT l,
                           float mul, float* HWY_RESTRICT c) {
  const hn::CappedTag<float, kQueryBlock> dq;
  const int nq = int(hn::Lanes(dq));
  const auto ninf = hn::Set(dq, -std::numeric_limits<float>::infinity()), vmul = hn::Set(dq, mul);
  for (int r = 0; r < kQueryBlock; r += nq) {
    const auto vt = hn::LoadU(dq, mt + r), vl = hn::LoadU(dq, l + r);
    const auto ok = hn::And(hn::Gt(vl, hn::Zero(dq)), hn::Ne(vt, ninf));
    const auto e = exp_neg(dq, hn::Sub(vt, hn::LoadU(dq, m + r)));
    // l = 0 lanes divide by zero but are discarded.
    hn::StoreU(hn::IfThenElseZero(ok, hn::Div(hn::Mul(vmul, e), hn::IfThenElse(ok, vl, hn::Set(dq, 1.0f)))), dq, c + r);
  }
}

inline void attend_impl(const problem& pb, const config& cfg, const stats& st) {
  const shape_info s = validate(pb, cfg, st);
  const hn::ScalableTag<float> df;
  const std::int64_t n = std::int64_t(hn::Lanes(df));
  const std::int64_t bk = kVecsPerBlock * n, bq = kQueryBlock, tile = bq * bk;
  const std::int64_t d = s.d, dv = s.dv, ldq = detail::round_up(d, n), ldv = detail::round_up(dv, n);
  const std::int64_t ntiles = (s.tk + bk - 1) / bk;
  const float scale = resolved_scale(cfg, d), sig_b = resolved_sigmoid_bias(cfg, s.tk);
  const float ninf = -std::numeric_limits<float>::infinity();
  const variant var = cfg.variant;
  const bool want_cols = is_set(st.column_sums), want_null = is_set(st.null_mass);
  const bool masked = is_set(pb.mask) || is_set(pb.mask_add);
  const bool extra_kv = var == variant::kv_bias || var == variant::value_bias_context;
  // Every tile of a query block stays in pbuf (as exp(S - m_t) with its m_t) when the
  // column sums want it, and for the clipped softmax, whose nonlinearity needs the
  // final normalizer: it then rescales the kept tiles instead of recomputing Q K^T.
  const bool keep = want_cols || var == variant::clipped_softmax;

  auto alloc = [](std::int64_t count) { return hwy::AllocateAligned<float>(std::size_t(std::max<std::int64_t>(1, count))); };
  auto kt = alloc(ntiles * d * bk), vp = alloc(ntiles * bk * ldv), qs = alloc(bq * ldq), o = alloc(bq * ldv);
  auto pbuf = alloc((keep ? ntiles : 1) * tile), mt = alloc(keep ? ntiles * bq : 1);
  auto krow = alloc(d), ek = alloc(ldq), ev = alloc(ldv), vbias = alloc(ldv);
  std::fill(ek.get(), ek.get() + ldq, 0.0f);
  std::fill(ev.get(), ev.get() + ldv, 0.0f);
  std::fill(vbias.get(), vbias.get() + ldv, 0.0f);
  std::vector<float> colsum(static_cast<std::size_t>(want_cols ? s.tk : 0));
  float m[kQueryBlock], l[kQueryBlock], alpha[kQueryBlock], ones[kQueryBlock], coef[kQueryBlock], extra[kQueryBlock];
  std::int64_t lo[kQueryBlock], hi[kQueryBlock];
  std::fill(ones, ones + bq, 1.0f);

  for (std::int64_t g = 0; g < s.hkv; ++g) {
    // Pack K (transposed tiles, keys past Tk zero) and V (rows padded with zeros) as f32.
    const tensor_view kg = pb.k.select(0, g), vg = pb.v.select(0, g);
    if (ntiles * bk > s.tk) std::fill(kt.get() + (ntiles - 1) * d * bk, kt.get() + ntiles * d * bk, 0.0f);
    for (std::int64_t j = 0; j < s.tk; ++j) {
      load_row(df, kg, j * kg.strides()[0], kg.strides()[1], d, 1.0f, krow.get());
      float* dst = kt.get() + (j / bk) * d * bk + (j % bk);
      for (std::int64_t c = 0; c < d; ++c) dst[c * bk] = krow[std::size_t(c)];
      float* vd = vp.get() + j * ldv;
      load_row(df, vg, j * vg.strides()[0], vg.strides()[1], dv, 1.0f, vd);
      std::fill(vd + dv, vd + ldv, 0.0f);
    }
    for (std::int64_t h = g * s.group(); h < (g + 1) * s.group(); ++h) {
      if (extra_kv) {
        detail::param_row(cfg.extra_key, param_head(cfg.extra_key, h, s), ek.get(), d);
        detail::param_row(cfg.extra_value, param_head(cfg.extra_value, h, s), ev.get(), dv);
      }
      if (var == variant::value_bias_fixed)
        detail::param_row(cfg.value_bias, param_head(cfg.value_bias, h, s), vbias.get(), dv);
      const float sink = var == variant::sink_logit ? float(cfg.sink_logit.get(h)) : 0.0f;
      if (want_cols) std::fill(colsum.begin(), colsum.end(), 0.0f);
      double null_total = 0;
      const tensor_view qh = pb.q.select(0, h), oh = pb.out.select(0, h);

      for (std::int64_t i0 = 0; i0 < s.tq; i0 += bq) {
        const std::int64_t rows = std::min(bq, s.tq - i0);
        // Scaled queries; padding columns and rows past the end are zero.
        std::fill(qs.get(), qs.get() + bq * ldq, 0.0f);
        for (std::int64_t r = 0; r < rows; ++r)
          load_row(df, qh, (i0 + r) * qh.strides()[0], qh.strides()[1], d, scale, qs.get() + r * ldq);
        std::int64_t klo = s.tk, khi = 0;
        for (std::int64_t r = 0; r < bq; ++r) {
          if (r < rows) {
            const key_range kr = visible_keys(i0 + r, pb.q_pos0, s.tk, cfg.causal, cfg.window);
            lo[r] = kr.lo, hi[r] = kr.hi;
            if (kr.lo < kr.hi) klo = std::min(klo, kr.lo), khi = std::max(khi, kr.hi);
          } else {
            lo[r] = hi[r] = 0;
          }
        }
        // Initial state: the extra logit (if any) with its value.
        std::fill(o.get(), o.get() + bq * ldv, 0.0f);
        for (std::int64_t r = 0; r < bq; ++r) {
          extra[r] = extra_kv ? dot(df, qs.get() + r * ldq, ek.get(), ldq) : ninf;
          m[r] = ninf, l[r] = 0;
          if (var == variant::softmax1) m[r] = 0, l[r] = 1;
          if (var == variant::sink_logit) m[r] = sink, l[r] = 1;
          if (var == variant::kv_bias) {
            m[r] = extra[r], l[r] = 1;
            std::copy(ev.get(), ev.get() + ldv, o.get() + r * ldv);
          }
        }
        // Tiles [t0, t1) hold every key some row of the block sees; the rest is skipped.
        const std::int64_t t0 = klo < khi ? klo / bk : 0, t1 = klo < khi ? (khi + bk - 1) / bk : 0;
        auto tile_buf = [&](std::int64_t t) { return pbuf.get() + (keep ? (t - t0) * tile : 0); };

        // Scores of tile t into sp (bq x bk), -inf where invisible.
        auto scores = [&](std::int64_t t, float* sp) {
          qk_tile(df, qs.get(), ldq, d, kt.get() + t * d * bk, sp);
          const std::int64_t j0 = t * bk;
          for (std::int64_t r = 0; r < bq; ++r) {
            float* sr = sp + r * bk;
            if (lo[r] > j0 || hi[r] < j0 + bk)
              mask_range(df, sr, bk, std::clamp<std::int64_t>(lo[r] - j0, 0, bk), std::clamp<std::int64_t>(hi[r] - j0, 0, bk));
            if (!masked) continue;
            for (std::int64_t j = std::max(lo[r], j0); j < std::min(hi[r], j0 + bk); ++j) {
              float& x = sr[j - j0];
              if (is_set(pb.mask) && detail::load_f32(pb.mask, detail::mask_offset(pb.mask, h, i0 + r, j)) == 0.0f) {
                x = ninf;
              } else if (is_set(pb.mask_add)) {
                x += detail::load_f32(pb.mask_add, detail::mask_offset(pb.mask_add, h, i0 + r, j));
              }
            }
          }
        };

        for (std::int64_t t = t0; t < t1; ++t) {
          float* sp = tile_buf(t);
          const std::int64_t nk = std::min(bk, s.tk - t * bk);
          scores(t, sp);
          if (var == variant::sigmoid) {
            for (std::int64_t r = 0; r < bq; ++r) sigmoid_row(df, sp + r * bk, bk, sig_b);
            pv_tile(df, sp, bk, ones, vp.get() + t * bk * ldv, ldv, nk, o.get());
            continue;
          }
          softmax_tile(df, sp, bk, m, l, alpha);
          if (keep) std::copy(m, m + bq, mt.get() + (t - t0) * bq);
          if (var != variant::clipped_softmax) pv_tile(df, sp, bk, alpha, vp.get() + t * bk * ldv, ldv, nk, o.get());
        }
        if (var == variant::clipped_softmax) {  // final weights from the kept exp(S - m_t), then P V
          for (std::int64_t t = t0; t < t1; ++t) {
            float* sp = tile_buf(t);
            rescale_coeffs(mt.get() + (t - t0) * bq, m, l, cfg.clip_zeta - cfg.clip_gamma, coef);
            // coef = 0 (no normalizer) gives clip(gamma) = 0 since gamma <= 0.
            for (std::int64_t r = 0; r < bq; ++r) clip_row(df, sp + r * bk, bk, coef[r], cfg.clip_gamma);
            pv_tile(df, sp, bk, ones, vp.get() + t * bk * ldv, ldv, std::min(bk, s.tk - t * bk), o.get());
          }
        }

        // Finalize rows: normalize, variant epilogue, store.
        const bool fast_out = oh.type() == dtype::f32 && (dv == 1 || oh.strides()[1] == 1);
        for (std::int64_t r = 0; r < rows; ++r) {
          const std::int64_t i = i0 + r;
          const float* orow = o.get() + r * ldv;
          float inv = 1, null_p = 0;
          if (is_online_softmax(var)) {
            inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;
            if (var == variant::softmax1) null_p = l[r] > 0 ? std::exp(0.0f - m[r]) * inv : 0;
            if (var == variant::sink_logit) null_p = l[r] > 0 ? std::exp(sink - m[r]) * inv : 0;
            if (var == variant::kv_bias) null_p = l[r] > 0 ? std::exp(extra[r] - m[r]) * inv : 0;
          }
          if (var == variant::value_bias_context)
            null_p = l[r] > 0 ? 1.0f / (1.0f + l[r] * std::exp(m[r] - extra[r])) : 1.0f;
          float f = 1;
          if (var == variant::scaling_factor) f = float(cfg.scaling_factor.get(h, i));
          if (var == variant::gated) f = 1.0f / (1.0f + std::exp(-float(cfg.gate_logit.get(h, i))));
          // x = (o inv + w v' + v'_fixed) f; ev / vbias stay zero for the variants without them.
          const float w = var == variant::value_bias_context ? null_p : 0.0f;
          if (fast_out) {
            float* dst = static_cast<float*>(oh.ptr_at(i * oh.strides()[0]));
            const auto vinv = hn::Set(df, inv), vw = hn::Set(df, w), vf = hn::Set(df, f);
            std::int64_t c = 0;
            for (; c + n <= dv; c += n) {
              const auto x = hn::MulAdd(hn::LoadU(df, orow + c), vinv, hn::MulAdd(vw, hn::LoadU(df, ev.get() + c), hn::LoadU(df, vbias.get() + c)));
              hn::StoreU(hn::Mul(x, vf), df, dst + c);
            }
            for (; c < dv; ++c) dst[c] = (orow[c] * inv + (w * ev[std::size_t(c)] + vbias[std::size_t(c)])) * f;
          } else {
            for (std::int64_t c = 0; c < dv; ++c) {
              const float x = (orow[c] * inv + (w * ev[std::size_t(c)] + vbias[std::size_t(c)])) * f;
              store_from_double(oh.ptr_at(i * oh.strides()[0] + c * oh.strides()[1]), oh.type(), double(x));
            }
          }
          null_total += double(null_p);
        }
        // Column sums from the kept tiles: online-softmax tiles hold exp(S - m_t), the
        // sigmoid and clipped tiles their final weights.
        if (want_cols) {
          for (std::int64_t t = t0; t < t1; ++t) {
            const std::int64_t j0 = t * bk, nk = std::min(bk, s.tk - j0);
            if (is_online_softmax(var)) rescale_coeffs(mt.get() + (t - t0) * bq, m, l, 1.0f, coef);
            else std::fill(coef, coef + bq, 1.0f);
            for (std::int64_t r = 0; r < rows; ++r)
              if (coef[r] != 0) axpy(df, coef[r], tile_buf(t) + r * bk, colsum.data() + j0, nk);
          }
        }
      }
      if (want_cols)
        for (std::int64_t j = 0; j < s.tk; ++j) st.column_sums.set(double(colsum[std::size_t(j)]), h, j);
      if (want_null) st.null_mass.set(null_total, h);
    }
  }
}

}  // namespace sysout::attention::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle

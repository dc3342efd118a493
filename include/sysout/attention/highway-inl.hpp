// Per-target Highway code of the flash-style CPU attention. Included once per
// target: by highway.hpp (static dispatch) or by highway_dynamic.cpp through
// hwy/foreach_target.h (dynamic dispatch). Include highway.hpp, not this file.
//
// Algorithm (one query head h, a block of BQ query rows at a time):
//   1. K of the kv-head is packed once per call into f32 tiles Kt[tile][c][BK]
//      (transposed, zero-padded) and V into f32 rows padded to whole vectors,
//      so f16/bf16/strided inputs cost one conversion per element per call.
//   2. Per key tile: S[BQ][BK] = Qs Kt (a register-blocked 4 x BK GEMM with
//      q broadcasts), masking only on tiles that need it, then the online
//      softmax (running max m, normalizer l; O rescaled by exp(m_old - m_new)
//      fused into the PV kernel), then O += P V (register-blocked 4 x 4 vectors).
//   3. Column sums: the tile probabilities P_t = exp(S - m_t) stay in a per-block
//      buffer [BQ][span] (span = keys the block can see) with the row's running
//      max m_t; after the last tile p = P_t * exp(m_t - m)/l, summed over rows.
//      Cost: one extra FMA per score (vs 2d FMAs of QK+PV) and BQ*span*4 bytes
//      of buffer (L2-resident: 16 x 8192 x 4 = 512 KiB at T = 8192). We chose it
//      over recomputing S per tile (a second QK^T: ~+50% time).
//   sigmoid attention tiles the same way without a normalizer; the clipped
//   softmax needs the final normalizer before its nonlinearity, so it runs a
//   statistics pass (QK^T + exp, no PV) and then the output pass.

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

// S[r][0..BK) = sum_c Q[r][c] * Kt[c][0..BK) for kQueryBlock rows.
template <class D>
HWY_INLINE void qk_tile(D df, const float* HWY_RESTRICT qs, std::int64_t d, const float* HWY_RESTRICT kt,
                        float* HWY_RESTRICT s, std::int64_t lds) {
  constexpr int NV = kVecsPerBlock;
  const std::int64_t n = std::int64_t(hn::Lanes(df)), bk = NV * n;
  using V = hn::Vec<D>;
  for (int r0 = 0; r0 < kQueryBlock; r0 += kRowsPerBlock) {
    V acc[kRowsPerBlock][NV];
    for (int r = 0; r < kRowsPerBlock; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v] = hn::Zero(df);
    const float* q0 = qs + r0 * d;
    for (std::int64_t c = 0; c < d; ++c) {
      V kv[NV];
      for (int v = 0; v < NV; ++v) kv[v] = hn::LoadU(df, kt + c * bk + v * n);
      for (int r = 0; r < kRowsPerBlock; ++r) {
        const V qb = hn::Set(df, q0[r * d + c]);
        for (int v = 0; v < NV; ++v) acc[r][v] = hn::MulAdd(qb, kv[v], acc[r][v]);
      }
    }
    for (int r = 0; r < kRowsPerBlock; ++r)
      for (int v = 0; v < NV; ++v) hn::StoreU(acc[r][v], df, s + (r0 + r) * lds + v * n);
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

template <class D>
HWY_INLINE float row_max(D df, const float* HWY_RESTRICT s, std::int64_t bk) {
  const std::int64_t n = std::int64_t(hn::Lanes(df));
  auto m = hn::Set(df, -std::numeric_limits<float>::infinity());
  for (std::int64_t j = 0; j < bk; j += n) m = hn::Max(m, hn::LoadU(df, s + j));
  return hn::GetLane(hn::MaxOfLanes(df, m));
}

// s[j] = exp(s[j] - m) in place; returns the sum.
template <class D>
HWY_INLINE float exp_row(D df, float* HWY_RESTRICT s, std::int64_t bk, float m) {
  const std::int64_t n = std::int64_t(hn::Lanes(df));
  const auto vm = hn::Set(df, m);
  auto sum = hn::Zero(df);
  for (std::int64_t j = 0; j < bk; j += n) {
    const auto e = hn::Exp(df, hn::Sub(hn::LoadU(df, s + j), vm));
    hn::StoreU(e, df, s + j);
    sum = hn::Add(sum, e);
  }
  return hn::GetLane(hn::SumOfLanes(df, sum));
}

// s[j] = sigmoid(s[j] + b) in place, 0 for -inf scores (stable in both tails).
template <class D>
HWY_INLINE void sigmoid_row(D df, float* HWY_RESTRICT s, std::int64_t bk, float b) {
  const std::int64_t n = std::int64_t(hn::Lanes(df));
  const auto vb = hn::Set(df, b), one = hn::Set(df, 1.0f), zero = hn::Zero(df);
  for (std::int64_t j = 0; j < bk; j += n) {
    const auto z = hn::Add(hn::LoadU(df, s + j), vb);
    const auto e = hn::Exp(df, hn::Neg(hn::Abs(z)));  // in (0, 1]
    const auto inv = hn::Div(one, hn::Add(one, e));
    hn::StoreU(hn::IfThenElse(hn::Ge(z, zero), inv, hn::Mul(e, inv)), df, s + j);
  }
}

// s[j] = clip((zeta - gamma) exp(s[j] - m) / l + gamma, 0, 1) in place.
template <class D>
HWY_INLINE void clipped_row(D df, float* HWY_RESTRICT s, std::int64_t bk, float m, float inv_l, float zeta, float gamma) {
  const std::int64_t n = std::int64_t(hn::Lanes(df));
  const auto vm = hn::Set(df, m), k = hn::Set(df, (zeta - gamma) * inv_l), g = hn::Set(df, gamma);
  const auto zero = hn::Zero(df), one = hn::Set(df, 1.0f);
  for (std::int64_t j = 0; j < bk; j += n) {
    const auto e = hn::Exp(df, hn::Sub(hn::LoadU(df, s + j), vm));
    hn::StoreU(hn::Min(hn::Max(hn::MulAdd(k, e, g), zero), one), df, s + j);
  }
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

inline void attend_impl(const problem& pb, const config& cfg, const stats& st) {
  const shape_info s = validate(pb, cfg, st);
  const hn::ScalableTag<float> df;
  const std::int64_t n = std::int64_t(hn::Lanes(df));
  const std::int64_t bk = kVecsPerBlock * n, bq = kQueryBlock;
  const std::int64_t d = s.d, dv = s.dv, ldv = detail::round_up(dv, n);
  const std::int64_t ntiles = (s.tk + bk - 1) / bk;
  const float scale = resolved_scale(cfg, d), sig_b = resolved_sigmoid_bias(cfg, s.tk);
  const float ninf = -std::numeric_limits<float>::infinity();
  const variant var = cfg.variant;
  const bool want_cols = is_set(st.column_sums), want_null = is_set(st.null_mass);
  const bool masked = is_set(pb.mask) || is_set(pb.mask_add);
  const bool extra_kv = var == variant::kv_bias || var == variant::value_bias_context;

  hwy::AlignedFreeUniquePtr<float[]> kt = hwy::AllocateAligned<float>(std::size_t(std::max<std::int64_t>(1, ntiles * d * bk)));
  hwy::AlignedFreeUniquePtr<float[]> vp = hwy::AllocateAligned<float>(std::size_t(std::max<std::int64_t>(1, ntiles * bk * ldv)));
  hwy::AlignedFreeUniquePtr<float[]> qs = hwy::AllocateAligned<float>(std::size_t(bq * d));
  hwy::AlignedFreeUniquePtr<float[]> o = hwy::AllocateAligned<float>(std::size_t(bq * ldv));
  // Score/probability buffer: one tile, or every tile the block sees when column sums are wanted.
  const std::int64_t pcols = want_cols ? ntiles * bk : bk;
  hwy::AlignedFreeUniquePtr<float[]> pbuf = hwy::AllocateAligned<float>(std::size_t(bq * std::max<std::int64_t>(pcols, 1)));
  std::vector<float> mt(static_cast<std::size_t>(want_cols ? bq * ntiles : 1));  // running max per (row, tile)
  std::vector<float> colsum(static_cast<std::size_t>(want_cols ? s.tk : 0));
  std::vector<float> ek(static_cast<std::size_t>(d)), ev(static_cast<std::size_t>(dv)), vbias(static_cast<std::size_t>(dv));
  float m[kQueryBlock], l[kQueryBlock], alpha[kQueryBlock], extra[kQueryBlock];
  std::int64_t lo[kQueryBlock], hi[kQueryBlock];

  for (std::int64_t g = 0; g < s.hkv; ++g) {
    // Pack K (transposed tiles) and V (padded rows) of this kv-head as f32.
    std::fill(kt.get(), kt.get() + ntiles * d * bk, 0.0f);
    std::fill(vp.get(), vp.get() + ntiles * bk * ldv, 0.0f);
    const tensor_view kg = pb.k.select(0, g), vg = pb.v.select(0, g);
    for (std::int64_t j = 0; j < s.tk; ++j) {
      float* dst = kt.get() + (j / bk) * d * bk + (j % bk);
      for (std::int64_t c = 0; c < d; ++c) dst[c * bk] = detail::load_f32(kg, j * kg.strides()[0] + c * kg.strides()[1]);
      float* vd = vp.get() + j * ldv;
      for (std::int64_t c = 0; c < dv; ++c) vd[c] = detail::load_f32(vg, j * vg.strides()[0] + c * vg.strides()[1]);
    }
    for (std::int64_t h = g * s.group(); h < (g + 1) * s.group(); ++h) {
      if (extra_kv) {
        detail::param_row(cfg.extra_key, param_head(cfg.extra_key, h, s), ek.data(), d);
        detail::param_row(cfg.extra_value, param_head(cfg.extra_value, h, s), ev.data(), dv);
      }
      if (var == variant::value_bias_fixed)
        detail::param_row(cfg.value_bias, param_head(cfg.value_bias, h, s), vbias.data(), dv);
      const float sink = var == variant::sink_logit ? float(cfg.sink_logit.get(h)) : 0.0f;
      if (want_cols) std::fill(colsum.begin(), colsum.end(), 0.0f);
      double null_total = 0;
      const tensor_view qh = pb.q.select(0, h), oh = pb.out.select(0, h);

      for (std::int64_t i0 = 0; i0 < s.tq; i0 += bq) {
        const std::int64_t rows = std::min(bq, s.tq - i0);
        // Scaled queries, zero rows past the end.
        std::fill(qs.get(), qs.get() + bq * d, 0.0f);
        for (std::int64_t r = 0; r < rows; ++r)
          for (std::int64_t c = 0; c < d; ++c)
            qs[std::size_t(r * d + c)] = scale * detail::load_f32(qh, (i0 + r) * qh.strides()[0] + c * qh.strides()[1]);
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
          float e = ninf;
          if (extra_kv) {
            float acc = 0;
            for (std::int64_t c = 0; c < d; ++c) acc += qs[std::size_t(r * d + c)] * ek[std::size_t(c)];
            e = acc;
          }
          extra[r] = e;
          m[r] = ninf, l[r] = 0;
          if (var == variant::softmax1) m[r] = 0, l[r] = 1;
          if (var == variant::sink_logit) m[r] = sink, l[r] = 1;
          if (var == variant::kv_bias) {
            m[r] = e, l[r] = 1;
            std::copy(ev.begin(), ev.end(), o.get() + r * ldv);
          }
        }
        const std::int64_t t0 = klo < khi ? klo / bk : 0, t1 = klo < khi ? (khi + bk - 1) / bk : 0;
        const std::int64_t lds = want_cols ? (t1 - t0) * bk : bk;

        // Scores of tile t into sp (rows x bk), masked where needed.
        auto scores = [&](std::int64_t t, float* sp) {
          qk_tile(df, qs.get(), d, kt.get() + t * d * bk, sp, lds);
          const std::int64_t j0 = t * bk, j1 = std::min(j0 + bk, s.tk);
          for (std::int64_t r = 0; r < bq; ++r) {
            float* sr = sp + r * lds;
            if (!masked && lo[r] <= j0 && hi[r] >= j0 + bk) continue;  // whole tile visible
            for (std::int64_t j = j0; j < j0 + bk; ++j) {
              bool ok = j < j1 && j >= lo[r] && j < hi[r];
              if (ok && is_set(pb.mask))
                ok = detail::load_f32(pb.mask, detail::mask_offset(pb.mask, h, i0 + r, j)) != 0.0f;
              float& x = sr[j - j0];
              if (ok && is_set(pb.mask_add)) x += detail::load_f32(pb.mask_add, detail::mask_offset(pb.mask_add, h, i0 + r, j));
              if (!ok) x = ninf;
            }
          }
        };

        if (var == variant::clipped_softmax) {  // statistics pass: final m, l per row
          for (std::int64_t t = t0; t < t1; ++t) {
            float* sp = pbuf.get() + (want_cols ? (t - t0) * bk : 0);
            scores(t, sp);
            for (std::int64_t r = 0; r < bq; ++r) {
              const float mx = row_max(df, sp + r * lds, bk), mn = std::max(m[r], mx);
              if (mn == ninf) continue;
              const float sum = exp_row(df, sp + r * lds, bk, mn);
              l[r] = l[r] * std::exp(m[r] - mn) + sum;
              m[r] = mn;
            }
          }
        }
        for (std::int64_t t = t0; t < t1; ++t) {
          float* sp = pbuf.get() + (want_cols ? (t - t0) * bk : 0);
          scores(t, sp);
          for (std::int64_t r = 0; r < bq; ++r) {
            float* sr = sp + r * lds;
            if (var == variant::sigmoid) {
              sigmoid_row(df, sr, bk, sig_b);
              alpha[r] = 1;
            } else if (var == variant::clipped_softmax) {
              if (l[r] > 0) clipped_row(df, sr, bk, m[r], 1.0f / l[r], cfg.clip_zeta, cfg.clip_gamma);
              else std::fill(sr, sr + bk, 0.0f);
              alpha[r] = 1;
            } else {
              const float mx = row_max(df, sr, bk), mn = std::max(m[r], mx);
              if (mn == ninf) {
                std::fill(sr, sr + bk, 0.0f);
                alpha[r] = 1;
              } else {
                const float sum = exp_row(df, sr, bk, mn);
                alpha[r] = std::exp(m[r] - mn);
                l[r] = l[r] * alpha[r] + sum;
                m[r] = mn;
              }
              if (want_cols) mt[std::size_t(r * ntiles + (t - t0))] = m[r];
            }
          }
          pv_tile(df, sp, lds, alpha, vp.get() + t * bk * ldv, ldv, std::min(bk, s.tk - t * bk), o.get());
        }

        // Finalize rows: normalize, variant epilogue, store.
        for (std::int64_t r = 0; r < rows; ++r) {
          const std::int64_t i = i0 + r;
          float* orow = o.get() + r * ldv;
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
          for (std::int64_t c = 0; c < dv; ++c) {
            float x = orow[c] * inv;
            if (var == variant::value_bias_context) x += null_p * ev[std::size_t(c)];
            if (var == variant::value_bias_fixed) x += vbias[std::size_t(c)];
            x *= f;
            const std::int64_t off = i * oh.strides()[0] + c * oh.strides()[1];
            switch (oh.type()) {
              case dtype::f32: *static_cast<float*>(oh.ptr_at(off)) = x; break;
              default: store_from_double(oh.ptr_at(off), oh.type(), double(x)); break;
            }
          }
          null_total += double(null_p);
        }
        // Column sums from the kept tile probabilities.
        if (want_cols) {
          for (std::int64_t t = t0; t < t1; ++t) {
            const std::int64_t j0 = t * bk, nk = std::min(bk, s.tk - j0);
            for (std::int64_t r = 0; r < rows; ++r) {
              float c = 1;
              if (is_online_softmax(var)) {
                const float mr = mt[std::size_t(r * ntiles + (t - t0))];
                c = (l[r] > 0 && mr != ninf) ? std::exp(mr - m[r]) / l[r] : 0.0f;
              }
              if (c != 0) axpy(df, c, pbuf.get() + r * lds + (t - t0) * bk, colsum.data() + j0, nk);
            }
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

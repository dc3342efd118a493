// Google Highway kernels of the detectors (static dispatch: the target is the
// one the translation unit is compiled for, e.g. AVX-512 with -march=native).
// Each kernel has a scalar twin in the detector headers (the *_reference
// functions) and tests/detect compares them. Included by the detectors only
// when <hwy/highway.h> exists and SYSOUT_NO_HIGHWAY is not defined; programs
// that include it link sysout::highway.
#pragma once
// Highway 1.0.3 stops with "best baseline should be included in dynamic
// targets" under -march=native on AVX-512 "DL" CPUs unless AVX3_DL is wanted
// (same workaround as io/ggml_quants_highway.hpp); must precede <hwy/highway.h>.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#include <hwy/highway.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "sysout/core/half.hpp"

// HWY_SCALAR (what a plain x86-64 build without -m flags gets from Highway
// 1.0.3) lacks ops used below (UpperHalf): the scalar reference runs instead.
#if HWY_TARGET != HWY_SCALAR
#define SYSOUT_DETECT_HAVE_HIGHWAY 1

namespace sysout::detect::simd {

namespace hn = hwy::HWY_NAMESPACE;

// Name of the compiled (static) target, without needing libhwy's TargetName.
inline const char* target_name() {
#if HWY_TARGET == HWY_AVX3_DL
  return "AVX3_DL";
#elif HWY_TARGET == HWY_AVX3
  return "AVX3";
#elif HWY_TARGET == HWY_AVX2
  return "AVX2";
#elif HWY_TARGET == HWY_SSE4
  return "SSE4";
#elif HWY_TARGET == HWY_SSSE3
  return "SSSE3";
#elif HWY_TARGET == HWY_EMU128
  return "EMU128";
#else
  return "other";
#endif
}

// Lanes of an f32 vector on the compiled target.
inline std::size_t f32_lanes() {
  const hn::ScalableTag<float> d;
  return hn::Lanes(d);
}

// dst[i] = f32(src[i]) for f16 (is_bf16 = false) or bf16 bit patterns; exact.
inline void widen_to_f32(const std::uint16_t* src, float* dst, std::size_t n, bool is_bf16) {
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df);
  std::size_t i = 0;
  if (is_bf16) {
    const hn::Rebind<hwy::bfloat16_t, decltype(df)> dh;
    for (; i + N <= n; i += N)
      hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::bfloat16_t*>(src + i))), df, dst + i);
    for (; i < n; ++i) {
      const std::uint32_t b = std::uint32_t(src[i]) << 16;
      std::memcpy(dst + i, &b, 4);
    }
  } else {
    const hn::Rebind<hwy::float16_t, decltype(df)> dh;
    for (; i + N <= n; i += N)
      hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(src + i))), df, dst + i);
    for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
  }
}

// The memory-read baseline of the benchmarks: sum of p[0..n) with four
// independent accumulators (so the loop is bound by loads, not by add latency).
inline float sum_f32(const float* p, std::size_t n) {
  const hn::ScalableTag<float> d;
  const std::size_t N = hn::Lanes(d);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  std::size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    a0 = hn::Add(a0, hn::LoadU(d, p + i));
    a1 = hn::Add(a1, hn::LoadU(d, p + i + N));
    a2 = hn::Add(a2, hn::LoadU(d, p + i + 2 * N));
    a3 = hn::Add(a3, hn::LoadU(d, p + i + 3 * N));
  }
  for (; i + N <= n; i += N) a0 = hn::Add(a0, hn::LoadU(d, p + i));
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  for (; i < n; ++i) s += p[i];
  return s;
}

// Sum and max of |p[i]| over a short chunk. NaN/Inf make the sum non-finite,
// which is how callers detect that a chunk needs the exact scalar treatment.
inline void abs_sum_max(const float* p, std::size_t n, float& sum, float& mx) {
  const hn::ScalableTag<float> d;
  const std::size_t N = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), m0 = hn::Zero(d), m1 = hn::Zero(d);
  std::size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto a = hn::Abs(hn::LoadU(d, p + i));
    const auto b = hn::Abs(hn::LoadU(d, p + i + N));
    s0 = hn::Add(s0, a);
    s1 = hn::Add(s1, b);
    m0 = hn::Max(m0, a);
    m1 = hn::Max(m1, b);
  }
  for (; i + N <= n; i += N) {
    const auto a = hn::Abs(hn::LoadU(d, p + i));
    s0 = hn::Add(s0, a);
    m0 = hn::Max(m0, a);
  }
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  float m = hn::GetLane(hn::MaxOfLanes(d, hn::Max(m0, m1)));
  for (; i < n; ++i) {
    const float a = std::fabs(p[i]);
    s += a;
    m = a > m ? a : m;
  }
  sum = s;
  mx = m;
}

// One pass over a chunk:
//  sum, mx  <- sum and max of |x| (NaN/Inf make sum non-finite: the caller
//              then discards this chunk's results and redoes it exactly)
//  below   += #{|x| < lo}
//  bracket <- every |x| with lo <= |x| <= hi (compressed; needs n + lanes room)
// (A four-stream variant that breaks the compress-store address chain was
// measured no faster here: the loop is bound by the loads, not that chain.)
//  rare(i, |x|) is called for every |x| >= rare_thr (expected to be rare).
// Returns the number of values written to bracket.
template <class Rare>
inline std::size_t bracket_pass(const float* p, std::size_t n, float lo, float hi, float rare_thr,
                                float* bracket, std::int64_t& below, float& sum, float& mx, Rare&& rare) {
  const hn::ScalableTag<float> d;
  const std::size_t N = hn::Lanes(d);
  const auto vlo = hn::Set(d, lo), vhi = hn::Set(d, hi), vrare = hn::Set(d, rare_thr);
  const auto one = hn::Set(d, 1.0f);
  auto cnt = hn::Zero(d);  // exact: at most n / N per lane, far below 2^24
  auto vs = hn::Zero(d), vm = hn::Zero(d);
  std::size_t nb = 0, i = 0;
  for (; i + N <= n; i += N) {
    const auto a = hn::Abs(hn::LoadU(d, p + i));
    vs = hn::Add(vs, a);
    vm = hn::Max(vm, a);
    cnt = hn::Add(cnt, hn::IfThenElseZero(hn::Lt(a, vlo), one));
    const auto in = hn::And(hn::Ge(a, vlo), hn::Le(a, vhi));
    nb += hn::CompressStore(a, in, d, bracket + nb);
    const auto r = hn::Ge(a, vrare);
    if (HWY_UNLIKELY(!hn::AllFalse(d, r))) {
      for (std::size_t j = 0; j < N; ++j) {
        const float x = std::fabs(p[i + j]);
        if (x >= rare_thr) rare(i + j, x);
      }
    }
  }
  below += std::int64_t(hn::GetLane(hn::SumOfLanes(d, cnt)));
  float s = hn::GetLane(hn::SumOfLanes(d, vs));
  float m = hn::GetLane(hn::MaxOfLanes(d, vm));
  for (; i < n; ++i) {
    const float a = std::fabs(p[i]);
    s += a;
    m = a > m ? a : m;
    if (a < lo) ++below;
    if (a >= lo && a <= hi) bracket[nb++] = a;
    if (a >= rare_thr) rare(i, a);
  }
  sum = s;
  mx = m;
  return nb;
}

// Attention: acc[k] += row[k] (double accumulators) and returns sum(row).
inline double accumulate_row(const float* row, std::size_t n, double* acc) {
  const hn::ScalableTag<float> df;
  const hn::Repartition<double, decltype(df)> dd;  // same vector width, half the lanes
  const hn::Half<decltype(df)> dh;
  const std::size_t N = hn::Lanes(df), Nd = hn::Lanes(dd);
  auto rs = hn::Zero(df);
  std::size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto v = hn::LoadU(df, row + i);
    rs = hn::Add(rs, v);
    const auto lo = hn::PromoteTo(dd, hn::LowerHalf(dh, v));
    const auto hi = hn::PromoteTo(dd, hn::UpperHalf(dh, v));
    hn::StoreU(hn::Add(hn::LoadU(dd, acc + i), lo), dd, acc + i);
    hn::StoreU(hn::Add(hn::LoadU(dd, acc + i + Nd), hi), dd, acc + i + Nd);
  }
  double s = double(hn::GetLane(hn::SumOfLanes(df, rs)));
  for (; i < n; ++i) {
    acc[i] += double(row[i]);
    s += double(row[i]);
  }
  return s;
}

// Weights: colmax[j] = max(colmax[j], |row[j]|), colsum[j] += |row[j]| (f32:
// the caller flushes colsum into double every few hundred rows), and the row's
// max and sum of |w| through rmax / rsum.
inline void weight_row(const float* row, std::size_t n, float* colmax, float* colsum, float& rmax, double& rsum) {
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df);
  auto m = hn::Zero(df);
  auto s = hn::Zero(df);
  std::size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto a = hn::Abs(hn::LoadU(df, row + i));
    m = hn::Max(m, a);
    s = hn::Add(s, a);
    hn::StoreU(hn::Max(hn::LoadU(df, colmax + i), a), df, colmax + i);
    hn::StoreU(hn::Add(hn::LoadU(df, colsum + i), a), df, colsum + i);
  }
  float mx = hn::GetLane(hn::MaxOfLanes(df, m));
  double sm = double(hn::GetLane(hn::SumOfLanes(df, s)));
  for (; i < n; ++i) {
    const float a = std::fabs(row[i]);
    mx = a > mx ? a : mx;
    sm += a;
    colmax[i] = a > colmax[i] ? a : colmax[i];
    colsum[i] += a;
  }
  rmax = mx;
  rsum = sm;
}

}  // namespace sysout::detect::simd
#endif  // HWY_TARGET != HWY_SCALAR

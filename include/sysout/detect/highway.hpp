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

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <limits>
#include <type_traits>

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

// Element sources: how stored values become f32 lanes. f16 widens with
// PromoteTo (F16C / AVX-512 vcvtph2ps); bf16 is the upper half of an f32, so
// widening is a zero-extension and a shift. Both are exact.
struct f32_src {
  using T = float;
  static float scalar(float v) { return v; }
  template <class DF>
  static HWY_INLINE hn::VFromD<DF> load(DF df, const float* p) { return hn::LoadU(df, p); }
};
struct f16_src {
  using T = std::uint16_t;
  static constexpr bool is_bf16 = false;
  static float scalar(std::uint16_t v) { return f16_to_f32(v); }
  template <class DF>
  static HWY_INLINE hn::VFromD<DF> load(DF df, const std::uint16_t* p) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    const auto v = hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p)));
#if (HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL) && !defined(HWY_DISABLE_F16C)
    return v;  // F16C / AVX-512 conversion: exact for every pattern
#else
    // Highway 1.0.3's emulated conversion (SSE4 and below) turns Inf and NaN
    // into finite values (exponent 31 taken as a normal one): fix those lanes.
    const hn::RebindToUnsigned<DF> du;
    const hn::Rebind<std::uint16_t, DF> d16;
    const auto b = hn::PromoteTo(du, hn::LoadU(d16, p));
    const auto e = hn::Set(du, 0x7c00u);
    const auto special = hn::RebindMask(df, hn::Eq(hn::And(b, e), e));
    const auto fixed = hn::Or(hn::Or(hn::ShiftLeft<16>(hn::And(b, hn::Set(du, 0x8000u))), hn::Set(du, 0x7f800000u)),
                              hn::ShiftLeft<13>(hn::And(b, hn::Set(du, 0x3ffu))));
    return hn::IfThenElse(special, hn::BitCast(df, fixed), v);
#endif
  }
};
struct bf16_src {
  using T = std::uint16_t;
  static constexpr bool is_bf16 = true;
  static float scalar(std::uint16_t v) { return bf16_to_f32(v); }
  template <class DF>
  static HWY_INLINE hn::VFromD<DF> load(DF df, const std::uint16_t* p) {
    const hn::RebindToUnsigned<DF> du;
    const hn::Rebind<std::uint16_t, DF> d16;
    return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(d16, p))));
  }
};

// dst[i] = f32(src[i]) for f16 (is_bf16 = false) or bf16 bit patterns; exact.
template <class S>
inline void widen(const std::uint16_t* src, float* dst, std::size_t n) {
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df);
  std::size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(S::load(df, src + i), df, dst + i);
  for (; i < n; ++i) dst[i] = S::scalar(src[i]);
}
inline void widen_to_f32(const std::uint16_t* src, float* dst, std::size_t n, bool is_bf16) {
  if (is_bf16)
    widen<bf16_src>(src, dst, n);
  else
    widen<f16_src>(src, dst, n);
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

// Software prefetch 2 KiB ahead of a streaming pass. Measured on the build
// machine (2.4 MB of bf16, more than its 2 MB L2): the bracket pass went from
// 0.125 to 0.102 ms; the hardware prefetcher alone leaves the loop waiting on
// loads. Prefetching past the end of a buffer is harmless (no fault).
inline void prefetch_ahead(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(static_cast<const char*>(p) + 2048);
#else
  (void)p;
#endif
}

// #{i : p[i] < t} over 16- or 32-bit patterns (a compare and a popcount per vector).
template <class U>
inline std::size_t count_below(const U* p, std::size_t n, U t) {
  const hn::ScalableTag<U> d;
  const std::size_t N = hn::Lanes(d);
  const auto vt = hn::Set(d, t);
  std::size_t c0 = 0, c1 = 0, i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    c0 += hn::CountTrue(d, hn::Lt(hn::LoadU(d, p + i), vt));
    c1 += hn::CountTrue(d, hn::Lt(hn::LoadU(d, p + i + N), vt));
  }
  for (; i + N <= n; i += N) c0 += hn::CountTrue(d, hn::Lt(hn::LoadU(d, p + i), vt));
  for (; i < n; ++i) c0 += p[i] < t;
  return c0 + c1;
}
inline std::size_t count_below_u16(const std::uint16_t* p, std::size_t n, std::uint16_t t) {
  return count_below<std::uint16_t>(p, n, t);
}
// #{i : p[i] < t1} and #{i : p[i] < t2} in one pass (a median bracket is
// larger than L1: the pass waits on L2, and the second compare is nearly free).
template <class U>
inline void count_below2(const U* p, std::size_t n, U t1, U t2, std::size_t& c1, std::size_t& c2) {
  const hn::ScalableTag<U> d;
  const std::size_t N = hn::Lanes(d);
  const auto v1 = hn::Set(d, t1), v2 = hn::Set(d, t2);
  std::size_t a = 0, b = 0, i = 0;
  for (; i + N <= n; i += N) {
    const auto v = hn::LoadU(d, p + i);
    a += hn::CountTrue(d, hn::Lt(v, v1));
    b += hn::CountTrue(d, hn::Lt(v, v2));
  }
  for (; i < n; ++i) {
    a += p[i] < t1;
    b += p[i] < t2;
  }
  c1 = a;
  c2 = b;
}

// The smallest p[i] > t (0xffff when there is none).
inline std::uint16_t min_above_u16(const std::uint16_t* p, std::size_t n, std::uint16_t t) {
  const hn::ScalableTag<std::uint16_t> d;
  const std::size_t N = hn::Lanes(d);
  const auto vt = hn::Set(d, t), none = hn::Set(d, std::uint16_t(0xffff));
  auto m = none;
  std::size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto v = hn::LoadU(d, p + i);
    m = hn::Min(m, hn::IfThenElse(hn::Gt(v, vt), v, none));
  }
  std::uint16_t r = hn::GetLane(hn::MinOfLanes(d, m));
  for (; i < n; ++i)
    if (p[i] > t && p[i] < r) r = p[i];
  return r;
}

// The k-th smallest (0-based, k < n) of the values p[0..n) (16- or 32-bit
// patterns), given that it lies in [lo, hi]: a binary search on the value,
// one counting pass per step (log2(hi - lo + 1) passes; no data movement, no
// branches per element).
//
// With interpolate, each step guesses from the counts at both ends where the
// rank falls (a smooth distribution over a median bracket resolves in a few
// passes instead of log2(span)) and counts at the guess and one below it in
// the same pass, so a guess that is the answer ends the search: a guess next
// to the answer but one off had left most of the interval (on a [2048, 576]
// f16 median: 2 passes instead of 4). Two such steps in a row that do not halve
// the interval are followed by a bisection: never more than ~3 log2(span)
// passes. Needs c_lo = #{p < lo} and c_hi = #{p <= hi} (0 and n for a bracket
// whose values all lie in [lo, hi]); then *upto, when given, receives
// #{p <= answer} (no extra pass).
template <class U>
inline U select_by_count(const U* p, std::size_t n, std::size_t k, U lo, U hi, bool interpolate = false,
                         std::size_t c_lo = 0, std::size_t c_hi = 0, std::size_t* upto = nullptr) {
  int misses = 0;  // interpolation steps in a row that did not halve the interval
  while (lo < hi) {
    const U before = U(hi - lo);
    if (interpolate && misses < 2 && c_hi > c_lo) {
      // The value with rank k if counts grew linearly over [lo, hi].
      const double f = (double(k - c_lo) + 0.5) / double(c_hi - c_lo);
      const U mid = U(std::min<double>(double(hi) - 1, double(lo) + f * (double(hi) - double(lo) + 1)));
      std::size_t lt, le;  // #{p < mid}, #{p <= mid}
      count_below2<U>(p, n, mid, U(mid + 1), lt, le);
      if (le <= k) {
        lo = U(mid + 1);
        c_lo = le;
      } else if (lt > k) {  // then mid > lo (lt would be c_lo <= k)
        hi = U(mid - 1);
        c_hi = lt;
      } else {
        lo = hi = mid;
        c_hi = le;
      }
      misses = U(hi - lo) > before / 2 ? misses + 1 : 0;
      continue;
    }
    const U mid = U(lo + (hi - lo) / 2);
    const std::size_t c = count_below<U>(p, n, U(mid + 1));
    if (c > k) {
      hi = mid;
      c_hi = c;
    } else {
      lo = U(mid + 1);
      c_lo = c;
    }
    misses = 0;
  }
  if (upto) *upto = c_hi;
  return lo;
}
inline std::uint16_t select_u16(const std::uint16_t* p, std::size_t n, std::size_t k, std::uint16_t lo,
                                std::uint16_t hi, bool interpolate = false, std::size_t c_lo = 0,
                                std::size_t c_hi = 0, std::size_t* upto = nullptr) {
  return select_by_count<std::uint16_t>(p, n, k, lo, hi, interpolate, c_lo, c_hi, upto);
}

// The bracket passes below work on the bit patterns of |x|: for non-negative
// floats (f32, f16 and bf16 alike) the unsigned order of the bit patterns is
// the order of the values, and NaN patterns lie above +Inf. So
//   max_bits  = integer max of the patterns (> Inf's pattern: a NaN was seen)
//   |x| < lo  <=> (bits - lo_bits) is negative: its sign bit is added to a
//               counter (a shift and an add; no compare)
//   lo <= |x| <= hi <=> (bits - lo_bits) as unsigned < hi_bits - lo_bits + 1
// which leaves one compare (AVX-512: port 5, shared with compress) per vector.
// Results do not depend on lane order, which lets bf16 be split into even and
// odd halves without shuffles. Compress + full store instead of the memory
// form of vcompressps (measured much slower on Intel); out needs n + 2 vectors
// of room.

// One pass over f32 values p[0..n): returns the count written to out (the
// |x| inside [lo, hi], as f32); below += #{|x| < lo}; sum = sum of |x| in f32
// (non-finite if NaN/Inf were seen); max_bits = largest pattern of |x|.
inline std::size_t bracket_f32(const float* p, std::size_t n, std::uint32_t lo_bits, std::uint32_t hi_bits,
                               float* out, std::int64_t& below, float& sum, std::uint32_t& max_bits) {
  const hn::ScalableTag<std::uint32_t> du;
  const hn::RebindToFloat<decltype(du)> df;
  const std::size_t N = hn::Lanes(du);
  const std::uint32_t lim = hi_bits >= lo_bits ? hi_bits - lo_bits + 1 : 0;  // lim 0: empty bracket
  const auto vabs = hn::Set(du, 0x7fffffffu), vlo = hn::Set(du, lo_bits), vlim = hn::Set(du, lim);
  const auto* pu = reinterpret_cast<const std::uint32_t*>(p);
  auto c0 = hn::Zero(du), c1 = hn::Zero(du), m0 = hn::Zero(du), m1 = hn::Zero(du);
  auto s0 = hn::Zero(df), s1 = hn::Zero(df);
  std::size_t nb = 0, i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    prefetch_ahead(pu + i);
    const auto a = hn::And(hn::LoadU(du, pu + i), vabs);
    const auto b = hn::And(hn::LoadU(du, pu + i + N), vabs);
    m0 = hn::Max(m0, a);
    m1 = hn::Max(m1, b);
    s0 = hn::Add(s0, hn::BitCast(df, a));
    s1 = hn::Add(s1, hn::BitCast(df, b));
    const auto da = hn::Sub(a, vlo), db = hn::Sub(b, vlo);
    c0 = hn::Add(c0, hn::ShiftRight<31>(da));
    c1 = hn::Add(c1, hn::ShiftRight<31>(db));
    const auto ina = hn::Gt(vlim, da), inb = hn::Gt(vlim, db);
    hn::StoreU(hn::BitCast(df, hn::Compress(a, ina)), df, out + nb);
    nb += hn::CountTrue(du, ina);
    hn::StoreU(hn::BitCast(df, hn::Compress(b, inb)), df, out + nb);
    nb += hn::CountTrue(du, inb);
  }
  std::uint64_t cnt = hn::GetLane(hn::SumOfLanes(du, hn::Add(c0, c1)));
  std::uint32_t mb = hn::GetLane(hn::MaxOfLanes(du, hn::Max(m0, m1)));
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(s0, s1)));
  for (; i < n; ++i) {
    std::uint32_t a;
    std::memcpy(&a, p + i, 4);
    a &= 0x7fffffffu;
    mb = a > mb ? a : mb;
    float f;
    std::memcpy(&f, &a, 4);
    s += f;
    const std::uint32_t d = a - lo_bits;
    cnt += d >> 31;
    if (d < lim) out[nb++] = f;
  }
  below += std::int64_t(cnt);
  sum = s;
  max_bits = mb;
  return nb;
}

// The same over f16 or bf16 patterns (S = f16_src / bf16_src), 2x the lanes of
// f32 per compare and compress; out receives the 16-bit patterns of |x|.
// max_bits is a 16-bit pattern (f16: >= 0x7c00 is Inf/NaN; bf16: >= 0x7f80).
template <class S>
inline std::size_t bracket_u16(const std::uint16_t* p, std::size_t n, std::uint16_t lo_bits,
                               std::uint16_t hi_bits, std::uint16_t* out, std::int64_t& below, float& sum,
                               std::uint16_t& max_bits) {
  const hn::ScalableTag<std::uint16_t> dw;
  const hn::Repartition<std::uint32_t, decltype(dw)> du;
  const hn::Repartition<float, decltype(dw)> df;
  const std::size_t N = hn::Lanes(dw);
  const std::uint16_t lim = hi_bits >= lo_bits ? std::uint16_t(hi_bits - lo_bits + 1) : std::uint16_t(0);
  const auto vabs = hn::Set(dw, std::uint16_t(0x7fff)), vlo = hn::Set(dw, lo_bits), vlim = hn::Set(dw, lim);
  const auto vhi = hn::Set(dw, hi_bits);
  (void)vhi;
  auto m = hn::Zero(dw);
  auto s0 = hn::Zero(df), s1 = hn::Zero(df);
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  // f16 sum: vpmaddwd against (2^13, 0) / (0, 2^13) moves the even / odd
  // pattern of |x| into its 32-bit lane as pattern << 13: the f32 whose value is
  // |x| x 2^-112 (normals and subnormals alike, exactly), scaled back once at the end.
  const __m512i even13 = _mm512_set1_epi32(0x2000), odd13 = _mm512_set1_epi32(0x20000000);
  (void)even13;
  (void)odd13;
#endif
  std::uint64_t cnt = 0;
  std::size_t nb = 0, i = 0, cnt_ge = 0;  // cnt_ge: values >= lo (AVX-512 path)
  (void)cnt_ge;
  while (i + N <= n) {
    // 16-bit counters: at most 2^15 - 1 per lane before they are folded into cnt
    auto c = hn::Zero(dw);
    const std::size_t stop = i + std::min<std::size_t>((n - i) / N, 32767) * N;
    for (; i < stop; i += N) {
      prefetch_ahead(p + i);
      const auto a = hn::And(hn::LoadU(dw, p + i), vabs);
      m = hn::Max(m, a);
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
      // Two compares, the second masked by the first (vpcmpuw k{k}), and the
      // below count from the first mask's popcount: 4 vector-port uops where
      // subtract, compare, shift and add took 5.
      (void)vlim;
      (void)c;
      const __mmask32 ge = _mm512_cmpge_epu16_mask(a.raw, vlo.raw);
      const __mmask32 inm = _mm512_mask_cmple_epu16_mask(ge, a.raw, vhi.raw);
#if HWY_TARGET == HWY_AVX3_DL
      hn::StoreU(hn::VFromD<decltype(dw)>{_mm512_maskz_compress_epi16(inm, a.raw)}, dw, out + nb);
#else
      // vpcompressw needs AVX512-VBMI2 (AVX3_DL); AVX3 gets Highway's emulation.
      hn::StoreU(hn::Compress(a, hn::MFromD<decltype(dw)>{inm}), dw, out + nb);
#endif
      nb += std::size_t(_mm_popcnt_u32(inm));
      cnt_ge += std::size_t(_mm_popcnt_u32(ge));
#else
      const auto d = hn::Sub(a, vlo);
      c = hn::Add(c, hn::ShiftRight<15>(d));
      const auto in = hn::Gt(vlim, d);
      hn::StoreU(hn::Compress(a, in), dw, out + nb);
      nb += hn::CountTrue(dw, in);
#endif
      if constexpr (S::is_bf16) {
        // The even / odd pattern of |x| moved into the f32 lanes: exact, and
        // faster here than one vdpbf16ps against 1.0 (measured 0.071 vs 0.065
        // ms for this pass over [2048, 576] bf16), which also took subnormal
        // inputs as 0.
        const auto w = hn::BitCast(du, a);
        s0 = hn::Add(s0, hn::BitCast(df, hn::ShiftLeft<16>(w)));
        s1 = hn::Add(s1, hn::BitCast(df, hn::And(w, hn::Set(du, 0xffff0000u))));
      } else {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
        // Two vpmaddwd (one uop each) instead of two vcvtph2ps (two uops each,
        // one on the port that the compares and the compress need) and two
        // absolute values: measured 0.084 -> 0.068 ms for this pass over
        // [2048, 576] f16. The sums are the same as summing the converted values:
        // scaling by a power of 2 changes no rounding (sums of 16-bit inputs
        // below the f32 normal range are exact).
        s0 = hn::Add(s0, hn::VFromD<decltype(df)>{_mm512_castsi512_ps(_mm512_madd_epi16(a.raw, even13))});
        s1 = hn::Add(s1, hn::VFromD<decltype(df)>{_mm512_castsi512_ps(_mm512_madd_epi16(a.raw, odd13))});
#else
        // Converting from memory (vcvtph2ps zmm, m256) keeps the conversion
        // off the shuffle port that the compare and compress need; an
        // extracted upper half would add a shuffle.
        s0 = hn::Add(s0, hn::Abs(S::load(df, p + i)));
        s1 = hn::Add(s1, hn::Abs(S::load(df, p + i + N / 2)));
#endif
      }
    }
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
    cnt = i - cnt_ge;  // every full vector so far: below = seen - (>= lo)
#else
    const auto cw = hn::BitCast(du, c);
    cnt += hn::GetLane(hn::SumOfLanes(du, hn::Add(hn::And(cw, hn::Set(du, 0xffffu)), hn::ShiftRight<16>(cw))));
#endif
  }
  std::uint16_t mb = 0;
  {
    const auto mw = hn::BitCast(du, m);  // max over the 32-bit pairs, then their halves
    const std::uint32_t mm = hn::GetLane(hn::MaxOfLanes(du, hn::Max(hn::And(mw, hn::Set(du, 0xffffu)), hn::ShiftRight<16>(mw))));
    mb = std::uint16_t(mm);
  }
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(s0, s1)));
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  if constexpr (!S::is_bf16) s *= 0x1p112f;  // exact: a power of 2, far from overflow
#endif
  for (; i < n; ++i) {
    const std::uint16_t a = std::uint16_t(p[i] & 0x7fff);
    mb = a > mb ? a : mb;
    s += S::scalar(a);
    const std::uint16_t d = std::uint16_t(a - lo_bits);
    cnt += d >> 15;
    if (d < lim) out[nb++] = a;
  }
  below += std::int64_t(cnt);
  sum = s;
  max_bits = mb;
  return nb;
}

// rare(i, |x_i|) for every i with |x_i| >= thr, in increasing i (a compare
// per vector; the callback runs for the few hits). thr is read once.
template <class S, class Rare>
inline void scan_at_least(const typename S::T* p, std::size_t n, float thr, Rare&& rare) {
  if constexpr (!std::is_same_v<S, f32_src>) {
    // 16-bit kinds: on the patterns of |x| (32 per vector, nothing widened),
    // |x| >= thr <=> P <= pattern <= Inf's (NaN patterns lie above Inf's), P the
    // smallest pattern whose value is >= thr.
    if (std::isnan(thr)) return;
    constexpr std::uint16_t inf_bits = S::is_bf16 ? 0x7f80 : 0x7c00;
    std::uint16_t P = 0;
    if (thr > 0) {
      P = S::is_bf16 ? std::uint16_t(std::bit_cast<std::uint32_t>(thr) >> 16) : f32_to_f16(thr);  // Inf's at most
      if (S::scalar(P) < thr) ++P;
    }
    const hn::ScalableTag<std::uint16_t> dw;
    const std::size_t N = hn::Lanes(dw);
    const auto vabs = hn::Set(dw, std::uint16_t(0x7fff)), vp = hn::Set(dw, P),
               vend = hn::Set(dw, std::uint16_t(inf_bits + 1));
    std::size_t i = 0;
    for (; i + N <= n; i += N) {
      const auto a = hn::And(hn::LoadU(dw, p + i), vabs);
      const auto hit = hn::AndNot(hn::Lt(a, vp), hn::Lt(a, vend));
      if (HWY_UNLIKELY(!hn::AllFalse(dw, hit))) {
        // Only the hit lanes: a loop over all lanes of a hit vector was a quarter
        // of this function's samples in a perf profile.
        std::uint8_t mb[(hn::MaxLanes(dw) + 7) / 8] = {};
        hn::StoreMaskBits(dw, hit, mb);
        for (std::size_t j0 = 0; j0 < N; j0 += 8)
          for (unsigned m = mb[j0 / 8]; m != 0; m &= m - 1) {
            const std::size_t j = j0 + std::size_t(std::countr_zero(m));
            rare(i + j, S::scalar(std::uint16_t(p[i + j] & 0x7fff)));
          }
      }
    }
    for (; i < n; ++i) {
      const float a = std::fabs(S::scalar(p[i]));
      if (a >= thr) rare(i, a);
    }
    return;
  }
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df);
  const auto vt = hn::Set(df, thr);
  std::size_t i = 0;
  HWY_ALIGN float lanes[hn::MaxLanes(df)];
  for (; i + N <= n; i += N) {
    const auto v = hn::Abs(S::load(df, p + i));
    if (HWY_UNLIKELY(!hn::AllFalse(df, hn::Ge(v, vt)))) {
      hn::Store(v, df, lanes);  // the widened lanes: no scalar f16 conversion per value
      for (std::size_t j = 0; j < N; ++j)
        if (lanes[j] >= thr) rare(i + j, lanes[j]);
    }
  }
  for (; i < n; ++i) {
    const float a = std::fabs(S::scalar(p[i]));
    if (a >= thr) rare(i, a);
  }
}

// Attention: acc[k] += row[k] (double accumulators) and returns sum(row).
// f16/bf16: each half vector is widened from memory straight into f32 and
// then f64, so no shuffle extracts an upper half.
template <class S>
inline double accumulate_row(const typename S::T* row, std::size_t n, double* acc) {
  if constexpr (!std::is_same_v<S, f32_src>) {
    const hn::ScalableTag<double> dd;
    const hn::Rebind<float, decltype(dd)> dfh;  // half-width f32 vector
    const std::size_t Nd = hn::Lanes(dd);
    // Four row-sum chains: with two, the adds' latency bounded the loop.
    auto r0 = hn::Zero(dd), r1 = hn::Zero(dd), r2 = hn::Zero(dd), r3 = hn::Zero(dd);
    std::size_t i = 0;
    auto step = [&](std::size_t k, auto& ra) HWY_ATTR {
      const auto x = hn::PromoteTo(dd, S::load(dfh, row + k));
      ra = hn::Add(ra, x);
      hn::StoreU(hn::Add(hn::LoadU(dd, acc + k), x), dd, acc + k);
    };
    for (; i + 4 * Nd <= n; i += 4 * Nd) {
      if (i % 32 == 0) prefetch_ahead(row + i);  // rows follow each other in memory: this reaches the next ones
      step(i, r0);
      step(i + Nd, r1);
      step(i + 2 * Nd, r2);
      step(i + 3 * Nd, r3);
    }
    for (; i + Nd <= n; i += Nd) step(i, r0);
    double s = hn::GetLane(hn::SumOfLanes(dd, hn::Add(hn::Add(r0, r1), hn::Add(r2, r3))));
    for (; i < n; ++i) {
      const double x = double(S::scalar(row[i]));
      acc[i] += x;
      s += x;
    }
    return s;
  }
  const hn::ScalableTag<float> df;
  const hn::Repartition<double, decltype(df)> dd;  // same vector width, half the lanes
  const hn::Half<decltype(df)> dh;
  const std::size_t N = hn::Lanes(df), Nd = hn::Lanes(dd);
  auto rs = hn::Zero(df);
  std::size_t i = 0;
  for (; i + N <= n; i += N) {
    prefetch_ahead(row + i);
    const auto v = S::load(df, row + i);
    rs = hn::Add(rs, v);
    const auto lo = hn::PromoteTo(dd, hn::LowerHalf(dh, v));
    const auto hi = hn::PromoteTo(dd, hn::UpperHalf(dh, v));
    hn::StoreU(hn::Add(hn::LoadU(dd, acc + i), lo), dd, acc + i);
    hn::StoreU(hn::Add(hn::LoadU(dd, acc + i + Nd), hi), dd, acc + i + Nd);
  }
  double s = double(hn::GetLane(hn::SumOfLanes(df, rs)));
  for (; i < n; ++i) {
    const double x = double(S::scalar(row[i]));
    acc[i] += x;
    s += x;
  }
  return s;
}
inline double accumulate_row(const float* row, std::size_t n, double* acc) {
  return accumulate_row<f32_src>(row, n, acc);
}

// Weights, one row: with a = |row[j]| where finite and 0 for NaN/Inf (what the
// scalar path skips), colmax[j] = max(colmax[j], a) and colsum[j] += a (f32:
// the caller flushes colsum into double every few hundred rows); rsum = sum of
// a; max_bits = largest pattern of |row[j]| including NaN/Inf (>= 0x7f800000:
// the row holds a special value and the caller redoes its row statistics).
template <class S = f32_src>
inline void weight_row(const typename S::T* row, std::size_t n, float* colmax, float* colsum, std::uint32_t& max_bits,
                       double& rsum) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const std::size_t N = hn::Lanes(df);
  const auto vinf = hn::Set(df, std::numeric_limits<float>::infinity());
  auto m0 = hn::Zero(du), m1 = hn::Zero(du);
  auto s0 = hn::Zero(df), s1 = hn::Zero(df);  // two chains: the adds' latency, not the loads, bounded one
  std::size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto ra = hn::Abs(S::load(df, row + i)), rb = hn::Abs(S::load(df, row + i + N));
    m0 = hn::Max(m0, hn::BitCast(du, ra));
    m1 = hn::Max(m1, hn::BitCast(du, rb));
    const auto a = hn::IfThenElseZero(hn::Lt(ra, vinf), ra), b = hn::IfThenElseZero(hn::Lt(rb, vinf), rb);
    s0 = hn::Add(s0, a);
    s1 = hn::Add(s1, b);
    hn::StoreU(hn::Max(hn::LoadU(df, colmax + i), a), df, colmax + i);
    hn::StoreU(hn::Max(hn::LoadU(df, colmax + i + N), b), df, colmax + i + N);
    hn::StoreU(hn::Add(hn::LoadU(df, colsum + i), a), df, colsum + i);
    hn::StoreU(hn::Add(hn::LoadU(df, colsum + i + N), b), df, colsum + i + N);
  }
  for (; i + N <= n; i += N) {
    const auto raw = hn::Abs(S::load(df, row + i));
    m0 = hn::Max(m0, hn::BitCast(du, raw));
    const auto a = hn::IfThenElseZero(hn::Lt(raw, vinf), raw);
    s0 = hn::Add(s0, a);
    hn::StoreU(hn::Max(hn::LoadU(df, colmax + i), a), df, colmax + i);
    hn::StoreU(hn::Add(hn::LoadU(df, colsum + i), a), df, colsum + i);
  }
  const auto m = hn::Max(m0, m1);
  const auto s = hn::Add(s0, s1);
  std::uint32_t mb = hn::GetLane(hn::MaxOfLanes(du, m));
  double sm = double(hn::GetLane(hn::SumOfLanes(df, s)));
  for (; i < n; ++i) {
    const float raw = std::fabs(S::scalar(row[i]));
    std::uint32_t b;
    std::memcpy(&b, &raw, 4);
    mb = b > mb ? b : mb;
    const float a = raw < std::numeric_limits<float>::infinity() ? raw : 0.0f;
    sm += a;
    colmax[i] = a > colmax[i] ? a : colmax[i];
    colsum[i] += a;
  }
  max_bits = mb;
  rsum = sm;
}

}  // namespace sysout::detect::simd
#endif  // HWY_TARGET != HWY_SCALAR

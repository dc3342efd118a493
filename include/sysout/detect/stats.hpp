// Magnitude statistics of a tensor: median / mean / max of |x|, NaN and Inf
// counts, values beyond the fp16 range. The reference statistic of the
// massive-activation rule ("|h| > 1000 x median(|h|)") comes from here.
//
// Conventions (both backends follow them exactly):
//  - median_abs: median over the non-NaN values (Inf counts as +Inf); for an
//    even count it is the mean of the two middle values (numpy's convention;
//    torch.median returns the lower one). No values -> 0.
//  - mean_abs: over the finite values only. No finite values -> 0.
//  - max_abs: over the non-NaN values (Inf if there is one). None -> 0.
//  - over_f16_count: finite values with |x| > 65504 (f16_max); Inf is counted in
//    inf_count only.
//
// Two backends: reference (scalar, any dtype, double arithmetic, a full copy +
// nth_element) and the fast path (Highway; f32, f16 and bf16 on their own bit
// patterns; f64 uses the reference): one streaming pass over L1-sized chunks
// that sums, maxes, counts and compacts the values inside a median bracket estimated from a 4096-value
// sample; the median is then selected among the compacted values (f16/bf16:
// by counting passes over the 16-bit patterns, simd::select_u16; f32: by
// select_two). If the sample
// bracket misses the median (~0.3% per side for independent values: the bracket
// is +-3 standard deviations of the sample median's rank; more often where rows
// differ in scale) one more pass brackets the side where the median lies, and
// only if that misses too does the fast path select exactly over a copy. Chunks holding NaN/Inf or values
// beyond fp16 range are processed by the scalar code, so special values are
// counted exactly. The fast path keeps per-thread scratch buffers between calls
// (thread_local; at most ~ the largest median bracket seen, a few % of the
// largest tensor) so that repeated calls do not pay page faults.
//
// Speed: bench/detect/bench_detect; the numbers are in docs/architecture.md
// ("Detector speed").
#pragma once
#include <algorithm>
#include <bit>
#include <utility>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "sysout/core/error.hpp"
#include "sysout/core/tensor_view.hpp"
#include "sysout/io/json_writer.hpp"

#if __has_include(<hwy/highway.h>) && !defined(SYSOUT_NO_HIGHWAY)
#include "sysout/detect/highway.hpp"
#endif

namespace sysout::detect {

// Which implementation to run: the fastest available, or the scalar reference.
enum class backend : std::uint8_t { best, reference };

struct magnitude_stats {
  std::int64_t count = 0;           // elements examined
  std::int64_t nan_count = 0;
  std::int64_t inf_count = 0;
  std::int64_t over_f16_count = 0;  // finite |x| > 65504
  double max_abs = 0;
  double mean_abs = 0;
  double median_abs = 0;

  void to_json(json_writer& w) const {
    w.begin_object();
    w.field("count", count).field("nan_count", nan_count).field("inf_count", inf_count);
    w.field("over_f16_count", over_f16_count);
    w.field("max_abs", max_abs).field("mean_abs", mean_abs).field("median_abs", median_abs);
    w.end_object();
  }
};

// A position in the logical row-major order of a view, with its magnitude.
struct ranked_value {
  double magnitude = 0;
  std::int64_t index = 0;
};
// Larger magnitude first; ties: smaller index first (a total order, so every
// backend returns the same top-k).
inline bool ranks_before(const ranked_value& a, const ranked_value& b) {
  return a.magnitude > b.magnitude || (a.magnitude == b.magnitude && a.index < b.index);
}

// Element offset of the flat (row-major logical) index i of view v.
inline std::int64_t offset_of_flat(const tensor_view& v, std::int64_t i) {
  std::int64_t off = 0;
  for (int a = v.rank() - 1; a >= 0; --a) {
    const std::int64_t e = v.shape()[a];
    off += (i % e) * v.strides()[a];
    i /= e;
  }
  return off;
}

namespace detail {

struct scan_request {
  int topk = 0;                                                   // top-k magnitudes to return
  double collect_above = std::numeric_limits<double>::infinity();  // collect every |x| > this
  std::int64_t collect_cap = std::int64_t(1) << 22;                // at most this many, else incomplete
};
struct scan_result {
  magnitude_stats stats;
  std::vector<ranked_value> topk;   // sorted by ranks_before
  std::vector<ranked_value> above;  // increasing index
  bool above_complete = true;       // false when more than collect_cap values were above
};

inline void finish_topk(std::vector<ranked_value>& buf, int k) {
  if (std::int64_t(buf.size()) > k) {
    std::nth_element(buf.begin(), buf.begin() + (k - 1), buf.end(), ranks_before);
    buf.resize(std::size_t(k));
  }
  std::sort(buf.begin(), buf.end(), ranks_before);
}

// Median (numpy convention) of v, reordering v.
template <class T>
double median_inplace(std::vector<T>& v) {
  if (v.empty()) return 0.0;
  const std::size_t k1 = (v.size() - 1) / 2, k2 = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(k1), v.end());
  const double a = double(v[k1]);
  const double b = k2 == k1 ? a : double(*std::min_element(v.begin() + std::ptrdiff_t(k1) + 1, v.end()));
  return a == b ? a : (a + b) / 2;
}

// Scalar reference: any dtype, double arithmetic, whole copy.
inline scan_result scan_reference(const tensor_view& x, const scan_request& rq) {
  scan_result r;
  auto& s = r.stats;
  s.count = x.size();
  std::vector<double> mags;
  mags.reserve(std::size_t(x.size()));
  std::vector<ranked_value> top;
  double sum = 0;
  std::int64_t idx = 0;
  double topk_thr = -1;
  for_each_offset(x, [&](std::int64_t off) {
    const double a = std::fabs(load_as_double(x.ptr_at(off), x.type()));
    const std::int64_t i = idx++;
    if (std::isnan(a)) {
      ++s.nan_count;
      return;
    }
    if (std::isinf(a)) {
      ++s.inf_count;
    } else {
      sum += a;
      if (a > double(f16_max)) ++s.over_f16_count;
    }
    s.max_abs = std::max(s.max_abs, a);
    mags.push_back(a);
    if (a > rq.collect_above) {
      if (std::int64_t(r.above.size()) < rq.collect_cap)
        r.above.push_back({a, i});
      else
        r.above_complete = false;
    }
    if (rq.topk > 0 && a >= topk_thr) {
      top.push_back({a, i});
      if (top.size() >= std::size_t(4 * rq.topk + 1024)) {
        finish_topk(top, rq.topk);
        topk_thr = top.back().magnitude;
      }
    }
  });
  const std::int64_t finite = s.count - s.nan_count - s.inf_count;
  s.mean_abs = finite > 0 ? sum / double(finite) : 0.0;
  s.median_abs = median_inplace(mags);
  if (rq.topk > 0) finish_topk(top, rq.topk);
  r.topk = std::move(top);
  return r;
}

#ifdef SYSOUT_DETECT_HAVE_HIGHWAY

inline constexpr std::size_t chunk_elems = 2048;  // 8 KiB of f32: stays in L1 for the rare re-reads

// Calls f(const T* p, size_t n, int64 flat_base) over the view as chunks of
// stored values in row-major logical order, T = float for f32 and the 16-bit
// pattern for f16/bf16 (strided data is gathered into scratch first).
template <class T, class F>
void for_each_chunk(const tensor_view& x, std::vector<T>& scratch, F&& f) {
  if (x.empty()) return;
  static_assert(sizeof(T) == 4 || sizeof(T) == 2);
  auto contiguous_run = [&](const T* base, std::int64_t n, std::int64_t flat) {
    for (std::int64_t b = 0; b < n; b += std::int64_t(chunk_elems))
      f(base + b, std::size_t(std::min<std::int64_t>(std::int64_t(chunk_elems), n - b)), flat + b);
  };
  if (x.is_contiguous()) {
    contiguous_run(static_cast<const T*>(x.data()), x.size(), 0);
    return;
  }
  scratch.resize(chunk_elems);
  const int last = x.rank() - 1;
  const std::int64_t inner = x.shape()[last], istride = x.strides()[last];
  const tensor_view outer = x.select(last, 0);
  std::int64_t row = 0;
  for_each_offset(outer, [&](std::int64_t off) {
    const T* p = static_cast<const T*>(x.data()) + off;
    const std::int64_t flat = (row++) * inner;
    if (istride == 1) {
      contiguous_run(p, inner, flat);
      return;
    }
    for (std::int64_t b = 0; b < inner; b += std::int64_t(chunk_elems)) {
      const std::int64_t len = std::min<std::int64_t>(std::int64_t(chunk_elems), inner - b);
      for (std::int64_t j = 0; j < len; ++j) scratch[std::size_t(j)] = p[(b + j) * istride];
      f(static_cast<const T*>(scratch.data()), std::size_t(len), flat + b);
    }
  });
}

// The same, widened to f32 (f32/f16/bf16 views).
template <class F>
void for_each_f32_chunk(const tensor_view& x, F&& f) {
  if (x.type() == dtype::f32) {
    std::vector<float> scratch;
    for_each_chunk<float>(x, scratch, f);
    return;
  }
  std::vector<std::uint16_t> scratch;
  std::vector<float> wide(chunk_elems);
  const bool bf = x.type() == dtype::bf16;
  for_each_chunk<std::uint16_t>(x, scratch, [&](const std::uint16_t* p, std::size_t len, std::int64_t base) {
    simd::widen_to_f32(p, wide.data(), len, bf);
    f(static_cast<const float*>(wide.data()), len, base);
  });
}

// Largest float <= d (thresholds are compared in float inside the kernels and
// re-checked in double, so rounding must never drop a candidate).
inline float float_at_or_below(double d) {
  if (std::isinf(d) || std::isnan(d)) return float(d);
  float f = float(d);
  if (double(f) > d) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  return f;
}

// The j1-th and j2-th smallest (0-based, j1 <= j2 < n) of v[0..n) (non-negative, no NaN).
// Inputs above 2048 values are narrowed first, like the main pass: a 1024-value sample
// gives a bracket of +-3 standard deviations around the wanted rank, one
// vectorized compress pass keeps the values inside it (~10%), and selection
// recurses on those; a missed bracket falls back to nth_element on everything.
inline std::pair<float, float> select_two(float* v, std::size_t n, std::size_t j1, std::size_t j2, std::uint64_t seed = 1) {
  if (n <= 2048) {
    std::nth_element(v, v + j1, v + n);
    const float x = v[j1];
    const float y = j2 == j1 ? x : *std::min_element(v + j1 + 1, v + n);
    return {x, y};
  }
  constexpr std::size_t m = 1024;
  float smp[m];
  for (std::size_t i = 0; i < m; ++i) {
    seed += 0x9e3779b97f4a7c15ull;
    std::uint64_t z = (seed ^ (seed >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    smp[i] = v[(z ^ (z >> 31)) % n];
  }
  const double p1 = double(j1) / double(n), p2 = double(j2) / double(n);
  const double sd = std::sqrt(double(m) * std::max(p1 * (1 - p1), 1.0 / double(m)));
  const std::int64_t rl = std::max<std::int64_t>(0, std::int64_t(p1 * double(m) - 3 * sd) - 2);
  const std::int64_t rh = std::min<std::int64_t>(std::int64_t(m) - 1, std::int64_t(p2 * double(m) + 3 * sd) + 2);
  // Sample ranks by counting passes over the bit patterns (for non-negative
  // floats their unsigned order is the values' order): cheaper than nth_element.
  std::uint32_t sb[m];
  for (std::size_t i = 0; i < m; ++i) sb[i] = std::bit_cast<std::uint32_t>(smp[i]);
  constexpr std::uint32_t inf_bits = 0x7f800000u;
  const std::uint32_t lo_b = simd::select_by_count<std::uint32_t>(sb, m, std::size_t(rl), 0, inf_bits);
  const std::uint32_t hi_b = simd::select_by_count<std::uint32_t>(sb, m, std::size_t(rh), lo_b, inf_bits);
  const float lo = std::bit_cast<float>(lo_b), hi = std::bit_cast<float>(hi_b);
  static thread_local std::vector<float> w;
  if (w.size() < n + 256) w.resize(n + 256);
  std::int64_t below = 0;
  float sum;
  std::uint32_t mb;
  const std::size_t nw = simd::bracket_f32(v, n, std::bit_cast<std::uint32_t>(lo), std::bit_cast<std::uint32_t>(hi),
                                           w.data(), below, sum, mb);
  if (below <= std::int64_t(j1) && below + std::int64_t(nw) > std::int64_t(j2) && nw < n) {
    std::vector<float> mine(w.begin(), w.begin() + std::ptrdiff_t(nw));  // w is reused by the recursion
    return select_two(mine.data(), nw, j1 - std::size_t(below), j2 - std::size_t(below), seed);
  }
  std::nth_element(v, v + j1, v + n);
  const float x = v[j1];
  const float y = j2 == j1 ? x : *std::min_element(v + j1 + 1, v + n);
  return {x, y};
}

inline std::uint64_t splitmix64(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Per element kind: the stored pattern of |x|, and which max patterns mean a
// chunk holds NaN/Inf or a finite value beyond fp16 range (such chunks are
// redone by the exact scalar code).
template <class S>
struct kind_traits;
template <>
struct kind_traits<simd::f32_src> {
  using bits = std::uint32_t;
  using store = float;  // bracket entries
  static store to_store(float a) { return a; }
  static constexpr std::uint32_t special_above = 0x477fe000u;  // 65504
  static bits pattern(float a) { return std::bit_cast<std::uint32_t>(a); }
  static float value(bits b) { return std::bit_cast<float>(b); }
};
template <>
struct kind_traits<simd::f16_src> {
  using bits = std::uint16_t;
  using store = std::uint16_t;
  static store to_store(float a) { return pattern(a); }
  static constexpr std::uint16_t special_above = 0x7bff;  // 65504; above: Inf, NaN
  static constexpr std::uint16_t nan_above = 0x7c00;
  static bits pattern(float a) { return f32_to_f16(a); }  // exact: a is an f16 value
  static float value(bits b) { return f16_to_f32(b); }
};
template <>
struct kind_traits<simd::bf16_src> {
  using bits = std::uint16_t;
  using store = std::uint16_t;
  static store to_store(float a) { return pattern(a); }
  static constexpr std::uint16_t special_above = 0x477f;  // 65280; the next, 65536, exceeds fp16
  static constexpr std::uint16_t nan_above = 0x7f80;
  static bits pattern(float a) { return std::uint16_t(std::bit_cast<std::uint32_t>(a) >> 16); }
  static float value(bits b) { return bf16_to_f32(b); }
};

template <class S>
inline std::size_t bracket_chunk(const typename S::T* p, std::size_t n, typename kind_traits<S>::bits lo,
                                 typename kind_traits<S>::bits hi, typename kind_traits<S>::store* out,
                                 std::int64_t& below, float& sum, typename kind_traits<S>::bits& max_bits) {
  if constexpr (std::is_same_v<S, simd::f32_src>)
    return simd::bracket_f32(p, n, lo, hi, out, below, sum, max_bits);
  else
    return simd::bracket_u16<S>(p, n, lo, hi, out, below, sum, max_bits);
}

template <class S>
inline scan_result scan_fast(const tensor_view& x, const scan_request& rq) {
  using K = kind_traits<S>;
  using T = typename S::T;
  using B = typename K::bits;
  scan_result r;
  auto& s = r.stats;
  const std::int64_t n = x.size();
  s.count = n;
  if (n == 0) return r;
  constexpr float inf = std::numeric_limits<float>::infinity();

  // 1. Sample: 256 runs of 16 consecutive values at pseudo-random places (runs
  //    keep it cheap on memory; random starts avoid aliasing with the row length).
  static thread_local std::vector<float> sample;
  static thread_local std::vector<std::uint16_t> sample_bits;  // 16-bit kinds, dense: patterns of |x|
  sample.clear();
  sample_bits.clear();
  bool have_bits = false;
  std::size_t nbits = 0;
  {
    constexpr std::int64_t runs = 256, run_len = 16;
    const bool dense = x.is_contiguous();
    const T* base = static_cast<const T*>(x.data());
    auto at = [&](std::int64_t i) -> float {
      if (dense) return S::scalar(base[i]);
      return float(load_as_double(x.ptr_at(offset_of_flat(x, i)), x.type()));
    };
    if (n <= runs * run_len) {
      for (std::int64_t i = 0; i < n; ++i) sample.push_back(at(i));
    } else {
      std::uint64_t seed = 0x5f5a11ce5ull;
      sample.resize(std::size_t(runs * run_len));
      if constexpr (!std::is_same_v<S, simd::f32_src>) {
        have_bits = dense;
        if (dense) {
          sample.clear();
          sample_bits.resize(std::size_t(runs * run_len));
        }
      }
      for (std::int64_t k = 0; k < runs; ++k) {
        const std::int64_t start = std::int64_t(splitmix64(seed) % std::uint64_t(n - run_len + 1));
        if constexpr (!std::is_same_v<S, simd::f32_src>) {
          if (dense) {
            // The stored patterns straight from memory (no float round trip), one
            // 32-byte copy per run: the runs are mostly cache misses, and with
            // few instructions per run many of them are in flight at once (a
            // loop per value that also dropped NaN through a value-dependent
            // write position made them wait on each other: ~5 -> ~2 us).
            std::memcpy(sample_bits.data() + k * run_len, base + start, std::size_t(run_len) * sizeof(T));
            continue;
          }
        }
        float* dst = sample.data() + k * run_len;
        for (std::int64_t j = 0; j < run_len; ++j) dst[j] = at(start + j);
      }
    }
    if constexpr (sizeof(B) == 2) {
      if (have_bits)
        // Patterns of |x|. NaN patterns stay (above every other pattern, ranks
        // below the non-NaN count never reach them) and are counted out.
        for (auto& b : sample_bits) {
          b = std::uint16_t(b & 0x7fff);
          nbits += b <= K::nan_above;
        }
    }
    std::size_t m = 0;
    for (float v : sample)
      if (!std::isnan(v)) sample[m++] = std::fabs(v);
    sample.resize(m);
  }
  std::size_t sample_size = sample.size();
  // Ranks in the sample: for 16-bit kinds by counting on the patterns of |x|
  // (select_u16: branch-free passes over 4096 values) instead of nth_element
  // on floats; the selected values are the same.
  // f32: the same on the 32-bit patterns.
  static thread_local std::vector<std::uint32_t> sample_bits32;
  if constexpr (sizeof(B) == 2) {
    if (have_bits) {
      sample_size = nbits;  // the NaN patterns, above all others, stay in sample_bits
    } else {
      for (float v : sample) sample_bits.push_back(K::pattern(v));
      sample_size = sample_bits.size();
    }
  } else {
    sample_bits32.resize(sample.size());
    for (std::size_t i = 0; i < sample.size(); ++i) sample_bits32[i] = std::bit_cast<std::uint32_t>(sample[i]);
  }
  auto sample_rank = [&](std::int64_t r, float from_rank_of) -> float {  // r-th smallest
    if constexpr (sizeof(B) == 2) {
      (void)from_rank_of;
      return K::value(simd::select_u16(sample_bits.data(), sample_bits.size(), std::size_t(r), 0, 0x7fff));
    } else {
      // from_rank_of: a value known to be <= the answer (narrows the search)
      return std::bit_cast<float>(simd::select_by_count<std::uint32_t>(
          sample_bits32.data(), sample_bits32.size(), std::size_t(r), std::bit_cast<std::uint32_t>(from_rank_of),
          0x7f800000u));
    }
  };
  float lo = 0, hi = inf;
  const bool bracketed = n > 65536 && sample_size >= 1024;
  const std::int64_t sm = std::int64_t(sample_size), sj = sm / 2;
  const std::int64_t delta = std::int64_t(std::ceil(1.5 * std::sqrt(double(sm)))) + 2;  // 3 sd of the rank
  const std::int64_t jl = std::max<std::int64_t>(0, sj - delta), jh = std::min<std::int64_t>(sm - 1, sj + delta);
  if (bracketed) {
    lo = sample_rank(jl, 0.0f);
    hi = sample_rank(jh, lo);
  }
  B lo_bits = K::pattern(lo), hi_bits = K::pattern(hi);
  float topk_thr = inf;
  if (rq.topk > 0) {
    topk_thr = 0;
    const std::int64_t m = std::int64_t(sample_size);
    // The k-th largest of a subset never exceeds the k-th largest of the whole.
    if (m >= rq.topk) topk_thr = sample_rank(m - rq.topk, 0.0f);
  }
  const float collect_above = float_at_or_below(rq.collect_above);  // handler re-checks in double
  float rare_thr = std::min(topk_thr, collect_above);

  std::vector<ranked_value> top;
  // Trim early: the threshold then rises to the running k-th largest within the first chunks.
  const std::size_t trim_at = std::size_t(std::max(4 * rq.topk, 64));
  auto on_rare = [&](std::int64_t i, float a) {
    if (double(a) > rq.collect_above) {
      if (std::int64_t(r.above.size()) < rq.collect_cap)
        r.above.push_back({double(a), i});
      else
        r.above_complete = false;
    }
    if (a >= topk_thr) {
      top.push_back({double(a), i});
      if (top.size() >= trim_at) {
        finish_topk(top, rq.topk);
        topk_thr = float(top.back().magnitude);
        rare_thr = std::min(topk_thr, collect_above);
      }
    }
  };

  // 2. One pass. Per chunk, the kernel sums, maxes, counts and compacts; the
  //    rare values (top-k / collect candidates) are looked for in a second read
  //    of the chunk from L1 only when the chunk's max reaches their threshold.
  // Per-thread buffers, reused across calls: fresh large allocations cost page
  // faults on every call (measured: ~15% of the detector's time).
  static thread_local std::vector<typename K::store> bracket;
  {
    const double frac = lo == 0 && hi == inf ? 1.0 : 1.5 * double(2 * (std::ceil(1.5 * std::sqrt(double(sample_size))) + 2)) / double(sample_size);
    const std::size_t want = std::size_t(std::min<double>(double(n), frac * double(n))) + chunk_elems + 256;
    if (bracket.size() < want) bracket.resize(want);
  }
  std::size_t nb = 0;
  std::int64_t below = 0;
  double sum = 0;
  B mx = 0;
  static thread_local std::vector<T> scratch;
  // Brackets one chunk with the kernel (its sum and max pattern in cs, cm);
  // false, with nb and below as they were, when the chunk holds NaN / Inf /
  // beyond fp16: the caller then redoes it value by value with bracket_exact.
  auto bracket_fast = [&](const T* p, std::size_t len, float& cs, B& cm) {
    if (bracket.size() < nb + len + 256) bracket.resize(std::max(bracket.size() * 2, nb + len + 256));
    const std::size_t nb0 = nb;
    const std::int64_t below0 = below;
    nb += bracket_chunk<S>(p, len, lo_bits, hi_bits, bracket.data() + nb, below, cs, cm);
    if (cm <= K::special_above) return true;
    nb = nb0, below = below0;
    return false;
  };
  auto bracket_exact = [&](float a) {  // a = |x|, not NaN
    if (a < lo)
      ++below;
    else if (a <= hi)
      bracket[nb++] = K::to_store(a);
  };
  for_each_chunk<T>(x, scratch, [&](const T* p, std::size_t len, std::int64_t base) {
    float cs;
    B cm;
    if (bracket_fast(p, len, cs, cm)) {
      sum += double(cs);
      mx = std::max(mx, cm);
      if (K::value(cm) >= rare_thr)
        simd::scan_at_least<S>(p, len, rare_thr, [&](std::size_t i, float a) { on_rare(base + std::int64_t(i), a); });
      return;
    }
    // NaN / Inf / beyond fp16 in this chunk: exactly, value by value.
    for (std::size_t i = 0; i < len; ++i) {
      const float a = std::fabs(S::scalar(p[i]));
      if (std::isnan(a)) {
        ++s.nan_count;
        continue;
      }
      if (std::isinf(a)) {
        ++s.inf_count;
      } else {
        sum += double(a);
        if (a > f16_max) ++s.over_f16_count;
      }
      mx = std::max(mx, K::pattern(a));
      bracket_exact(a);
      if (a >= rare_thr) on_rare(base + std::int64_t(i), a);
    }
  });
  s.max_abs = double(K::value(mx));
  const std::int64_t finite = n - s.nan_count - s.inf_count;
  s.mean_abs = finite > 0 ? sum / double(finite) : 0.0;

  // 3. Median from the bracket, or exactly from a copy when the bracket missed.
  const std::int64_t N = n - s.nan_count;
  if (N > 0) {
    const std::int64_t k1 = (N - 1) / 2, k2 = N / 2;
    // The sample's runs are 16 neighbours, which vary together where rows differ
    // in scale: the sample median then spreads more than the bracket allows, and
    // it can miss (SmolLM2's down_proj input at layer 4, every time). One more
    // pass, bracketing an eighth of the sample on the side where the median lies,
    // costs one read instead of a full copy and nth_element (3 ms -> ~0.15 ms there).
    if (bracketed && !(below <= k1 && below + std::int64_t(nb) > k2)) {
      const std::int64_t w = sm / 8;
      if (below > k1) {
        hi = lo;
        lo = sample_rank(std::max<std::int64_t>(0, jl - w), 0.0f);
      } else {
        lo = hi;
        hi = sample_rank(std::min<std::int64_t>(sm - 1, jh + w), lo);
      }
      lo_bits = K::pattern(lo), hi_bits = K::pattern(hi);
      nb = 0, below = 0;
      for_each_chunk<T>(x, scratch, [&](const T* p, std::size_t len, std::int64_t) {
        float cs;
        B cm;
        if (bracket_fast(p, len, cs, cm)) return;
        for (std::size_t i = 0; i < len; ++i) {
          const float a = std::fabs(S::scalar(p[i]));
          if (!std::isnan(a)) bracket_exact(a);
        }
      });
    }
    if (below <= k1 && below + std::int64_t(nb) > k2) {
      if constexpr (sizeof(B) == 2) {
        // Every bracket entry lies in [lo_bits, hi_bits]: count instead of select.
        std::size_t upto_a = 0;  // #{entries <= a}, from the selection's own counts
        const std::uint16_t a =
            simd::select_u16(bracket.data(), nb, std::size_t(k1 - below), lo_bits, hi_bits, true, 0, nb, &upto_a);
        // Patterns repeat (bf16 has 128 per octave): the (k1+1)-th is mostly the
        // same one, else it is the smallest entry above a (one pass).
        std::uint16_t b = a;
        if (k2 != k1 && std::int64_t(upto_a) <= k2 - below) b = simd::min_above_u16(bracket.data(), nb, a);
        const float fa = K::value(a), fb = K::value(b);
        s.median_abs = fa == fb ? double(fa) : (double(fa) + double(fb)) / 2;
      } else {
        const auto [a, b] = select_two(bracket.data(), nb, std::size_t(k1 - below), std::size_t(k2 - below));
        s.median_abs = a == b ? double(a) : (double(a) + double(b)) / 2;
      }
    } else {
      std::vector<float> all;
      all.reserve(std::size_t(N));
      for_each_f32_chunk(x, [&](const float* p, std::size_t len, std::int64_t) {
        for (std::size_t i = 0; i < len; ++i)
          if (!std::isnan(p[i])) all.push_back(std::fabs(p[i]));
      });
      s.median_abs = median_inplace(all);
    }
  }
  if (rq.topk > 0) finish_topk(top, rq.topk);
  r.topk = std::move(top);
  return r;
}

inline scan_result scan_fast(const tensor_view& x, const scan_request& rq) {
  if (x.type() == dtype::f16) return scan_fast<simd::f16_src>(x, rq);
  if (x.type() == dtype::bf16) return scan_fast<simd::bf16_src>(x, rq);
  return scan_fast<simd::f32_src>(x, rq);
}

// Every |x| > thr (strict) with its flat index, in increasing index order.
inline std::vector<ranked_value> collect_above_fast(const tensor_view& x, double thr) {
  std::vector<ranked_value> out;
  const float fthr = float_at_or_below(thr);
  for_each_f32_chunk(x, [&](const float* p, std::size_t len, std::int64_t base) {
    simd::scan_at_least<simd::f32_src>(p, len, fthr, [&](std::size_t i, float a) {
      if (double(a) > thr) out.push_back({double(a), base + std::int64_t(i)});
    });
  });
  return out;
}
#endif  // SYSOUT_DETECT_HAVE_HIGHWAY

inline bool fast_path_available(const tensor_view& x) {
#ifdef SYSOUT_DETECT_HAVE_HIGHWAY
  return x.type() == dtype::f32 || x.type() == dtype::f16 || x.type() == dtype::bf16;
#else
  (void)x;
  return false;
#endif
}

inline scan_result scan(const tensor_view& x, const scan_request& rq, backend b) {
  (void)b;
  if (!is_floating(x.type()))
    throw_error(x.where(), "magnitude statistics need a floating dtype, got ", dtype_name(x.type()), " (shape ",
                x.shape().str(), ")");
  if (rq.topk < 0) throw_error(x.where(), "top-k must be >= 0, got ", rq.topk);
#ifdef SYSOUT_DETECT_HAVE_HIGHWAY
  if (b == backend::best && fast_path_available(x)) return scan_fast(x, rq);
#endif
  return scan_reference(x, rq);
}

inline std::vector<ranked_value> collect_above(const tensor_view& x, double thr, backend b) {
  (void)b;
#ifdef SYSOUT_DETECT_HAVE_HIGHWAY
  if (b == backend::best && fast_path_available(x)) return collect_above_fast(x, thr);
#endif
  std::vector<ranked_value> out;
  std::int64_t idx = 0;
  for_each_offset(x, [&](std::int64_t off) {
    const double a = std::fabs(load_as_double(x.ptr_at(off), x.type()));
    if (a > thr) out.push_back({a, idx});
    ++idx;
  });
  return out;
}

}  // namespace detail

// Statistics of |x| over every element of x (any rank, layout, floating dtype).
inline magnitude_stats magnitude_statistics(const tensor_view& x, backend b = backend::best) {
  return detail::scan(x, detail::scan_request{}, b).stats;
}

// The k largest |x| with their flat (row-major logical) indices, largest first.
inline std::vector<ranked_value> top_magnitudes(const tensor_view& x, int k, backend b = backend::best) {
  detail::scan_request rq;
  rq.topk = k;
  return detail::scan(x, rq, b).topk;
}

}  // namespace sysout::detect

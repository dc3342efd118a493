// Highway SIMD backend, static dispatch: compiled for the target the including
// translation unit is built for (-march=...). Every variant, f32/f16/bf16
// inputs (converted to f32 once per call), fp32 accumulation, GQA, causal,
// sliding window, masks, fused column sums / null mass. One call runs on one
// thread; attend_highway_parallel spreads the heads over a thread pool.
// For runtime CPU dispatch compile highway_dynamic.cpp into your program and
// call attend_highway_dynamic() (highway_dynamic.hpp).
#pragma once
// Highway 1.0.3 stops with "best baseline should be included in dynamic
// targets" under -march=native on AVX-512 "DL" CPUs (Ice Lake and later)
// unless AVX3_DL is requested; harmless elsewhere. Must precede the first
// <hwy/highway.h> of the translation unit.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#include <hwy/highway.h>

#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "sysout/attention/highway-inl.hpp"

namespace sysout::attention {

// out = attention(q, k, v) for the variant in c; fills the stats views that are set.
inline void attend_highway(const problem& p, const config& c, const stats& st = {}) {
  HWY_STATIC_DISPATCH(attend_impl)(p, c, st);
}

// The same over the caller's threads: parallel_for(n, f) must call f(i) for
// every i in [0, n) and return when all are done (model::thread_pool's
// parallel_for does). Work items are query heads, or whole KV groups for
// short query blocks (decode), where packing K/V once per group matters more.
// Each head is computed exactly as by attend_highway.
template <class ParallelFor>
void attend_highway_parallel(const problem& p, const config& c, const stats& st, ParallelFor&& parallel_for) {
  const shape_info s = validate(p, c, st);
  const std::int64_t per = s.tq < 16 ? s.group() : 1, n = s.hq / per;
  std::exception_ptr failed;
  std::mutex mu;
  parallel_for(n, [&](std::int64_t i) {
    try {
      const problem_part part = head_part(p, c, st, s, i * per, (i + 1) * per);
      attend_highway(part.p, part.c, part.st);
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu);
      if (!failed) failed = std::current_exception();
    }
  });
  if (failed) std::rethrow_exception(failed);
}

// With `threads` std::threads started for the call (items handed out in turn).
inline void attend_highway(const problem& p, const config& c, const stats& st, int threads) {
  attend_highway_parallel(p, c, st, [threads](std::int64_t n, const auto& f) {
    const std::int64_t nt = std::max<std::int64_t>(1, std::min<std::int64_t>(threads, n));
    auto run = [&](std::int64_t t) {
      for (std::int64_t i = t; i < n; i += nt) f(i);
    };
    std::vector<std::thread> pool;
    for (std::int64_t t = 1; t < nt; ++t) pool.emplace_back(run, t);
    run(0);
    for (auto& th : pool) th.join();
  });
}

// Name of the SIMD target attend_highway was compiled for ("AVX3_DL", "AVX2"...).
inline const char* highway_static_target() { return hwy::TargetName(HWY_STATIC_TARGET); }

}  // namespace sysout::attention

// y[T, rows] = x[T, cols] . W^T for a (possibly quantized) weight matrix:
// the activation rows are prepared once (quantized to the 8-bit blocks the
// weight type dots with, see quant_dot.hpp), then output rows are split across
// the thread pool in tiles; within a tile each weight row is dotted with every
// token's activation while it is hot in L1.
//
// Kernels: the Highway ones (quant_dot_highway.hpp) when Highway is available
// and SYSOUT_NO_HIGHWAY is not defined, else the scalar reference. matmul_ref()
// always uses the reference (tests compare the two).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "sysout/core/error.hpp"
#include "sysout/model/quant_dot.hpp"
#include "sysout/model/thread_pool.hpp"
#include "sysout/model/weights.hpp"

#if __has_include(<hwy/highway.h>) && !defined(SYSOUT_NO_HIGHWAY)
#include "sysout/model/quant_dot_highway.hpp"
#define SYSOUT_MODEL_HAVE_HIGHWAY 1
#else
#define SYSOUT_MODEL_HAVE_HIGHWAY 0
#endif

namespace sysout::model {

struct matmul_scratch {
  std::vector<std::byte> act;  // prepared activation rows
};

// reference: scalar kernels, 8-bit activations as llama.cpp; fast: Highway/VNNI twins;
// exact: f32 activations against each dequantized weight row (no activation
// quantization; slow) - what a float reference such as numpy computes.
enum class kernel_set : std::uint8_t { reference, fast, exact };

inline constexpr bool have_fast_kernels = SYSOUT_MODEL_HAVE_HIGHWAY != 0;

inline void prepare_activation(kernel_set k, ggml_type t, const float* x, void* out, std::int64_t n) {
  if (k == kernel_set::exact) return (void)std::memcpy(out, x, std::size_t(n) * 4);
#if SYSOUT_MODEL_HAVE_HIGHWAY
  if (k == kernel_set::fast) return hwy_kernels::prepare_activation(t, x, out, n);
#endif
  (void)k;
  prepare_activation_ref(t, x, out, n);
}

inline float vec_dot(kernel_set k, ggml_type t, std::int64_t n, const void* w, const void* a, float* scratch) {
  if (k == kernel_set::exact) {
    const float* wf = static_cast<const float*>(w);
    if (t != ggml_type::f32) {
      io::dequantize_row_ref(t, w, scratch, n);
      wf = scratch;
    }
    const float* x = static_cast<const float*>(a);
    double s = 0.0;  // double accumulation: compared with float64 references
    for (std::int64_t i = 0; i < n; ++i) s += double(wf[i]) * x[i];
    return float(s);
  }
#if SYSOUT_MODEL_HAVE_HIGHWAY
  if (k == kernel_set::fast) return hwy_kernels::vec_dot(t, n, w, a, scratch);
#endif
  (void)k;
  return vec_dot_ref(t, n, w, a, scratch);
}

// One output of a grouped matmul: y[T, ldy] (columns [0, W.rows)) = x . W^T.
struct matmul_out {
  const matrix* W;
  float* y;
  std::int64_t ldy;
};

namespace detail {

// Rows [r0, r1) of W against T prepared activation rows (row stride arow bytes).
inline void matmul_rows(const matrix& W, const std::byte* act, std::size_t arow, std::int64_t T, float* y,
                        std::int64_t ldy, std::int64_t r0, std::int64_t r1, kernel_set k, bool need_deq) {
  float* scratch = nullptr;
  if (need_deq) {  // fallback types: dequantize each weight row into a per-thread buffer
    thread_local std::vector<float> deq;
    if (std::int64_t(deq.size()) < W.cols) deq.resize(std::size_t(W.cols));
    scratch = deq.data();
  }
  std::int64_t r = r0;
#if SYSOUT_MODEL_HAVE_HIGHWAY
  // one token: 4 rows at a time (independent accumulation chains, bit-identical results)
  if (k == kernel_set::fast && T == 1) {
    for (; r + 4 <= r1; r += 4) {
      const void* w4[4] = {W.row(r), W.row(r + 1), W.row(r + 2), W.row(r + 3)};
      float out[4];
      if (!hwy_kernels::vec_dot_rows4(W.type, W.cols, w4, act, out)) break;
      for (int i = 0; i < 4; ++i) y[r + i] = out[i];
    }
  }
  // several tokens: where the type has one, a 4-row x 4-token tile kernel (each
  // weight block decoded once per 4 tokens, each activation block loaded once
  // per 4 rows; bit-identical results)
  if (k == kernel_set::fast && T > 1) {
    for (; r + 4 <= r1; r += 4) {
      const void* w4[4] = {W.row(r), W.row(r + 1), W.row(r + 2), W.row(r + 3)};
      bool ok = true;
      for (std::int64_t t = 0; t < T && ok; t += 4) {
        const int nt = int(T - t < 4 ? T - t : 4);
        const void* a[4];
        float out[16];
        for (int i = 0; i < nt; ++i) a[i] = act + arow * std::size_t(t + i);
        ok = hwy_kernels::vec_dot_rows4_multi(W.type, W.cols, w4, a, nt, out);
        if (ok)
          for (int ri = 0; ri < 4; ++ri)
            for (int i = 0; i < nt; ++i) y[(t + i) * ldy + r + ri] = out[ri * nt + i];
      }
      if (!ok) break;  // the type has no tile kernel (decided on the first call)
    }
  }
#endif
  for (; r < r1; ++r) {
    const std::byte* wr = W.row(r);
    std::int64_t t = 0;
#if SYSOUT_MODEL_HAVE_HIGHWAY
    // groups of 4 tokens share one decode of the weight row (bit-identical results)
    if (k == kernel_set::fast && T > 1) {
      for (; t < T; t += 4) {
        const int nt = int(T - t < 4 ? T - t : 4);
        const void* a[4];
        float out[4];
        for (int i = 0; i < nt; ++i) a[i] = act + arow * std::size_t(t + i);
        if (!hwy_kernels::vec_dot_multi(W.type, W.cols, wr, a, nt, out)) break;
        for (int i = 0; i < nt; ++i) y[(t + i) * ldy + r] = out[i];
      }
    }
#endif
    for (; t < T; ++t) y[t * ldy + r] = vec_dot(k, W.type, W.cols, wr, act + arow * std::size_t(t), scratch);
  }
}

}  // namespace detail

inline activation_format activation_format_of(const matrix& W, kernel_set k) noexcept {
  return k == kernel_set::exact ? activation_format::f32 : activation_format_for(W.type);
}

// The most matrices one matmul_group call takes (its tile table lives on the stack).
inline constexpr std::size_t matmul_group_max = 7;

// Whether matmul_group accepts these outputs (present matrices, same columns
// and activation format, at most matmul_group_max).
inline bool groupable(std::span<const matmul_out> outs, kernel_set k) noexcept {
  if (outs.empty() || outs.size() > matmul_group_max) return false;
  for (const auto& o : outs)
    if (o.W->empty() || o.W->cols != outs[0].W->cols ||
        activation_format_of(*o.W, k) != activation_format_of(*outs[0].W, k))
      return false;
  return true;
}

// Several matrices applied to the same input x [T, cols] (row stride ldx), e.g.
// Q, K and V, or gate and up: the activation is prepared once and all outputs'
// row tiles go through one parallel_for (one fork-join instead of one per
// matrix, which matters for single-token steps of a small model). The matrices
// must share cols and activation format (otherwise: one matmul each). Each
// output is computed exactly as a separate matmul would compute it.
inline void matmul_group(std::span<const matmul_out> outs, const float* x, std::int64_t T, std::int64_t ldx,
                         thread_pool* pool, matmul_scratch& s, kernel_set k = kernel_set::fast) {
  for (const auto& o : outs)
    if (o.W->empty()) throw_error("matmul", "weight matrix '", o.W->name, "' is missing");
  if (outs.empty() || T <= 0) return;
  const matrix& W0 = *outs[0].W;
  if (outs.size() > matmul_group_max) throw_error("matmul_group", "at most ", matmul_group_max, " matrices");
  const auto fmt = activation_format_of(W0, k);
  for (const auto& o : outs)
    if (o.W->cols != W0.cols || activation_format_of(*o.W, k) != fmt)
      throw_error("matmul_group", "'", o.W->name, "' and '", W0.name, "' differ in columns or activation format");
  const std::size_t arow = activation_row_bytes(fmt, W0.cols);
  if (s.act.size() < arow * std::size_t(T)) s.act.resize(arow * std::size_t(T));
  for (std::int64_t t = 0; t < T; ++t)
    prepare_activation(k, W0.type, x + t * ldx, s.act.data() + arow * std::size_t(t), W0.cols);

  // Tiles of rows; each task owns disjoint output columns, so no synchronisation.
  // One token: fewer, larger tiles (each claim is a cache-line round trip between cores).
  const int threads = pool ? pool->size() : 1;
  std::int64_t total_rows = 0;
  for (const auto& o : outs) total_rows += o.W->rows;
  std::int64_t tile = 16;
  if (T == 1 && threads > 1) {
    const std::int64_t want = total_rows / (8 * std::int64_t(threads));
    tile = std::max<std::int64_t>(16, std::min<std::int64_t>(64, want / 4 * 4));
  }
  std::int64_t first_tile[matmul_group_max + 1];
  first_tile[0] = 0;
  for (std::size_t i = 0; i < outs.size(); ++i) first_tile[i + 1] = first_tile[i] + (outs[i].W->rows + tile - 1) / tile;
  const std::int64_t n_tiles = first_tile[outs.size()];
  const std::byte* act = s.act.data();
  auto run_tile = [&](std::int64_t ti) {
    std::size_t i = 0;
    while (ti >= first_tile[i + 1]) ++i;
    const matrix& W = *outs[i].W;
    const std::int64_t r0 = (ti - first_tile[i]) * tile, r1 = std::min(r0 + tile, W.rows);
    const bool need_deq = fmt == activation_format::f32 && W.type != ggml_type::f32;
    detail::matmul_rows(W, act, arow, T, outs[i].y, outs[i].ldy, r0, r1, k, need_deq);
  };
  if (pool && pool->size() > 1 && n_tiles > 1)
    pool->parallel_for(n_tiles, run_tile);
  else
    for (std::int64_t ti = 0; ti < n_tiles; ++ti) run_tile(ti);
}

// x: T rows of W.cols floats (row stride ldx); y: T rows, row stride ldy, writes
// columns [0, W.rows).
inline void matmul(const matrix& W, const float* x, std::int64_t T, std::int64_t ldx, float* y, std::int64_t ldy,
                   thread_pool* pool, matmul_scratch& s, kernel_set k = kernel_set::fast) {
  const matmul_out o{&W, y, ldy};
  matmul_group(std::span<const matmul_out>(&o, 1), x, T, ldx, pool, s, k);
}

// The same with the scalar reference kernels, single-threaded.
inline void matmul_ref(const matrix& W, const float* x, std::int64_t T, std::int64_t ldx, float* y, std::int64_t ldy) {
  matmul_scratch s;
  matmul(W, x, T, ldx, y, ldy, nullptr, s, kernel_set::reference);
}

// Row r of W as f32 (embedding lookup).
inline void dequantize_matrix_row(const matrix& W, std::int64_t r, float* out) {
  if (r < 0 || r >= W.rows) throw_error(W.name, "row ", r, " out of range [0, ", W.rows, ")");
  io::dequantize_row_ref(W.type, W.row(r), out, W.cols);
}

}  // namespace sysout::model

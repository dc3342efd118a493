// CUDA backend: flash-style attention kernels for every variant, as header
// templates any CUDA host can include (nvcc -std=c++20, sm_80 or newer).
//
// One thread block = 4 warps = 64 query rows of one head; each warp owns 16
// rows and runs mma.sync m16n8k16 (f16 or bf16 inputs, fp32 accumulation):
//   S = Q K^T with K tiles of 64 keys in shared memory (Q fragments stay in
//   registers), online softmax on the S accumulators (running max/normalizer
//   per row, quad shuffles), P re-packed in registers as the A operand of
//   O += P V. K and V tiles are double-buffered: cp.async brings tile t+1
//   while tile t is computed; B fragments come from ldmatrix (V row-major,
//   transposed by ldmatrix.trans). Causal, sliding window and explicit masks
//   mask only the tiles that need it; tiles outside the block's visible key
//   range are skipped; the heaviest causal query blocks start first. GQA:
//   head h reads kv-head h/group.
//
// Split keys (flash-decoding): when the grid has fewer query blocks than the
// GPU has SMs (decode, few heads, long KV cache), blockIdx.z splits each
// row's visible key tiles; the blocks write unnormalized partials (max, sum,
// P V) and combine_kernel merges them by their maxima and finishes the rows
// (the extra logits of softmax1 / sink_logit / kv_bias count in split 0 only).
//
// Fused statistics, no materialized matrix: null_mass is summed in the
// epilogue. Column sums need each row's final normalizer, known only after
// its last key tile, so the attention kernel writes per-row (shift, factor)
// and a key-parallel column_sum_kernel recomputes S = Q K^T once per visible
// score (no P V, no V loads, no atomics), about half the attention work. The
// clipped softmax needs the final normalizer before its nonlinearity: it
// makes a statistics pass (QK^T + exp) before the output pass.
//
// Host entry point: attend_cuda(problem, config, stats, stream) with every view
// pointing to device memory. Requirements (checked, sysout::error otherwise):
// q/k/v f16 or bf16 (same dtype), out f32/f16/bf16, d == dv in {32, 64, 80, 96,
// 128, 256}, last axis contiguous, other strides multiples of 8 elements and 16-byte
// aligned base pointers; variant parameters, mask_add, stats: f32; mask: i8.
//
// With SYSOUT_CUDA_EMULATION defined, this header compiles as plain C++ and the
// kernels run on the CPU through cuda_emulation.hpp (tests without a GPU).
#pragma once
#if defined(SYSOUT_CUDA_EMULATION)
#include "sysout/attention/cuda_emulation.hpp"
#else
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "sysout/attention/problem.hpp"
#include "sysout/attention/variant.hpp"

namespace sysout::attention::cuda {

namespace detail {

struct params {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  int hq, hkv, tq, tk, group;
  long long qs_h, qs_t, ks_h, ks_t, vs_h, vs_t, os_h, os_t;
  int out_type;  // 0 f32, 1 f16, 2 bf16
  long long q_pos0, window;
  int causal, var, online;
  float scale, sig_bias, clip_zeta, clip_gamma;
  const float* extra_key;  // rows per head: ek_per_q ? h : g
  const float* extra_value;
  long long ek_s, ev_s;
  int ek_per_q, ev_per_q;
  const float* sink;
  long long sink_s;
  const float* vbias;
  long long vb_s;
  int vb_per_q;
  const float* rowf;  // scaling factor or gate logits [Hq, Tq]
  long long rf_h, rf_t;
  const signed char* mask;
  long long m_h, m_i, m_j;
  const float* madd;
  long long a_h, a_i, a_j;
  float* colsum;
  long long cs_h;
  float2* rowstat;  // [Hq, Tq] per-row (shift, factor) for the column-sum kernel, or null
  // Split keys (decode): block z of `splits` covers a share of the key tiles and
  // writes unnormalized partials for combine_kernel instead of the output.
  int splits;
  float* part_o;     // [splits, Hq, Tq, dv]
  float2* part_ml;   // [splits, Hq, Tq] running (max, sum)
  float* null_mass;
  long long nm_s;
};

constexpr int kWarps = 4, kBQ = 64, kBK = 64, kThreads = 32 * kWarps;
// Keys per tile: 32 for D = 256 (Gemma), whose O accumulators take 128
// registers a thread and whose double-buffered 64-key K/V tiles would pass
// sm_80's 163 KB of shared memory; 64 otherwise.
template <int D>
constexpr int key_tile = D > 128 ? 32 : 64;

// Warp-level PTX: inline assembly on the GPU, emulated on the CPU.
#if defined(SYSOUT_CUDA_EMULATION)
#define SYSOUT_DYNAMIC_SHARED(name) unsigned char* name = ::sysout::cuda_emulation::dynamic_shared()
using ::sysout::cuda_emulation::cp_async_16;
using ::sysout::cuda_emulation::cp_async_commit;
using ::sysout::cuda_emulation::cp_async_wait;
using ::sysout::cuda_emulation::ldmatrix_x4;
using ::sysout::cuda_emulation::ldmatrix_x4_trans;
using ::sysout::cuda_emulation::mma_bf16_m16n8k16;
using ::sysout::cuda_emulation::mma_f16_m16n8k16;
#else
#define SYSOUT_DYNAMIC_SHARED(name) extern __shared__ __align__(16) unsigned char name[]
__device__ __forceinline__ void mma_bf16_m16n8k16(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                                  std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mma_f16_m16n8k16(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                                 std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ unsigned shared_address(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
// Four 8x8 b16 matrices; lane 8i + r passes the address of row r of matrix i.
__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(row)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(row)));
}
// 16 bytes global -> shared, bypassing L1; valid == false writes zeros.
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(smem)), "l"(gmem),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
#endif

template <class T>
struct mma_type;
template <>
struct mma_type<__nv_bfloat16> {
  static __device__ __forceinline__ void mma(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                             std::uint32_t b1) {
    mma_bf16_m16n8k16(c, a, b0, b1);
  }
  static __device__ __forceinline__ std::uint32_t pack(float x, float y) {
    __nv_bfloat162 h = __floats2bfloat162_rn(x, y);
    return *reinterpret_cast<std::uint32_t*>(&h);
  }
};
template <>
struct mma_type<__half> {
  static __device__ __forceinline__ void mma(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                             std::uint32_t b1) {
    mma_f16_m16n8k16(c, a, b0, b1);
  }
  static __device__ __forceinline__ std::uint32_t pack(float x, float y) {
    __half2 h = __floats2half2_rn(x, y);
    return *reinterpret_cast<std::uint32_t*>(&h);
  }
};

__device__ __forceinline__ void key_bounds(const params& p, long long i, long long& lo, long long& hi) {
  const long long pos = p.q_pos0 + i;
  lo = 0, hi = p.tk;
  if (p.causal) hi = min(hi, pos + 1);
  if (p.window > 0) {
    lo = max(lo, pos - p.window + 1);
    if (!p.causal) hi = min(hi, pos + p.window);
  }
  if (hi < lo) hi = lo;
  lo = min(lo, (long long)p.tk);
  hi = max(min(hi, (long long)p.tk), lo);
}

__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// x = scale * q_i . k_j: adds mask_add, or gives -inf where query i may not see
// key j ([lo, hi) from key_bounds, explicit mask, rows past Tq).
__device__ __forceinline__ float masked_score(const params& p, int h, long long i, long long j, long long lo,
                                              long long hi, bool row_ok, float x) {
  bool ok = row_ok && j >= lo && j < hi;
  if (ok && p.mask) ok = p.mask[h * p.m_h + i * p.m_i + j * p.m_j] != 0;
  if (ok && p.madd) x += p.madd[h * p.a_h + i * p.a_i + j * p.a_j];
  return ok ? x : -INFINITY;
}
// Final weights of the variants without an online normalizer (masked: 0).
__device__ __forceinline__ float sigmoid_weight(const params& p, float x) {
  return x == -INFINITY ? 0.f : __fdividef(1.f, 1.f + __expf(-(x + p.sig_bias)));
}
// k = (zeta - gamma) / l, shift = the row max m (0 for an empty row).
__device__ __forceinline__ float clipped_weight(const params& p, float x, float shift, float k) {
  return x == -INFINITY ? 0.f : fminf(fmaxf(k * __expf(x - shift) + p.clip_gamma, 0.f), 1.f);
}

// What turns a row's accumulated P V into its output: out = f (o inv + null_p
// ev + vb). m, l: the row's final max and sum; extra: scale q . k'.
struct row_terms {
  float inv, null_p, f;
  const float* ev;  // context value bias v' (scaled by null_p), or null
  const float* vb;  // fixed value bias, or null
};
__device__ __forceinline__ row_terms finish_row(const params& p, int h, int g, long long i, float m, float l,
                                                float extra) {
  const variant var = variant(p.var);
  row_terms t{1.f, 0.f, 1.f, nullptr, nullptr};
  if (p.online) {
    t.inv = l > 0.f ? 1.f / l : 0.f;
    if (var == variant::softmax1) t.null_p = __expf(0.f - m) * t.inv;
    if (var == variant::sink_logit) t.null_p = __expf(p.sink[h * p.sink_s] - m) * t.inv;
    if (var == variant::kv_bias) t.null_p = __expf(extra - m) * t.inv;
    if (l == 0.f) t.null_p = 0.f;
  }
  if (var == variant::value_bias_context) {
    t.null_p = l > 0.f ? 1.f / (1.f + l * __expf(m - extra)) : 1.f;
    t.ev = p.extra_value + (p.ev_per_q ? h : g) * p.ev_s;
  }
  if (var == variant::value_bias_fixed) t.vb = p.vbias + (p.vb_per_q ? h : g) * p.vb_s;
  if (var == variant::scaling_factor) t.f = p.rowf[h * p.rf_h + i * p.rf_t];
  if (var == variant::gated) t.f = 1.f / (1.f + __expf(-p.rowf[h * p.rf_h + i * p.rf_t]));
  return t;
}
// Stores output columns c, c + 1 of the row at obase from accumulated o0, o1.
__device__ __forceinline__ void store_pair(const params& p, const row_terms& t, long long obase, int c, float o0,
                                           float o1) {
  float x0 = o0 * t.inv, x1 = o1 * t.inv;
  if (t.ev) x0 += t.null_p * t.ev[c], x1 += t.null_p * t.ev[c + 1];
  if (t.vb) x0 += t.vb[c], x1 += t.vb[c + 1];
  x0 *= t.f, x1 *= t.f;
  if (p.out_type == 0) {
    *reinterpret_cast<float2*>(static_cast<float*>(p.out) + obase + c) = make_float2(x0, x1);
  } else if (p.out_type == 1) {
    *reinterpret_cast<__half2*>(static_cast<__half*>(p.out) + obase + c) = __floats2half2_rn(x0, x1);
  } else {
    *reinterpret_cast<__nv_bfloat162*>(static_cast<__nv_bfloat16*>(p.out) + obase + c) = __floats2bfloat162_rn(x0, x1);
  }
}
// Row statistics for the column-sum kernel: weight = f(x; shift, factor), the
// same expressions as the output pass so both see identical weights.
__device__ __forceinline__ float2 row_stat(const params& p, float m, float l) {
  const float factor = l > 0.f ? (variant(p.var) == variant::clipped_softmax ? p.clip_zeta - p.clip_gamma : 1.f) / l : 0.f;
  return make_float2(m == -INFINITY ? 0.f : m, factor);
}

// Starts cp.async copies of rows [r0, r0 + ROWS) of a [rows, D] matrix (row
// stride ld) into shared rows of D + 8 elements; rows at or past `rows` are
// zero-filled (their scores are masked, and 0 * V must stay finite).
template <int D, int ROWS, class T>
__device__ __forceinline__ void copy_rows_async(T* dst, const T* src, long long ld, long long r0, long long rows,
                                                int tid) {
  for (int idx = tid; idx < ROWS * (D / 8); idx += kThreads) {
    const int row = idx / (D / 8), ch = idx % (D / 8);
    const bool ok = r0 + row < rows;
    cp_async_16(dst + row * (D + 8) + ch * 8, ok ? src + (r0 + row) * ld + ch * 8 : src, ok);
  }
}
// Runs body(t, b) for t in [t0, t1) with tile t in shared buffer b = (t - t0) & 1;
// issue(t, b) starts and commits the copies of tile t, and tile t + 1 is in
// flight while tile t is computed.
template <class Issue, class Body>
__device__ __forceinline__ void pipeline_tiles(int t0, int t1, Issue&& issue, Body&& body) {
  if (t0 < t1) issue(t0, 0);
  for (int t = t0; t < t1; ++t) {
    const int b = (t - t0) & 1;
    if (t + 1 < t1) {
      issue(t + 1, b ^ 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();  // tile t visible to every warp
    body(t, b);
    __syncthreads();  // buffer b is refilled by the next iteration's issue
  }
}
// A fragment of rows row0 + 0..15, columns kk * 16 + 0..15 of a shared tile
// with rows of LDQ elements (ldmatrix: lane 8i + r addresses row r of matrix i).
template <int LDQ, class T>
__device__ __forceinline__ void load_a_fragment(std::uint32_t (&a)[4], const T* tile, int row0, int kk, int lane) {
  const int lm_i = lane / 8, lm_r = lane % 8;
  ldmatrix_x4(a, tile + (row0 + (lm_i & 1) * 8 + lm_r) * LDQ + kk * 16 + (lm_i >> 1) * 8);
}
// s += A K^T for the 16 columns kk of a K tile in shared memory (rows of LDQ):
// K rows are B's columns; one ldmatrix.x4 gives the B fragments of two key blocks.
template <int NT, int LDQ, class T>
__device__ __forceinline__ void mma_qk(float (&s)[NT][4], const std::uint32_t (&a)[4], const T* ks, int kk, int lane) {
  const int lm_i = lane / 8, lm_r = lane % 8;
#pragma unroll
  for (int nt = 0; nt < NT; nt += 2) {
    std::uint32_t kb[4];
    ldmatrix_x4(kb, ks + ((nt + (lm_i >> 1)) * 8 + lm_r) * LDQ + kk * 16 + (lm_i & 1) * 8);
    mma_type<T>::mma(s[nt], a, kb[0], kb[1]);
    mma_type<T>::mma(s[nt + 1], a, kb[2], kb[3]);
  }
}

template <int D, class T>
__global__ void __launch_bounds__(kThreads) attention_kernel(const params p) {
  using mt = mma_type<T>;
  // Rows padded by 8 elements (16 bytes): the 8 row addresses of an ldmatrix
  // then fall on distinct bank groups for every supported D.
  constexpr int kBK = key_tile<D>;  // shadows the default
  constexpr int LDQ = D + 8, NT = kBK / 8, ND = D / 8, KK = D / 16;
  static_assert(ND % 2 == 0 && NT % 2 == 0, "ldmatrix.x4 loads fragments of two 8-column blocks");
  // Q fragments stay in registers up to D = 128; for D = 256 the registers go
  // to the O accumulators and Q fragments are re-read from shared memory.
  constexpr bool q_in_regs = D <= 128;
  SYSOUT_DYNAMIC_SHARED(smem_raw);
  T* Qs = reinterpret_cast<T*>(smem_raw);
  T* Kbuf = Qs + kBQ * LDQ;           // two K tiles [kBK][LDQ] (double buffer)
  T* Vbuf = Kbuf + 2 * kBK * LDQ;     // two V tiles [kBK][LDQ], row-major: ldmatrix.trans transposes

  // Heads fastest, then query blocks from the last: under a causal mask the
  // last query blocks see the most keys, and starting them first keeps the
  // tail of the grid short.
  const int h = blockIdx.x, g = h / p.group;
  const long long q0 = (long long)(gridDim.y - 1 - blockIdx.y) * kBQ;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, quad = lane % 4, rq = lane / 4;
  const variant var = variant(p.var);
  const float ninf = -INFINITY;
  const bool online = p.online != 0;

  // Q tile -> shared -> register fragments.
  const T* qg = static_cast<const T*>(p.q) + (long long)h * p.qs_h;
  for (int idx = tid; idx < kBQ * (D / 8); idx += kThreads) {
    const int row = idx / (D / 8), ch = idx % (D / 8);
    uint4 val = make_uint4(0, 0, 0, 0);
    if (q0 + row < p.tq) val = *reinterpret_cast<const uint4*>(qg + (q0 + row) * p.qs_t + ch * 8);
    *reinterpret_cast<uint4*>(Qs + row * LDQ + ch * 8) = val;
  }
  __syncthreads();
  const int ra = warp * 16 + rq;  // this thread's rows: ra and ra + 8 (block-local)
  std::uint32_t qa[q_in_regs ? KK : 1][4];
#pragma unroll
  for (int kk = 0; kk < (q_in_regs ? KK : 0); ++kk) {
    qa[kk][0] = *reinterpret_cast<const std::uint32_t*>(Qs + ra * LDQ + kk * 16 + 2 * quad);
    qa[kk][1] = *reinterpret_cast<const std::uint32_t*>(Qs + (ra + 8) * LDQ + kk * 16 + 2 * quad);
    qa[kk][2] = *reinterpret_cast<const std::uint32_t*>(Qs + ra * LDQ + kk * 16 + 8 + 2 * quad);
    qa[kk][3] = *reinterpret_cast<const std::uint32_t*>(Qs + (ra + 8) * LDQ + kk * 16 + 8 + 2 * quad);
  }
  const long long row_g[2] = {q0 + ra, q0 + ra + 8};
  long long lo[2], hi[2];
  key_bounds(p, row_g[0], lo[0], hi[0]);
  key_bounds(p, row_g[1], lo[1], hi[1]);
  const bool row_ok[2] = {row_g[0] < p.tq, row_g[1] < p.tq};
  // Block key range (lo and hi grow with the row).
  long long blo, first_hi, last_lo, bhi;
  key_bounds(p, q0, blo, first_hi);
  key_bounds(p, min(q0 + kBQ, (long long)p.tq) - 1, last_lo, bhi);
  const bool explicit_mask = p.mask != nullptr || p.madd != nullptr;
  const bool partial_rows = q0 + kBQ > p.tq;
  int t0 = blo < bhi ? int(blo / kBK) : 0, t1 = blo < bhi ? int((bhi + kBK - 1) / kBK) : 0;
  // Split keys: this block's share of the visible tiles (possibly none).
  const int z = blockIdx.z;
  if (p.splits > 1) {
    const int chunk = (t1 - t0 + p.splits - 1) / p.splits;
    const int b0 = min(t1, t0 + z * chunk), b1 = min(t1, b0 + chunk);
    t0 = b0, t1 = b1;
  }

  // The extra logit s0 = scale * q . k' (kv_bias, value_bias_context).
  float extra[2] = {ninf, ninf};
  if (var == variant::kv_bias || var == variant::value_bias_context) {
    const float* ek = p.extra_key + (p.ek_per_q ? h : g) * p.ek_s;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float acc = 0.f;
      for (int c = quad; c < D; c += 4) acc += float(Qs[(ra + 8 * r) * LDQ + c]) * ek[c];
      extra[r] = quad_sum(acc) * p.scale;
    }
  }
  float m[2] = {ninf, ninf}, l[2] = {0.f, 0.f};  // l: this thread's partial sum (quad-reduced at the end)
  float o[ND][4];
#pragma unroll
  for (int nd = 0; nd < ND; ++nd) o[nd][0] = o[nd][1] = o[nd][2] = o[nd][3] = 0.f;
  // The extra logit of softmax1 (0), sink_logit and kv_bias (with v') counts
  // once: in the first block of a split row.
  const bool first_split = z == 0;
  if (first_split && var == variant::softmax1) m[0] = m[1] = 0.f, l[0] = l[1] = (quad == 0 ? 1.f : 0.f);
  if (first_split && var == variant::sink_logit) {
    const float s = p.sink[h * p.sink_s];
    m[0] = m[1] = s, l[0] = l[1] = (quad == 0 ? 1.f : 0.f);
  }
  if (first_split && var == variant::kv_bias) {
    const float* ev = p.extra_value + (p.ev_per_q ? h : g) * p.ev_s;
    m[0] = extra[0], m[1] = extra[1], l[0] = l[1] = (quad == 0 ? 1.f : 0.f);
#pragma unroll
    for (int nd = 0; nd < ND; ++nd) {
      const int c = nd * 8 + 2 * quad;
      o[nd][0] = o[nd][2] = ev[c];
      o[nd][1] = o[nd][3] = ev[c + 1];
    }
  }

  const T* kg = static_cast<const T*>(p.k) + (long long)g * p.ks_h;
  const T* vg = static_cast<const T*>(p.v) + (long long)g * p.vs_h;
  float s[NT][4];

  // Body over the visible key tiles, K (and V) of tile t in buffer b.
  auto for_each_tile = [&](bool with_v, auto&& body) {
    pipeline_tiles(
        t0, t1,
        [&](int t, int b) {
          copy_rows_async<D, kBK>(Kbuf + b * kBK * LDQ, kg, p.ks_t, (long long)t * kBK, p.tk, tid);
          if (with_v) copy_rows_async<D, kBK>(Vbuf + b * kBK * LDQ, vg, p.vs_t, (long long)t * kBK, p.tk, tid);
          cp_async_commit();
        },
        body);
  };
  // S = scale * Q K^T for the loaded tile, -inf where masked.
  // ldmatrix lane roles (V below): lane 8i + r addresses row r of 8x8 matrix i.
  const int lm_i = lane / 8, lm_r = lane % 8;
  auto scores = [&](int t, int b) {
    const long long k0 = (long long)t * kBK;
    const T* ks = Kbuf + b * kBK * LDQ;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < KK; ++kk) {
      std::uint32_t qf[4];
      if constexpr (!q_in_regs) load_a_fragment<LDQ>(qf, Qs, warp * 16, kk, lane);
      mma_qk<NT, LDQ>(s, q_in_regs ? qa[q_in_regs ? kk : 0] : qf, ks, kk, lane);
    }
    const bool need_mask = explicit_mask || partial_rows || k0 < last_lo || k0 + kBK > first_hi || k0 + kBK > p.tk;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float x = s[nt][e] * p.scale;
        const int r = e >> 1;
        s[nt][e] = need_mask ? masked_score(p, h, row_g[r], k0 + nt * 8 + 2 * quad + (e & 1), lo[r], hi[r], row_ok[r], x)
                             : x;
      }
  };
  // Clipped softmax: statistics pass for the final m, l.
  if (var == variant::clipped_softmax) {
    for_each_tile(false, [&](int t, int b) {
      scores(t, b);
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float mx = ninf;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * r], s[nt][2 * r + 1]));
        const float mn = fmaxf(m[r], quad_max(mx));
        if (mn == ninf) continue;
        float sum = 0.f;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) sum += __expf(s[nt][2 * r] - mn) + __expf(s[nt][2 * r + 1] - mn);
        l[r] = l[r] * __expf(m[r] - mn) + sum;
        m[r] = mn;
      }
    });
#pragma unroll
    for (int r = 0; r < 2; ++r) l[r] = quad_sum(l[r]);
  }

  // Output pass.
  for_each_tile(true, [&](int t, int b) {
    scores(t, b);
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      if (var == variant::sigmoid) {
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int e = 2 * r; e < 2 * r + 2; ++e)
            s[nt][e] = sigmoid_weight(p, s[nt][e]);
      } else if (var == variant::clipped_softmax) {
        const float k = l[r] > 0.f ? (p.clip_zeta - p.clip_gamma) / l[r] : 0.f, mm = m[r] == ninf ? 0.f : m[r];
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int e = 2 * r; e < 2 * r + 2; ++e)
            s[nt][e] = clipped_weight(p, s[nt][e], mm, k);
      } else {
        float mx = ninf;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * r], s[nt][2 * r + 1]));
        const float mn = fmaxf(m[r], quad_max(mx));
        const float mu = mn == ninf ? 0.f : mn;
        const float alpha = __expf(m[r] - mu);
        float sum = 0.f;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int e = 2 * r; e < 2 * r + 2; ++e) {
            s[nt][e] = __expf(s[nt][e] - mu);
            sum += s[nt][e];
          }
        l[r] = l[r] * alpha + sum;
        m[r] = mn;
#pragma unroll
        for (int nd = 0; nd < ND; ++nd) o[nd][2 * r] *= alpha, o[nd][2 * r + 1] *= alpha;
      }
    }
    // O += P V
    const T* vs = Vbuf + b * kBK * LDQ;
#pragma unroll
    for (int ks = 0; ks < kBK / 16; ++ks) {
      const std::uint32_t a[4] = {mt::pack(s[2 * ks][0], s[2 * ks][1]), mt::pack(s[2 * ks][2], s[2 * ks][3]),
                                  mt::pack(s[2 * ks + 1][0], s[2 * ks + 1][1]),
                                  mt::pack(s[2 * ks + 1][2], s[2 * ks + 1][3])};
#pragma unroll
      for (int nd = 0; nd < ND; nd += 2) {
        // B fragments of value columns nd and nd + 1: V rows are keys, so the
        // transposing load yields B[key][d] pairs along the key axis.
        std::uint32_t vb[4];
        ldmatrix_x4_trans(vb, vs + (ks * 16 + (lm_i & 1) * 8 + lm_r) * LDQ + (nd + (lm_i >> 1)) * 8);
        mt::mma(o[nd], a, vb[0], vb[1]);
        mt::mma(o[nd + 1], a, vb[2], vb[3]);
      }
    }
  });
  if (online) {
#pragma unroll
    for (int r = 0; r < 2; ++r) l[r] = quad_sum(l[r]);
  }

  // Split keys: unnormalized partials for combine_kernel, which finishes the rows.
  if (p.splits > 1) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      if (!row_ok[r]) continue;
      const long long prow = ((long long)z * p.hq + h) * p.tq + row_g[r];
      if (quad == 0) p.part_ml[prow] = make_float2(m[r], l[r]);
#pragma unroll
      for (int nd = 0; nd < ND; ++nd)
        *reinterpret_cast<float2*>(p.part_o + prow * D + nd * 8 + 2 * quad) = make_float2(o[nd][2 * r], o[nd][2 * r + 1]);
    }
    return;
  }

  if (p.rowstat && quad == 0) {
#pragma unroll
    for (int r = 0; r < 2; ++r)
      if (row_ok[r]) p.rowstat[(long long)h * p.tq + row_g[r]] = row_stat(p, m[r], l[r]);
  }

  // Epilogue: normalize, variant terms, store; null mass.
  float null_sum = 0.f;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (!row_ok[r]) continue;
    const row_terms rt = finish_row(p, h, g, row_g[r], m[r], l[r], extra[r]);
    const long long obase = h * p.os_h + row_g[r] * p.os_t;
#pragma unroll
    for (int nd = 0; nd < ND; ++nd) store_pair(p, rt, obase, nd * 8 + 2 * quad, o[nd][2 * r], o[nd][2 * r + 1]);
    if (quad == 0) null_sum += rt.null_p;
  }
  if (p.null_mass) {
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) null_sum += __shfl_xor_sync(0xffffffffu, null_sum, off);
    if (lane == 0 && null_sum != 0.f) atomicAdd(&p.null_mass[h * p.nm_s], null_sum);
  }
}

// Finishes rows whose keys were split over blocks: merges the partial (max,
// sum, P V) of every split by their maxima, then the row epilogue of
// attention_kernel. One warp a row, lanes own column pairs.
template <int D, class T>
__global__ void __launch_bounds__(kThreads) combine_kernel(const params p) {
  constexpr int CP = (D / 2 + 31) / 32;  // column pairs per lane
  const int h = blockIdx.x, g = h / p.group, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const long long i = (long long)blockIdx.y * kWarps + warp;
  if (i >= p.tq) return;  // the whole warp: i is the same in every lane
  const variant var = variant(p.var);
  // Sigmoid weights are final and unscaled: its partials just add up.
  const bool plain_sum = var == variant::sigmoid;
  float mx = -INFINITY;
  for (int z = 0; z < p.splits; ++z) mx = fmaxf(mx, p.part_ml[((long long)z * p.hq + h) * p.tq + i].x);
  const float mu = mx == -INFINITY ? 0.f : mx;
  float acc[CP][2], sum = 0.f;
#pragma unroll
  for (int k = 0; k < CP; ++k) acc[k][0] = acc[k][1] = 0.f;
  for (int z = 0; z < p.splits; ++z) {
    const long long prow = ((long long)z * p.hq + h) * p.tq + i;
    const float2 ml = p.part_ml[prow];
    const float w = plain_sum ? 1.f : __expf(ml.x - mu);  // an empty split: max -inf, weight 0
    sum += ml.y * w;
#pragma unroll
    for (int k = 0; k < CP; ++k) {
      const int c = 2 * (lane + 32 * k);
      if (c < D) {
        const float2 o = *reinterpret_cast<const float2*>(p.part_o + prow * D + c);
        acc[k][0] += o.x * w, acc[k][1] += o.y * w;
      }
    }
  }
  float extra = -INFINITY;  // scale * q . k'
  if (var == variant::kv_bias || var == variant::value_bias_context) {
    const T* q = static_cast<const T*>(p.q) + h * p.qs_h + i * p.qs_t;
    const float* ek = p.extra_key + (p.ek_per_q ? h : g) * p.ek_s;
    float a = 0.f;
    for (int c = lane; c < D; c += 32) a += float(q[c]) * ek[c];
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) a += __shfl_xor_sync(0xffffffffu, a, off);
    extra = a * p.scale;
  }
  const row_terms rt = finish_row(p, h, g, i, mx, sum, extra);
  const long long obase = h * p.os_h + i * p.os_t;
#pragma unroll
  for (int k = 0; k < CP; ++k) {
    const int c = 2 * (lane + 32 * k);
    if (c < D) store_pair(p, rt, obase, c, acc[k][0], acc[k][1]);
  }
  if (lane == 0) {
    if (p.rowstat) p.rowstat[(long long)h * p.tq + i] = row_stat(p, mx, sum);
    if (p.null_mass && rt.null_p != 0.f) atomicAdd(&p.null_mass[h * p.nm_s], rt.null_p);
  }
}

// Column sums, key-parallel: one block per (head, tile of kBK keys) keeps its
// K tile in shared memory and streams the query tiles that can see it
// (cp.async double buffer), recomputing S = Q K^T with the row statistics the
// attention kernel wrote. Each thread owns fixed columns, so sums stay in
// registers until one reduction at the end: no atomics, no materialized
// probabilities. Costs one Q K^T and one exp per visible score (about half of
// the attention kernel's work).
template <int D, class T>
__global__ void __launch_bounds__(kThreads) column_sum_kernel(const params p) {
  constexpr int kBK = key_tile<D>;  // shadows the default
  constexpr int LDQ = D + 8, NT = kBK / 8, KK = D / 16;
  SYSOUT_DYNAMIC_SHARED(smem_raw);
  T* Ks = reinterpret_cast<T*>(smem_raw);                         // [kBK][LDQ]
  T* Qbuf = Ks + kBK * LDQ;                                       // two Q tiles [kBQ][LDQ]
  float* red = reinterpret_cast<float*>(Qbuf + 2 * kBQ * LDQ);    // [kWarps][kBK]

  const int h = blockIdx.x, g = h / p.group;
  const long long k0 = (long long)blockIdx.y * kBK;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, quad = lane % 4, rq = lane / 4;
  const variant var = variant(p.var);
  const bool explicit_mask = p.mask != nullptr || p.madd != nullptr;

  // Query rows that may see a key of this tile (the mask of each score decides).
  long long i_lo = 0, i_hi = p.tq;
  if (p.causal) i_lo = max(i_lo, k0 - p.q_pos0);
  if (p.window > 0) {
    i_hi = min(i_hi, k0 + kBK - 1 + p.window - p.q_pos0);
    if (!p.causal) i_lo = max(i_lo, k0 - p.window + 1 - p.q_pos0);
  }
  const int u0 = i_lo < i_hi ? int(i_lo / kBQ) : 0, u1 = i_lo < i_hi ? int((i_hi + kBQ - 1) / kBQ) : 0;

  const T* kg = static_cast<const T*>(p.k) + (long long)g * p.ks_h;
  const T* qg = static_cast<const T*>(p.q) + (long long)h * p.qs_h;
  float cs[NT][2];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) cs[nt][0] = cs[nt][1] = 0.f;
  float sc[NT][4];
  pipeline_tiles(u0, u1, [&](int u, int b) {
    if (u == u0) copy_rows_async<D, kBK>(Ks, kg, p.ks_t, k0, p.tk, tid);  // the K tile joins the first group
    copy_rows_async<D, kBQ>(Qbuf + b * kBQ * LDQ, qg, p.qs_t, (long long)u * kBQ, p.tq, tid);
    cp_async_commit();
  }, [&](int u, int b) {
    const T* qs = Qbuf + b * kBQ * LDQ;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) sc[nt][0] = sc[nt][1] = sc[nt][2] = sc[nt][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < KK; ++kk) {
      std::uint32_t qa[4];
      load_a_fragment<LDQ>(qa, qs, warp * 16, kk, lane);
      mma_qk<NT, LDQ>(sc, qa, Ks, kk, lane);
    }
    const long long q0 = (long long)u * kBQ;
    const long long row_g[2] = {q0 + warp * 16 + rq, q0 + warp * 16 + rq + 8};
    const bool row_ok[2] = {row_g[0] < p.tq, row_g[1] < p.tq};
    long long lo[2], hi[2];
    key_bounds(p, row_g[0], lo[0], hi[0]);
    key_bounds(p, row_g[1], lo[1], hi[1]);
    // Every row of the tile sees every key of the tile: no per-score mask.
    long long first_lo, first_hi, last_lo, last_hi;
    key_bounds(p, q0, first_lo, first_hi);
    key_bounds(p, min(q0 + kBQ, (long long)p.tq) - 1, last_lo, last_hi);
    const bool need_mask = explicit_mask || q0 + kBQ > p.tq || k0 + kBK > p.tk || last_lo > k0 || first_hi < k0 + kBK;
    float2 st[2] = {make_float2(0.f, 0.f), make_float2(0.f, 0.f)};
#pragma unroll
    for (int r = 0; r < 2; ++r)
      if (row_ok[r]) st[r] = p.rowstat[(long long)h * p.tq + row_g[r]];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1;
        float x = sc[nt][e] * p.scale;
        if (need_mask) x = masked_score(p, h, row_g[r], k0 + nt * 8 + 2 * quad + (e & 1), lo[r], hi[r], row_ok[r], x);
        float w;
        if (var == variant::sigmoid) w = sigmoid_weight(p, x);
        else if (var == variant::clipped_softmax) w = clipped_weight(p, x, st[r].x, st[r].y);
        else w = __expf(x - st[r].x) * st[r].y;
        cs[nt][e & 1] += w;
      }
  });
  // Sum over the 8 row groups of the warp, then over warps.
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      float x = cs[nt][c];
#pragma unroll
      for (int off = 4; off < 32; off <<= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
      if (rq == 0) red[warp * kBK + nt * 8 + 2 * quad + c] = x;
    }
  __syncthreads();
  if (tid < kBK && k0 + tid < p.tk) {
    float sum = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) sum += red[w * kBK + tid];
    p.colsum[h * p.cs_h + k0 + tid] = sum;
  }
}

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw_error("attention::cuda", what, ": ", cudaGetErrorString(e));
}

// kernel<<<grid, kThreads, smem, stream>>>(prm), or its CPU emulation.
template <class Kernel>
void launch_kernel(Kernel kernel, dim3 grid, std::size_t smem, const params& prm, cudaStream_t stream,
                   const char* what) {
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)), what);
#if defined(SYSOUT_CUDA_EMULATION)
  (void)stream;
  ::sysout::cuda_emulation::launch(grid, dim3(kThreads), smem, [kernel, prm] { kernel(prm); });
#else
  kernel<<<grid, kThreads, smem, stream>>>(prm);
#endif
  check(cudaGetLastError(), what);
}

template <int D, class T>
void launch(const params& prm, int tq, int tk, int hq, cudaStream_t stream) {
  constexpr std::size_t row_bytes = sizeof(T) * (D + 8);
  constexpr int kBK = key_tile<D>;
  launch_kernel(attention_kernel<D, T>, dim3(unsigned(hq), unsigned((tq + kBQ - 1) / kBQ), unsigned(prm.splits)),
                (kBQ + 4 * kBK) * row_bytes, prm, stream, "attention kernel");
  if (prm.splits > 1)
    launch_kernel(combine_kernel<D, T>, dim3(unsigned(hq), unsigned((tq + kWarps - 1) / kWarps)), 0, prm, stream,
                  "split-combine kernel");
  if (prm.colsum && tk > 0)
    launch_kernel(column_sum_kernel<D, T>, dim3(unsigned(hq), unsigned((tk + kBK - 1) / kBK)),
                  (kBK + 2 * kBQ) * row_bytes + sizeof(float) * kWarps * kBK, prm, stream, "column-sum kernel");
}

inline void require_f32(const tensor_view& t, const char* what) {
  if (t.type() != dtype::f32) throw_error(t.where(), "CUDA backend: ", what, " must be f32 device memory");
  if (!t.rows_contiguous()) throw_error(t.where(), "CUDA backend: ", what, " needs a contiguous last axis");
}

}  // namespace detail

// out = attention(q, k, v) on the GPU; every view must point to device memory.
// Asynchronous on `stream` (stats are zeroed with cudaMemsetAsync first).
inline void attend_cuda(const problem& pb, const config& cfg, const stats& st = {}, cudaStream_t stream = 0) {
  using namespace detail;
  const shape_info s = validate(pb, cfg, st);
  const dtype in = pb.q.type();
  if ((in != dtype::f16 && in != dtype::bf16) || pb.k.type() != in || pb.v.type() != in)
    throw_error("attention::cuda", "q, k, v must all be f16 or all bf16 (got ", dtype_name(in), ", ",
                dtype_name(pb.k.type()), ", ", dtype_name(pb.v.type()), ")");
  if (s.d != s.dv) throw_error("attention::cuda", "needs dv == d (got d=", s.d, ", dv=", s.dv, ")");
  if (s.d != 32 && s.d != 64 && s.d != 80 && s.d != 96 && s.d != 128 && s.d != 256)
    throw_error("attention::cuda", "head dim ", s.d, " not compiled (32, 64, 80, 96, 128, 256)");
  for (const tensor_view* t : {&pb.q, &pb.k, &pb.v}) {
    if (!t->rows_contiguous() || t->stride(0) % 8 || t->stride(1) % 8 || (reinterpret_cast<std::uintptr_t>(t->data()) % 16))
      throw_error(t->where(), "CUDA backend needs a contiguous last axis, strides that are multiples of 8 and a "
                              "16-byte aligned pointer (strides ", t->strides().str(), ")");
  }
  if (!pb.out.rows_contiguous() || pb.out.stride(1) % 2 || pb.out.stride(0) % 2 ||
      (pb.out.type() != dtype::f32 && pb.out.type() != dtype::f16 && pb.out.type() != dtype::bf16))
    throw_error(pb.out.where(), "CUDA backend: out must be f32/f16/bf16 with a contiguous last axis and even strides");
  // Query and key tiles index grid.y (at most 65535).
  if (s.tq > 65535ll * kBQ || s.tk > 65535ll * key_tile<256>) throw_error("attention::cuda", "sequence too long (Tq ", s.tq, ", Tk ", s.tk, ")");

  params p{};
  p.q = pb.q.data(), p.k = pb.k.data(), p.v = pb.v.data(), p.out = pb.out.data();
  p.hq = int(s.hq), p.hkv = int(s.hkv), p.tq = int(s.tq), p.tk = int(s.tk), p.group = int(s.group());
  p.qs_h = pb.q.stride(0), p.qs_t = pb.q.stride(1), p.ks_h = pb.k.stride(0), p.ks_t = pb.k.stride(1);
  p.vs_h = pb.v.stride(0), p.vs_t = pb.v.stride(1), p.os_h = pb.out.stride(0), p.os_t = pb.out.stride(1);
  p.out_type = pb.out.type() == dtype::f32 ? 0 : pb.out.type() == dtype::f16 ? 1 : 2;
  p.q_pos0 = pb.q_pos0, p.window = cfg.window, p.causal = cfg.causal ? 1 : 0, p.var = int(cfg.variant);
  p.online = is_online_softmax(cfg.variant) ? 1 : 0;
  p.scale = resolved_scale(cfg, s.d), p.sig_bias = resolved_sigmoid_bias(cfg, s.tk);
  p.clip_zeta = cfg.clip_zeta, p.clip_gamma = cfg.clip_gamma;
  const variant var = cfg.variant;
  if (var == variant::kv_bias || var == variant::value_bias_context) {
    require_f32(cfg.extra_key, "extra_key");
    require_f32(cfg.extra_value, "extra_value");
    p.extra_key = static_cast<const float*>(cfg.extra_key.data()), p.ek_s = cfg.extra_key.stride(0);
    p.extra_value = static_cast<const float*>(cfg.extra_value.data()), p.ev_s = cfg.extra_value.stride(0);
    p.ek_per_q = cfg.extra_key.dim(0) == s.hq, p.ev_per_q = cfg.extra_value.dim(0) == s.hq;
  }
  if (var == variant::sink_logit) {
    if (cfg.sink_logit.type() != dtype::f32) throw_error(cfg.sink_logit.where(), "CUDA backend: sink_logit must be f32");
    p.sink = static_cast<const float*>(cfg.sink_logit.data()), p.sink_s = cfg.sink_logit.stride(0);
  }
  if (var == variant::value_bias_fixed) {
    require_f32(cfg.value_bias, "value_bias");
    p.vbias = static_cast<const float*>(cfg.value_bias.data()), p.vb_s = cfg.value_bias.stride(0);
    p.vb_per_q = cfg.value_bias.dim(0) == s.hq;
  }
  if (var == variant::scaling_factor || var == variant::gated) {
    const tensor_view& rf = var == variant::scaling_factor ? cfg.scaling_factor : cfg.gate_logit;
    if (rf.type() != dtype::f32) throw_error(rf.where(), "CUDA backend: per-token factors must be f32");
    p.rowf = static_cast<const float*>(rf.data()), p.rf_h = rf.stride(0), p.rf_t = rf.stride(1);
  }
  if (is_set(pb.mask)) {
    if (pb.mask.type() != dtype::i8) throw_error(pb.mask.where(), "CUDA backend: mask must be i8 (nonzero = attend)");
    p.mask = static_cast<const signed char*>(pb.mask.data());
    const bool r3 = pb.mask.rank() == 3;
    p.m_h = r3 ? pb.mask.stride(0) : 0, p.m_i = pb.mask.stride(r3 ? 1 : 0), p.m_j = pb.mask.stride(r3 ? 2 : 1);
  }
  if (is_set(pb.mask_add)) {
    if (pb.mask_add.type() != dtype::f32) throw_error(pb.mask_add.where(), "CUDA backend: mask_add must be f32");
    p.madd = static_cast<const float*>(pb.mask_add.data());
    const bool r3 = pb.mask_add.rank() == 3;
    p.a_h = r3 ? pb.mask_add.stride(0) : 0, p.a_i = pb.mask_add.stride(r3 ? 1 : 0), p.a_j = pb.mask_add.stride(r3 ? 2 : 1);
  }
  if (is_set(st.column_sums)) {
    require_f32(st.column_sums, "column_sums");
    p.colsum = static_cast<float*>(st.column_sums.data()), p.cs_h = st.column_sums.stride(0);
    // The column-sum kernel stores every key's sum; without queries it does not run.
    if (s.tq == 0)
      for (std::int64_t h = 0; h < s.hq; ++h)
        check(cudaMemsetAsync(p.colsum + h * p.cs_h, 0, sizeof(float) * std::size_t(s.tk), stream), "cudaMemsetAsync");
  }
  if (is_set(st.null_mass)) {
    if (st.null_mass.type() != dtype::f32) throw_error(st.null_mass.where(), "CUDA backend: null_mass must be f32");
    p.null_mass = static_cast<float*>(st.null_mass.data()), p.nm_s = st.null_mass.stride(0);
    // One memset when contiguous: each is a launch of a few microseconds.
    if (p.nm_s == 1)
      check(cudaMemsetAsync(p.null_mass, 0, sizeof(float) * std::size_t(s.hq), stream), "cudaMemsetAsync");
    else
      for (std::int64_t h = 0; h < s.hq; ++h)
        check(cudaMemsetAsync(p.null_mass + h * p.nm_s, 0, sizeof(float), stream), "cudaMemsetAsync");
  }
  if (s.tq == 0 || s.hq == 0) return;
  // Fewer query blocks than SMs (decode, few heads): split the keys of each
  // row over blocks, at least two key tiles each, to fill the GPU
  // (flash-decoding). The clipped softmax needs its final normalizer before
  // the nonlinearity and is not split.
  int device = 0, sms = 1;
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  const long long kt = s.d > 128 ? key_tile<256> : key_tile<64>;
  const long long blocks = s.hq * ((s.tq + kBQ - 1) / kBQ), tiles = (s.tk + kt - 1) / kt;
  p.splits = 1;
  if (var != variant::clipped_softmax && blocks < sms)
    p.splits = int(std::max(1ll, std::min({(2ll * sms + blocks - 1) / blocks, tiles / 2, 64ll})));
  // Stream-ordered scratch, freed once every kernel is done: split partials,
  // and per-row (shift, factor) for the column-sum kernel.
  const std::size_t rows = std::size_t(s.hq * s.tq), splits = std::size_t(p.splits);
  const std::size_t part_o_bytes = p.splits > 1 ? sizeof(float) * splits * rows * std::size_t(s.dv) : 0,
                    part_ml_bytes = p.splits > 1 ? sizeof(float2) * splits * rows : 0,
                    rowstat_bytes = p.colsum ? sizeof(float2) * rows : 0;
  void* scratch = nullptr;
  if (part_o_bytes + part_ml_bytes + rowstat_bytes > 0)
    check(cudaMallocAsync(&scratch, part_o_bytes + part_ml_bytes + rowstat_bytes, stream), "cudaMallocAsync (scratch)");
  struct free_scratch {
    void* ptr;
    cudaStream_t stream;
    ~free_scratch() {
      if (ptr) cudaFreeAsync(ptr, stream);
    }
  } scratch_guard{scratch, stream};
  auto* base = static_cast<unsigned char*>(scratch);
  if (part_o_bytes) p.part_o = reinterpret_cast<float*>(base), p.part_ml = reinterpret_cast<float2*>(base + part_o_bytes);
  if (rowstat_bytes) p.rowstat = reinterpret_cast<float2*>(base + part_o_bytes + part_ml_bytes);
  const bool bf = in == dtype::bf16;
  switch (s.d) {
#define SYSOUT_ATTN_CASE(DIM)                                                   \
  case DIM:                                                                     \
    if (bf) launch<DIM, __nv_bfloat16>(p, int(s.tq), int(s.tk), int(s.hq), stream); \
    else launch<DIM, __half>(p, int(s.tq), int(s.tk), int(s.hq), stream);         \
    break;
    SYSOUT_ATTN_CASE(32)
    SYSOUT_ATTN_CASE(64)
    SYSOUT_ATTN_CASE(80)
    SYSOUT_ATTN_CASE(96)
    SYSOUT_ATTN_CASE(128)
    SYSOUT_ATTN_CASE(256)
#undef SYSOUT_ATTN_CASE
    default: break;
  }
}

}  // namespace sysout::attention::cuda

namespace sysout::attention {
using cuda::attend_cuda;  // next to attend_reference and attend_highway
}  // namespace sysout::attention

// CPU emulation of the CUDA subset that sysout's attention kernels use, so the
// kernels themselves (fragment layouts, masks, the cp.async pipeline, fused
// statistics) run and are tested on machines without a GPU, CI among them.
//
// Define SYSOUT_CUDA_EMULATION before including sysout/attention/cuda.cuh and
// compile it as plain C++ (g++ -std=c++20 -fno-strict-aliasing): the header
// then includes this file instead of the CUDA toolkit headers. Each thread of
// a block is a fiber (ucontext) on the calling OS thread; blocks run one after
// another. Warp collectives (shuffles, mma.sync, ldmatrix) and __syncthreads
// are barriers between fibers, so a collective reached by only part of a warp
// deadlocks here as it would hang or be undefined on the GPU. cp.async copies
// are deferred to the cp.async.wait_group that covers them, the latest moment
// the hardware may perform them, so a missing wait shows up as stale shared
// memory instead of passing by luck.
//
// Race check on the data that moves by cp.async and is read by ldmatrix (the
// pipelined K/V/Q tiles), per 16-byte chunk of shared memory: a read of a
// chunk with a copy still in flight, a read of another thread's copy without
// a __syncthreads after that thread's wait, and a copy issued over a chunk
// another thread read since the last __syncthreads. Errors (races, deadlock,
// misaligned or out-of-range addresses) make launch() throw std::runtime_error
// naming the block and thread, after the block ran to its end where possible.
//
// Like the CUDA headers it stands in for, it defines the CUDA names in the
// global namespace (dim3, __half, threadIdx as a macro, min/max for int and
// long long, cudaMalloc...): include it only in translation units meant for it.
//
// Not emulated: timing, memory coalescing, bank conflicts, and anything that is
// not used by the kernels (texture, cooperative groups, warp-divergent masks).
// Numerics: mma accumulates the exact products in fp32 in k order; __expf is
// std::exp. The GPU rounds differently within the tests' tolerances.
#pragma once
#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

// ---------------------------------------------------------------- CUDA types
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
struct alignas(8) float2 {
  float x, y;
};
inline float2 make_float2(float x, float y) { return {x, y}; }

namespace sysout::cuda_emulation {
inline std::uint16_t float_to_half_bits(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  const std::uint32_t sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
  if (a >= 0x7f800000u) return std::uint16_t(sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (a >= 0x47800000u) return std::uint16_t(sign | 0x7c00u);  // >= 2^16: infinity
  if (a < 0x38800000u) {  // below 2^-14: subnormal half, unit 2^-24 (scaling is exact)
    float v;
    std::memcpy(&v, &a, 4);
    return std::uint16_t(sign | std::uint32_t(std::nearbyint(v * 16777216.0f)));
  }
  std::uint32_t h = ((((a >> 23) - 127 + 15)) << 10) | ((a & 0x7fffffu) >> 13);
  const std::uint32_t rem = a & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // nearest even; a carry reaches the exponent
  return std::uint16_t(sign | h);
}
inline float half_bits_to_float(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) {
    const float v = float(m) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  const std::uint32_t bits = sign | (e == 31 ? 0x7f800000u | (m << 13) : ((e - 15 + 127) << 23) | (m << 13));
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline std::uint16_t float_to_bf16_bits(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return std::uint16_t(x >> 16);
}
inline float bf16_bits_to_float(std::uint16_t b) {
  const std::uint32_t x = std::uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}
}  // namespace sysout::cuda_emulation

struct __half {
  std::uint16_t bits;
  __half() = default;
  __half(float f) : bits(sysout::cuda_emulation::float_to_half_bits(f)) {}
  operator float() const { return sysout::cuda_emulation::half_bits_to_float(bits); }
};
struct __nv_bfloat16 {
  std::uint16_t bits;
  __nv_bfloat16() = default;
  __nv_bfloat16(float f) : bits(sysout::cuda_emulation::float_to_bf16_bits(f)) {}
  operator float() const { return sysout::cuda_emulation::bf16_bits_to_float(bits); }
};
struct alignas(4) __half2 {
  __half x, y;
};
struct alignas(4) __nv_bfloat162 {
  __nv_bfloat16 x, y;
};
inline __half2 __floats2half2_rn(float a, float b) { return {__half(a), __half(b)}; }
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return {__nv_bfloat16(a), __nv_bfloat16(b)}; }

// ------------------------------------------------------- fibers and barriers
namespace sysout::cuda_emulation {
namespace detail {

struct copy_op {
  void* dst;
  const void* src;
  std::size_t bytes;
  bool fill_zero;
};

struct fiber {
  ucontext_t uc{};
  dim3 tid;
  bool done = false;
  const unsigned* wait_gen = nullptr;  // blocked until *wait_gen != wait_val
  unsigned wait_val = 0;
  unsigned phase = 0;  // which of the warp's two exchange slot sets the next collective uses
  std::vector<copy_op> pending;  // cp.async issued, not committed
  std::vector<std::vector<copy_op>> groups;  // committed, oldest first
};

struct alignas(16) slot {
  unsigned char bytes[32];
};

// Race-check state of one 16-byte chunk of shared memory.
struct chunk_state {
  int pending = 0;  // cp.async issued, not yet performed
  int writer = -1;  // thread whose cp.async wrote it last
  unsigned write_epoch = 0;  // barrier generation at that write
  int reader = -1;  // thread that read it by ldmatrix in read_epoch (-2: several)
  unsigned read_epoch = ~0u;
};

struct block_run {
  std::vector<fiber> f;
  std::vector<std::unique_ptr<char[]>> stacks;
  ucontext_t main{};
  int cur = 0, nthreads = 0;
  dim3 bid, bdim, gdim;
  std::vector<unsigned char> smem;
  std::size_t smem_bytes = 0;
  int bar_count = 0;
  unsigned bar_gen = 0;
  std::vector<int> warp_count;
  std::vector<unsigned> warp_gen;
  std::vector<slot> slots;  // [warp][2][32]
  std::vector<chunk_state> chunks;  // one per 16 bytes of dynamic shared memory
  std::string error;  // the first error of the launch
  std::function<void()> body;
};

inline block_run*& current_run() {
  thread_local block_run* r = nullptr;
  return r;
}
inline block_run& run() {
  block_run* r = current_run();
  if (!r) {
    std::fprintf(stderr, "cuda emulation: a device function was called outside a kernel launch\n");
    std::abort();
  }
  return *r;
}
inline fiber& self() { return run().f[std::size_t(run().cur)]; }

// Records the first error; launch() throws it once the block has finished.
inline void report(const char* what) {
  block_run& r = run();
  if (!r.error.empty()) return;
  char where[96];
  std::snprintf(where, sizeof where, " (block %u,%u,%u thread %d)", r.bid.x, r.bid.y, r.bid.z, r.cur);
  r.error = std::string("cuda emulation: ") + what + where;
}

// Waits until `count` threads arrived; the last one releases the others.
inline void barrier(int& count, unsigned& gen, int expected) {
  block_run& r = run();
  fiber& me = r.f[std::size_t(r.cur)];
  const unsigned g = gen;
  if (++count == expected) {
    count = 0;
    ++gen;
    return;
  }
  me.wait_gen = &gen;
  me.wait_val = g;
  swapcontext(&me.uc, &r.main);
}

inline int warp_size_of(const block_run& r, int w) { return std::min(32, r.nthreads - 32 * w); }

// Publishes this lane's bytes, waits for the whole warp, returns the warp's slots.
inline slot* warp_exchange(const void* mine, std::size_t n) {
  block_run& r = run();
  fiber& me = r.f[std::size_t(r.cur)];
  const int w = r.cur / 32, lane = r.cur % 32;
  slot* set = &r.slots[std::size_t((w * 2 + int(me.phase)) * 32)];
  std::memcpy(set[lane].bytes, mine, n);
  me.phase ^= 1u;
  barrier(r.warp_count[std::size_t(w)], r.warp_gen[std::size_t(w)], warp_size_of(r, w));
  return set;
}

inline void fiber_entry() {
  block_run& r = run();
  r.body();
  r.f[std::size_t(r.cur)].done = true;
  // Returning switches to uc_link (the scheduler).
}



// Round-robin over the block's fibers until all finished.
inline void run_block(block_run& r) {
  for (int left = r.nthreads; left > 0;) {
    bool progressed = false;
    for (int i = 0; i < r.nthreads; ++i) {
      fiber& f = r.f[std::size_t(i)];
      if (f.done || (f.wait_gen && *f.wait_gen == f.wait_val)) continue;
      f.wait_gen = nullptr;
      r.cur = i;
      swapcontext(&r.main, &f.uc);
      progressed = true;
      if (f.done) --left;
    }
    if (!progressed && left > 0) {
      char msg[192];
      std::snprintf(msg, sizeof msg,
                    "cuda emulation: deadlock in block %u,%u,%u: %d threads wait at a barrier or warp "
                    "collective that the others never reach",
                    r.bid.x, r.bid.y, r.bid.z, left);
      throw std::runtime_error(r.error.empty() ? std::string(msg) : r.error);
    }
  }
}
}  // namespace detail

// getcontext/swapcontext save and restore every callee-saved register, so
// g++'s -Wclobbered (it treats them like setjmp) does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wclobbered"
// Runs `body` for every thread of every block of the grid.
inline void launch(dim3 grid, dim3 block, std::size_t smem_bytes, std::function<void()> body) {
  using namespace detail;
  constexpr std::size_t stack_bytes = 256 * 1024;
  block_run r;
  r.nthreads = int(block.x * block.y * block.z);
  if (r.nthreads % 32 != 0) throw std::runtime_error("cuda emulation: block size must be a multiple of 32 (full warps)");
  r.bdim = block, r.gdim = grid, r.body = std::move(body), r.smem_bytes = smem_bytes;
  const int warps = (r.nthreads + 31) / 32;
  r.f.resize(std::size_t(r.nthreads));
  for (int i = 0; i < r.nthreads; ++i) r.stacks.emplace_back(new char[stack_bytes]);
  r.slots.resize(std::size_t(warps) * 64);
  block_run* saved = current_run();
  current_run() = &r;
  struct restore {
    block_run* saved;
    ~restore() { current_run() = saved; }
  } restore_on_exit{saved};
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        r.bid = dim3(bx, by, bz);
        // Shared memory starts as garbage on the GPU: a recognizable pattern here.
        r.smem.assign(smem_bytes + 16, 0xA5);
        r.chunks.assign((smem_bytes + 15) / 16, chunk_state{});
        r.bar_count = 0;
        r.warp_count.assign(std::size_t(warps), 0);
        r.warp_gen.assign(std::size_t(warps), 0);
        for (int i = 0; i < r.nthreads; ++i) {
          fiber& f = r.f[std::size_t(i)];
          f = fiber{};
          f.tid = dim3(unsigned(i) % block.x, (unsigned(i) / block.x) % block.y, unsigned(i) / (block.x * block.y));
          getcontext(&f.uc);
          f.uc.uc_stack.ss_sp = r.stacks[std::size_t(i)].get();
          f.uc.uc_stack.ss_size = stack_bytes;
          f.uc.uc_link = &r.main;
          makecontext(&f.uc, fiber_entry, 0);
        }
        run_block(r);
        if (!r.error.empty()) throw std::runtime_error(r.error);
      }
}
#pragma GCC diagnostic pop

inline unsigned char* dynamic_shared() {
  auto& r = detail::run();
  const auto base = reinterpret_cast<std::uintptr_t>(r.smem.data());
  return r.smem.data() + ((16 - base % 16) % 16);
}

// Whether p lies in this block's dynamic shared memory with n bytes after it.
inline bool in_shared(const void* p, std::size_t n) {
  const unsigned char* b = dynamic_shared();
  const auto* c = static_cast<const unsigned char*>(p);
  return c >= b && c + n <= b + detail::run().smem_bytes;
}

// ------------------------------------------------------ warp-level PTX ops
namespace detail {
inline chunk_state& chunk_of(const void* p) {
  return run().chunks[std::size_t(static_cast<const unsigned char*>(p) - dynamic_shared()) / 16];
}
// This thread reads 16 bytes at p (an ldmatrix row).
inline void check_read(const void* p) {
  block_run& r = run();
  chunk_state& c = chunk_of(p);
  if (c.pending > 0)
    report("ldmatrix reads shared memory that a cp.async in flight will write (missing cp.async.wait_group)");
  else if (c.writer >= 0 && c.writer != r.cur && c.write_epoch == r.bar_gen)
    report("ldmatrix reads what another thread's cp.async wrote, with no __syncthreads after that thread's wait");
  c.reader = (c.read_epoch == r.bar_gen && c.reader != r.cur) ? -2 : r.cur;
  c.read_epoch = r.bar_gen;
}

inline std::uint16_t lo16(std::uint32_t x) { return std::uint16_t(x & 0xffffu); }
inline std::uint16_t hi16(std::uint32_t x) { return std::uint16_t(x >> 16); }
inline std::uint32_t pack16(std::uint16_t lo, std::uint16_t hi) { return std::uint32_t(lo) | (std::uint32_t(hi) << 16); }

// mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}: A 16x16 row-major, B 16x8
// column-major, fragments as in the PTX ISA ("Matrix Fragments for mma.m16n8k16").
template <bool BF16>
void mma_m16n8k16(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
  struct {
    std::uint32_t a[4], b0, b1;
  } mine{{a[0], a[1], a[2], a[3]}, b0, b1};
  const slot* s = warp_exchange(&mine, sizeof mine);
  auto cvt = [](std::uint16_t v) { return BF16 ? bf16_bits_to_float(v) : half_bits_to_float(v); };
  float A[16][16], B[16][8];
  for (int L = 0; L < 32; ++L) {
    decltype(mine) f;
    std::memcpy(&f, s[L].bytes, sizeof f);
    const int g = L >> 2, t = L & 3;
    A[g][2 * t] = cvt(lo16(f.a[0])), A[g][2 * t + 1] = cvt(hi16(f.a[0]));
    A[g + 8][2 * t] = cvt(lo16(f.a[1])), A[g + 8][2 * t + 1] = cvt(hi16(f.a[1]));
    A[g][2 * t + 8] = cvt(lo16(f.a[2])), A[g][2 * t + 9] = cvt(hi16(f.a[2]));
    A[g + 8][2 * t + 8] = cvt(lo16(f.a[3])), A[g + 8][2 * t + 9] = cvt(hi16(f.a[3]));
    B[2 * t][g] = cvt(lo16(f.b0)), B[2 * t + 1][g] = cvt(hi16(f.b0));
    B[2 * t + 8][g] = cvt(lo16(f.b1)), B[2 * t + 9][g] = cvt(hi16(f.b1));
  }
  const int lane = run().cur % 32, g = lane >> 2, t = lane & 3;
  const int rows[4] = {g, g, g + 8, g + 8}, cols[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
  for (int e = 0; e < 4; ++e) {
    float acc = c[e];
    for (int k = 0; k < 16; ++k) acc += A[rows[e]][k] * B[k][cols[e]];
    c[e] = acc;
  }
}

// ldmatrix.sync.aligned.m8n8.xN[.trans].shared.b16: lane 8i + r gives the
// address of row r of matrix i; register i of lane L holds row L/4, columns
// 2(L%4) and 2(L%4)+1 of matrix i (transposed: rows 2(L%4), 2(L%4)+1 of column L/4).
template <int N, bool Trans>
void ldmatrix(std::uint32_t* out, const void* row_address) {
  const int lane = run().cur % 32;
  if (lane < 8 * N) {
    if (reinterpret_cast<std::uintptr_t>(row_address) % 16 != 0 || !in_shared(row_address, 16)) {
      report("ldmatrix: row address not 16-byte aligned or outside dynamic shared memory");
      row_address = dynamic_shared();  // keep the emulation in bounds
    } else {
      check_read(row_address);
    }
  }
  const slot* s = warp_exchange(&row_address, sizeof row_address);
  auto row = [&](int m, int r) {
    const unsigned char* p;
    std::memcpy(&p, s[8 * m + r].bytes, sizeof p);
    return reinterpret_cast<const std::uint16_t*>(p);
  };
  for (int m = 0; m < N; ++m) {
    if (!Trans) {
      const std::uint16_t* p = row(m, lane / 4);
      out[m] = pack16(p[2 * (lane % 4)], p[2 * (lane % 4) + 1]);
    } else {
      out[m] = pack16(row(m, 2 * (lane % 4))[lane / 4], row(m, 2 * (lane % 4) + 1)[lane / 4]);
    }
  }
}
}  // namespace detail

inline void mma_bf16_m16n8k16(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
  detail::mma_m16n8k16<true>(c, a, b0, b1);
}
inline void mma_f16_m16n8k16(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
  detail::mma_m16n8k16<false>(c, a, b0, b1);
}
inline void ldmatrix_x4(std::uint32_t (&r)[4], const void* row) { detail::ldmatrix<4, false>(r, row); }
inline void ldmatrix_x4_trans(std::uint32_t (&r)[4], const void* row) { detail::ldmatrix<4, true>(r, row); }

// cp.async.cg.shared.global 16 bytes; src-size 0 (valid == false) fills zeros.
inline void cp_async_16(void* smem_dst, const void* gmem_src, bool valid) {
  if (reinterpret_cast<std::uintptr_t>(smem_dst) % 16 || (valid && reinterpret_cast<std::uintptr_t>(gmem_src) % 16) ||
      !in_shared(smem_dst, 16)) {
    detail::report("cp.async: address not 16-byte aligned, or destination outside dynamic shared memory");
    return;
  }
  detail::block_run& r = detail::run();
  detail::chunk_state& c = detail::chunk_of(smem_dst);
  if (c.read_epoch == r.bar_gen && c.reader != -1 && c.reader != r.cur)
    detail::report("cp.async overwrites shared memory another thread read since the last __syncthreads");
  ++c.pending;
  detail::self().pending.push_back({smem_dst, gmem_src, 16, !valid});
}
inline void cp_async_commit() {
  detail::fiber& f = detail::self();
  f.groups.push_back(std::move(f.pending));
  f.pending.clear();
}
namespace detail {
inline void perform(const std::vector<copy_op>& ops) {
  block_run& r = run();
  for (const copy_op& op : ops) {
    if (op.fill_zero) std::memset(op.dst, 0, op.bytes);
    else std::memcpy(op.dst, op.src, op.bytes);
    chunk_state& c = chunk_of(op.dst);
    --c.pending;
    c.writer = r.cur;
    c.write_epoch = r.bar_gen;
  }
}
}  // namespace detail

template <int N>
void cp_async_wait() {
  detail::fiber& f = detail::self();
  while (f.groups.size() > std::size_t(N)) {
    detail::perform(f.groups.front());
    f.groups.erase(f.groups.begin());
  }
}

// The limit of sm_80 (A100): a kernel that needs more would not launch there.
constexpr int max_dynamic_shared_bytes = 163 * 1024;

}  // namespace sysout::cuda_emulation

// ------------------------------------------------- CUDA built-ins and runtime
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define threadIdx (::sysout::cuda_emulation::detail::self().tid)
#define blockIdx (::sysout::cuda_emulation::detail::run().bid)
#define blockDim (::sysout::cuda_emulation::detail::run().bdim)
#define gridDim (::sysout::cuda_emulation::detail::run().gdim)

inline void __syncthreads() {
  auto& r = sysout::cuda_emulation::detail::run();
  sysout::cuda_emulation::detail::barrier(r.bar_count, r.bar_gen, r.nthreads);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask) {
  if (mask != 0xffffffffu) sysout::cuda_emulation::detail::report("__shfl_xor_sync: only full-warp masks are emulated");
  const auto* s = sysout::cuda_emulation::detail::warp_exchange(&v, sizeof v);
  T out;
  std::memcpy(&out, s[(sysout::cuda_emulation::detail::run().cur % 32) ^ lane_mask].bytes, sizeof out);
  return out;
}
// Fibers run one at a time: a plain read-modify-write is atomic.
inline float atomicAdd(float* p, float v) {
  const float old = *p;
  *p = v + old;
  return old;
}
inline float __expf(float x) { return std::exp(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }

enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorNoDevice = 100 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };
using cudaStream_t = struct cuda_emulation_stream*;
inline const char* cudaGetErrorString(cudaError_t e) {
  return e == cudaSuccess ? "no error" : e == cudaErrorInvalidValue ? "invalid argument" : "no CUDA-capable device";
}
template <class F>
cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute, int value) {
  return value > sysout::cuda_emulation::max_dynamic_shared_bytes ? cudaErrorInvalidValue : cudaSuccess;
}
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
inline cudaError_t cudaMalloc(void** p, std::size_t n) {
  *p = std::malloc(n ? n : 1);
  return *p ? cudaSuccess : cudaErrorInvalidValue;
}
inline cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMallocAsync(void** p, std::size_t n, cudaStream_t) { return cudaMalloc(p, n); }
inline cudaError_t cudaFreeAsync(void* p, cudaStream_t) { return cudaFree(p); }
inline cudaError_t cudaMemcpy(void* d, const void* s, std::size_t n, cudaMemcpyKind) {
  std::memcpy(d, s, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* d, int v, std::size_t n, cudaStream_t = nullptr) {
  std::memset(d, v, n);
  return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 };
inline cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
// A small GPU, so that test problems of a few blocks take the paths meant for
// problems smaller than a real GPU (split keys).
constexpr int emulated_multiprocessors = 16;
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) {
  *v = emulated_multiprocessors;
  return cudaSuccess;
}

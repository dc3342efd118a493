// The CPU emulation's warp primitives against direct computations, with the
// fragment layouts of the PTX ISA written out independently of the emulator.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "sysout/attention/cuda_emulation.hpp"

namespace emu = sysout::cuda_emulation;

namespace {
std::uint32_t pack(float lo, float hi) {
  return std::uint32_t(__nv_bfloat16(lo).bits) | (std::uint32_t(__nv_bfloat16(hi).bits) << 16);
}
float lo_of(std::uint32_t x) { return emu::bf16_bits_to_float(std::uint16_t(x & 0xffff)); }
float hi_of(std::uint32_t x) { return emu::bf16_bits_to_float(std::uint16_t(x >> 16)); }
}  // namespace

TEST_CASE("cuda emulation: f16 and bf16 conversions round to nearest even") {
  CHECK(float(__half(1.0f)) == 1.0f);
  CHECK(float(__half(65504.0f)) == 65504.0f);
  CHECK(std::isinf(float(__half(65520.0f))));          // halfway to 2^16 rounds up to infinity
  CHECK(float(__half(1.0f + 1.0f / 2048)) == 1.0f);   // tie, even mantissa stays
  CHECK(float(__half(1.0f + 3.0f / 2048)) == 1.0f + 2.0f / 1024);  // tie, odd mantissa rounds up
  CHECK(float(__half(5.9604645e-8f)) == 5.9604645e-8f);  // smallest subnormal
  CHECK(float(__half(-2.0f)) == -2.0f);
  CHECK(float(__nv_bfloat16(1.0f + 1.0f / 256)) == 1.0f);  // tie to even
  CHECK(float(__nv_bfloat16(1.0f + 3.0f / 256)) == 1.0f + 2.0f / 128);
  CHECK(std::isnan(float(__nv_bfloat16(NAN))));
}

TEST_CASE("cuda emulation: mma.m16n8k16 computes D = A B + C with the PTX fragment layout") {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> small(-8, 8);  // exact in bf16 and in fp32 sums
  float A[16][16], B[16][8], C[16][8], D[16][8];
  for (auto& r : A) for (float& x : r) x = float(small(rng));
  for (auto& r : B) for (float& x : r) x = float(small(rng));
  for (auto& r : C) for (float& x : r) x = float(small(rng));
  emu::launch(dim3(1), dim3(32), 0, [&] {
    const int lane = int(threadIdx.x), g = lane / 4, t = lane % 4;
    const std::uint32_t a[4] = {pack(A[g][2 * t], A[g][2 * t + 1]), pack(A[g + 8][2 * t], A[g + 8][2 * t + 1]),
                                pack(A[g][2 * t + 8], A[g][2 * t + 9]), pack(A[g + 8][2 * t + 8], A[g + 8][2 * t + 9])};
    const std::uint32_t b0 = pack(B[2 * t][g], B[2 * t + 1][g]), b1 = pack(B[2 * t + 8][g], B[2 * t + 9][g]);
    float c[4] = {C[g][2 * t], C[g][2 * t + 1], C[g + 8][2 * t], C[g + 8][2 * t + 1]};
    emu::mma_bf16_m16n8k16(c, a, b0, b1);
    D[g][2 * t] = c[0], D[g][2 * t + 1] = c[1], D[g + 8][2 * t] = c[2], D[g + 8][2 * t + 1] = c[3];
  });
  int wrong = 0;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 8; ++j) {
      float want = C[i][j];
      for (int k = 0; k < 16; ++k) want += A[i][k] * B[k][j];
      wrong += D[i][j] != want;
    }
  CHECK(wrong == 0);
}

TEST_CASE("cuda emulation: ldmatrix x4 and x4.trans give each lane its row/column pairs") {
  // Four 8x8 matrices at padded rows in shared memory; element value = 64 * matrix + 8 * row + col
  // (below 256: exact in bf16).
  constexpr int ld = 8 * 4 + 8;
  std::vector<std::uint32_t> got(32 * 8);
  emu::launch(dim3(1), dim3(32), sizeof(std::uint16_t) * 8 * ld, [&] {
    auto* sm = reinterpret_cast<__nv_bfloat16*>(emu::dynamic_shared());
    const int lane = int(threadIdx.x);
    for (int m = 0; m < 4; ++m)
      for (int c = 0; c < 8; ++c) sm[lane % 8 * ld + m * 8 + c] = __nv_bfloat16(float(64 * m + 8 * (lane % 8) + c));
    __syncthreads();
    std::uint32_t r[4], rt[4];
    const void* row = sm + (lane % 8) * ld + (lane / 8) * 8;  // lane 8i + r: row r of matrix i
    emu::ldmatrix_x4(r, row);
    emu::ldmatrix_x4_trans(rt, row);
    for (int m = 0; m < 4; ++m) got[std::size_t(lane * 8 + m)] = r[m], got[std::size_t(lane * 8 + 4 + m)] = rt[m];
  });
  int wrong = 0;
  for (int lane = 0; lane < 32; ++lane)
    for (int m = 0; m < 4; ++m) {
      const std::uint32_t r = got[std::size_t(lane * 8 + m)], rt = got[std::size_t(lane * 8 + 4 + m)];
      const int row = lane / 4, col = 2 * (lane % 4);
      wrong += lo_of(r) != float(64 * m + 8 * row + col) || hi_of(r) != float(64 * m + 8 * row + col + 1);
      // transposed: rows 2(lane%4), 2(lane%4)+1 of column lane/4
      wrong += lo_of(rt) != float(64 * m + 8 * col + row) || hi_of(rt) != float(64 * m + 8 * (col + 1) + row);
    }
  CHECK(wrong == 0);
}

TEST_CASE("cuda emulation: cp.async lands at the wait_group that covers it, shuffles exchange lanes") {
  std::vector<std::uint32_t> src(32 * 4 * 2);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = std::uint32_t(i + 1);
  std::vector<int> ok(32, 0);
  emu::launch(dim3(1), dim3(32), 2 * 32 * 16, [&] {
    auto* sm = reinterpret_cast<std::uint32_t*>(emu::dynamic_shared());
    const int lane = int(threadIdx.x);
    for (int k = 0; k < 2 * 32 * 4; ++k) sm[k] = 0;
    emu::cp_async_16(sm + lane * 4, src.data() + lane * 4, true);
    emu::cp_async_commit();
    emu::cp_async_16(sm + 128 + lane * 4, src.data() + 128 + lane * 4, false);  // zero fill
    emu::cp_async_commit();
    bool good = sm[lane * 4] == 0;  // not yet waited for
    emu::cp_async_wait<1>();        // the first group only
    good = good && sm[lane * 4] == std::uint32_t(lane * 4 + 1) && sm[128 + lane * 4] == 0;
    sm[128 + lane * 4] = 5;
    emu::cp_async_wait<0>();
    good = good && sm[128 + lane * 4] == 0;
    good = good && __shfl_xor_sync(0xffffffffu, lane, 5) == (lane ^ 5);
    ok[std::size_t(lane)] = good;
  });
  for (int lane = 0; lane < 32; ++lane) CHECK(ok[std::size_t(lane)] == 1);
}

// Warp 1 copies 32 rows of 16 bytes by cp.async; warp 0 reads them by ldmatrix.
// `sync` puts the __syncthreads between the two that a correct kernel needs.
static void copy_then_read(bool wait, bool sync, std::vector<std::uint32_t>& got) {
  std::vector<std::uint16_t> src(32 * 8);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = __nv_bfloat16(float(i % 200)).bits;
  emu::launch(dim3(1), dim3(64), 32 * 16, [&] {
    auto* sm = emu::dynamic_shared();
    const int t = int(threadIdx.x), lane = t % 32;
    if (t >= 32) {
      emu::cp_async_16(sm + lane * 16, src.data() + lane * 8, true);
      emu::cp_async_commit();
      if (wait) emu::cp_async_wait<0>();
      (void)__shfl_xor_sync(0xffffffffu, lane, 1);
    } else {
      (void)__shfl_xor_sync(0xffffffffu, lane, 1);  // warp 1 runs to its wait first
    }
    if (sync) __syncthreads();
    if (t < 32) {
      std::uint32_t r[4];
      emu::ldmatrix_x4(r, sm + lane * 16);
      got[std::size_t(lane)] = r[0];
    }
  });
}

TEST_CASE("cuda emulation: races on cp.async data, missing waits and partial-warp collectives are errors") {
  std::vector<std::uint32_t> got(32);
  copy_then_read(true, true, got);  // the correct pattern: no error, the copied data
  CHECK(got[5] == (std::uint32_t(__nv_bfloat16(float(10)).bits) | (std::uint32_t(__nv_bfloat16(float(11)).bits) << 16)));
  // Without the barrier the read and the copy race: reported from whichever side comes second.
  CHECK_THROWS_WITH_AS(copy_then_read(true, false, got), doctest::Contains("__syncthreads"), std::runtime_error);
  CHECK_THROWS_WITH_AS(copy_then_read(false, true, got), doctest::Contains("in flight"), std::runtime_error);
  // A copy issued over rows another thread read in the same barrier interval.
  CHECK_THROWS_WITH_AS(emu::launch(dim3(1), dim3(64), 32 * 16, [] {
                         auto* sm = emu::dynamic_shared();
                         const int t = int(threadIdx.x);
                         static const std::uint32_t zeros[4] = {};
                         if (t < 32) {
                           std::uint32_t r[4];
                           emu::ldmatrix_x4(r, sm + t * 16);
                         } else {
                           emu::cp_async_16(sm + (t - 32) * 16, zeros, true);
                           emu::cp_async_commit();
                           emu::cp_async_wait<0>();
                         }
                       }),
                       doctest::Contains("overwrites"), std::runtime_error);
  CHECK_THROWS_WITH_AS(emu::launch(dim3(1), dim3(32), 0, [] {
                         if (threadIdx.x < 16) (void)__shfl_xor_sync(0xffffffffu, 1, 1);
                       }),
                       doctest::Contains("deadlock"), std::runtime_error);
  CHECK_THROWS_WITH_AS(emu::launch(dim3(1), dim3(48), 0, [] {}), doctest::Contains("multiple of 32"),
                       std::runtime_error);
}

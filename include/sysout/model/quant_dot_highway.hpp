// Highway (static dispatch) twins of quant_dot.hpp: the same dot products,
// vectorised the way ggml's AVX2 kernels are. Per 32-element block the weight
// nibbles are unpacked in registers, widened to int16 together with the int8
// activation quants, multiplied pairwise into int32 lanes (ReorderWidenMulAccumulate
// = vpmaddwd), converted to float and accumulated with the block's scale;
// the horizontal sum happens once per row. Integer sums are exact, so each kernel
// differs from the scalar reference only in float summation order
// (tests/model/test_quant_dot.cpp holds them to 1e-5 relative).
//
// The integer kernels need 256-bit vectors (AVX2 and up); on narrower targets
// they forward to the scalar reference.
#pragma once
// Highway 1.0.3 rejects -march=native on AVX-512 "DL" CPUs unless asked for
// AVX3_DL (see io/ggml_quants_highway.hpp); must precede the first <hwy/highway.h>.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#include <hwy/highway.h>

#include <cstdint>
#include <cstring>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "sysout/io/ggml_quants.hpp"
#include "sysout/model/quant_dot.hpp"

namespace sysout::model::hwy_kernels {

namespace hn = hwy::HWY_NAMESPACE;

// Block scales are f16: one hardware conversion (F16C) instead of the portable
// bit-twiddling f16_to_f32, which otherwise costs as much as the block's dot.
HWY_INLINE float h2f(std::uint16_t h) noexcept {
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return f16_to_f32(h);
#endif
}

inline float dot_f32(const float* a, const float* b, std::int64_t n) noexcept {
  const hn::ScalableTag<float> d;
  const std::int64_t N = std::int64_t(hn::Lanes(d));
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  std::int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(d, a + i + N), hn::LoadU(d, b + i + N), s1);
    s2 = hn::MulAdd(hn::LoadU(d, a + i + 2 * N), hn::LoadU(d, b + i + 2 * N), s2);
    s3 = hn::MulAdd(hn::LoadU(d, a + i + 3 * N), hn::LoadU(d, b + i + 3 * N), s3);
  }
  for (; i + N <= n; i += N) s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

inline float dot_f16_f32(const std::uint16_t* a, const float* b, std::int64_t n) noexcept {
  const hn::ScalableTag<float> d;
  const hn::Rebind<hwy::float16_t, decltype(d)> dh;
  const std::int64_t N = std::int64_t(hn::Lanes(d));
  auto s0 = hn::Zero(d);
  std::int64_t i = 0;
  const auto* ah = reinterpret_cast<const hwy::float16_t*>(a);
  for (; i + N <= n; i += N) s0 = hn::MulAdd(hn::PromoteTo(d, hn::LoadU(dh, ah + i)), hn::LoadU(d, b + i), s0);
  float s = hn::GetLane(hn::SumOfLanes(d, s0));
  for (; i < n; ++i) s += f16_to_f32(a[i]) * b[i];
  return s;
}

#if HWY_CAP_GE256

using d8x16 = hn::FixedTag<std::uint8_t, 16>;
using di8x16 = hn::FixedTag<std::int8_t, 16>;
using d16x16 = hn::FixedTag<std::int16_t, 16>;
using d32x8 = hn::FixedTag<std::int32_t, 8>;
using df8 = hn::FixedTag<float, 8>;
using vi16 = hn::Vec<d16x16>;
using vi32 = hn::Vec<d32x8>;

// sum += pairwise products of two int16 vectors (16 lanes -> 8 int32 lanes).
HWY_INLINE vi32 mul_acc(vi16 a, vi16 b, vi32 sum) {
  vi32 unused = hn::Zero(d32x8());
  return hn::ReorderWidenMulAccumulate(d32x8(), a, b, sum, unused);
}
HWY_INLINE vi16 load_i8(const std::int8_t* p) { return hn::PromoteTo(d16x16(), hn::LoadU(di8x16(), p)); }
HWY_INLINE vi16 widen_u8(hn::Vec<d8x16> v) { return hn::BitCast(d16x16(), hn::PromoteTo(hn::FixedTag<std::uint16_t, 16>(), v)); }
HWY_INLINE float reduce(hn::Vec<df8> v) { return hn::GetLane(hn::SumOfLanes(df8(), v)); }

inline float vec_dot_q4_0_q8_0(std::int64_t n, const io::block_q4_0* x, const io::block_q8_0* y) noexcept {
  const d8x16 du8;
  const auto m4 = hn::Set(du8, 0x0F);
  const auto eight = hn::Set(d16x16(), 8);
  auto acc = hn::Zero(df8());
  for (std::int64_t i = 0; i < n / 32; ++i) {
    const auto q = hn::LoadU(du8, x[i].qs);
    const vi16 lo = hn::Sub(widen_u8(hn::And(q, m4)), eight);
    const vi16 hi = hn::Sub(widen_u8(hn::ShiftRight<4>(q)), eight);
    vi32 s = mul_acc(lo, load_i8(y[i].qs), hn::Zero(d32x8()));
    s = mul_acc(hi, load_i8(y[i].qs + 16), s);
    acc = hn::MulAdd(hn::ConvertTo(df8(), s), hn::Set(df8(), h2f(x[i].d) * h2f(y[i].d)), acc);
  }
  return reduce(acc);
}

inline float vec_dot_q4_1_q8_1(std::int64_t n, const io::block_q4_1* x, const io::block_q8_1* y) noexcept {
  const d8x16 du8;
  const auto m4 = hn::Set(du8, 0x0F);
  auto acc = hn::Zero(df8());
  float summs = 0.0f;
  for (std::int64_t i = 0; i < n / 32; ++i) {
    const auto q = hn::LoadU(du8, x[i].qs);
    vi32 s = mul_acc(widen_u8(hn::And(q, m4)), load_i8(y[i].qs), hn::Zero(d32x8()));
    s = mul_acc(widen_u8(hn::ShiftRight<4>(q)), load_i8(y[i].qs + 16), s);
    acc = hn::MulAdd(hn::ConvertTo(df8(), s), hn::Set(df8(), h2f(x[i].d) * h2f(y[i].d)), acc);
    summs += h2f(x[i].m) * h2f(y[i].s);
  }
  return reduce(acc) + summs;
}

// 5th bits of elements j0..j0+15 of a q5 block as 0/16 int16 lanes.
HWY_INLINE vi16 q5_high_bits(std::uint32_t qh, int j0) {
  alignas(32) static constexpr std::uint16_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768};
  const hn::FixedTag<std::uint16_t, 16> du16;
  const auto v = hn::Set(du16, std::uint16_t(qh >> j0));
  const auto m = hn::TestBit(v, hn::Load(du16, bits));
  return hn::BitCast(d16x16(), hn::IfThenElseZero(m, hn::Set(du16, 16)));
}

inline float vec_dot_q5_0_q8_0(std::int64_t n, const io::block_q5_0* x, const io::block_q8_0* y) noexcept {
  const d8x16 du8;
  const auto m4 = hn::Set(du8, 0x0F);
  const auto sixteen = hn::Set(d16x16(), 16);
  auto acc = hn::Zero(df8());
  for (std::int64_t i = 0; i < n / 32; ++i) {
    std::uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    const auto q = hn::LoadU(du8, x[i].qs);
    const vi16 lo = hn::Sub(hn::Or(widen_u8(hn::And(q, m4)), q5_high_bits(qh, 0)), sixteen);
    const vi16 hi = hn::Sub(hn::Or(widen_u8(hn::ShiftRight<4>(q)), q5_high_bits(qh, 16)), sixteen);
    vi32 s = mul_acc(lo, load_i8(y[i].qs), hn::Zero(d32x8()));
    s = mul_acc(hi, load_i8(y[i].qs + 16), s);
    acc = hn::MulAdd(hn::ConvertTo(df8(), s), hn::Set(df8(), h2f(x[i].d) * h2f(y[i].d)), acc);
  }
  return reduce(acc);
}

inline float vec_dot_q8_0_q8_0(std::int64_t n, const io::block_q8_0* x, const io::block_q8_0* y) noexcept {
  auto acc = hn::Zero(df8());
  for (std::int64_t i = 0; i < n / 32; ++i) {
    vi32 s = mul_acc(load_i8(x[i].qs), load_i8(y[i].qs), hn::Zero(d32x8()));
    s = mul_acc(load_i8(x[i].qs + 16), load_i8(y[i].qs + 16), s);
    acc = hn::MulAdd(hn::ConvertTo(df8(), s), hn::Set(df8(), h2f(x[i].d) * h2f(y[i].d)), acc);
  }
  return reduce(acc);
}

inline float vec_dot_q4_K_q8_K(std::int64_t n, const io::block_q4_K* x, const io::block_q8_K* y) noexcept {
  const d8x16 du8;
  const auto m4 = hn::Set(du8, 0x0F);
  auto acc = hn::Zero(df8());
  float mins = 0.0f;
  for (std::int64_t i = 0; i < n / io::qk_k; ++i) {
    const std::uint8_t* q = x[i].qs;
    const std::int8_t* q8 = y[i].qs;
    vi32 sumi = hn::Zero(d32x8());
    int summ = 0;
    for (int j = 0; j < 8; j += 2) {
      std::uint8_t sc0, m0, sc1, m1;
      io::get_scale_min_k4(j, x[i].scales, sc0, m0);
      io::get_scale_min_k4(j + 1, x[i].scales, sc1, m1);
      const auto qa = hn::LoadU(du8, q), qb = hn::LoadU(du8, q + 16);
      vi32 s0 = mul_acc(widen_u8(hn::And(qa, m4)), load_i8(q8), hn::Zero(d32x8()));
      s0 = mul_acc(widen_u8(hn::And(qb, m4)), load_i8(q8 + 16), s0);
      vi32 s1 = mul_acc(widen_u8(hn::ShiftRight<4>(qa)), load_i8(q8 + 32), hn::Zero(d32x8()));
      s1 = mul_acc(widen_u8(hn::ShiftRight<4>(qb)), load_i8(q8 + 48), s1);
      sumi = hn::Add(sumi, hn::Add(hn::Mul(s0, hn::Set(d32x8(), sc0)), hn::Mul(s1, hn::Set(d32x8(), sc1))));
      summ += m0 * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]) + m1 * (y[i].bsums[2 * j + 2] + y[i].bsums[2 * j + 3]);
      q += 32;
      q8 += 64;
    }
    acc = hn::MulAdd(hn::ConvertTo(df8(), sumi), hn::Set(df8(), y[i].d * h2f(x[i].d)), acc);
    mins += y[i].d * h2f(x[i].dmin) * float(summ);
  }
  return reduce(acc) - mins;
}

inline float vec_dot_q6_K_q8_K(std::int64_t n, const io::block_q6_K* x, const io::block_q8_K* y) noexcept {
  const d8x16 du8;
  const auto m4 = hn::Set(du8, 0x0F);
  const auto m3 = hn::Set(du8, 0x03);
  const auto c32 = hn::Set(d16x16(), 32);
  auto acc = hn::Zero(df8());
  for (std::int64_t i = 0; i < n / io::qk_k; ++i) {
    const std::uint8_t* ql = x[i].ql;
    const std::uint8_t* qh = x[i].qh;
    const std::int8_t* sc = x[i].scales;
    const std::int8_t* q8 = y[i].qs;
    vi32 sumi = hn::Zero(d32x8());
    for (int nn = 0; nn < io::qk_k; nn += 128) {
      for (int half = 0; half < 2; ++half) {  // l in [16*half, 16*half + 16)
        const int l0 = 16 * half;
        const auto a = hn::LoadU(du8, ql + l0), b = hn::LoadU(du8, ql + 32 + l0), h = hn::LoadU(du8, qh + l0);
        const vi16 w1 = hn::Sub(widen_u8(hn::Or(hn::And(a, m4), hn::ShiftLeft<4>(hn::And(h, m3)))), c32);
        const vi16 w2 = hn::Sub(widen_u8(hn::Or(hn::And(b, m4), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<2>(h), m3)))), c32);
        const vi16 w3 = hn::Sub(widen_u8(hn::Or(hn::ShiftRight<4>(a), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<4>(h), m3)))), c32);
        const vi16 w4 = hn::Sub(widen_u8(hn::Or(hn::ShiftRight<4>(b), hn::ShiftLeft<4>(hn::ShiftRight<6>(h)))), c32);
        // scale index of element l: sc[l/16 + 2*k] for the k-th quarter
        const vi32 s1 = mul_acc(w1, load_i8(q8 + l0), hn::Zero(d32x8()));
        const vi32 s2 = mul_acc(w2, load_i8(q8 + 32 + l0), hn::Zero(d32x8()));
        const vi32 s3 = mul_acc(w3, load_i8(q8 + 64 + l0), hn::Zero(d32x8()));
        const vi32 s4 = mul_acc(w4, load_i8(q8 + 96 + l0), hn::Zero(d32x8()));
        sumi = hn::Add(sumi, hn::Mul(s1, hn::Set(d32x8(), sc[half + 0])));
        sumi = hn::Add(sumi, hn::Mul(s2, hn::Set(d32x8(), sc[half + 2])));
        sumi = hn::Add(sumi, hn::Mul(s3, hn::Set(d32x8(), sc[half + 4])));
        sumi = hn::Add(sumi, hn::Mul(s4, hn::Set(d32x8(), sc[half + 6])));
      }
      ql += 64;
      qh += 32;
      sc += 8;
      q8 += 128;
    }
    acc = hn::MulAdd(hn::ConvertTo(df8(), sumi), hn::Set(df8(), h2f(x[i].d) * y[i].d), acc);
  }
  return reduce(acc);
}

#endif  // HWY_CAP_GE256

// AVX-512 VNNI (Ice Lake and later; Highway's AVX3_DL target): vpdpbusd multiplies
// unsigned by signed bytes and accumulates 4 products per int32 lane, so a whole
// 32-element block is one instruction, as in ggml's AVX512-VNNI / AVX-VNNI paths.
// Highway 1.0.3 has no u8 x i8 dot op, so these use the intrinsics directly.
#if HWY_TARGET == HWY_AVX3_DL && defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BW__)
#define SYSOUT_MODEL_VNNI 1
namespace vnni {
HWY_INLINE __m256i nibbles(const std::uint8_t* qs) {  // 16 bytes -> 32 u8: [low nibbles | high nibbles]
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
}
// The same with one broadcast load and one per-half shift (fewer uops on port 5;
// faster in the q5_0 tile kernel, slower in the q4_1 ones, so used only there).
HWY_INLINE __m256i nibbles_bcast(const std::uint8_t* qs) {
  const __m256i q = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  return _mm256_and_si256(_mm256_srlv_epi64(q, _mm256_set_epi64x(4, 4, 0, 0)), _mm256_set1_epi8(0x0F));
}
HWY_INLINE __m256i load32(const std::int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
HWY_INLINE float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
HWY_INLINE int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}
// A q5 block's unsigned 5-bit quants in element order: the nibbles plus 0x10
// where the 5th bit (qh, one bit per element) is set.
HWY_INLINE __m256i q5_weights(const std::uint8_t* qs, const std::uint8_t* qh) {
  std::uint32_t h;
  std::memcpy(&h, qh, 4);
  const __m256i nib = nibbles_bcast(qs);
  return _mm256_mask_add_epi8(nib, __mmask32(h), nib, _mm256_set1_epi8(0x10));
}

inline float q4_0(std::int64_t n, const io::block_q4_0* x, const io::block_q8_0* y) noexcept {
  __m256 acc = _mm256_setzero_ps();
  const __m256i eight = _mm256_set1_epi8(8);
  for (std::int64_t i = 0; i < n / 32; ++i) {
    const __m256i a = load32(y[i].qs);
    __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), nibbles(x[i].qs), a);
    s = _mm256_sub_epi32(s, _mm256_dpbusd_epi32(_mm256_setzero_si256(), eight, a));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), acc);
  }
  return hsum(acc);
}
inline float q4_1(std::int64_t n, const io::block_q4_1* x, const io::block_q8_1* y) noexcept {
  __m256 acc = _mm256_setzero_ps();
  float summs = 0.0f;
  for (std::int64_t i = 0; i < n / 32; ++i) {
    const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), nibbles(x[i].qs), load32(y[i].qs));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), acc);
    summs += h2f(x[i].m) * h2f(y[i].s);
  }
  return hsum(acc) + summs;
}
inline float q5_0(std::int64_t n, const io::block_q5_0* x, const io::block_q8_0* y) noexcept {
  __m256 acc = _mm256_setzero_ps();
  const __m256i sixteen = _mm256_set1_epi8(16);
  for (std::int64_t i = 0; i < n / 32; ++i) {
    const __m256i a = load32(y[i].qs);
    const __m256i w = q5_weights(x[i].qs, x[i].qh);
    __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, a);
    s = _mm256_sub_epi32(s, _mm256_dpbusd_epi32(_mm256_setzero_si256(), sixteen, a));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), acc);
  }
  return hsum(acc);
}
inline float q8_0(std::int64_t n, const io::block_q8_0* x, const io::block_q8_0* y) noexcept {
  __m256 acc = _mm256_setzero_ps();
  for (std::int64_t i = 0; i < n / 32; ++i) {
    const __m256i w = load32(x[i].qs), a = load32(y[i].qs);
    // |w| (unsigned) times a with w's sign moved onto it: same products, u8 x s8.
    const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), acc);
  }
  return hsum(acc);
}

// Several tokens per pass over a weight row (prompt processing): each weight
// block is decoded once and dotted with NT activation rows. Per token the
// operations and their order are those of the single-token kernels above, so
// the results are bit-identical to them (batched == token-by-token).
template <int NT>
inline void q4_1_multi(std::int64_t n, const io::block_q4_1* x, const io::block_q8_1* const* y, float* out) noexcept {
  __m256 acc[NT];
  float summs[NT];
  for (int r = 0; r < NT; ++r) {
    acc[r] = _mm256_setzero_ps();
    summs[r] = 0.0f;
  }
  for (std::int64_t i = 0; i < n / 32; ++i) {
    const __m256i w = nibbles(x[i].qs);
    const float dw = h2f(x[i].d), mw = h2f(x[i].m);
    for (int r = 0; r < NT; ++r) {
      const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, load32(y[r][i].qs));
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dw * h2f(y[r][i].d)), acc[r]);
      summs[r] += mw * h2f(y[r][i].s);
    }
  }
  for (int r = 0; r < NT; ++r) out[r] = hsum(acc[r]) + summs[r];
}
template <int NT>
inline void q8_0_multi(std::int64_t n, const io::block_q8_0* x, const io::block_q8_0* const* y, float* out) noexcept {
  __m256 acc[NT];
  for (int r = 0; r < NT; ++r) acc[r] = _mm256_setzero_ps();
  for (std::int64_t i = 0; i < n / 32; ++i) {
    const __m256i w = load32(x[i].qs);
    const __m256i aw = _mm256_sign_epi8(w, w);
    const float dw = h2f(x[i].d);
    for (int r = 0; r < NT; ++r) {
      const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, _mm256_sign_epi8(load32(y[r][i].qs), w));
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dw * h2f(y[r][i].d)), acc[r]);
    }
  }
  for (int r = 0; r < NT; ++r) out[r] = hsum(acc[r]);
}
template <int NT>
inline void q5_0_multi(std::int64_t n, const io::block_q5_0* x, const io::block_q8_0* const* y, float* out) noexcept {
  __m256 acc[NT];
  for (int r = 0; r < NT; ++r) acc[r] = _mm256_setzero_ps();
  const __m256i sixteen = _mm256_set1_epi8(16);
  for (std::int64_t i = 0; i < n / 32; ++i) {
    const __m256i w = q5_weights(x[i].qs, x[i].qh);
    const float dw = h2f(x[i].d);
    for (int r = 0; r < NT; ++r) {
      const __m256i a = load32(y[r][i].qs);
      __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, a);
      s = _mm256_sub_epi32(s, _mm256_dpbusd_epi32(_mm256_setzero_si256(), sixteen, a));
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dw * h2f(y[r][i].d)), acc[r]);
    }
  }
  for (int r = 0; r < NT; ++r) out[r] = hsum(acc[r]);
}

// Prompt processing of q5_0 (the bulk of Gemma 3 Q4_K_M): NR rows x NT tokens
// per pass, so each weight block is decoded once for NT tokens and each
// activation block (quants, f16 scale, the -16 offset's sum) loaded once for NR
// rows. The offset is the dpbusd's starting value instead of a subtraction and
// the scale product is formed in vector registers; both give the same int32
// and float values as q5_0(), so the results are bit-identical to it.
template <int NR, int NT>
inline void q5_0_tile(std::int64_t n, const io::block_q5_0* const* x, const io::block_q8_0* const* y,
                      float* out) noexcept {
  __m256 acc[NR][NT];
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
  const __m256i sixteen = _mm256_set1_epi8(16);
  for (std::int64_t i = 0; i < n / 32; ++i) {
    __m256i w[NR];
    __m256 dw[NR];
    for (int r = 0; r < NR; ++r) {
      w[r] = q5_weights(x[r][i].qs, x[r][i].qh);
      dw[r] = _mm256_set1_ps(h2f(x[r][i].d));
    }
    for (int t = 0; t < NT; ++t) {
      const __m256i a = load32(y[t][i].qs);
      const __m256i neg = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_dpbusd_epi32(_mm256_setzero_si256(), sixteen, a));
      const __m256 dy = _mm256_set1_ps(h2f(y[t][i].d));
      for (int r = 0; r < NR; ++r) {
        const __m256i s = _mm256_dpbusd_epi32(neg, w[r], a);
        acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw[r], dy), acc[r][t]);
      }
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) out[r * NT + t] = hsum(acc[r][t]);
}

// Several weight rows against one activation row (generation, T = 1): NR
// independent accumulation chains instead of one latency-bound chain, and each
// activation block loaded once. Per row the same operations in the same order as
// the single-row kernels, so results are bit-identical to them.
//
// A generated token streams every weight once, from DRAM for all but the
// smallest models, and the hardware prefetchers do not keep up with NR
// interleaved row streams: each block also prefetches the same block two row
// groups ahead (rows are contiguous, so that is the rows this kernel is called
// with next). On SmolLM2-135M this nearly doubles the single-thread matmul
// throughput (5.9 -> 11 GB/s). Prefetches past the matrix end are harmless.
template <class Block>
HWY_INLINE void prefetch_ahead(const Block* p, std::size_t bytes) {
  _mm_prefetch(reinterpret_cast<const char*>(p) + bytes, _MM_HINT_T0);
}
template <class Block, int NR>
constexpr std::size_t rows_ahead_bytes(std::int64_t n) {
  return 2 * std::size_t(NR) * std::size_t(n / 32) * sizeof(Block);
}
template <int NR>
inline void q4_1_rows(std::int64_t n, const io::block_q4_1* const* x, const io::block_q8_1* y, float* out) noexcept {
  __m256 acc[NR];
  float summs[NR];
  for (int r = 0; r < NR; ++r) {
    acc[r] = _mm256_setzero_ps();
    summs[r] = 0.0f;
  }
  const std::size_t ahead = rows_ahead_bytes<io::block_q4_1, NR>(n);
  for (std::int64_t i = 0; i < n / 32; ++i) {
    const __m256i a = load32(y[i].qs);
    const float dy = h2f(y[i].d), sy = h2f(y[i].s);
    for (int r = 0; r < NR; ++r) {
      prefetch_ahead(x[r] + i, ahead);
      const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), nibbles(x[r][i].qs), a);
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(h2f(x[r][i].d) * dy), acc[r]);
      summs[r] += h2f(x[r][i].m) * sy;
    }
  }
  for (int r = 0; r < NR; ++r) out[r] = hsum(acc[r]) + summs[r];
}
template <int NR>
inline void q8_0_rows(std::int64_t n, const io::block_q8_0* const* x, const io::block_q8_0* y, float* out) noexcept {
  __m256 acc[NR];
  for (int r = 0; r < NR; ++r) acc[r] = _mm256_setzero_ps();
  const std::size_t ahead = rows_ahead_bytes<io::block_q8_0, NR>(n);
  for (std::int64_t i = 0; i < n / 32; ++i) {
    const __m256i a = load32(y[i].qs);
    const float dy = h2f(y[i].d);
    for (int r = 0; r < NR; ++r) {
      prefetch_ahead(x[r] + i, ahead);
      const __m256i w = load32(x[r][i].qs);
      const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(h2f(x[r][i].d) * dy), acc[r]);
    }
  }
  for (int r = 0; r < NR; ++r) out[r] = hsum(acc[r]);
}
template <int NR>
inline void q5_0_rows(std::int64_t n, const io::block_q5_0* const* x, const io::block_q8_0* y, float* out) noexcept {
  __m256 acc[NR];
  for (int r = 0; r < NR; ++r) acc[r] = _mm256_setzero_ps();
  const __m256i sixteen = _mm256_set1_epi8(16);
  const std::size_t ahead = rows_ahead_bytes<io::block_q5_0, NR>(n);
  for (std::int64_t i = 0; i < n / 32; ++i) {
    const __m256i a = load32(y[i].qs);
    const __m256i corr = _mm256_dpbusd_epi32(_mm256_setzero_si256(), sixteen, a);
    const float dy = h2f(y[i].d);
    for (int r = 0; r < NR; ++r) {
      prefetch_ahead(x[r] + i, ahead);
      const __m256i w = q5_weights(x[r][i].qs, x[r][i].qh);
      const __m256i s = _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), w, a), corr);
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(h2f(x[r][i].d) * dy), acc[r]);
    }
  }
  for (int r = 0; r < NR; ++r) out[r] = hsum(acc[r]);
}

// q4_K: per 32-element sub-block the nibbles (u8) times the activation (s8) in
// pairs (vpmaddubsw, no saturation: 15 * 127 * 2 < 2^15), then times the 6-bit
// scale into int32 lanes of 4 consecutive elements (vpdpwssd); summed in int32
// over the super-block. (Same lanes as vpdpbusd followed by a 32-bit multiply,
// in 2 instead of 4 uops.) The mins go through the activation's per-16 sums
// (bsums), an exact integer sum as in the scalar reference.
template <int NT>
inline void q4_K_multi(std::int64_t n, const io::block_q4_K* x, const io::block_q8_K* const* y, float* out) noexcept {
  __m256 acc[NT];
  float mins[NT];
  for (int r = 0; r < NT; ++r) {
    acc[r] = _mm256_setzero_ps();
    mins[r] = 0.0f;
  }
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  for (std::int64_t i = 0; i < n / io::qk_k; ++i) {
    std::uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; ++j) io::get_scale_min_k4(j, x[i].scales, sc[j], mn[j]);
    __m256i w[8], scv[8];
    for (int j = 0; j < 4; ++j) {  // 32 bytes hold sub-block 2j (low nibbles) and 2j+1 (high nibbles)
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs + 32 * j));
      w[2 * j] = _mm256_and_si256(q, m4);
      w[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    }
    for (int j = 0; j < 8; ++j) scv[j] = _mm256_set1_epi16(std::int16_t(sc[j]));
    // mins per 16-element bsum: [m0, m0, m1, m1, ...]
    alignas(32) std::int16_t mn16[16];
    for (int j = 0; j < 8; ++j) mn16[2 * j] = mn16[2 * j + 1] = std::int16_t(mn[j]);
    const __m256i mnv = _mm256_load_si256(reinterpret_cast<const __m256i*>(mn16));
    const float d = h2f(x[i].d), dmin = h2f(x[i].dmin);
    for (int r = 0; r < NT; ++r) {
      __m256i sumi = _mm256_setzero_si256();
      for (int j = 0; j < 8; ++j)
        sumi = _mm256_dpwssd_epi32(sumi, _mm256_maddubs_epi16(w[j], load32(y[r][i].qs + 32 * j)), scv[j]);
      const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[r][i].bsums));
      const int summ = hsum_i32(_mm256_madd_epi16(bs, mnv));
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(y[r][i].d * d), acc[r]);
      mins[r] += y[r][i].d * dmin * float(summ);
    }
  }
  for (int r = 0; r < NT; ++r) out[r] = hsum(acc[r]) - mins[r];
}

// q6_K: 16 sub-blocks of 16 with int8 scales, w = q - 32 with q in [0, 64).
// Per 32 elements as ggml's AVX2 kernel: q (u8) times the activation (s8) in
// pairs (vpmaddubsw; no saturation: 63 * 127 * 2 < 2^15) minus 32 times the
// activation pairs, then times the two sub-blocks' scales into int32 lanes of 4
// consecutive elements (vpdpwssd). Each lane then holds the same integer as in
// llama.cpp, so the float accumulation, and the result, is llama.cpp's.
template <int NT>
inline void q6_K_multi(std::int64_t n, const io::block_q6_K* x, const io::block_q8_K* const* y, float* out) noexcept {
  __m256 acc[NT];
  for (int r = 0; r < NT; ++r) acc[r] = _mm256_setzero_ps();
  const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30), m32 = _mm256_set1_epi8(32);
  for (std::int64_t i = 0; i < n / io::qk_k; ++i) {
    __m256i w[8], scv[8];
    for (int h = 0; h < 2; ++h) {  // elements 128h + [0, 128): chunks of 32 in element order
      const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].ql + 64 * h));
      const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].ql + 64 * h + 32));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qh + 32 * h));
      w[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
      w[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
      w[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m30));
      w[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                     _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
    }
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales)));
    for (int c = 0; c < 8; ++c)  // int16 lanes 0-7: scale 2c, 8-15: scale 2c+1
      scv[c] = _mm256_permutexvar_epi16(
          _mm256_set_m128i(_mm_set1_epi16(std::int16_t(2 * c + 1)), _mm_set1_epi16(std::int16_t(2 * c))), sc16);
    const float d = h2f(x[i].d);
    for (int r = 0; r < NT; ++r) {
      __m256i sumi = _mm256_setzero_si256();
      for (int c = 0; c < 8; ++c) {
        const __m256i a = load32(y[r][i].qs + 32 * c);
        const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(w[c], a), _mm256_maddubs_epi16(m32, a));
        sumi = _mm256_dpwssd_epi32(sumi, p, scv[c]);
      }
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(d * y[r][i].d), acc[r]);
    }
  }
  for (int r = 0; r < NT; ++r) out[r] = hsum(acc[r]);
}
}  // namespace vnni
#else
#define SYSOUT_MODEL_VNNI 0
#endif

// Activation quantization is O(n) per row against O(rows * n) dots; the scalar
// reference is used as is (it is also what makes the dots bit-comparable).
inline void prepare_activation(ggml_type t, const float* x, void* out, std::int64_t n) {
  prepare_activation_ref(t, x, out, n);
}

// Dots of one weight row with nt (1..4) prepared activation rows (a[r]); false
// when this type has no multi-token kernel (the caller loops over vec_dot).
inline bool vec_dot_multi(ggml_type t, std::int64_t n, const void* w, const void* const* a, int nt, float* out) {
#if SYSOUT_MODEL_VNNI
  auto go = [&](auto kernel4, auto kernel3, auto kernel2, auto kernel1, auto* wp, auto* const* ap) {
    switch (nt) {
      case 4: kernel4(n, wp, ap, out); return true;
      case 3: kernel3(n, wp, ap, out); return true;
      case 2: kernel2(n, wp, ap, out); return true;
      case 1: kernel1(n, wp, ap, out); return true;
    }
    return false;
  };
  switch (t) {
    case ggml_type::q4_1:
      return go(vnni::q4_1_multi<4>, vnni::q4_1_multi<3>, vnni::q4_1_multi<2>, vnni::q4_1_multi<1>,
                static_cast<const io::block_q4_1*>(w), reinterpret_cast<const io::block_q8_1* const*>(a));
    case ggml_type::q8_0:
      return go(vnni::q8_0_multi<4>, vnni::q8_0_multi<3>, vnni::q8_0_multi<2>, vnni::q8_0_multi<1>,
                static_cast<const io::block_q8_0*>(w), reinterpret_cast<const io::block_q8_0* const*>(a));
    case ggml_type::q4_k:
      return go(vnni::q4_K_multi<4>, vnni::q4_K_multi<3>, vnni::q4_K_multi<2>, vnni::q4_K_multi<1>,
                static_cast<const io::block_q4_K*>(w), reinterpret_cast<const io::block_q8_K* const*>(a));
    case ggml_type::q6_k:
      return go(vnni::q6_K_multi<4>, vnni::q6_K_multi<3>, vnni::q6_K_multi<2>, vnni::q6_K_multi<1>,
                static_cast<const io::block_q6_K*>(w), reinterpret_cast<const io::block_q8_K* const*>(a));
    case ggml_type::q5_0:
      return go(vnni::q5_0_multi<4>, vnni::q5_0_multi<3>, vnni::q5_0_multi<2>, vnni::q5_0_multi<1>,
                static_cast<const io::block_q5_0*>(w), reinterpret_cast<const io::block_q8_0* const*>(a));
    default: break;
  }
#endif
  (void)t; (void)n; (void)w; (void)a; (void)nt; (void)out;
  return false;
}

// Dots of 4 weight rows (w[r]) with nt (1..4) prepared activation rows (a[t]),
// out[r * nt + t]; false when this type has no such kernel.
inline bool vec_dot_rows4_multi(ggml_type t, std::int64_t n, const void* const* w, const void* const* a, int nt,
                                float* out) {
#if SYSOUT_MODEL_VNNI
  if (t == ggml_type::q5_0) {
    const auto* const* wp = reinterpret_cast<const io::block_q5_0* const*>(w);
    const auto* const* ap = reinterpret_cast<const io::block_q8_0* const*>(a);
    switch (nt) {
      case 4: vnni::q5_0_tile<4, 4>(n, wp, ap, out); return true;
      case 3: vnni::q5_0_tile<4, 3>(n, wp, ap, out); return true;
      case 2: vnni::q5_0_tile<4, 2>(n, wp, ap, out); return true;
      case 1: vnni::q5_0_tile<4, 1>(n, wp, ap, out); return true;
    }
  }
#endif
  (void)t; (void)n; (void)w; (void)a; (void)nt; (void)out;
  return false;
}

// Dots of 4 weight rows (w[r]) with one prepared activation row; false when this
// type has no multi-row kernel.
inline bool vec_dot_rows4(ggml_type t, std::int64_t n, const void* const* w, const void* a, float* out) {
#if SYSOUT_MODEL_VNNI
  switch (t) {
    case ggml_type::q4_1:
      vnni::q4_1_rows<4>(n, reinterpret_cast<const io::block_q4_1* const*>(w), static_cast<const io::block_q8_1*>(a), out);
      return true;
    case ggml_type::q8_0:
      vnni::q8_0_rows<4>(n, reinterpret_cast<const io::block_q8_0* const*>(w), static_cast<const io::block_q8_0*>(a), out);
      return true;
    case ggml_type::q5_0:
      vnni::q5_0_rows<4>(n, reinterpret_cast<const io::block_q5_0* const*>(w), static_cast<const io::block_q8_0*>(a), out);
      return true;
    default: break;
  }
#endif
  (void)t; (void)n; (void)w; (void)a; (void)out;
  return false;
}

inline float vec_dot(ggml_type t, std::int64_t n, const void* w, const void* a, float* scratch) {
  switch (t) {
    case ggml_type::f32: return dot_f32(static_cast<const float*>(w), static_cast<const float*>(a), n);
    case ggml_type::f16: return dot_f16_f32(static_cast<const std::uint16_t*>(w), static_cast<const float*>(a), n);
#if SYSOUT_MODEL_VNNI
    case ggml_type::q4_0: return vnni::q4_0(n, static_cast<const io::block_q4_0*>(w), static_cast<const io::block_q8_0*>(a));
    case ggml_type::q4_1: return vnni::q4_1(n, static_cast<const io::block_q4_1*>(w), static_cast<const io::block_q8_1*>(a));
    case ggml_type::q5_0: return vnni::q5_0(n, static_cast<const io::block_q5_0*>(w), static_cast<const io::block_q8_0*>(a));
    case ggml_type::q8_0: return vnni::q8_0(n, static_cast<const io::block_q8_0*>(w), static_cast<const io::block_q8_0*>(a));
#elif HWY_CAP_GE256
    case ggml_type::q4_0: return vec_dot_q4_0_q8_0(n, static_cast<const io::block_q4_0*>(w), static_cast<const io::block_q8_0*>(a));
    case ggml_type::q4_1: return vec_dot_q4_1_q8_1(n, static_cast<const io::block_q4_1*>(w), static_cast<const io::block_q8_1*>(a));
    case ggml_type::q5_0: return vec_dot_q5_0_q8_0(n, static_cast<const io::block_q5_0*>(w), static_cast<const io::block_q8_0*>(a));
    case ggml_type::q8_0: return vec_dot_q8_0_q8_0(n, static_cast<const io::block_q8_0*>(w), static_cast<const io::block_q8_0*>(a));
#endif
#if SYSOUT_MODEL_VNNI
    case ggml_type::q4_k: {
      float o;
      const auto* ap = static_cast<const io::block_q8_K*>(a);
      vnni::q4_K_multi<1>(n, static_cast<const io::block_q4_K*>(w), &ap, &o);
      return o;
    }
    case ggml_type::q6_k: {  // the multi-token kernel's arithmetic, so batched == token by token
      float o;
      const auto* ap = static_cast<const io::block_q8_K*>(a);
      vnni::q6_K_multi<1>(n, static_cast<const io::block_q6_K*>(w), &ap, &o);
      return o;
    }
#elif HWY_CAP_GE256
    case ggml_type::q4_k: return vec_dot_q4_K_q8_K(n, static_cast<const io::block_q4_K*>(w), static_cast<const io::block_q8_K*>(a));
    case ggml_type::q6_k: return vec_dot_q6_K_q8_K(n, static_cast<const io::block_q6_K*>(w), static_cast<const io::block_q8_K*>(a));
#endif
    default: break;
  }
  if (activation_format_for(t) == activation_format::f32 && t != ggml_type::f32) {
    io::dequantize_row_ref(t, w, scratch, n);
    return dot_f32(scratch, static_cast<const float*>(a), n);
  }
  return vec_dot_ref(t, n, w, a, scratch);
}

}  // namespace sysout::model::hwy_kernels

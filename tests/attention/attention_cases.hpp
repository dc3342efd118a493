// Shared test data for the attention backends: seeded random problems over a
// sweep of shapes, with every variant's parameters, and the comparison helper.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "sysout/attention/problem.hpp"
#include "sysout/attention/reference.hpp"
#include "sysout/core/tensor.hpp"

namespace sysout::attention::testing {

enum class mask_kind { none, boolean, additive };

struct case_spec {
  std::int64_t tq, tk, d, dv, hq, hkv;
  bool causal;
  std::int64_t window, q_pos0;
  mask_kind mask;
  bool strided;  // q/out as rows [T, H*d] (head = strided view)
  dtype in;      // dtype of q, k, v
  std::string str() const {
    return "tq=" + std::to_string(tq) + " tk=" + std::to_string(tk) + " d=" + std::to_string(d) +
           " dv=" + std::to_string(dv) + " hq=" + std::to_string(hq) + " hkv=" + std::to_string(hkv) +
           (causal ? " causal" : " full") + " window=" + std::to_string(window) + " q_pos0=" + std::to_string(q_pos0) +
           " mask=" + std::to_string(int(mask)) + (strided ? " strided" : "") + " in=" + std::string(dtype_name(in));
  }
};

// The sweep of the issue: T=1, odd T, T not a multiple of any tile, long T,
// head dims 32/64/80/128, GQA 1/2/4, causal and not, masks, q_pos0 > 0, windows.
inline std::vector<case_spec> sweep(bool include_long) {
  std::vector<case_spec> v = {
      {1, 1, 32, 32, 2, 1, true, 0, 0, mask_kind::none, false, dtype::f32},
      {1, 37, 64, 64, 4, 2, true, 0, 36, mask_kind::none, false, dtype::f32},  // decode step, KV cache
      {17, 17, 80, 80, 4, 1, true, 0, 0, mask_kind::none, false, dtype::f32},   // GQA 4, d 80
      {33, 33, 128, 128, 2, 2, false, 0, 0, mask_kind::none, false, dtype::f32},
      {70, 70, 64, 64, 4, 4, true, 16, 0, mask_kind::none, true, dtype::f32},   // sliding window
      {50, 90, 32, 48, 2, 1, true, 0, 40, mask_kind::boolean, false, dtype::f32},  // chunked prefill + mask
      {65, 65, 64, 64, 2, 1, false, 0, 0, mask_kind::additive, true, dtype::f32},
      {31, 31, 64, 64, 4, 2, false, 8, 0, mask_kind::none, false, dtype::f32},  // bidirectional window
      {45, 45, 64, 64, 2, 1, true, 0, 0, mask_kind::none, true, dtype::bf16},
      {29, 29, 128, 128, 2, 1, true, 0, 0, mask_kind::none, false, dtype::f16},
      // Decode against a long KV cache (few query blocks: the CUDA backend splits the keys).
      {1, 700, 64, 64, 4, 2, true, 0, 699, mask_kind::none, false, dtype::f32},
      {5, 900, 128, 128, 2, 1, true, 0, 895, mask_kind::boolean, true, dtype::bf16},
      {3, 800, 64, 64, 2, 2, true, 300, 797, mask_kind::additive, false, dtype::f32},  // sliding window
      // d = 256 (Gemma 3): prefill across key tiles, and decode with split keys.
      {70, 70, 256, 256, 2, 1, true, 0, 0, mask_kind::none, true, dtype::bf16},
      {1, 300, 256, 256, 2, 1, true, 0, 299, mask_kind::boolean, false, dtype::f32},
  };
  if (include_long) v.push_back({1100, 1100, 64, 64, 2, 1, true, 0, 0, mask_kind::none, false, dtype::f32});
  return v;
}

inline void fill(const tensor_view& t, std::mt19937& rng, double sd, double mean = 0) {
  std::normal_distribution<double> nd(mean, sd);
  for_each_offset(t, [&](std::int64_t off) { store_from_double(t.ptr_at(off), t.type(), nd(rng)); });
}

// Owns the buffers of one problem and its variant parameters.
struct case_data {
  case_spec spec;
  std::vector<unsigned char> qb, kb, vb, mb;
  tensor<float> out, out_ref, ek, ev, sink, vbias, sf, gate, madd;
  tensor<float> cols, cols_ref, null_mass, null_ref;
  tensor_view q, k, v;
  problem p;

  explicit case_data(const case_spec& s, std::uint32_t seed = 1234) : spec(s) {
    std::mt19937 rng(seed);
    const std::size_t es = dtype_size(s.in);
    qb.resize(std::size_t(s.hq * s.tq * s.d) * es);
    kb.resize(std::size_t(s.hkv * s.tk * s.d) * es);
    vb.resize(std::size_t(s.hkv * s.tk * s.dv) * es);
    if (s.strided) {  // rows [T, H*d]: head h is a strided view
      q = tensor_view(qb.data(), s.in, {s.hq, s.tq, s.d}, {s.d, s.hq * s.d, 1}, "q");
      k = tensor_view(kb.data(), s.in, {s.hkv, s.tk, s.d}, {s.d, s.hkv * s.d, 1}, "k");
      v = tensor_view(vb.data(), s.in, {s.hkv, s.tk, s.dv}, {s.dv, s.hkv * s.dv, 1}, "v");
    } else {
      q = tensor_view(qb.data(), s.in, {s.hq, s.tq, s.d}, layout::row_major, "q");
      k = tensor_view(kb.data(), s.in, {s.hkv, s.tk, s.d}, layout::row_major, "k");
      v = tensor_view(vb.data(), s.in, {s.hkv, s.tk, s.dv}, layout::row_major, "v");
    }
    // Scores of order 1-3 so softmax is neither flat nor one-hot; key 0 gets a
    // sink-like large dot product with every query.
    fill(q, rng, 1.0);
    fill(k, rng, 1.0);
    fill(v, rng, 1.0);
    for (std::int64_t g = 0; g < s.hkv && s.tk > 0; ++g)
      for (std::int64_t c = 0; c < s.d; ++c) k.set(k.get(g, 0, c) * 3.0, g, 0, c);
    out = tensor<float>({s.hq, s.tq, s.dv}, -777.0f);
    out_ref = tensor<float>({s.hq, s.tq, s.dv});
    ek = tensor<float>({s.hkv, s.d});
    ev = tensor<float>({s.hkv, s.dv});
    sink = tensor<float>({s.hq});
    vbias = tensor<float>({s.hq, s.dv});
    sf = tensor<float>({s.hq, s.tq});
    gate = tensor<float>({s.hq, s.tq});
    fill(ek.view(), rng, 1.0);
    fill(ev.view(), rng, 1.0);
    fill(sink.view(), rng, 1.0, 1.0);
    fill(vbias.view(), rng, 0.5);
    fill(gate.view(), rng, 1.0);
    std::uniform_real_distribution<double> u(0.1, 1.9);
    for (auto& x : sf.vec()) x = float(u(rng));
    cols = tensor<float>({s.hq, s.tk}, -5.0f);
    cols_ref = tensor<float>({s.hq, s.tk});
    null_mass = tensor<float>({s.hq}, -5.0f);
    null_ref = tensor<float>({s.hq});
    p.q = q, p.k = k, p.v = v, p.q_pos0 = s.q_pos0;
    if (s.mask == mask_kind::boolean) {  // broadcast over heads via a zero stride
      mb.resize(std::size_t(s.tq * s.tk));
      std::bernoulli_distribution keep(0.7);
      for (auto& b : mb) b = keep(rng) ? 1 : 0;
      p.mask = tensor_view(mb.data(), dtype::i8, {s.hq, s.tq, s.tk}, {0, s.tk, 1}, "mask");
    } else if (s.mask == mask_kind::additive) {
      madd = tensor<float>({s.tq, s.tk});
      std::uniform_real_distribution<double> a(-2.0, 1.0);
      std::bernoulli_distribution drop(0.1);
      for (auto& x : madd.vec()) x = drop(rng) ? -INFINITY : float(a(rng));
      p.mask_add = madd.view();
    }
  }

  config make_config(variant var) const {
    config c;
    c.variant = var;
    c.causal = spec.causal;
    c.window = spec.window;
    c.extra_key = ek.view();
    c.extra_value = ev.view();
    c.sink_logit = sink.view();
    c.value_bias = vbias.view();
    c.scaling_factor = sf.view();
    c.gate_logit = gate.view();
    c.clip_zeta = 1.05f;
    c.clip_gamma = -0.02f;
    return c;
  }

  // Reference in double; then returns the problem aimed at `out` for a backend.
  problem run_reference(const config& c) {
    problem r = p;
    r.out = out_ref.view();
    attend_reference<double>(r, c, stats{cols_ref.view(), null_ref.view()});
    problem b = p;
    b.out = out.view();
    return b;
  }
  stats backend_stats() { return stats{cols.view(), null_mass.view()}; }
};

// Root mean square of a tensor's elements (0 for an empty one).
inline double rms(const tensor<float>& t) {
  double s2 = 0;
  for (std::int64_t i = 0; i < t.size(); ++i) s2 += double(t.data()[i]) * t.data()[i];
  return t.size() ? std::sqrt(s2 / double(t.size())) : 0.0;
}

// max |a - b| / bound(i, b) over the elements must be <= 1 (a non-finite a fails).
template <class Bound>
void expect_within(const tensor<float>& got, const tensor<float>& want, Bound&& bound, const std::string& what) {
  double worst = 0;
  std::int64_t at = -1;
  for (std::int64_t i = 0; i < got.size(); ++i) {
    const double a = got.data()[i], b = want.data()[i];
    const double e = std::isfinite(a) ? std::abs(a - b) / bound(i, b) : 1e30;
    if (e > worst) worst = e, at = i;
  }
  INFO(what << ": worst element " << at << " got " << (at >= 0 ? got.data()[at] : 0.f) << " want "
            << (at >= 0 ? want.data()[at] : 0.f));
  CHECK(worst <= 1.0);
}

// max |a - b| / (atol + rtol |b|) must be <= 1.
inline void expect_close(const tensor<float>& got, const tensor<float>& want, double atol, double rtol,
                         const std::string& what) {
  REQUIRE(got.size() == want.size());
  expect_within(got, want, [&](std::int64_t, double b) { return atol + rtol * std::abs(b); }, what);
}

}  // namespace sysout::attention::testing

// One attention call: tensor views of q, k, v and the output, the query
// offset for KV caches, optional masks and the optional sink statistics.
//
//   q   [Hq,  Tq, d]     k [Hkv, Tk, d]     v [Hkv, Tk, dv]     out [Hq, Tq, dv]
//
// Grouped-query attention: Hq is a multiple of Hkv and query head h reads
// kv-head h / (Hq / Hkv). Views may be strided on every axis: a transformer
// that keeps rows [T, H*d] passes view(ptr, {H, T, d}, {d, H*d, 1}). The fast
// paths want the last axis contiguous (they pack tiles otherwise anyway).
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>

#include "sysout/attention/variant.hpp"
#include "sysout/core/error.hpp"
#include "sysout/core/tensor_view.hpp"

namespace sysout::attention {

struct problem {
  tensor_view q, k, v, out;
  // Absolute position of query 0 relative to key 0: with a KV cache of Tk keys
  // and Tq new queries, q_pos0 = Tk - Tq. Query i sees keys j <= q_pos0 + i (causal).
  std::int64_t q_pos0 = 0;
  // Optional boolean mask, nonzero = may attend: [Tq, Tk] or [Hq, Tq, Tk]
  // (zero strides broadcast). Combined with causal/window (both must allow).
  tensor_view mask;
  // Optional additive mask/bias added to the scaled scores (may hold -inf): [Tq, Tk] or [Hq, Tq, Tk].
  tensor_view mask_add;
};

// Sink statistics, computed inside the kernels (no materialized matrix).
//   column_sums [Hq, Tk]: sum over queries of the probability on key j (f32; overwritten).
//   null_mass   [Hq]    : sum over queries of the probability on "nothing" (see variant.hpp).
// Either may be empty. For sigmoid / clipped softmax the "probabilities" are the
// weights actually applied to V.
struct stats {
  tensor_view column_sums;
  tensor_view null_mass;
};

struct shape_info {
  std::int64_t hq = 0, hkv = 0, tq = 0, tk = 0, d = 0, dv = 0;
  std::int64_t group() const noexcept { return hkv ? hq / hkv : 0; }
};

// A view counts as given when it has a shape (a default view has rank 0).
inline bool is_set(const tensor_view& t) noexcept { return t.rank() > 0; }

namespace detail {

inline void check_param(const tensor_view& t, const char* what, std::int64_t hq, std::int64_t hkv,
                        std::int64_t inner, bool per_token) {
  if (!is_set(t)) throw_error("attention", "this variant needs config.", what, " (it is not set)");
  if (!is_floating(t.type())) throw_error(t.where(), "config.", what, " must be floating point");
  const int want = per_token ? 2 : (inner > 0 ? 2 : 1);
  if (t.rank() != want) throw_error(t.where(), "config.", what, " has shape ", t.shape().str(), ", rank ", want, " expected");
  const std::int64_t h = t.dim(0);
  if (per_token) {
    if (h != hq || t.dim(1) != inner)
      throw_error(t.where(), "config.", what, " has shape ", t.shape().str(), ", expected [", hq, ", ", inner, "]");
    return;
  }
  if (h != hq && h != hkv)
    throw_error(t.where(), "config.", what, " has shape ", t.shape().str(), ": first axis must be Hq=", hq, " or Hkv=", hkv);
  if (inner > 0 && t.dim(1) != inner)
    throw_error(t.where(), "config.", what, " has shape ", t.shape().str(), ", last axis must be ", inner);
}

inline void check_mask(const tensor_view& m, const shape_info& s, const char* what) {
  if (!is_set(m)) return;
  if (m.rank() == 2) {
    if (m.dim(0) != s.tq || m.dim(1) != s.tk)
      throw_error(m.where(), what, " has shape ", m.shape().str(), ", expected [", s.tq, ", ", s.tk, "]");
  } else if (m.rank() == 3) {
    if (m.dim(0) != s.hq || m.dim(1) != s.tq || m.dim(2) != s.tk)
      throw_error(m.where(), what, " has shape ", m.shape().str(), ", expected [", s.hq, ", ", s.tq, ", ", s.tk, "]");
  } else {
    throw_error(m.where(), what, " has shape ", m.shape().str(), ", expected [Tq, Tk] or [Hq, Tq, Tk]");
  }
}

}  // namespace detail

// Checks every shape, dtype and parameter the variant needs; returns the sizes.
inline shape_info validate(const problem& p, const config& c, const stats& st = {}) {
  p.q.expect_rank(3, "q [Hq, Tq, d]");
  p.k.expect_rank(3, "k [Hkv, Tk, d]");
  p.v.expect_rank(3, "v [Hkv, Tk, dv]");
  p.out.expect_rank(3, "out [Hq, Tq, dv]");
  shape_info s{p.q.dim(0), p.k.dim(0), p.q.dim(1), p.k.dim(1), p.q.dim(2), p.v.dim(2)};
  for (const tensor_view* t : {&p.q, &p.k, &p.v, &p.out})
    if (!is_floating(t->type())) throw_error(t->where(), "attention needs floating-point tensors, got ", dtype_name(t->type()));
  if (s.hkv <= 0 || s.hq % s.hkv != 0)
    throw_error("attention", "q has ", s.hq, " heads, k has ", s.hkv, ": Hq must be a positive multiple of Hkv");
  if (p.k.dim(2) != s.d) throw_error(p.k.where(), "k has shape ", p.k.shape().str(), ", head dim ", s.d, " expected (from q)");
  if (p.v.dim(0) != s.hkv || p.v.dim(1) != s.tk)
    throw_error(p.v.where(), "v has shape ", p.v.shape().str(), ", expected [", s.hkv, ", ", s.tk, ", dv]");
  if (p.out.dim(0) != s.hq || p.out.dim(1) != s.tq || p.out.dim(2) != s.dv)
    throw_error(p.out.where(), "out has shape ", p.out.shape().str(), ", expected [", s.hq, ", ", s.tq, ", ", s.dv, "]");
  p.out.require_writable();
  if (s.d <= 0 || s.dv <= 0) throw_error("attention", "head dims must be positive (d=", s.d, ", dv=", s.dv, ")");
  if (c.window < 0) throw_error("attention", "config.window must be >= 0, got ", c.window);
  detail::check_mask(p.mask, s, "mask");
  detail::check_mask(p.mask_add, s, "mask_add");
  if (is_set(p.mask_add) && !is_floating(p.mask_add.type()))
    throw_error(p.mask_add.where(), "mask_add must be floating point");
  switch (c.variant) {
    case variant::kv_bias:
    case variant::value_bias_context:
      detail::check_param(c.extra_key, "extra_key", s.hq, s.hkv, s.d, false);
      detail::check_param(c.extra_value, "extra_value", s.hq, s.hkv, s.dv, false);
      break;
    case variant::sink_logit: detail::check_param(c.sink_logit, "sink_logit", s.hq, s.hq, 0, false); break;
    case variant::value_bias_fixed: detail::check_param(c.value_bias, "value_bias", s.hq, s.hkv, s.dv, false); break;
    case variant::scaling_factor: detail::check_param(c.scaling_factor, "scaling_factor", s.hq, s.hkv, s.tq, true); break;
    case variant::gated: detail::check_param(c.gate_logit, "gate_logit", s.hq, s.hkv, s.tq, true); break;
    case variant::clipped_softmax:
      if (!(c.clip_zeta >= 1.0f) || !(c.clip_gamma <= 0.0f))
        throw_error("attention", "clipped softmax needs zeta >= 1 and gamma <= 0, got zeta=", c.clip_zeta,
                    " gamma=", c.clip_gamma);
      break;
    default: break;
  }
  if (c.variant == variant::sink_logit && c.sink_logit.dim(0) != s.hq)
    throw_error(c.sink_logit.where(), "sink_logit has shape ", c.sink_logit.shape().str(), ", expected [", s.hq, "]");
  if (is_set(st.column_sums)) {
    st.column_sums.expect_rank(2, "column_sums [Hq, Tk]");
    if (st.column_sums.dim(0) != s.hq || st.column_sums.dim(1) != s.tk)
      throw_error(st.column_sums.where(), "column_sums has shape ", st.column_sums.shape().str(), ", expected [", s.hq,
                  ", ", s.tk, "]");
    st.column_sums.require_writable();
  }
  if (is_set(st.null_mass)) {
    st.null_mass.expect_rank(1, "null_mass [Hq]");
    if (st.null_mass.dim(0) != s.hq)
      throw_error(st.null_mass.where(), "null_mass has shape ", st.null_mass.shape().str(), ", expected [", s.hq, "]");
    st.null_mass.require_writable();
  }
  return s;
}

// Keys [lo, hi) that causal masking and the sliding window leave visible to
// query i (before any explicit mask). Empty when lo >= hi.
struct key_range {
  std::int64_t lo = 0, hi = 0;
};
inline key_range visible_keys(std::int64_t i, std::int64_t q_pos0, std::int64_t tk, bool causal,
                              std::int64_t window) noexcept {
  const std::int64_t pos = q_pos0 + i;
  std::int64_t lo = 0, hi = tk;
  if (causal) hi = std::min(hi, pos + 1);
  if (window > 0) {
    lo = std::max<std::int64_t>(lo, pos - window + 1);
    if (!causal) hi = std::min(hi, pos + window);
  }
  if (hi < lo) hi = lo;
  lo = std::min(lo, tk);
  hi = std::max(std::min(hi, tk), lo);
  return {lo, hi};
}

// Row of a head-indexed parameter: per query head or per kv head.
inline std::int64_t param_head(const tensor_view& t, std::int64_t h, const shape_info& s) noexcept {
  return t.shape()[0] == s.hq ? h : h / s.group();
}

// The part of a problem that computes query heads [h0, h1): q, out, per-head
// masks, parameters and statistics narrowed to those heads, k and v to the KV
// heads they read. [h0, h1) must be whole GQA groups or lie inside one group.
// Any backend run on the part writes exactly what it writes for those heads
// in the whole problem, so parts can run on different threads.
struct problem_part {
  problem p;
  config c;
  stats st;
};
inline problem_part head_part(const problem& p, const config& c, const stats& st, const shape_info& s, std::int64_t h0,
                              std::int64_t h1) {
  const std::int64_t G = s.group();
  const bool whole_groups = h0 % G == 0 && h1 % G == 0, one_group = h1 > h0 && h0 / G == (h1 - 1) / G;
  if (h0 < 0 || h1 > s.hq || h1 <= h0 || !(whole_groups || one_group))
    throw_error("attention", "head range [", h0, ", ", h1, ") of ", s.hq, " query heads in groups of ", G,
                " is not whole groups or inside one group");
  const std::int64_t g0 = h0 / G, g1 = (h1 - 1) / G + 1;
  // A head-indexed tensor narrowed to the part (by query or KV heads); others
  // (2-D masks, parameters of other variants) as they are.
  auto narrow = [&](const tensor_view& t, int rank) {
    if (!is_set(t) || t.rank() != rank) return t;
    if (t.dim(0) == s.hq) return t.slice(0, h0, h1);
    if (t.dim(0) == s.hkv) return t.slice(0, g0, g1);
    return t;
  };
  problem_part r{p, c, st};
  r.p.q = p.q.slice(0, h0, h1), r.p.out = p.out.slice(0, h0, h1);
  r.p.k = p.k.slice(0, g0, g1), r.p.v = p.v.slice(0, g0, g1);
  r.p.mask = narrow(p.mask, 3), r.p.mask_add = narrow(p.mask_add, 3);
  for (tensor_view* t : {&r.c.extra_key, &r.c.extra_value, &r.c.value_bias, &r.c.scaling_factor, &r.c.gate_logit})
    *t = narrow(*t, 2);
  r.c.sink_logit = narrow(c.sink_logit, 1);
  r.st.column_sums = narrow(st.column_sums, 2), r.st.null_mass = narrow(st.null_mass, 1);
  return r;
}

}  // namespace sysout::attention

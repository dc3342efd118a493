// The scalar reference: plain two-pass attention for every variant, written to
// be read against the formulas in variant.hpp. The ground truth of all tests.
// Inputs of any float dtype and any strides; accumulation in Acc (double by
// default, float to mimic fp32 kernels).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "sysout/attention/problem.hpp"
#include "sysout/attention/variant.hpp"
#include "sysout/core/tensor.hpp"

namespace sysout::attention {

// Computes p.out for the variant in c. When `probs` is set ([Hq, Tq, Tk], any
// float dtype) it receives every probability (the weights applied to V).
template <class Acc = double>
void attend_reference(const problem& p, const config& c, const stats& st = {}, const tensor_view& probs = {}) {
  const shape_info s = validate(p, c, st);
  if (is_set(probs)) {
    probs.expect_rank(3, "probs [Hq, Tq, Tk]");
    if (probs.dim(0) != s.hq || probs.dim(1) != s.tq || probs.dim(2) != s.tk)
      throw_error(probs.where(), "probs has shape ", probs.shape().str(), ", expected [", s.hq, ", ", s.tq, ", ", s.tk, "]");
    probs.require_writable();
  }
  // Dense copies in Acc: exact for every input dtype when Acc is double.
  const auto q = tensor<Acc>::from(p.q), k = tensor<Acc>::from(p.k), v = tensor<Acc>::from(p.v);
  const Acc scale = Acc(resolved_scale(c, s.d));
  const Acc sig_bias = Acc(resolved_sigmoid_bias(c, s.tk));
  const Acc ninf = -std::numeric_limits<Acc>::infinity();
  const variant var = c.variant;

  auto mask_at = [&](const tensor_view& m, std::int64_t h, std::int64_t i, std::int64_t j) {
    return m.rank() == 3 ? m.get(h, i, j) : m.get(i, j);
  };
  std::vector<Acc> score(std::size_t(s.tk)), prob(std::size_t(s.tk)), o(std::size_t(s.dv));
  std::vector<char> vis(std::size_t(s.tk));
  std::vector<Acc> colsum(std::size_t(s.tk));
  for (std::int64_t h = 0; h < s.hq; ++h) {
    const std::int64_t g = h / s.group();
    Acc null_total = 0;
    std::fill(colsum.begin(), colsum.end(), Acc(0));
    for (std::int64_t i = 0; i < s.tq; ++i) {
      // Pass 1: scores of the visible keys.
      const key_range kr = visible_keys(i, p.q_pos0, s.tk, c.causal, c.window);
      for (std::int64_t j = 0; j < s.tk; ++j) {
        bool ok = j >= kr.lo && j < kr.hi;
        if (ok && is_set(p.mask)) ok = mask_at(p.mask, h, i, j) != 0.0;
        Acc sc = 0;
        if (ok) {
          for (std::int64_t e = 0; e < s.d; ++e) sc += q(h, i, e) * k(g, j, e);
          sc *= scale;
          if (is_set(p.mask_add)) sc += Acc(mask_at(p.mask_add, h, i, j));
          if (sc == ninf) ok = false;  // an additive -inf masks the key
        }
        vis[std::size_t(j)] = ok;
        score[std::size_t(j)] = ok ? sc : ninf;
      }
      // The extra logit of the variants that can attend to nothing.
      Acc s0 = 0;  // scale * q . k'
      if (var == variant::kv_bias || var == variant::value_bias_context) {
        const std::int64_t hk = param_head(c.extra_key, h, s);
        for (std::int64_t e = 0; e < s.d; ++e) s0 += q(h, i, e) * Acc(c.extra_key.get(hk, e));
        s0 *= scale;
      }
      bool has_extra = false;
      Acc extra = ninf;
      if (var == variant::softmax1) has_extra = true, extra = 0;
      if (var == variant::kv_bias) has_extra = true, extra = s0;
      if (var == variant::sink_logit) has_extra = true, extra = Acc(c.sink_logit.get(h));

      // Pass 2: probabilities.
      Acc null_p = 0;
      if (var == variant::sigmoid) {
        for (std::int64_t j = 0; j < s.tk; ++j)
          prob[std::size_t(j)] = vis[std::size_t(j)] ? Acc(1) / (Acc(1) + std::exp(-(score[std::size_t(j)] + sig_bias))) : 0;
      } else {
        Acc m = has_extra ? extra : ninf;
        for (std::int64_t j = 0; j < s.tk; ++j) m = std::max(m, score[std::size_t(j)]);
        Acc den = 0;
        if (m != ninf) {
          for (std::int64_t j = 0; j < s.tk; ++j)
            if (vis[std::size_t(j)]) den += std::exp(score[std::size_t(j)] - m);
          if (has_extra) den += std::exp(extra - m);
        }
        for (std::int64_t j = 0; j < s.tk; ++j)
          prob[std::size_t(j)] = (vis[std::size_t(j)] && den > 0) ? std::exp(score[std::size_t(j)] - m) / den : 0;
        if (has_extra && den > 0) null_p = std::exp(extra - m) / den;
        if (var == variant::value_bias_context) {
          // w = exp(s0) / (exp(s0) + sum_j exp(s_j)), with the real-key sum of the plain softmax.
          const Acc mm = std::max(m, s0);
          Acc sum = 0;
          for (std::int64_t j = 0; j < s.tk; ++j)
            if (vis[std::size_t(j)]) sum += std::exp(score[std::size_t(j)] - mm);
          null_p = std::exp(s0 - mm) / (std::exp(s0 - mm) + sum);
        }
        if (var == variant::clipped_softmax)
          for (std::int64_t j = 0; j < s.tk; ++j)
            if (vis[std::size_t(j)])
              prob[std::size_t(j)] = std::clamp((Acc(c.clip_zeta) - Acc(c.clip_gamma)) * prob[std::size_t(j)] + Acc(c.clip_gamma),
                                                Acc(0), Acc(1));
      }

      // Output row.
      std::fill(o.begin(), o.end(), Acc(0));
      for (std::int64_t j = 0; j < s.tk; ++j) {
        const Acc pj = prob[std::size_t(j)];
        if (pj == 0) continue;
        for (std::int64_t e = 0; e < s.dv; ++e) o[std::size_t(e)] += pj * v(g, j, e);
      }
      if (var == variant::kv_bias || var == variant::value_bias_context) {
        const std::int64_t hv = param_head(c.extra_value, h, s);
        for (std::int64_t e = 0; e < s.dv; ++e) o[std::size_t(e)] += null_p * Acc(c.extra_value.get(hv, e));
      }
      if (var == variant::value_bias_fixed) {
        const std::int64_t hv = param_head(c.value_bias, h, s);
        for (std::int64_t e = 0; e < s.dv; ++e) o[std::size_t(e)] += Acc(c.value_bias.get(hv, e));
      }
      Acc f = 1;
      if (var == variant::scaling_factor) f = Acc(c.scaling_factor.get(h, i));
      if (var == variant::gated) f = Acc(1) / (Acc(1) + std::exp(-Acc(c.gate_logit.get(h, i))));
      for (std::int64_t e = 0; e < s.dv; ++e) p.out.set(double(f * o[std::size_t(e)]), h, i, e);

      for (std::int64_t j = 0; j < s.tk; ++j) colsum[std::size_t(j)] += prob[std::size_t(j)];
      if (is_set(probs))
        for (std::int64_t j = 0; j < s.tk; ++j) probs.set(double(prob[std::size_t(j)]), h, i, j);
      null_total += null_p;
    }
    if (is_set(st.null_mass)) st.null_mass.set(double(null_total), h);
    if (is_set(st.column_sums))
      for (std::int64_t j = 0; j < s.tk; ++j) st.column_sums.set(double(colsum[std::size_t(j)]), h, j);
  }
}

}  // namespace sysout::attention

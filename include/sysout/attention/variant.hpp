// Attention variants that give a head an explicit way to "attend to nothing",
// the remedies for attention sinks / systematic outliers, and their parameters.
//
// Notation (one query row i of head h, kv-head g = h / (Hq/Hkv)):
//   s_ij = scale * q_i . k_j            for every key j visible to i (mask, causal, window)
//   o_i  = output row, v_j value rows, sigma(x) = 1/(1+exp(-x))
//
//   softmax            o_i = sum_j p_ij v_j,  p_ij = exp(s_ij) / sum_j' exp(s_ij')
//   softmax1           off-by-one softmax (Miller 2023; An et al. ICLR 2025 table 2 (d)):
//                      p_ij = exp(s_ij) / (1 + sum_j' exp(s_ij')); the "1" is a zero logit with zero value
//   kv_bias            (An et al. table 2 (a); Sun et al. 2024 "Massive activations"): a learned key k'
//                      and value v' per head, always visible: softmax over [k'; K], values [v'; V]:
//                      o_i = p_i0 v' + sum_j p_ij v_j,  s_i0 = scale * q_i . k'
//   sink_logit         gpt-oss learned sinks: a learned logit b_h per q-head in the denominator only,
//                      NOT multiplied by scale: p_ij = exp(s_ij) / (exp(b_h) + sum_j' exp(s_ij'))
//   value_bias_fixed   (table 2 (b)): o_i = softmax(s_i) V + v'_h
//   value_bias_context (table 2 (c); the authors' code adds a second attention over [k'; K] with
//                      values [v'; 0]): o_i = softmax(s_i) V + w_i v',
//                      w_i = exp(s_i0) / (exp(s_i0) + sum_j exp(s_ij)),  s_i0 = scale * q_i . k'
//   scaling_factor     (table 2 (e), context-aware scaling factor): o_i = f_hi * softmax(s_i) V with
//                      f_hi = 2 sigma(Linear(LayerNorm(x_i)))_h, given precomputed as a [Hq, Tq] view
//                      (see attention/scaling.hpp to compute it from x and the Linear/LayerNorm weights)
//   sigmoid            sigmoid attention (Ramapuram et al. 2024): p_ij = sigma(s_ij + b), no normalizer;
//                      b defaults to -log(Tk) (their "-log n" bias)
//   clipped_softmax    (Bondarenko et al. 2023): p_ij = clip((zeta - gamma) softmax(s_i)_j + gamma, 0, 1)
//                      over visible keys (invisible keys get 0 even when gamma > 0)
//   gated              gated attention (Bondarenko et al. 2023): o_i = sigma(g_hi) softmax(s_i) V with
//                      gate logits g given as a [Hq, Tq] view (g = Linear(x) per head in the paper)
//
// "Null mass" (the mass a head puts on nothing, summed over its queries) per variant:
//   softmax1: 1/(1+sum) (the zero logit); kv_bias: p_i0; sink_logit: exp(b)/(...);
//   value_bias_context: w_i; every other variant: 0.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

#include "sysout/core/tensor_view.hpp"

namespace sysout::attention {

enum class variant : std::uint8_t {
  softmax,
  softmax1,
  kv_bias,
  sink_logit,
  value_bias_fixed,
  value_bias_context,
  scaling_factor,
  sigmoid,
  clipped_softmax,
  gated,
};

inline constexpr variant all_variants[] = {
    variant::softmax,          variant::softmax1,           variant::kv_bias,        variant::sink_logit,
    variant::value_bias_fixed, variant::value_bias_context, variant::scaling_factor, variant::sigmoid,
    variant::clipped_softmax,  variant::gated};

constexpr std::string_view variant_name(variant v) noexcept {
  switch (v) {
    case variant::softmax: return "softmax";
    case variant::softmax1: return "softmax1";
    case variant::kv_bias: return "kv_bias";
    case variant::sink_logit: return "sink_logit";
    case variant::value_bias_fixed: return "value_bias_fixed";
    case variant::value_bias_context: return "value_bias_context";
    case variant::scaling_factor: return "scaling_factor";
    case variant::sigmoid: return "sigmoid";
    case variant::clipped_softmax: return "clipped_softmax";
    case variant::gated: return "gated";
  }
  return "?";
}

// Variants whose probabilities are a (possibly extended) softmax and that the
// fast backends compute with one online-softmax pass.
constexpr bool is_online_softmax(variant v) noexcept { return v != variant::sigmoid && v != variant::clipped_softmax; }

// Parameters of one attention call. Views hold parameters in any float dtype
// for the CPU backends; the CUDA backend wants f32 views of device memory.
// A head-indexed parameter may have Hq rows (one per query head) or Hkv rows
// (shared by the query heads of a group, like K and V under GQA).
struct config {
  attention::variant variant = variant::softmax;
  // Multiplies q.k; NaN means 1/sqrt(d).
  float scale = std::numeric_limits<float>::quiet_NaN();
  // Query i (absolute position q_pos0 + i) sees keys j <= q_pos0 + i.
  bool causal = true;
  // Sliding window (Gemma 3 local layers: 512): query at position p sees keys
  // p - window < j (and j < p + window when not causal). 0 = no window.
  std::int64_t window = 0;

  // kv_bias and value_bias_context: extra key k' [H, d] and value v' [H, dv].
  tensor_view extra_key;
  tensor_view extra_value;
  // sink_logit: one logit per query head [Hq] (not scaled by `scale`).
  tensor_view sink_logit;
  // value_bias_fixed: v' [H, dv] added to every output row.
  tensor_view value_bias;
  // scaling_factor: f [Hq, Tq], already 2*sigmoid(...) (attention/scaling.hpp computes it).
  tensor_view scaling_factor;
  // sigmoid: bias b added to every score; NaN means -log(Tk).
  float sigmoid_bias = std::numeric_limits<float>::quiet_NaN();
  // clipped_softmax: stretch to [gamma, zeta] then clip to [0, 1]; Bondarenko
  // et al. use zeta = 1 and gamma = -alpha/T with small alpha; -0.03 ~ alpha 4 at T 128.
  float clip_zeta = 1.0f;
  float clip_gamma = -0.03f;
  // gated: gate logits g [Hq, Tq]; output row scaled by sigmoid(g).
  tensor_view gate_logit;
};

// The scale actually used for head dimension d.
inline float resolved_scale(const config& c, std::int64_t d) noexcept {
  return std::isnan(c.scale) ? float(1.0 / std::sqrt(double(d))) : c.scale;
}
inline float resolved_sigmoid_bias(const config& c, std::int64_t tk) noexcept {
  return std::isnan(c.sigmoid_bias) ? float(-std::log(double(tk > 0 ? tk : 1))) : c.sigmoid_bias;
}

}  // namespace sysout::attention

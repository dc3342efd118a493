// The forward pass, top to bottom: embed -> layers (attention block, MLP
// block) -> final norm -> logits, for LLaMA, Gemma 3 and GPT-2. One function
// per stage; hook sites are fired where the tensors are made (trace/sites.hpp).
//
// A `session` holds one sequence: its KV cache, activation buffers and hooks.
// forward(tokens) runs T tokens at positions n_past .. n_past+T-1 in one batch
// (prompt processing) or one token (generation) and appends them to the cache.
//
// Shapes: T tokens in this call, Tk = n_past + T keys, D dim, Hq/Hkv heads,
// d head_dim, F ffn dim, V vocab.
//
// Attention goes through ONE function, session::attend(): q [T, Hq*d] against
// the cache [Hkv, Tk, d]. By default it is the plain softmax below (with
// attn_scores / attn_probs hooks on the materialised [Hq, T, Tk] matrix); set
// session::attention to an attention::config to run any variant of the
// attention area (softmax1, sink logits, KV bias, ...) through its kernels.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "sysout/core/error.hpp"
#include "sysout/core/tensor_view.hpp"
#include "sysout/model/config.hpp"
#include "sysout/model/kv_cache.hpp"
#include "sysout/model/matmul.hpp"
#include "sysout/model/thread_pool.hpp"
#include "sysout/model/weights.hpp"
#include "sysout/trace/hooks.hpp"
#include "sysout/attention/reference.hpp"
#if SYSOUT_MODEL_HAVE_HIGHWAY
#include "sysout/attention/highway.hpp"
#include "sysout/model/elementwise_highway.hpp"
#endif

namespace sysout::model {

// ---------------------------------------------------------------- elementwise stages

// out = w * x / sqrt(mean(x^2) + eps)   (llama2.c rmsnorm, in float like llama.cpp)
inline void rms_norm(const float* x, const float* w, float eps, float* out, int n) noexcept {
  float ss = 0.0f;
  for (int i = 0; i < n; ++i) ss += x[i] * x[i];
  const float scale = 1.0f / std::sqrt(ss / float(n) + eps);
  for (int i = 0; i < n; ++i) out[i] = w[i] * (scale * x[i]);
}

// out = (x - mean) / sqrt(var + eps) * w + b   (GPT-2 LayerNorm)
inline void layer_norm(const float* x, const float* w, const float* b, float eps, float* out, int n) noexcept {
  float mean = 0.0f;
  for (int i = 0; i < n; ++i) mean += x[i];
  mean /= float(n);
  float var = 0.0f;
  for (int i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= float(n);
  const float scale = 1.0f / std::sqrt(var + eps);
  for (int i = 0; i < n; ++i) out[i] = (x[i] - mean) * scale * w[i] + (b ? b[i] : 0.0f);
}

inline void apply_norm(const config& c, const norm_weights& nw, const float* x, float* out, int T, int n) {
  for (int t = 0; t < T; ++t) {
    if (c.norm == norm_kind::rms)
      rms_norm(x + std::size_t(t) * n, nw.w.data(), c.norm_eps, out + std::size_t(t) * n, n);
    else
      layer_norm(x + std::size_t(t) * n, nw.w.data(), nw.b.empty() ? nullptr : nw.b.data(), c.norm_eps,
                 out + std::size_t(t) * n, n);
  }
}

inline float silu(float x) noexcept { return x / (1.0f + std::exp(-x)); }
// GELU, tanh approximation (Gemma's gelu_pytorch_tanh, GPT-2's gelu_new, ggml_gelu).
inline float gelu_tanh(float x) noexcept {
  constexpr float k = 0.7978845608028654f;  // sqrt(2/pi)
  return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
}

inline void add_bias(float* y, const std::vector<float>& b, int T, int n) noexcept {
  if (b.empty()) return;
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < n; ++i) y[std::size_t(t) * n + i] += b[std::size_t(i)];
}

// cos/sin of position pos for pair i of a head of d dims: theta = pos * base^(-2i/d).
// Computed in double and rounded once, so it agrees with both llama2.c's and
// llama.cpp's float recurrences to ~1e-7 relative.
struct rope_table {
  std::vector<float> cos, sin;  // [T, d/2]
  void build(int pos0, int T, int d, float base) {
    cos.resize(std::size_t(T) * std::size_t(d / 2));
    sin.resize(cos.size());
    for (int t = 0; t < T; ++t)
      for (int i = 0; i < d / 2; ++i) {
        const double theta = double(pos0 + t) * std::pow(double(base), -2.0 * i / double(d));
        cos[std::size_t(t) * std::size_t(d / 2) + std::size_t(i)] = float(std::cos(theta));
        sin[std::size_t(t) * std::size_t(d / 2) + std::size_t(i)] = float(std::sin(theta));
      }
  }
};

// Rotates x [T, H*d] in place.
inline void apply_rope(float* x, int T, int H, int d, const rope_table& rt, rope_style style) noexcept {
  if (style == rope_style::none) return;
  const int half = d / 2;
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < H; ++h) {
      float* v = x + (std::size_t(t) * H + h) * std::size_t(d);
      const float* c = rt.cos.data() + std::size_t(t) * half;
      const float* s = rt.sin.data() + std::size_t(t) * half;
      for (int i = 0; i < half; ++i) {
        const int a = style == rope_style::interleaved ? 2 * i : i;
        const int b = style == rope_style::interleaved ? 2 * i + 1 : i + half;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * c[i] - x1 * s[i];
        v[b] = x0 * s[i] + x1 * c[i];
      }
    }
}

// out = act(g) * u for the gated MLPs (u == nullptr: act(g) alone).
inline void gate_mul(mlp_kind k, const float* g, const float* u, float* out, std::size_t n) {
#if SYSOUT_MODEL_HAVE_HIGHWAY
  if (k == mlp_kind::swiglu) return hwy_kernels::silu_mul(g, u, out, std::int64_t(n));
  return hwy_kernels::gelu_tanh_mul(g, u, out, std::int64_t(n));
#else
  for (std::size_t i = 0; i < n; ++i) {
    const float a = k == mlp_kind::swiglu ? silu(g[i]) : gelu_tanh(g[i]);
    out[i] = u ? a * u[i] : a;
  }
#endif
}

// s[j] = exp(s[j] - mx), -inf -> 0; returns the sum.
inline float exp_shift_sum(float* s, int n, float mx) {
#if SYSOUT_MODEL_HAVE_HIGHWAY
  return hwy_kernels::exp_shift_sum(s, n, mx);
#else
  float sum = 0.0f;
  for (int j = 0; j < n; ++j) sum += (s[j] = std::exp(s[j] - mx));
  return sum;
#endif
}

inline float dot_f32(const float* a, const float* b, int n) noexcept {
#if SYSOUT_MODEL_HAVE_HIGHWAY
  return hwy_kernels::dot_f32(a, b, n);
#else
  float s = 0.0f;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
#endif
}

// ---------------------------------------------------------------- session

class session {
 public:
  // capacity: maximum positions (KV cache size); 0 means the model's max_seq_len
  // (or 4096 when the file gives none / a larger one).
  explicit session(const transformer& m, int capacity = 0, int n_threads = 1)
      : m_(&m), pool_(n_threads) {
    const config& c = m.cfg;
    if (capacity <= 0) capacity = c.max_seq_len > 0 ? std::min(c.max_seq_len, 4096) : 4096;
    if (c.architecture == arch::gpt2 && capacity > c.max_seq_len)
      throw_error(m.source, "capacity ", capacity, " exceeds GPT-2's ", c.max_seq_len, " learned positions");
    cache_ = kv_cache(c, capacity);
  }

  trace::hook_registry hooks;
  kernel_set kernels = kernel_set::fast;
  // When set, attention runs through the attention area's kernels with this
  // variant and its parameters (scale, causal and window are filled in per layer
  // from the model). attn_scores then does not fire; attn_probs fires (read-only
  // in effect: the output is already computed) when a hook asks for it.
  std::optional<attention::config> attention;

  const transformer& model() const noexcept { return *m_; }
  const config& cfg() const noexcept { return m_->cfg; }
  kv_cache& cache() noexcept { return cache_; }
  int n_past() const noexcept { return cache_.n_past; }
  int capacity() const noexcept { return cache_.capacity; }
  int n_threads() const noexcept { return pool_.size(); }
  void reset() noexcept { cache_.clear(); }

  // Runs tokens at positions n_past().. and returns the logits: [T, V] when
  // all_logits, else [1, V] for the last token. The view stays valid until the
  // next call.
  tensor_view forward(std::span<const int> tokens, bool all_logits = false) {
    const config& c = cfg();
    const int T = int(tokens.size());
    if (T == 0) throw_error(m_->source, "forward: no tokens");
    const int pos0 = cache_.n_past;
    if (pos0 + T > cache_.capacity)
      throw_error(m_->source, "forward: ", pos0, " + ", T, " positions exceed the KV cache capacity ",
                  cache_.capacity);
    for (int t = 0; t < T; ++t)
      if (tokens[std::size_t(t)] < 0 || tokens[std::size_t(t)] >= c.vocab_size)
        throw_error(m_->source, "forward: token id ", tokens[std::size_t(t)], " at index ", t,
                    " is outside the vocabulary [0, ", c.vocab_size, ")");
    resize(T, pos0 + T);

    embed(tokens, pos0);
    for (int l = 0; l < c.n_layers; ++l) {
      attention_block(l, T, pos0);
      mlp_block(l, T, pos0);
    }
    cache_.n_past = pos0 + T;
    return output(T, pos0, all_logits);
  }

 private:
  // ---- embed: x[T, D] = token_embd[tokens] (* embed_scale) (+ pos_embd[pos])
  void embed(std::span<const int> tokens, int pos0) {
    const config& c = cfg();
    const int T = int(tokens.size()), D = c.dim;
    for (int t = 0; t < T; ++t) {
      float* row = x_.data() + std::size_t(t) * D;
      dequantize_matrix_row(m_->w.token_embd, tokens[std::size_t(t)], row);
      if (c.embed_scale != 1.0f)
        for (int i = 0; i < D; ++i) row[i] *= c.embed_scale;
      if (!m_->w.pos_embd.empty()) {
        dequantize_matrix_row(m_->w.pos_embd, pos0 + t, tmp_.data());
        for (int i = 0; i < D; ++i) row[i] += tmp_[std::size_t(i)];
      }
    }
    fire(trace::site::embed, -1, pos0, x_.data(), {T, D});
  }

  // ---- attention block: x += attn(norm(x))
  void attention_block(int l, int T, int pos0) {
    const config& c = cfg();
    const layer_weights& lw = m_->w.layers[std::size_t(l)];
    const int D = c.dim, Hq = c.n_heads, Hkv = c.n_kv_heads, d = c.head_dim;

    apply_norm(c, lw.attn_norm, x_.data(), xb_.data(), T, D);                 // xb [T, D]
    fire(trace::site::attn_norm_out, l, pos0, xb_.data(), {T, D});

    mm_group({{&lw.wq, q_.data(), Hq * d},                                    // q [T, Hq*d]
              {&lw.wk, k_.data(), Hkv * d},                                   // k [T, Hkv*d]
              {&lw.wv, v_.data(), Hkv * d}},                                  // v [T, Hkv*d]
             xb_.data(), T, D);
    add_bias(q_.data(), lw.bq, T, Hq * d);
    add_bias(k_.data(), lw.bk, T, Hkv * d);
    add_bias(v_.data(), lw.bv, T, Hkv * d);
    if (c.qk_norm) {  // per-head RMSNorm (Gemma 3), before RoPE
      for (int r = 0; r < T * Hq; ++r) rms_norm(q_.data() + std::size_t(r) * d, lw.q_norm.w.data(), c.norm_eps, q_.data() + std::size_t(r) * d, d);
      for (int r = 0; r < T * Hkv; ++r) rms_norm(k_.data() + std::size_t(r) * d, lw.k_norm.w.data(), c.norm_eps, k_.data() + std::size_t(r) * d, d);
    }
    fire(trace::site::q_pre_rope, l, pos0, q_.data(), {T, Hq * d});
    fire(trace::site::k_pre_rope, l, pos0, k_.data(), {T, Hkv * d});

    if (c.rope != rope_style::none) {
      const rope_table& rt = rope_for(c.rope_base(l), pos0, T);
      apply_rope(q_.data(), T, Hq, d, rt, c.rope);
      apply_rope(k_.data(), T, Hkv, d, rt, c.rope);
    }
    fire(trace::site::q, l, pos0, q_.data(), {T, Hq * d});
    fire(trace::site::k, l, pos0, k_.data(), {T, Hkv * d});
    fire(trace::site::v, l, pos0, v_.data(), {T, Hkv * d});

    store_kv(l, T, pos0);
    attend(l, T, pos0);                                                       // z [T, Hq*d]

    mm(lw.wo, z_.data(), T, Hq * d, xb2_.data(), D);                          // attn [T, D]
    add_bias(xb2_.data(), lw.bo, T, D);
    if (c.post_norms) apply_norm(c, lw.post_attn_norm, xb2_.data(), xb2_.data(), T, D);
    fire(trace::site::attn_out, l, pos0, xb2_.data(), {T, D});

    for (std::size_t i = 0; i < std::size_t(T) * D; ++i) x_[i] += xb2_[i];    // x [T, D]
    fire(trace::site::resid_mid, l, pos0, x_.data(), {T, D});
  }

  // ---- MLP block: x += mlp(norm(x))
  void mlp_block(int l, int T, int pos0) {
    const config& c = cfg();
    const layer_weights& lw = m_->w.layers[std::size_t(l)];
    const int D = c.dim, F = c.ffn_dim;

    apply_norm(c, lw.ffn_norm, x_.data(), xb_.data(), T, D);                  // xb [T, D]
    fire(trace::site::mlp_norm_out, l, pos0, xb_.data(), {T, D});

    const std::size_t n = std::size_t(T) * F;
    if (c.mlp == mlp_kind::swiglu || c.mlp == mlp_kind::geglu_tanh) {
      // act(gate) * up: silu (SwiGLU) or gelu_tanh (GeGLU)
      mm_group({{&lw.w_up, hb_.data(), F}, {&lw.w_gate, hb2_.data(), F}}, xb_.data(), T, D);  // up, gate [T, F]
      add_bias(hb_.data(), lw.b_up, T, F);
      gate_mul(c.mlp, hb2_.data(), hb_.data(), hb_.data(), n);
    } else {  // gelu_tanh(up)
      mm(lw.w_up, xb_.data(), T, D, hb_.data(), F);
      add_bias(hb_.data(), lw.b_up, T, F);
      gate_mul(c.mlp, hb_.data(), nullptr, hb_.data(), n);
    }
    fire(trace::site::down_proj_in, l, pos0, hb_.data(), {T, F});              // h [T, F]

    mm(lw.w_down, hb_.data(), T, F, xb2_.data(), D);                          // mlp [T, D]
    add_bias(xb2_.data(), lw.b_down, T, D);
    if (c.post_norms) apply_norm(c, lw.post_ffn_norm, xb2_.data(), xb2_.data(), T, D);
    fire(trace::site::mlp_out, l, pos0, xb2_.data(), {T, D});

    for (std::size_t i = 0; i < std::size_t(T) * D; ++i) x_[i] += xb2_[i];
    fire(trace::site::layer_out, l, pos0, x_.data(), {T, D});
  }

  // ---- final norm and classifier: logits [T or 1, V]
  tensor_view output(int T, int pos0, bool all_logits) {
    const config& c = cfg();
    const int D = c.dim, V = c.vocab_size;
    apply_norm(c, m_->w.output_norm, x_.data(), xb_.data(), T, D);
    fire(trace::site::final_norm_out, -1, pos0, xb_.data(), {T, D});
    // Only the rows we return are projected (the classifier is the largest matmul).
    const int rows = all_logits ? T : 1;
    const float* in = all_logits ? xb_.data() : xb_.data() + std::size_t(T - 1) * D;
    logits_.resize(std::size_t(rows) * V);
    mm(m_->w.output, in, rows, D, logits_.data(), V);
    if (c.final_logit_softcap > 0.0f)
      for (auto& z : logits_) z = c.final_logit_softcap * std::tanh(z / c.final_logit_softcap);
    fire(trace::site::logits, -1, all_logits ? pos0 : pos0 + T - 1, logits_.data(), {rows, V});
    return tensor_view(static_cast<void*>(logits_.data()), dtype::f32, extents{rows, V}, layout::row_major,
                       "logits");
  }

  // ---- KV cache: k, v rows of this call go to positions pos0..pos0+T-1
  void store_kv(int l, int T, int pos0) {
    const config& c = cfg();
    const int Hkv = c.n_kv_heads, d = c.head_dim;
    for (int h = 0; h < Hkv; ++h) {
      float* kc = cache_.k_head(l, h);
      float* vc = cache_.v_head(l, h);
      for (int t = 0; t < T; ++t) {
        std::memcpy(kc + std::size_t(pos0 + t) * d, k_.data() + (std::size_t(t) * Hkv + h) * d, std::size_t(d) * 4);
        std::memcpy(vc + std::size_t(pos0 + t) * d, v_.data() + (std::size_t(t) * Hkv + h) * d, std::size_t(d) * 4);
      }
    }
  }

  // ---- attention: z [T, Hq*d] from q [T, Hq*d] against K, V [Hkv, Tk, d] of layer l.
  // Scores and probabilities are materialised as att [Hq, T, Tk] so hooks can see
  // and edit them. This is the one place to switch attention variants: dispatch on
  // cfg().attention here and call the attention area's kernel with the same
  // q / K / V / mask (causal + sliding window) / scale inputs.
  void attend(int l, int T, int pos0) {
    if (attention) return attend_variant(l, T, pos0);
    const config& c = cfg();
    const int Hq = c.n_heads, d = c.head_dim, group = c.n_heads / c.n_kv_heads, Tk = pos0 + T;
    const float scale = c.query_scale(), cap = c.attn_logit_softcap;
    const int window = c.is_sliding(l) ? c.sliding_window : 0;
    constexpr float neg_inf = -std::numeric_limits<float>::infinity();
    float* att = att_.data();
    auto row = [&](int h, int t) { return att + (std::size_t(h) * T + t) * std::size_t(Tk); };

    // scores[h, t, j] = scale * q[t, h] . k[j, h/group], masked to -inf outside the causal (and sliding) window
    auto scores = [&](std::int64_t h) {
      const float* kh = cache_.k_head(l, int(h) / group);
      for (int t = 0; t < T; ++t) {
        const float* qt = q_.data() + (std::size_t(t) * Hq + std::size_t(h)) * d;
        float* s = row(int(h), t);
        const int qpos = pos0 + t;
        const int lo = window > 0 ? std::max(0, qpos - window + 1) : 0;
        for (int j = 0; j < Tk; ++j) {
          if (j > qpos || j < lo) {
            s[j] = neg_inf;
            continue;
          }
          float v = scale * dot_f32(qt, kh + std::size_t(j) * d, d);
          if (cap > 0.0f) v = cap * std::tanh(v / cap);
          s[j] = v;
        }
      }
    };
    auto softmax = [&](std::int64_t h) {
      for (int t = 0; t < T; ++t) {
        float* s = row(int(h), t);
        float mx = neg_inf;
        for (int j = 0; j < Tk; ++j) mx = std::max(mx, s[j]);
        const float sum = exp_shift_sum(s, Tk, mx);
        const float inv = 1.0f / sum;
        for (int j = 0; j < Tk; ++j) s[j] *= inv;
      }
    };
    // z[t, h] = sum_j p[h, t, j] v[j, h/group]
    auto mix = [&](std::int64_t h) {
      const float* vh = cache_.v_head(l, int(h) / group);
      for (int t = 0; t < T; ++t) {
        float* zt = z_.data() + (std::size_t(t) * Hq + std::size_t(h)) * d;
        const float* p = row(int(h), t);
#if SYSOUT_MODEL_HAVE_HIGHWAY
        hwy_kernels::weighted_rows_sum(p, vh, d, Tk, zt, d);
#else
        std::fill(zt, zt + d, 0.0f);
        for (int j = 0; j < Tk; ++j) {
          const float pj = p[j];
          if (pj == 0.0f) continue;
          const float* vj = vh + std::size_t(j) * d;
          for (int i = 0; i < d; ++i) zt[i] += pj * vj[i];
        }
#endif
      }
    };
    if (!hooks.active(trace::site::attn_scores, l) && !hooks.active(trace::site::attn_probs, l)) {
      // Nobody looks between the stages: one fork-join per layer instead of three.
      parallel(Hq, [&](std::int64_t h) {
        scores(h);
        softmax(h);
        mix(h);
      });
    } else {
      parallel(Hq, scores);
      fire(trace::site::attn_scores, l, pos0, att, {Hq, T, Tk});
      parallel(Hq, softmax);
      fire(trace::site::attn_probs, l, pos0, att, {Hq, T, Tk});
      parallel(Hq, mix);
    }
    fire(trace::site::attn_z, l, pos0, z_.data(), {T, Hq * d});
  }

  // ---- attention through sysout/attention (variants), same inputs and output as attend()
  void attend_variant(int l, int T, int pos0) {
    const config& c = cfg();
    const std::int64_t Hq = c.n_heads, Hkv = c.n_kv_heads, d = c.head_dim, Tk = pos0 + T, cap = cache_.capacity;
    attention::config ac = *attention;
    ac.scale = c.query_scale();
    ac.causal = true;
    ac.window = c.is_sliding(l) ? c.sliding_window : 0;
    if (c.attn_logit_softcap > 0.0f) throw_error(m_->source, "attention variants do not support logit soft-capping");
    attention::problem p;
    p.q = tensor_view(static_cast<void*>(q_.data()), dtype::f32, extents{Hq, T, d}, extents{d, Hq * d, 1}, "q");
    p.k = tensor_view(static_cast<void*>(cache_.k_head(l, 0)), dtype::f32, extents{Hkv, Tk, d}, extents{cap * d, d, 1}, "k");
    p.v = tensor_view(static_cast<void*>(cache_.v_head(l, 0)), dtype::f32, extents{Hkv, Tk, d}, extents{cap * d, d, 1}, "v");
    p.out = tensor_view(static_cast<void*>(z_.data()), dtype::f32, extents{Hq, T, d}, extents{d, Hq * d, 1}, "z");
    p.q_pos0 = pos0;
    if (hooks.active(trace::site::attn_probs, l)) {
      tensor_view probs(static_cast<void*>(att_.data()), dtype::f32, extents{Hq, T, Tk});
      attention::attend_reference<double>(p, ac, {}, probs);
      fire(trace::site::attn_probs, l, pos0, att_.data(), {int(Hq), T, int(Tk)});
    } else {
#if SYSOUT_MODEL_HAVE_HIGHWAY
      attention::attend_highway_parallel(p, ac, {}, [&](std::int64_t n, const auto& f) { pool_.parallel_for(n, f); });
#else
      attention::attend_reference<double>(p, ac);
#endif
    }
    fire(trace::site::attn_z, l, pos0, z_.data(), {T, int(Hq * d)});
  }

  // ---- helpers
  void mm(const matrix& W, const float* x, int T, int ldx, float* y, int ldy) {
    matmul(W, x, T, ldx, y, ldy, &pool_, mm_scratch_, kernels);
  }
  // Matrices sharing the input: one activation preparation and one fork-join
  // when they can (same columns and activation format), else one matmul each.
  void mm_group(std::initializer_list<matmul_out> outs, const float* x, int T, int ldx) {
    const std::span<const matmul_out> o(outs.begin(), outs.size());
    if (groupable(o, kernels)) return matmul_group(o, x, T, ldx, &pool_, mm_scratch_, kernels);
    for (const auto& e : o) matmul(*e.W, x, T, ldx, e.y, e.ldy, &pool_, mm_scratch_, kernels);
  }
  template <class F>
  void parallel(int n, const F& f) {
    pool_.parallel_for(n, f);
  }
  void fire(trace::site s, int layer, int pos0, float* data, extents shape) {
    if (!hooks.active(s, layer)) return;
    hooks.call(trace::hook_event{s, layer, pos0, tensor_view(static_cast<void*>(data), dtype::f32, shape),
                                 std::string_view(m_->cfg.name)});
  }
  const rope_table& rope_for(float base, int pos0, int T) {
    for (auto& e : rope_cache_)
      if (e.base == base && e.pos0 == pos0 && e.T == T) return e.table;
    if (rope_cache_.size() >= 2) rope_cache_.erase(rope_cache_.begin());
    rope_cache_.push_back({base, pos0, T, {}});
    rope_cache_.back().table.build(pos0, T, cfg().head_dim, base);
    return rope_cache_.back().table;
  }
  void resize(int T, int Tk) {
    const config& c = cfg();
    auto grow = [](std::vector<float>& v, std::size_t n) {
      if (v.size() < n) v.resize(n);
    };
    const std::size_t t = std::size_t(T);
    grow(x_, t * c.dim);
    grow(xb_, t * c.dim);
    grow(xb2_, t * c.dim);
    grow(tmp_, std::size_t(c.dim));
    grow(q_, t * c.q_dim());
    grow(z_, t * c.q_dim());
    grow(k_, t * c.kv_dim());
    grow(v_, t * c.kv_dim());
    grow(hb_, t * c.ffn_dim);
    grow(hb2_, t * c.ffn_dim);
    grow(att_, std::size_t(c.n_heads) * t * std::size_t(Tk));
  }

  struct rope_entry {
    float base;
    int pos0, T;
    rope_table table;
  };

  const transformer* m_;
  thread_pool pool_;
  kv_cache cache_;
  matmul_scratch mm_scratch_;
  std::vector<rope_entry> rope_cache_;
  std::vector<float> x_, xb_, xb2_, tmp_, q_, k_, v_, z_, hb_, hb2_, att_, logits_;
};

}  // namespace sysout::model

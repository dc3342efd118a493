// recorder: the tracer's memory. Every adapter (the reference transformer's
// hooks, a host passing its own tensors, llama.cpp's cb_eval) ends in one call,
//
//   rec.on_tensor(site, layer, pos0, view);
//
// and the recorder keeps, per (site, layer), bounded summaries of what it saw:
//   per-token sites [T, D]   top-k |h| with (token, dim), the massive activations
//                            (|h| > threshold_abs AND |h| > ratio x median|h| of that
//                            tensor, Sun et al. 2024), per-dim max |h| (argmax token,
//                            signed value), per-token row max |h| and L2 norm, NaN /
//                            Inf / beyond-fp16 counts, and full rows of tracked tokens
//   attn_probs [H, T, Tk]    per-head received attention per key (column sums over
//                            queries), per-head mass on key 0, row-sum range
// Full tensors are copied only for the (site, layer) pairs in config.capture.
//
// Memory is bounded whatever the input length: top-k and outlier lists have
// fixed capacity (the largest |h| are kept, the total count is exact), per-token
// and per-key arrays stop at max_tracked_tokens positions (keys beyond are
// pooled into one "rest" bucket per head), tracked rows are capped, captures
// stop at capture_max_bytes (and say they were truncated).
//
// Thread safety: on_tensor may be called from several threads at once. The
// expensive part (scanning the tensor) runs without a lock into a local
// partial summary that is then merged under the (site, layer) slot's mutex;
// slots are created under the recorder's mutex. snapshot() copies everything
// under the locks, so it may run while hooks fire.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "sysout/core/error.hpp"
#include "sysout/core/half.hpp"
#include "sysout/core/tensor_view.hpp"
#include "sysout/detect/massive_activations.hpp"
#include "sysout/trace/hooks.hpp"
#include "sysout/trace/sites.hpp"

namespace sysout::trace {

// Reference statistic of the massive-activation rule (detect/massive_activations.hpp):
// Sun et al. (2024) use the median; some follow-ups use the mean.
using detect::reference_stat;

// Built by a function rather than a braced default member initializer, which
// g++ 12 -O2 reports as "may be used uninitialized" (a false positive).
inline std::vector<site> default_row_sites() {
  std::vector<site> v;
  for (site s : {site::embed, site::attn_out, site::resid_mid, site::mlp_out, site::layer_out, site::down_proj_in})
    v.push_back(s);
  return v;
}

struct recorder_config {
  // Sites that get summaries. Empty = the sites the papers' analyses read:
  // the residual stream (embed, resid_mid, layer_out), the two components that
  // write into it (attn_out, mlp_out), the MLP's down_proj input, the attention
  // probabilities and the values (sinks' value norms). Use all_summary_sites()
  // for every site except attn_scores (a duplicate of probs) and logits.
  std::vector<site> sites;
  int top_k = 8;                        // per (site, layer) top |h| entries kept
  double threshold_abs = 100.0;         // massive: |h| > threshold_abs ...
  double ratio = 1000.0;                // ... and |h| > ratio x reference statistic
  reference_stat reference = reference_stat::median;
  std::size_t max_outliers = 512;       // massive entries kept per (site, layer), largest first
  std::int64_t max_tracked_tokens = 4096;  // per-token / per-key arrays cover positions below this
  // Full rows (all features, signed) are kept for positions < track_first_tokens
  // and for up to max_dynamic_rows positions that carried a massive activation
  // at a residual-stream site of an earlier layer, at these sites:
  std::vector<site> row_sites = default_row_sites();
  std::int64_t track_first_tokens = 64;
  std::size_t max_dynamic_rows = 64;
  // Full copies (f32) of these (site, layer) tensors; layer any_layer = every layer.
  std::vector<std::pair<site, int>> capture;
  std::int64_t capture_max_bytes = std::int64_t(512) << 20;
};

// Every site a recorder can summarize usefully (for recorder_config::sites).
inline std::vector<site> all_summary_sites() {
  std::vector<site> r;
  for (site s : all_sites)
    if (s != site::attn_scores && s != site::logits) r.push_back(s);
  return r;
}

// One activation entry: a value at absolute token position and feature index.
struct act_entry {
  float value = 0;
  std::int64_t token = 0;
  std::int64_t dim = 0;
};

// Summary of a per-token site ([T, D]) at one layer, over every call so far.
struct activation_summary {
  std::int64_t features = 0;  // D
  std::int64_t rows = 0;      // tokens seen over all calls
  std::int64_t calls = 0;
  float max_abs = 0;
  std::vector<act_entry> top;        // top-k by |value|, descending
  std::vector<act_entry> outliers;   // massive entries kept (largest |value| first)
  std::int64_t outlier_count = 0;    // all massive entries seen (>= outliers.size())
  double reference_sum = 0;          // sum over calls of the call's reference statistic x rows
  std::vector<float> dim_max_abs;    // [D] max |h| per feature over all tokens
  std::vector<float> dim_value_at_max;     // [D] signed value at that max
  std::vector<std::int64_t> dim_argmax_token;  // [D]
  std::vector<float> token_max_abs;  // [positions seen, < max_tracked_tokens] row max |h| (NaN: not seen)
  std::vector<float> token_norm;     // same positions: L2 norm of the row
  std::map<std::int64_t, std::vector<float>> tracked_rows;  // tracked positions -> full row (signed)
  std::int64_t nan_count = 0, inf_count = 0;
  std::int64_t beyond_f16_count = 0;  // finite |h| > 65504 (the detector's over_f16_count)

  // Mean over rows of the per-call reference statistic (median or mean |h|).
  double reference() const { return rows > 0 ? reference_sum / double(rows) : 0.0; }
  // Top value at rank i (0-based), or 0 when fewer entries exist.
  float top_abs(std::size_t i) const { return i < top.size() ? std::fabs(top[i].value) : 0.0f; }
  // Features whose massive entries were seen, sorted.
  std::vector<std::int64_t> massive_dims() const {
    std::set<std::int64_t> s;
    for (const auto& e : outliers) s.insert(e.dim);
    return {s.begin(), s.end()};
  }
  std::vector<std::int64_t> massive_tokens() const {
    std::set<std::int64_t> s;
    for (const auto& e : outliers) s.insert(e.token);
    return {s.begin(), s.end()};
  }
};

// Summary of attn_probs ([H, T, Tk]) at one layer.
struct attention_summary {
  std::int64_t heads = 0;
  std::int64_t queries = 0;  // query rows seen per head, over all calls
  std::int64_t calls = 0;
  std::int64_t keys = 0;     // largest key position + 1 seen
  std::int64_t tracked_keys = 0;        // min(keys, max_tracked_tokens)
  std::vector<double> received;        // [heads * max_tracked_tokens] sum over queries of p(q -> key), head-major
  std::vector<double> received_rest;   // [heads] pooled for keys >= max_tracked_tokens
  std::vector<double> first_key_mass;  // [heads] sum over queries of p(q -> key 0)
  std::vector<std::int64_t> first_key_over_eps;  // [heads] queries whose p(q -> key 0) > eps (0.3)
  double min_row_sum = std::numeric_limits<double>::infinity();
  double max_row_sum = -std::numeric_limits<double>::infinity();
  std::int64_t stride = 0;  // row length of `received` (max_tracked_tokens)

  // Received attention of key j summed over queries, averaged over heads.
  double received_mean(std::int64_t j) const {
    if (heads == 0 || j >= tracked_keys) return 0;
    double s = 0;
    for (std::int64_t h = 0; h < heads; ++h) s += received[std::size_t(h * stride + j)];
    return s / double(heads);
  }
  double received_head(std::int64_t h, std::int64_t j) const {
    return j < tracked_keys ? received[std::size_t(h * stride + j)] : 0.0;
  }
};

// A full copy of one call's tensor at a captured (site, layer), as f32.
struct captured_tensor {
  extents shape;
  int pos0 = 0;
  std::vector<float> data;  // row-major
};

struct site_key {
  site s;
  int layer;
  bool operator<(const site_key& o) const { return s != o.s ? s < o.s : layer < o.layer; }
  bool operator==(const site_key& o) const { return s == o.s && layer == o.layer; }
};

// An immutable copy of what the recorder holds (recorder::snapshot()).
struct recording {
  recorder_config config;
  std::string model;
  int n_layers = 0;  // largest layer index seen + 1
  std::map<site_key, activation_summary> activations;
  std::map<site_key, attention_summary> attention;
  std::map<site_key, std::vector<captured_tensor>> captures;
  std::map<site_key, bool> capture_truncated;

  const activation_summary* find(site s, int layer) const {
    auto it = activations.find({s, layer});
    return it == activations.end() ? nullptr : &it->second;
  }
  const attention_summary* find_attention(int layer) const {
    auto it = attention.find({site::attn_probs, layer});
    return it == attention.end() ? nullptr : &it->second;
  }
  const std::vector<captured_tensor>* find_capture(site s, int layer) const {
    auto it = captures.find({s, layer});
    return it == captures.end() ? nullptr : &it->second;
  }
};

namespace detail {

// |x| > f16 max (65504) counts as beyond fp16 range: the overflow fp16 kernels hit.
inline constexpr float f16_limit = 65504.0f;

// Loads row r of a rank-2 view into f32 (contiguous fast path for f32).
inline void load_row(const tensor_view& t, std::int64_t r, std::vector<float>& out) {
  const std::int64_t D = t.dim(1);
  out.resize(std::size_t(D));
  const std::int64_t base = r * t.stride(0), cs = t.stride(1);
  if (t.type() == dtype::f32) {
    const float* p = static_cast<const float*>(t.data()) + base;
    if (cs == 1)
      std::copy(p, p + D, out.begin());
    else
      for (std::int64_t j = 0; j < D; ++j) out[std::size_t(j)] = p[j * cs];
    return;
  }
  for (std::int64_t j = 0; j < D; ++j) out[std::size_t(j)] = float(load_as_double(t.ptr_at(base + j * cs), t.type()));
}

inline bool abs_greater(const act_entry& a, const act_entry& b) {
  const float x = std::fabs(a.value), y = std::fabs(b.value);
  if (x != y) return x > y;
  if (a.token != b.token) return a.token < b.token;
  return a.dim < b.dim;
}

// Keeps the `cap` largest-|value| entries (sorted descending).
inline void keep_largest(std::vector<act_entry>& v, std::size_t cap) {
  if (v.size() > cap) {
    std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(cap), v.end(), abs_greater);
    v.resize(cap);
  }
  std::sort(v.begin(), v.end(), abs_greater);
}

// Row max |x| (NaN never wins) and sum of squares, vectorized (Highway when
// available, else sixteen independent lanes): a single float accumulator is a
// serial chain the compiler may not reorder, which kept the recorder's
// per-element pass scalar and made it cost more than the detector itself.
inline void row_max_norm2(const float* x, std::int64_t D, float& max_abs, float& norm2) noexcept {
  std::int64_t j = 0;
  float rm = 0, n2 = 0;
#if defined(SYSOUT_DETECT_HAVE_HIGHWAY)
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> df;
  const std::int64_t N = std::int64_t(hn::Lanes(df));
  auto m0 = hn::Zero(df), m1 = hn::Zero(df), s0 = hn::Zero(df), s1 = hn::Zero(df);
  for (; j + 2 * N <= D; j += 2 * N) {
    const auto v0 = hn::LoadU(df, x + j), v1 = hn::LoadU(df, x + j + N);
    const auto a0 = hn::Abs(v0), a1 = hn::Abs(v1);
    m0 = hn::IfThenElse(hn::Gt(a0, m0), a0, m0);
    m1 = hn::IfThenElse(hn::Gt(a1, m1), a1, m1);
    s0 = hn::MulAdd(v0, v0, s0);
    s1 = hn::MulAdd(v1, v1, s1);
  }
  rm = hn::GetLane(hn::MaxOfLanes(df, hn::Max(m0, m1)));  // no NaN in m0, m1
  n2 = hn::GetLane(hn::SumOfLanes(df, hn::Add(s0, s1)));
#else
  constexpr int L = 16;
  float m[L] = {}, sq[L] = {};
  for (; j + L <= D; j += L)
    for (int k = 0; k < L; ++k) {
      const float v = x[j + k], a = std::fabs(v);
      m[k] = a > m[k] ? a : m[k];
      sq[k] += v * v;
    }
  for (int k = 0; k < L; ++k) {
    rm = m[k] > rm ? m[k] : rm;
    n2 += sq[k];
  }
#endif
  for (; j < D; ++j) {
    const float v = x[j], a = std::fabs(v);
    rm = a > rm ? a : rm;
    n2 += v * v;
  }
  max_abs = rm;
  norm2 = n2;
}

// Per-feature running max |x| with the signed value and the row it came from
// (NaN never wins); unconditional vector selects, no per-vector branch.
inline void update_dim_max(const float* x, std::int64_t D, std::int32_t row, float* dm, float* dv,
                           std::int32_t* da) noexcept {
  std::int64_t j = 0;
#if defined(SYSOUT_DETECT_HAVE_HIGHWAY)
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const std::int64_t N = std::int64_t(hn::Lanes(df));
  const auto r = hn::Set(di, row);
  for (; j + N <= D; j += N) {
    const auto v = hn::LoadU(df, x + j), m = hn::LoadU(df, dm + j);
    const auto a = hn::Abs(v);
    const auto g = hn::Gt(a, m);
    hn::StoreU(hn::IfThenElse(g, a, m), df, dm + j);
    hn::StoreU(hn::IfThenElse(g, v, hn::LoadU(df, dv + j)), df, dv + j);
    hn::StoreU(hn::IfThenElse(hn::RebindMask(di, g), r, hn::LoadU(di, da + j)), di, da + j);
  }
#endif
  for (; j < D; ++j) {
    const float v = x[j], a = std::fabs(v);
    const bool g = a > dm[j];
    dm[j] = g ? a : dm[j];
    dv[j] = g ? v : dv[j];
    da[j] = g ? row : da[j];
  }
}

// Median of |x| by selection (no sort).
inline float median_abs(std::vector<float>& mags) {
  if (mags.empty()) return 0;
  const std::size_t n = mags.size(), m = n / 2;
  std::nth_element(mags.begin(), mags.begin() + std::ptrdiff_t(m), mags.end());
  const float hi = mags[m];
  if (n % 2) return hi;
  const float lo = *std::max_element(mags.begin(), mags.begin() + std::ptrdiff_t(m));
  return 0.5f * (lo + hi);
}

}  // namespace detail

class recorder {
 public:
  explicit recorder(recorder_config cfg = {}, std::string model = {}) : cfg_(std::move(cfg)), model_(std::move(model)) {
    if (cfg_.sites.empty())
      cfg_.sites = {site::embed,        site::attn_out, site::resid_mid,  site::down_proj_in,
                    site::mlp_out,      site::layer_out, site::attn_probs, site::v};
    for (site s : cfg_.sites) wanted_[std::size_t(s)] = true;
    for (site s : cfg_.row_sites) row_site_[std::size_t(s)] = true;
    if (cfg_.top_k < 1) throw_error("recorder", "top_k must be >= 1, got ", cfg_.top_k);
    if (cfg_.max_tracked_tokens < 1) throw_error("recorder", "max_tracked_tokens must be >= 1");
  }
  recorder(const recorder&) = delete;
  recorder& operator=(const recorder&) = delete;

  const recorder_config& config() const noexcept { return cfg_; }
  bool wants(site s) const noexcept { return wanted_[std::size_t(s)] || captures_site(s); }
  bool wants(site s, int layer) const noexcept { return wanted_[std::size_t(s)] || captures(s, layer); }

  // The one entry point. layer = -1 for global sites; pos0 = absolute position
  // of the first token (row) of this call. Per-token sites take [T, D] (a rank-3
  // [T, H, d] view is flattened to [T, H*d]); attn_probs takes [H, T, Tk].
  void on_tensor(site s, int layer, int pos0, const tensor_view& t) {
    if (!wants(s, layer)) return;
    if (pos0 < 0) throw_error("recorder", "negative pos0 ", pos0, " at ", site_name(s), "-", layer);
    if (is_attention_matrix_site(s)) {
      t.expect_rank(3, "attention matrix [H, T, Tk]");
      if (s == site::attn_probs && wanted_[std::size_t(s)]) record_attention(s, layer, pos0, t);
    } else {
      const tensor_view m = as_matrix(t, s, layer);
      if (wanted_[std::size_t(s)]) record_activation(s, layer, pos0, m);
    }
    if (captures(s, layer)) record_capture(s, layer, pos0, t);
    note_layer(layer);
  }
  void on_event(const hook_event& e) { on_tensor(e.s, e.layer, e.pos0, e.t); }

  // Attaches to every wanted site of a hook registry; returns the handles. The
  // hooks point at this recorder: keep it alive while the registry may fire them
  // (or remove the handles first).
  std::vector<hook_registry::handle> attach(hook_registry& hooks) {
    std::vector<hook_registry::handle> hs;
    for (site s : all_sites)
      if (wants(s)) hs.push_back(hooks.add(s, any_layer, [this](const hook_event& e) { on_event(e); }));
    return hs;
  }

  recording snapshot() const {
    recording r;
    r.config = cfg_;
    r.model = model_;
    std::lock_guard lk(mu_);
    r.n_layers = max_layer_ + 1;
    for (const auto& [k, slot] : act_) {
      std::lock_guard sl(slot->mu);
      r.activations.emplace(k, slot->sum);
    }
    for (const auto& [k, slot] : att_) {
      std::lock_guard sl(slot->mu);
      r.attention.emplace(k, slot->sum);
    }
    for (const auto& [k, slot] : cap_) {
      std::lock_guard sl(slot->mu);
      r.captures.emplace(k, slot->tensors);
      r.capture_truncated.emplace(k, slot->truncated);
    }
    return r;
  }

  // Forgets everything recorded (configuration kept).
  void clear() {
    std::lock_guard lk(mu_);
    act_.clear();
    att_.clear();
    cap_.clear();
    dynamic_rows_.clear();
    capture_bytes_ = 0;
    max_layer_ = -1;
  }

 private:
  struct act_slot {
    std::mutex mu;
    activation_summary sum;
  };
  struct att_slot {
    std::mutex mu;
    attention_summary sum;
  };
  struct cap_slot {
    std::mutex mu;
    std::vector<captured_tensor> tensors;
    bool truncated = false;
  };

  bool captures_site(site s) const noexcept {
    for (const auto& [cs, cl] : cfg_.capture)
      if (cs == s) return true;
    return false;
  }
  bool captures(site s, int layer) const noexcept {
    for (const auto& [cs, cl] : cfg_.capture)
      if (cs == s && (cl == any_layer || cl == layer)) return true;
    return false;
  }
  static bool is_residual(site s) noexcept {
    return s == site::resid_mid || s == site::layer_out || s == site::embed;
  }

  void note_layer(int layer) {
    std::lock_guard lk(mu_);
    max_layer_ = std::max(max_layer_, layer);
  }

  static tensor_view as_matrix(const tensor_view& t, site s, int layer) {
    if (t.rank() == 2) return t;
    if (t.rank() == 1) return tensor_view(t.data(), t.type(), extents{1, t.dim(0)}, extents{0, t.stride(0)});
    if (t.rank() == 3 && t.stride(1) == t.dim(2) * t.stride(2))
      return tensor_view(t.data(), t.type(), extents{t.dim(0), t.dim(1) * t.dim(2)},
                         extents{t.stride(0), t.stride(2)});
    throw_error("recorder", "site ", site_name(s), "-", layer, " expects [T, D] (or [T, H, d] with mergeable strides), got ",
                t.shape().str(), " strides ", t.strides().str());
  }

  template <class Slot>
  Slot& slot(std::map<site_key, std::unique_ptr<Slot>>& m, site s, int layer) {
    std::lock_guard lk(mu_);
    auto& p = m[{s, layer}];
    if (!p) p = std::make_unique<Slot>();
    return *p;
  }

  std::set<std::int64_t> dynamic_rows_copy() {
    std::lock_guard lk(mu_);
    return dynamic_rows_;
  }

  void record_activation(site s, int layer, int pos0, const tensor_view& m) {
    const std::int64_t T = m.dim(0), D = m.dim(1);
    if (T == 0 || D == 0) return;
    const std::size_t K = std::size_t(cfg_.top_k);
    // Pass 1 (no lock): the detector itself (detect/massive_activations.hpp:
    // one Highway scan for the statistics, top-k and candidates above threshold_abs).
    detect::massive_options mo;
    mo.threshold_abs = cfg_.threshold_abs;
    mo.ratio = cfg_.ratio;
    mo.reference = cfg_.reference;
    mo.topk = cfg_.top_k;
    const auto rep = detect::find_massive_activations(m, layer, std::string(site_name(s)), mo);
    std::vector<act_entry> top, outl;
    for (const auto& e : rep.top) top.push_back({float(e.value), pos0 + e.token, e.dim});
    const std::int64_t outl_count = std::int64_t(rep.outliers.size());
    std::vector<std::int64_t> massive_rows;
    for (const auto& o : rep.outliers) outl.push_back({float(o.value), pos0 + o.token, o.dim});
    for (auto t : rep.massive_tokens) massive_rows.push_back(pos0 + t);
    detail::keep_largest(outl, cfg_.max_outliers);
    const double ref = rep.reference_value;
    // Pass 2 (no lock): per-feature max |h| (with row and signed value), per-row
    // max |h| and L2 norm, rows of tracked tokens.
    std::vector<float> row;
    std::vector<float> dmax(static_cast<std::size_t>(D), -1.0f), dval(static_cast<std::size_t>(D), 0.0f);
    std::vector<std::int32_t> darg(static_cast<std::size_t>(D), -1);  // row within this call
    std::vector<float> tmax(static_cast<std::size_t>(T)), tnorm(static_cast<std::size_t>(T));
    const bool track_rows = row_site_[std::size_t(s)];
    const auto dyn = track_rows ? dynamic_rows_copy() : std::set<std::int64_t>{};
    std::vector<std::pair<std::int64_t, std::vector<float>>> kept_rows;
    const bool direct = m.type() == dtype::f32 && m.stride(1) == 1;
    for (std::int64_t r = 0; r < T; ++r) {
      const float* x;
      if (direct) {
        x = static_cast<const float*>(m.data()) + r * m.stride(0);
      } else {
        detail::load_row(m, r, row);
        x = row.data();
      }
      const std::int64_t tok = pos0 + r;
      float rm, n2;
      detail::row_max_norm2(x, D, rm, n2);
      detail::update_dim_max(x, D, std::int32_t(r), dmax.data(), dval.data(), darg.data());
      tmax[std::size_t(r)] = rm;
      tnorm[std::size_t(r)] = std::sqrt(n2);
      if (track_rows && (tok < cfg_.track_first_tokens || dyn.count(tok))) kept_rows.emplace_back(tok, std::vector<float>(x, x + D));
    }
    const std::int64_t nans = rep.stats.nan_count, infs = rep.stats.inf_count, beyond = rep.stats.over_f16_count;
    // A token with massive activations in the residual stream gets its rows
    // tracked at the later layers (disappearance analysis needs them).
    if (is_residual(s) && !massive_rows.empty()) {
      std::lock_guard lk(mu_);
      for (auto tok : massive_rows)
        if (tok >= cfg_.track_first_tokens && dynamic_rows_.size() < cfg_.max_dynamic_rows) dynamic_rows_.insert(tok);
    }
    // Merge under the slot lock.
    auto& sl = slot(act_, s, layer);
    std::lock_guard lk(sl.mu);
    auto& S = sl.sum;
    if (S.calls == 0) {
      S.features = D;
      S.dim_max_abs.assign(std::size_t(D), -1.0f);
      S.dim_value_at_max.assign(std::size_t(D), 0.0f);
      S.dim_argmax_token.assign(std::size_t(D), -1);
    } else if (S.features != D) {
      throw_error("recorder", "site ", site_name(s), "-", layer, " had ", S.features, " features, now ", D);
    }
    ++S.calls;
    S.rows += T;
    S.reference_sum += ref * double(T);
    S.max_abs = std::max(S.max_abs, float(rep.stats.max_abs));
    S.top.insert(S.top.end(), top.begin(), top.end());
    detail::keep_largest(S.top, K);
    S.outliers.insert(S.outliers.end(), outl.begin(), outl.end());
    detail::keep_largest(S.outliers, cfg_.max_outliers);
    S.outlier_count += outl_count;
    for (std::int64_t j = 0; j < D; ++j)
      if (dmax[std::size_t(j)] > S.dim_max_abs[std::size_t(j)]) {
        S.dim_max_abs[std::size_t(j)] = dmax[std::size_t(j)];
        S.dim_value_at_max[std::size_t(j)] = dval[std::size_t(j)];
        S.dim_argmax_token[std::size_t(j)] = pos0 + darg[std::size_t(j)];
      }
    const std::int64_t hi = std::min<std::int64_t>(pos0 + T, cfg_.max_tracked_tokens);
    if (hi > std::int64_t(S.token_max_abs.size())) {
      S.token_max_abs.resize(std::size_t(hi), std::numeric_limits<float>::quiet_NaN());
      S.token_norm.resize(std::size_t(hi), std::numeric_limits<float>::quiet_NaN());
    }
    for (std::int64_t p = pos0; p < hi; ++p) {
      S.token_max_abs[std::size_t(p)] = tmax[std::size_t(p - pos0)];
      S.token_norm[std::size_t(p)] = tnorm[std::size_t(p - pos0)];
    }
    for (auto& [tok, r] : kept_rows) S.tracked_rows.insert_or_assign(tok, std::move(r));
    S.nan_count += nans;
    S.inf_count += infs;
    S.beyond_f16_count += beyond;
  }

  void record_attention(site s, int layer, int pos0, const tensor_view& t) {
    const std::int64_t H = t.dim(0), T = t.dim(1), Tk = t.dim(2);
    if (H == 0 || T == 0) return;
    const std::int64_t M = cfg_.max_tracked_tokens, tk = std::min(Tk, M);
    constexpr double eps = 0.3;  // Sink^eps threshold of Gu et al. (2025)
    std::vector<double> recv(std::size_t(H * tk), 0.0), rest(std::size_t(H), 0.0), first(std::size_t(H), 0.0);
    std::vector<std::int64_t> over(std::size_t(H), 0);
    double rmin = std::numeric_limits<double>::infinity(), rmax = -rmin;
    std::vector<float> row;
    for (std::int64_t h = 0; h < H; ++h) {
      const tensor_view ph = t.select(0, h);
      for (std::int64_t q = 0; q < T; ++q) {
        detail::load_row(ph, q, row);
        double rs = 0;
        for (std::int64_t j = 0; j < Tk; ++j) {
          const double p = row[std::size_t(j)];
          if (!std::isfinite(p)) continue;
          rs += p;
          if (j < tk) recv[std::size_t(h * tk + j)] += p;
          else rest[std::size_t(h)] += p;
        }
        if (Tk > 0) {
          first[std::size_t(h)] += row[0];
          if (row[0] > eps) ++over[std::size_t(h)];
        }
        rmin = std::min(rmin, rs);
        rmax = std::max(rmax, rs);
      }
    }
    (void)pos0;
    auto& sl = slot(att_, s, layer);
    std::lock_guard lk(sl.mu);
    auto& S = sl.sum;
    if (S.calls == 0) {
      S.heads = H;
      S.stride = M;
      S.received.assign(std::size_t(H * M), 0.0);
      S.received_rest.assign(std::size_t(H), 0.0);
      S.first_key_mass.assign(std::size_t(H), 0.0);
      S.first_key_over_eps.assign(std::size_t(H), 0);
    } else if (S.heads != H) {
      throw_error("recorder", "attn_probs-", layer, " had ", S.heads, " heads, now ", H);
    }
    ++S.calls;
    S.queries += T;
    S.keys = std::max(S.keys, Tk);
    S.tracked_keys = std::min(S.keys, M);
    for (std::int64_t h = 0; h < H; ++h) {
      for (std::int64_t j = 0; j < tk; ++j) S.received[std::size_t(h * M + j)] += recv[std::size_t(h * tk + j)];
      S.received_rest[std::size_t(h)] += rest[std::size_t(h)];
      S.first_key_mass[std::size_t(h)] += first[std::size_t(h)];
      S.first_key_over_eps[std::size_t(h)] += over[std::size_t(h)];
    }
    S.min_row_sum = std::min(S.min_row_sum, rmin);
    S.max_row_sum = std::max(S.max_row_sum, rmax);
  }

  void record_capture(site s, int layer, int pos0, const tensor_view& t) {
    captured_tensor c;
    c.shape = t.shape();
    c.pos0 = pos0;
    const std::int64_t bytes = t.size() * 4;
    {
      std::lock_guard lk(mu_);
      if (capture_bytes_ + bytes > cfg_.capture_max_bytes) {
        auto& p = cap_[{s, layer}];
        if (!p) p = std::make_unique<cap_slot>();
        std::lock_guard sl(p->mu);
        p->truncated = true;
        return;
      }
      capture_bytes_ += bytes;
    }
    c.data.reserve(std::size_t(t.size()));
    if (t.type() == dtype::f32 && t.is_contiguous()) {
      const float* p = static_cast<const float*>(t.data());
      c.data.assign(p, p + t.size());
    } else {
      for_each_offset(t, [&](std::int64_t off) { c.data.push_back(float(load_as_double(t.ptr_at(off), t.type()))); });
    }
    auto& sl = slot(cap_, s, layer);
    std::lock_guard lk(sl.mu);
    sl.tensors.push_back(std::move(c));
  }

  recorder_config cfg_;
  std::string model_;
  std::array<bool, site_count> wanted_{};
  std::array<bool, site_count> row_site_{};
  mutable std::mutex mu_;
  std::map<site_key, std::unique_ptr<act_slot>> act_;
  std::map<site_key, std::unique_ptr<att_slot>> att_;
  std::map<site_key, std::unique_ptr<cap_slot>> cap_;
  std::set<std::int64_t> dynamic_rows_;
  std::int64_t capture_bytes_ = 0;
  int max_layer_ = -1;
};

}  // namespace sysout::trace

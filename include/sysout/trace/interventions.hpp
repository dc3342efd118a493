// interventions: hooks that edit activations in place during a forward pass,
// to test what the outliers do (Sun et al. 2024 section 3.2; An et al. 2025
// section 5): set the massive activations to zero, to their corpus mean, or clamp
// them; remove the attention paid to sink tokens.
//
// Activation interventions act on the entries (t, d) of a per-token site
// ([T, D], usually layer_out or down_proj_in) at the chosen layers where
//   d is in `dims` (empty: any dim), t is in `tokens` (absolute positions;
//   empty: any), and, when only_massive, the entry passes the massive rule of
//   that tensor (|h| > threshold_abs and > ratio x median |h|, as the detector).
//   zero   h = 0
//   mean   h = mean of the massive values of that (layer, dim) over a corpus,
//          measured first with massive_mean_collector (Sun et al.'s "set to mean"
//          control: keeps the value a constant, removes its variation)
//   clamp  h = sign(h) x min(|h|, clamp_to)
// The number of entries changed is counted (`changed`), so a run that touched
// nothing can say so instead of reporting a no-op as a result.
//
// Attention interventions act on attn_probs [H, T, Tk] at the chosen layers:
// the probability of every query attending to a sink key is set to 0. Sink keys
// are `sink_keys` (absolute positions) or, when detect_sinks, the keys that
// receive >= sink_ratio x queries in that call (averaged over heads). With
// renormalize, each row is divided by its remaining mass so it sums to 1 again
// (attention redistributed to the other keys); without it the removed mass is
// simply gone (the output shrinks: the "no sink" ablation of Gu et al.). A row
// whose whole mass was on sinks is left at zero either way.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "sysout/core/error.hpp"
#include "sysout/core/tensor_view.hpp"
#include "sysout/trace/hooks.hpp"
#include "sysout/trace/recorder.hpp"
#include "sysout/trace/sites.hpp"

namespace sysout::trace {

enum class intervention_kind : std::uint8_t { zero, mean, clamp };

constexpr const char* intervention_name(intervention_kind k) noexcept {
  switch (k) {
    case intervention_kind::zero: return "zero";
    case intervention_kind::mean: return "mean";
    case intervention_kind::clamp: return "clamp";
  }
  return "?";
}

struct activation_intervention {
  intervention_kind kind = intervention_kind::zero;
  site at = site::layer_out;
  std::vector<int> layers;            // empty: every layer
  std::vector<std::int64_t> dims;     // empty: any dim
  std::vector<std::int64_t> tokens;   // empty: any token
  bool only_massive = true;
  double threshold_abs = 100.0, ratio = 1000.0;  // the massive rule (median reference)
  double clamp_to = 100.0;                        // clamp: |h| <= clamp_to
  std::map<std::pair<int, std::int64_t>, double> mean_values;  // mean: (layer, dim) -> value
};

struct attention_intervention {
  std::vector<int> layers;               // empty: every layer
  std::vector<std::int64_t> sink_keys;   // absolute key positions
  bool detect_sinks = false;             // also remove keys receiving >= sink_ratio x queries
  double sink_ratio = 0.1;
  bool renormalize = true;
};

namespace detail {

inline bool layer_selected(const std::vector<int>& layers, int l) {
  return layers.empty() || std::find(layers.begin(), layers.end(), l) != layers.end();
}

// Cut of the massive rule for one tensor: max(threshold_abs, ratio x median |h|).
inline double massive_cut(const tensor_view& m, double threshold_abs, double ratio) {
  std::vector<float> mags;
  mags.reserve(std::size_t(m.size()));
  for_each_offset(m, [&](std::int64_t off) {
    const float v = float(load_as_double(m.ptr_at(off), m.type()));
    if (!std::isnan(v)) mags.push_back(std::fabs(v));
  });
  return std::max(threshold_abs, ratio * double(median_abs(mags)));
}

inline tensor_view as_rows(const tensor_view& t) {
  if (t.rank() == 2) return t;
  if (t.rank() == 3 && t.stride(1) == t.dim(2) * t.stride(2))
    return tensor_view(t.data(), t.type(), extents{t.dim(0), t.dim(1) * t.dim(2)}, extents{t.stride(0), t.stride(2)});
  throw_error(t.where(), "intervention expects [T, D], got shape ", t.shape().str());
}

}  // namespace detail

// Applies one activation intervention to a tensor; returns entries changed.
inline std::int64_t apply_intervention(const activation_intervention& iv, int layer, int pos0, const tensor_view& t) {
  if (!detail::layer_selected(iv.layers, layer)) return 0;
  t.require_writable();
  const tensor_view m = detail::as_rows(t);
  const std::int64_t T = m.dim(0), D = m.dim(1);
  const double cut = iv.only_massive ? detail::massive_cut(m, iv.threshold_abs, iv.ratio) : 0.0;
  std::vector<std::int64_t> dims = iv.dims;
  if (dims.empty())
    for (std::int64_t d = 0; d < D; ++d) dims.push_back(d);
  const std::set<std::int64_t> toks(iv.tokens.begin(), iv.tokens.end());
  std::int64_t changed = 0;
  for (std::int64_t r = 0; r < T; ++r) {
    if (!toks.empty() && !toks.count(pos0 + r)) continue;
    for (auto d : dims) {
      if (d < 0 || d >= D) throw_error(t.where(), "intervention dim ", d, " outside [0, ", D, ")");
      void* p = m.ptr_at(r * m.stride(0) + d * m.stride(1));
      const double v = load_as_double(p, m.type());
      if (iv.only_massive && !(std::fabs(v) > cut)) continue;
      double nv = v;
      switch (iv.kind) {
        case intervention_kind::zero: nv = 0; break;
        case intervention_kind::clamp: nv = std::copysign(std::min(std::fabs(v), iv.clamp_to), v); break;
        case intervention_kind::mean: {
          auto it = iv.mean_values.find({layer, d});
          if (it == iv.mean_values.end())
            throw_error("intervention", "no corpus mean for layer ", layer, " dim ", d,
                        " (run massive_mean_collector over the corpus first)");
          nv = it->second;
          break;
        }
      }
      if (nv != v) {
        store_from_double(p, m.type(), nv);
        ++changed;
      }
    }
  }
  return changed;
}

// Sets attention to sink keys to zero in probs [H, T, Tk]; returns the keys removed.
inline std::vector<std::int64_t> apply_attention_intervention(const attention_intervention& iv, int layer,
                                                              const tensor_view& probs) {
  if (!detail::layer_selected(iv.layers, layer)) return {};
  probs.expect_rank(3, "attention intervention [H, T, Tk]");
  probs.require_writable();
  const std::int64_t H = probs.dim(0), T = probs.dim(1), Tk = probs.dim(2);
  std::set<std::int64_t> keys;
  for (auto k : iv.sink_keys)
    if (k >= 0 && k < Tk) keys.insert(k);
  // rows as f32 (copied for other dtypes / layouts, written back at the end)
  const bool direct = probs.type() == dtype::f32 && probs.rows_contiguous();
  std::vector<float> buf;
  auto row = [&](std::int64_t h, std::int64_t q) -> float* {
    if (direct) return static_cast<float*>(probs.data()) + h * probs.stride(0) + q * probs.stride(1);
    return buf.data() + (h * T + q) * Tk;
  };
  if (!direct) {
    buf.resize(std::size_t(H * T * Tk));
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t q = 0; q < T; ++q)
        for (std::int64_t j = 0; j < Tk; ++j) buf[std::size_t((h * T + q) * Tk + j)] = float(probs.get(h, q, j));
  }
  if (iv.detect_sinks && H > 0 && T > 0) {
    std::vector<double> recv(std::size_t(Tk), 0.0);
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t q = 0; q < T; ++q) {
        const float* r = row(h, q);
        for (std::int64_t j = 0; j < Tk; ++j) recv[std::size_t(j)] += r[j];
      }
    for (std::int64_t j = 0; j < Tk; ++j)
      if (recv[std::size_t(j)] / double(H) >= iv.sink_ratio * double(T)) keys.insert(j);
  }
  if (keys.empty()) return {};
  std::vector<char> is_key(std::size_t(Tk), 0);
  for (auto j : keys) is_key[std::size_t(j)] = 1;
  for (std::int64_t h = 0; h < H; ++h)
    for (std::int64_t q = 0; q < T; ++q) {
      float* r = row(h, q);
      double rest = 0;
      for (std::int64_t j = 0; j < Tk; ++j)
        if (!is_key[std::size_t(j)]) rest += r[j];
      for (auto j : keys) r[j] = 0.0f;
      if (iv.renormalize && rest > 0) {
        const float inv = float(1.0 / rest);
        for (std::int64_t j = 0; j < Tk; ++j) r[j] *= inv;
      }
    }
  if (!direct)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t q = 0; q < T; ++q)
        for (std::int64_t j = 0; j < Tk; ++j) probs.set(double(buf[std::size_t((h * T + q) * Tk + j)]), h, q, j);
  return {keys.begin(), keys.end()};
}

// A set of interventions to attach to hook registries; counts what they changed.
// The hooks share the set's state (shared_ptr), so either may outlive the
// other: a registry that dies first is simply forgotten (never touched again),
// and a set destroyed first leaves working hooks behind until the registry
// goes or detach(registry) removes them.
class intervention_set {
 public:
  void add(activation_intervention iv) { st_->acts.push_back(std::move(iv)); }
  void add(attention_intervention iv) { st_->atts.push_back(std::move(iv)); }

  // Adds one hook per intervention (those added so far) to the registry.
  void attach(hook_registry& hooks) {
    auto st = st_;
    for (std::size_t i = 0; i < st->acts.size(); ++i)
      handles_.push_back(hooks.add(st->acts[i].at, any_layer, [st, i](const hook_event& e) {
        st->changed += apply_intervention(st->acts[i], e.layer, e.pos0, e.t);
      }));
    for (std::size_t i = 0; i < st->atts.size(); ++i)
      handles_.push_back(hooks.add(site::attn_probs, any_layer, [st, i](const hook_event& e) {
        st->removed_keys += std::int64_t(apply_attention_intervention(st->atts[i], e.layer, e.t).size());
      }));
  }
  // Removes this set's hooks from a registry it was attached to (still alive).
  void detach(hook_registry& hooks) {
    for (auto h : handles_) hooks.remove(h);
    handles_.clear();
  }
  std::int64_t changed() const noexcept { return st_->changed; }
  std::int64_t removed_keys() const noexcept { return st_->removed_keys; }  // summed over layers and calls

 private:
  struct state {
    std::vector<activation_intervention> acts;
    std::vector<attention_intervention> atts;
    std::atomic<std::int64_t> changed{0};
    std::atomic<std::int64_t> removed_keys{0};
  };
  std::shared_ptr<state> st_ = std::make_shared<state>();
  std::vector<hook_registry::handle> handles_;
};

// First pass of the "mean" intervention: mean of the massive values per
// (layer, dim) at one site over everything it sees. Thread-safe. The hook from
// attach() points at the collector: keep the collector alive while the
// registry can still fire it.
class massive_mean_collector {
 public:
  explicit massive_mean_collector(site at = site::layer_out, double threshold_abs = 100.0, double ratio = 1000.0,
                                  std::vector<std::int64_t> dims = {})
      : at_(at), threshold_abs_(threshold_abs), ratio_(ratio), dims_(dims.begin(), dims.end()) {}

  void on_tensor(int layer, const tensor_view& t) {
    const tensor_view m = detail::as_rows(t);
    const double cut = detail::massive_cut(m, threshold_abs_, ratio_);
    std::map<std::pair<int, std::int64_t>, std::pair<double, std::int64_t>> local;
    for (std::int64_t r = 0; r < m.dim(0); ++r)
      for (std::int64_t d = 0; d < m.dim(1); ++d) {
        if (!dims_.empty() && !dims_.count(d)) continue;
        const double v = m.get(r, d);
        if (std::fabs(v) > cut) {
          auto& e = local[{layer, d}];
          e.first += v;
          ++e.second;
        }
      }
    std::lock_guard lk(mu_);
    for (const auto& [k, e] : local) {
      auto& g = sums_[k];
      g.first += e.first;
      g.second += e.second;
    }
  }
  hook_registry::handle attach(hook_registry& hooks) {
    return hooks.add(at_, any_layer, [this](const hook_event& e) { on_tensor(e.layer, e.t); });
  }
  // (layer, dim) -> mean massive value, ready for activation_intervention::mean_values.
  std::map<std::pair<int, std::int64_t>, double> means() const {
    std::lock_guard lk(mu_);
    std::map<std::pair<int, std::int64_t>, double> r;
    for (const auto& [k, e] : sums_) r[k] = e.first / double(e.second);
    return r;
  }
  std::int64_t count(int layer, std::int64_t dim) const {
    std::lock_guard lk(mu_);
    auto it = sums_.find({layer, dim});
    return it == sums_.end() ? 0 : it->second.second;
  }

 private:
  site at_;
  double threshold_abs_, ratio_;
  std::set<std::int64_t> dims_;
  mutable std::mutex mu_;
  std::map<std::pair<int, std::int64_t>, std::pair<double, std::int64_t>> sums_;
};

}  // namespace sysout::trace

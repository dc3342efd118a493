// lifecycle: how systematic outliers are born, spread and vanish across the
// layers of one model run (An et al. 2025, "Systematic Outliers in LLMs",
// sections 4-5), computed from a recorder's summaries. Nothing is hard-coded:
// dims, tokens and layers all come from the data.
//
//   emergence      the first layer whose residual stream (layer_out) holds
//                  massive activations; the dims and tokens; the down_proj
//                  input dims that carry massive values there; the weight-outlier
//                  channels of that layer's down_proj (given by the caller, from
//                  detect/weight_outliers) and how they match; which component
//                  (attention or MLP output) wrote the massive values.
//   spread         per layer, the attention sinks (keys receiving >= sink_ratio x
//                  queries, averaged over heads), their attention mass, their
//                  value-vector norms vs the other tokens, and how many of them
//                  carry massive activations; tokens that stay sinks.
//   disappearance  the peak layer of the massive magnitude and the later layers
//                  where it drops by more than drop_fraction; at each, the signed
//                  contributions of attention and MLP outputs along the massive
//                  (token, dim) pairs, aligned with the incoming residual's sign:
//                  a negative contribution cancels the outlier.
//
// Contributions: attn = attn_out[l][t, d], mlp = mlp_out[l][t, d] from rows the
// recorder tracked (positions < track_first_tokens and tokens that turned
// massive); when those sites were not recorded they are derived from the
// residual stream (attn = resid_mid[l] - layer_out[l-1], mlp = layer_out[l] -
// resid_mid[l]), exact for pre-norm models and for Gemma's post-norms alike
// since attn_out / mlp_out are defined as what is added to the residual.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "sysout/io/json_writer.hpp"
#include "sysout/trace/recorder.hpp"

namespace sysout::trace {

struct lifecycle_options {
  double sink_ratio = 0.1;        // attention outlier: received >= sink_ratio x queries (An et al.)
  double drop_fraction = 0.5;     // disappearance: magnitude falls below this x the previous layer's
  std::size_t max_pairs = 8;      // massive (token, dim) pairs followed through the layers
  std::size_t weight_top_n = 8;   // top weight-outlier channels compared with the massive dims
};

// Weight-outlier channels of one layer's down_proj, ranked (largest first):
// input channels index the down_proj input (d_ff), output channels the residual
// stream (d_model). Fill from detect::weight_outlier_report::{input,output}.ranking.
struct down_proj_channels {
  int layer = -1;
  std::vector<std::int64_t> input_ranking;
  std::vector<std::int64_t> output_ranking;
  std::vector<double> input_ratio;  // max/mean of the ranked input channels, same order (optional)
};

// Weight <-> activation match at one layer whose down_proj input carries
// massive activations (An et al. report 100%).
struct weight_match {
  int layer = -1;
  std::vector<std::int64_t> down_proj_in_dims;       // massive dims at the MLP input
  std::vector<std::int64_t> residual_dims;           // massive dims at layer_out
  std::vector<std::int64_t> weight_input_channels;   // top-n input channels of that layer's down_proj
  std::vector<std::int64_t> weight_output_channels;  // top-n output channels
  std::vector<std::int64_t> matched_input, matched_output;
  double input_match = std::numeric_limits<double>::quiet_NaN();
  double output_match = std::numeric_limits<double>::quiet_NaN();
};

struct lifecycle_layer {
  int layer = 0;
  double top1 = 0, top2 = 0, top3 = 0;  // top |h| of layer_out
  double reference = 0;                 // median (or mean) |h| of layer_out
  double down_proj_top1 = 0;            // top |h| at down_proj_in
  std::int64_t massive_count = 0;       // massive entries at layer_out
  std::int64_t down_proj_massive_count = 0;
  std::vector<std::int64_t> massive_dims, massive_tokens;
  // along the followed (token, dim) pairs, signed and aligned with sign(value at peak):
  double pair_magnitude = std::numeric_limits<double>::quiet_NaN();  // mean aligned layer_out value
  double resid_in = std::numeric_limits<double>::quiet_NaN();        // mean aligned value entering the layer
  double attn_contribution = std::numeric_limits<double>::quiet_NaN();
  double mlp_contribution = std::numeric_limits<double>::quiet_NaN();
  // attention
  bool has_attention = false;
  std::vector<std::int64_t> sinks;
  double sink_mass = std::numeric_limits<double>::quiet_NaN();         // share of attention received by sinks
  double first_token_mass = std::numeric_limits<double>::quiet_NaN();  // mean over heads and queries of p(q -> 0)
  double sink_eps_fraction = std::numeric_limits<double>::quiet_NaN();  // heads with mean first-token mass > 0.3
  double sink_value_norm = std::numeric_limits<double>::quiet_NaN();
  double other_value_norm = std::numeric_limits<double>::quiet_NaN();

  void to_json(json_writer& w) const;
};

struct massive_pair {
  std::int64_t token = 0, dim = 0;
  double peak_value = 0;  // signed, at the peak layer
};

struct lifecycle_drop {
  int layer = 0;
  double before = 0, after = 0;          // aligned pair magnitude entering / leaving the layer
  double attn_contribution = 0, mlp_contribution = 0;  // aligned (negative = cancels)
  std::string canceller;                 // "attn_out", "mlp_out" or "none"
};

struct lifecycle_report {
  std::string model;
  int n_layers = 0;
  lifecycle_options options;
  std::vector<lifecycle_layer> layers;
  std::vector<massive_pair> pairs;
  std::vector<weight_match> weight_matches;  // every layer with massive down_proj input and weights given

  struct emergence_t {
    bool found = false;
    int layer = -1;
    std::vector<std::int64_t> dims, tokens;              // residual stream (layer_out)
    std::vector<std::int64_t> persistent_dims;            // massive in >= half the layers that have any
    int persistent_onset = -1;                            // first layer where a persistent dim is massive
    std::string persistent_producer;                      // component that wrote the followed pairs at that layer
    std::vector<std::int64_t> down_proj_in_dims;          // massive (or top, see down_proj_in_rule) at that layer
    std::string down_proj_in_rule;                        // "massive" or "top-k at massive tokens"
    bool has_weights = false;
    std::vector<std::int64_t> weight_input_channels, weight_output_channels;  // top-n of that layer
    std::vector<std::int64_t> matched_input, matched_output;
    double input_match = std::numeric_limits<double>::quiet_NaN();   // share of down_proj_in dims in top input channels
    double output_match = std::numeric_limits<double>::quiet_NaN();  // share of residual dims in top output channels
    std::string producer;  // component whose aligned contribution wrote the outlier: "mlp_out" / "attn_out" / "unknown"
  } emergence;

  struct spread_t {
    std::vector<std::int64_t> persistent_sinks;  // sinks in >= half the layers from emergence on
    std::map<std::int64_t, int> sink_onset;      // token -> first layer it is a sink
    double sinks_with_massive_share = std::numeric_limits<double>::quiet_NaN();
    double mean_sink_value_norm = std::numeric_limits<double>::quiet_NaN();
    double mean_other_value_norm = std::numeric_limits<double>::quiet_NaN();
  } spread;

  struct disappearance_t {
    bool found = false;
    int peak_layer = -1;
    double peak = 0;
    std::vector<lifecycle_drop> drops;
    double final_magnitude = std::numeric_limits<double>::quiet_NaN();
  } disappearance;

  void to_json(json_writer& w) const;
};

namespace detail {

inline double nanmean(const std::vector<double>& v) {
  double s = 0;
  std::size_t n = 0;
  for (double x : v)
    if (std::isfinite(x)) {
      s += x;
      ++n;
    }
  return n ? s / double(n) : std::numeric_limits<double>::quiet_NaN();
}

inline std::vector<std::int64_t> top_n(const std::vector<std::int64_t>& v, std::size_t n) {
  return {v.begin(), v.begin() + std::ptrdiff_t(std::min(n, v.size()))};
}

inline std::vector<std::int64_t> intersect(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b) {
  std::set<std::int64_t> sb(b.begin(), b.end());
  std::vector<std::int64_t> r;
  for (auto x : a)
    if (sb.count(x)) r.push_back(x);
  return r;
}

// Value of a tracked row at (token, dim), or NaN.
inline double row_value(const activation_summary* s, std::int64_t tok, std::int64_t dim) {
  if (!s) return std::numeric_limits<double>::quiet_NaN();
  auto it = s->tracked_rows.find(tok);
  if (it == s->tracked_rows.end() || dim >= std::int64_t(it->second.size()))
    return std::numeric_limits<double>::quiet_NaN();
  return it->second[std::size_t(dim)];
}

}  // namespace detail

inline lifecycle_report analyze_lifecycle(const recording& rec, const std::vector<down_proj_channels>& weights = {},
                                          const lifecycle_options& opt = {}) {
  lifecycle_report R;
  R.model = rec.model;
  R.options = opt;
  int L = rec.n_layers;
  R.n_layers = L;
  R.layers.resize(std::size_t(std::max(L, 0)));
  std::vector<int> layers_with_massive;
  std::map<std::int64_t, int> dim_layers;  // dim -> layers where it is massive
  for (int l = 0; l < L; ++l) {
    auto& Ly = R.layers[std::size_t(l)];
    Ly.layer = l;
    if (const auto* a = rec.find(site::layer_out, l)) {
      Ly.top1 = a->top_abs(0);
      Ly.top2 = a->top_abs(1);
      Ly.top3 = a->top_abs(2);
      Ly.reference = a->reference();
      Ly.massive_count = a->outlier_count;
      Ly.massive_dims = a->massive_dims();
      Ly.massive_tokens = a->massive_tokens();
      if (a->outlier_count > 0) {
        layers_with_massive.push_back(l);
        for (auto d : Ly.massive_dims) ++dim_layers[d];
      }
    }
    if (const auto* b = rec.find(site::down_proj_in, l)) {
      Ly.down_proj_top1 = b->top_abs(0);
      Ly.down_proj_massive_count = b->outlier_count;
    }
  }

  // ---- emergence ----------------------------------------------------------
  auto& E = R.emergence;
  if (!layers_with_massive.empty()) {
    E.found = true;
    E.layer = layers_with_massive.front();
    const auto& Le = R.layers[std::size_t(E.layer)];
    E.dims = Le.massive_dims;
    E.tokens = Le.massive_tokens;
    for (const auto& [d, n] : dim_layers)
      if (2 * n >= int(layers_with_massive.size())) E.persistent_dims.push_back(d);
    for (int l : layers_with_massive) {
      const auto& md = R.layers[std::size_t(l)].massive_dims;
      if (!detail::intersect(md, E.persistent_dims).empty()) {
        E.persistent_onset = l;
        break;
      }
    }
    if (const auto* b = rec.find(site::down_proj_in, E.layer)) {
      if (b->outlier_count > 0) {
        E.down_proj_in_dims = b->massive_dims();
        E.down_proj_in_rule = "massive";
      } else {
        // No entry passes the rule at the MLP input: take its largest entries at
        // the massive tokens instead (and say so).
        std::set<std::int64_t> toks(E.tokens.begin(), E.tokens.end()), dims;
        for (const auto& e : b->top)
          if (toks.count(e.token)) dims.insert(e.dim);
        E.down_proj_in_dims.assign(dims.begin(), dims.end());
        E.down_proj_in_rule = "top-k at massive tokens";
      }
    }
    for (const auto& w : weights) {
      if (w.layer < 0 || w.layer >= L) continue;
      const auto* b = rec.find(site::down_proj_in, w.layer);
      if (!b || b->outlier_count == 0) continue;
      weight_match m;
      m.layer = w.layer;
      m.down_proj_in_dims = b->massive_dims();
      m.residual_dims = R.layers[std::size_t(w.layer)].massive_dims;
      m.weight_input_channels = detail::top_n(w.input_ranking, opt.weight_top_n);
      m.weight_output_channels = detail::top_n(w.output_ranking, opt.weight_top_n);
      m.matched_input = detail::intersect(m.down_proj_in_dims, m.weight_input_channels);
      m.matched_output = detail::intersect(m.residual_dims, m.weight_output_channels);
      m.input_match = double(m.matched_input.size()) / double(m.down_proj_in_dims.size());
      if (!m.residual_dims.empty()) m.output_match = double(m.matched_output.size()) / double(m.residual_dims.size());
      R.weight_matches.push_back(std::move(m));
    }
    std::sort(R.weight_matches.begin(), R.weight_matches.end(), [](const auto& a, const auto& b) { return a.layer < b.layer; });
    for (const auto& w : weights) {
      if (w.layer != E.layer) continue;
      E.has_weights = true;
      E.weight_input_channels = detail::top_n(w.input_ranking, opt.weight_top_n);
      E.weight_output_channels = detail::top_n(w.output_ranking, opt.weight_top_n);
      E.matched_input = detail::intersect(E.down_proj_in_dims, E.weight_input_channels);
      E.matched_output = detail::intersect(E.dims, E.weight_output_channels);
      if (!E.down_proj_in_dims.empty())
        E.input_match = double(E.matched_input.size()) / double(E.down_proj_in_dims.size());
      if (!E.dims.empty()) E.output_match = double(E.matched_output.size()) / double(E.dims.size());
    }
  }

  // ---- the followed (token, dim) pairs: largest massive entries at the peak
  auto& D = R.disappearance;
  if (E.found) {
    int peak = E.layer;
    for (int l : layers_with_massive)
      if (R.layers[std::size_t(l)].top1 > R.layers[std::size_t(peak)].top1) peak = l;
    D.peak_layer = peak;
    D.peak = R.layers[std::size_t(peak)].top1;
    const auto* a = rec.find(site::layer_out, peak);
    std::set<std::pair<std::int64_t, std::int64_t>> seen;
    for (const auto& e : a->outliers) {
      if (R.pairs.size() >= opt.max_pairs) break;
      if (!a->tracked_rows.count(e.token)) continue;  // needs its rows at every layer
      if (seen.insert({e.token, e.dim}).second) R.pairs.push_back({e.token, e.dim, e.value});
    }
  }

  // ---- per-layer contributions along the pairs ------------------------------
  if (!R.pairs.empty()) {
    for (int l = 0; l < L; ++l) {
      auto& Ly = R.layers[std::size_t(l)];
      const auto* out = rec.find(site::layer_out, l);
      const auto* prev = l > 0 ? rec.find(site::layer_out, l - 1) : rec.find(site::embed, -1);
      const auto* mid = rec.find(site::resid_mid, l);
      const auto* ao = rec.find(site::attn_out, l);
      const auto* mo = rec.find(site::mlp_out, l);
      std::vector<double> vo, vi, va, vm;
      for (const auto& p : R.pairs) {
        const double sgn = p.peak_value < 0 ? -1.0 : 1.0;
        const double o = detail::row_value(out, p.token, p.dim), in = detail::row_value(prev, p.token, p.dim);
        const double m = detail::row_value(mid, p.token, p.dim);
        double at = detail::row_value(ao, p.token, p.dim), ml = detail::row_value(mo, p.token, p.dim);
        if (std::isnan(at)) at = m - in;
        if (std::isnan(ml)) ml = o - m;
        vo.push_back(sgn * o);
        vi.push_back(sgn * in);
        va.push_back(sgn * at);
        vm.push_back(sgn * ml);
      }
      Ly.pair_magnitude = detail::nanmean(vo);
      Ly.resid_in = detail::nanmean(vi);
      Ly.attn_contribution = detail::nanmean(va);
      Ly.mlp_contribution = detail::nanmean(vm);
    }
    const auto& Le = R.layers[std::size_t(E.layer)];
    if (std::isfinite(Le.attn_contribution) && std::isfinite(Le.mlp_contribution))
      E.producer = Le.mlp_contribution >= Le.attn_contribution ? "mlp_out" : "attn_out";
    else
      E.producer = "unknown";
    if (E.persistent_onset >= 0) {
      const auto& Lp = R.layers[std::size_t(E.persistent_onset)];
      E.persistent_producer = !(std::isfinite(Lp.attn_contribution) && std::isfinite(Lp.mlp_contribution))
                                  ? "unknown"
                                  : (Lp.mlp_contribution >= Lp.attn_contribution ? "mlp_out" : "attn_out");
    }
    // disappearance: later layers where the aligned magnitude falls below drop_fraction x what entered
    for (int l = D.peak_layer + 1; l < L; ++l) {
      const auto& Ly = R.layers[std::size_t(l)];
      if (!std::isfinite(Ly.pair_magnitude) || !std::isfinite(Ly.resid_in)) continue;
      if (Ly.resid_in > 0 && Ly.pair_magnitude < opt.drop_fraction * Ly.resid_in) {
        lifecycle_drop d;
        d.layer = l;
        d.before = Ly.resid_in;
        d.after = Ly.pair_magnitude;
        d.attn_contribution = Ly.attn_contribution;
        d.mlp_contribution = Ly.mlp_contribution;
        const double a = std::isfinite(d.attn_contribution) ? d.attn_contribution : 0.0;
        const double m = std::isfinite(d.mlp_contribution) ? d.mlp_contribution : 0.0;
        d.canceller = std::min(a, m) >= 0 ? "none" : (m <= a ? "mlp_out" : "attn_out");
        D.drops.push_back(d);
      }
    }
    D.found = !D.drops.empty();
    D.final_magnitude = R.layers.back().pair_magnitude;
  } else if (E.found) {
    E.producer = "unknown";
  }

  // ---- spread: sinks per layer ------------------------------------------------
  std::map<std::int64_t, int> sink_layers;
  int layers_after = 0;
  std::vector<double> sink_norms, other_norms;
  std::set<std::int64_t> all_massive_tokens;
  for (const auto& Ly : R.layers) all_massive_tokens.insert(Ly.massive_tokens.begin(), Ly.massive_tokens.end());
  std::int64_t sinks_total = 0, sinks_massive = 0;
  for (int l = 0; l < L; ++l) {
    auto& Ly = R.layers[std::size_t(l)];
    const auto* att = rec.find_attention(l);
    if (!att || att->queries == 0) continue;
    Ly.has_attention = true;
    const double Q = double(att->queries);
    double total = 0, sink = 0;
    for (std::int64_t j = 0; j < att->tracked_keys; ++j) {
      const double r = att->received_mean(j);
      total += r;
      if (r >= opt.sink_ratio * Q) {
        Ly.sinks.push_back(j);
        sink += r;
      }
    }
    for (std::int64_t h = 0; h < att->heads; ++h) total += att->received_rest[std::size_t(h)] / double(att->heads);
    Ly.sink_mass = total > 0 ? sink / total : std::numeric_limits<double>::quiet_NaN();
    double fm = 0;
    int over = 0;
    for (std::int64_t h = 0; h < att->heads; ++h) {
      const double m = att->first_key_mass[std::size_t(h)] / Q;
      fm += m;
      if (m > 0.3) ++over;
    }
    Ly.first_token_mass = fm / double(att->heads);
    Ly.sink_eps_fraction = double(over) / double(att->heads);
    if (const auto* v = rec.find(site::v, l)) {
      std::vector<double> sn, on;
      std::set<std::int64_t> sk(Ly.sinks.begin(), Ly.sinks.end());
      for (std::size_t p = 0; p < v->token_norm.size(); ++p) {
        const double n = v->token_norm[p];
        if (std::isnan(n)) continue;
        (sk.count(std::int64_t(p)) ? sn : on).push_back(n);
      }
      Ly.sink_value_norm = detail::nanmean(sn);
      Ly.other_value_norm = detail::nanmean(on);
    }
    if (!E.found || l >= E.layer) {
      ++layers_after;
      for (auto t : Ly.sinks) {
        ++sink_layers[t];
        ++sinks_total;
        if (all_massive_tokens.count(t)) ++sinks_massive;
      }
      sink_norms.push_back(Ly.sink_value_norm);
      other_norms.push_back(Ly.other_value_norm);
    }
    for (auto t : Ly.sinks) R.spread.sink_onset.emplace(t, l);
  }
  for (const auto& [t, n] : sink_layers)
    if (2 * n >= layers_after) R.spread.persistent_sinks.push_back(t);
  if (sinks_total > 0 && !all_massive_tokens.empty())
    R.spread.sinks_with_massive_share = double(sinks_massive) / double(sinks_total);
  R.spread.mean_sink_value_norm = detail::nanmean(sink_norms);
  R.spread.mean_other_value_norm = detail::nanmean(other_norms);
  return R;
}

inline void lifecycle_layer::to_json(json_writer& w) const {
  w.begin_object();
  w.field("layer", layer).field("top1", top1).field("top2", top2).field("top3", top3);
  w.field("reference", reference).field("down_proj_top1", down_proj_top1);
  w.field("massive_count", massive_count).field("down_proj_massive_count", down_proj_massive_count);
  w.field("massive_dims", massive_dims).field("massive_tokens", massive_tokens);
  w.field("pair_magnitude", pair_magnitude).field("resid_in", resid_in);
  w.field("attn_contribution", attn_contribution).field("mlp_contribution", mlp_contribution);
  if (has_attention) {
    w.field("sinks", sinks).field("sink_mass", sink_mass).field("first_token_mass", first_token_mass);
    w.field("sink_eps_fraction", sink_eps_fraction);
    w.field("sink_value_norm", sink_value_norm).field("other_value_norm", other_value_norm);
  }
  w.end_object();
}

inline void lifecycle_report::to_json(json_writer& w) const {
  w.begin_object();
  w.field("model", model).field("n_layers", n_layers);
  w.key("options").begin_object();
  w.field("sink_ratio", options.sink_ratio).field("drop_fraction", options.drop_fraction);
  w.field("max_pairs", std::uint64_t(options.max_pairs)).field("weight_top_n", std::uint64_t(options.weight_top_n));
  w.end_object();
  w.key("emergence").begin_object();
  w.field("found", emergence.found).field("layer", emergence.layer);
  w.field("dims", emergence.dims).field("tokens", emergence.tokens).field("persistent_dims", emergence.persistent_dims);
  w.field("persistent_onset", emergence.persistent_onset).field("persistent_producer", emergence.persistent_producer);
  w.field("down_proj_in_dims", emergence.down_proj_in_dims).field("down_proj_in_rule", emergence.down_proj_in_rule);
  w.field("has_weights", emergence.has_weights);
  w.field("weight_input_channels", emergence.weight_input_channels);
  w.field("weight_output_channels", emergence.weight_output_channels);
  w.field("matched_input", emergence.matched_input).field("matched_output", emergence.matched_output);
  w.field("input_match", emergence.input_match).field("output_match", emergence.output_match);
  w.field("producer", emergence.producer);
  w.end_object();
  w.key("weight_matches").begin_array();
  for (const auto& m : weight_matches) {
    w.begin_object();
    w.field("layer", m.layer).field("down_proj_in_dims", m.down_proj_in_dims).field("residual_dims", m.residual_dims);
    w.field("weight_input_channels", m.weight_input_channels).field("weight_output_channels", m.weight_output_channels);
    w.field("matched_input", m.matched_input).field("matched_output", m.matched_output);
    w.field("input_match", m.input_match).field("output_match", m.output_match);
    w.end_object();
  }
  w.end_array();
  w.key("pairs").begin_array();
  for (const auto& p : pairs) {
    w.begin_object();
    w.field("token", p.token).field("dim", p.dim).field("peak_value", p.peak_value);
    w.end_object();
  }
  w.end_array();
  w.key("spread").begin_object();
  w.field("persistent_sinks", spread.persistent_sinks);
  w.key("sink_onset").begin_object();
  for (const auto& [t, l] : spread.sink_onset) w.field(std::to_string(t), l);
  w.end_object();
  w.field("sinks_with_massive_share", spread.sinks_with_massive_share);
  w.field("mean_sink_value_norm", spread.mean_sink_value_norm);
  w.field("mean_other_value_norm", spread.mean_other_value_norm);
  w.end_object();
  w.key("disappearance").begin_object();
  w.field("found", disappearance.found).field("peak_layer", disappearance.peak_layer).field("peak", disappearance.peak);
  w.field("final_magnitude", disappearance.final_magnitude);
  w.key("drops").begin_array();
  for (const auto& d : disappearance.drops) {
    w.begin_object();
    w.field("layer", d.layer).field("before", d.before).field("after", d.after);
    w.field("attn_contribution", d.attn_contribution).field("mlp_contribution", d.mlp_contribution);
    w.field("canceller", d.canceller);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  w.key("layers").array(layers);
  w.end_object();
}

}  // namespace sysout::trace

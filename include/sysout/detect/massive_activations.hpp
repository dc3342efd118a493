// Activation outliers ("massive activations"): a few hidden dims at a few
// tokens (start token, delimiters) with magnitudes orders above the rest.
//
// Rule (Sun et al. 2024, "Massive Activations in LLMs"; An et al. 2025,
// "Systematic Outliers in LLMs"): an entry h[t, d] of one layer's hidden states
// at one site is massive when
//     |h| > threshold_abs (default 100)   AND   |h| > ratio (default 1000) x ref
// where ref is the median of |h| over that whole tensor (Sun et al.; the
// default) or its mean (An et al. define their threshold as 1000 x mean |h|;
// selectable with reference_stat::mean). Equivalently |h| >
// max(threshold_abs, ratio x ref): that effective threshold is reported.
//  - ref == 0 (e.g. more than half the entries are exactly 0): the ratio test
//    holds for every nonzero value, so only threshold_abs decides. Reported as is.
//  - NaN entries are never outliers; they are counted (stats.nan_count).
//  - +-Inf entries exceed every finite threshold and ARE listed as outliers
//    (value +-inf; JSON writes null or "inf", see json_writer), and counted.
//  - ref == Inf (more than half the entries infinite): no outlier can pass.
//
// Sites: `site` is the hook-site name of sysout/trace/sites.hpp (site_name():
// "down_proj_in" for the MLP down-projection input [T, d_ff], "layer_out" for
// the residual stream after the layer [T, d_model]); any string is accepted.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "sysout/detect/stats.hpp"

namespace sysout::detect {

enum class reference_stat : std::uint8_t { median, mean };

constexpr const char* reference_stat_name(reference_stat r) noexcept {
  return r == reference_stat::median ? "median" : "mean";
}

struct massive_options {
  double threshold_abs = 100.0;                       // |h| > threshold_abs
  double ratio = 1000.0;                              // |h| > ratio x reference
  reference_stat reference = reference_stat::median;  // of |h| over the tensor
  int topk = 10;                                      // top magnitudes to keep per tensor
  std::int64_t candidate_cap = std::int64_t(1) << 22;  // |h| > threshold_abs kept during the pass; more -> second pass
  backend impl = backend::best;
};

// One outlier entry.
struct massive_activation {
  int layer = -1;
  std::string site;
  std::int64_t token = 0;
  std::int64_t dim = 0;
  double value = 0;  // signed

  void to_json(json_writer& w) const {
    w.begin_object();
    w.field("layer", layer).field("site", site).field("token", token).field("dim", dim).field("value", value);
    w.end_object();
  }
};

// One of the top-k magnitudes of a tensor.
struct magnitude_position {
  std::int64_t token = 0;
  std::int64_t dim = 0;
  double value = 0;  // signed; |value| is the magnitude

  void to_json(json_writer& w) const {
    w.begin_object();
    w.field("token", token).field("dim", dim).field("value", value);
    w.end_object();
  }
};

struct massive_activation_report {
  int layer = -1;
  std::string site;
  std::int64_t tokens = 0, dims = 0;
  massive_options options;
  double reference_value = 0;  // median or mean of |h| (options.reference)
  double threshold = 0;        // effective: max(threshold_abs, ratio x reference_value)
  magnitude_stats stats;       // median/mean/max |h|, NaN/Inf/fp16-overflow counts
  std::vector<massive_activation> outliers;  // every outlier, in (token, dim) order
  std::vector<magnitude_position> top;       // top-k |h|, largest first
  std::vector<std::int64_t> massive_dims;    // sorted, unique
  std::vector<std::int64_t> massive_tokens;  // sorted, unique

  bool found() const noexcept { return !outliers.empty(); }

  void to_json(json_writer& w) const {
    w.begin_object();
    w.field("layer", layer).field("site", site).field("tokens", tokens).field("dims", dims);
    w.field("threshold_abs", options.threshold_abs).field("ratio", options.ratio);
    w.field("reference", reference_stat_name(options.reference)).field("reference_value", reference_value);
    w.field("threshold", threshold);
    w.key("stats").value(stats);
    w.field("massive_dims", massive_dims).field("massive_tokens", massive_tokens);
    w.key("outliers").begin_array();
    for (const auto& o : outliers) {  // layer and site are the report's: written once
      w.begin_object();
      w.field("token", o.token).field("dim", o.dim).field("value", o.value);
      w.end_object();
    }
    w.end_array();
    w.field("top", top);
    w.end_object();
  }
};

// hidden: [tokens, dims] hidden states of one layer at one site, any floating
// dtype and layout. For a batch, pass hidden.select(0, b).
inline massive_activation_report find_massive_activations(const tensor_view& hidden, int layer, std::string site,
                                                          const massive_options& opt = {}) {
  const std::string who = hidden.where() + " (layer " + std::to_string(layer) + ", site '" + site + "')";
  if (hidden.rank() != 2)
    throw_error(who, "massive-activation detection expects hidden states [tokens, dims], got shape ",
                hidden.shape().str(), hidden.rank() == 3 ? " (for a batch, pass hidden.select(0, b))" : "");
  if (!(opt.threshold_abs >= 0) || !(opt.ratio >= 0))
    throw_error(who, "threshold_abs and ratio must be >= 0, got ", opt.threshold_abs, " and ", opt.ratio);
  if (opt.topk < 0) throw_error(who, "topk must be >= 0, got ", opt.topk);

  massive_activation_report r;
  r.layer = layer;
  r.site = std::move(site);
  r.tokens = hidden.shape()[0];
  r.dims = hidden.shape()[1];
  r.options = opt;

  detail::scan_request rq;
  rq.topk = opt.topk;
  rq.collect_above = opt.threshold_abs;  // a superset of the outliers; filtered below
  rq.collect_cap = opt.candidate_cap;
  detail::scan_result sc = detail::scan(hidden, rq, opt.impl);
  r.stats = sc.stats;
  r.reference_value = opt.reference == reference_stat::median ? sc.stats.median_abs : sc.stats.mean_abs;
  r.threshold = std::max(opt.threshold_abs, opt.ratio * r.reference_value);
  if (opt.ratio == 0) r.threshold = opt.threshold_abs;  // 0 x Inf would be NaN

  std::vector<ranked_value> above;
  if (sc.above_complete) {
    for (const auto& a : sc.above)
      if (a.magnitude > r.threshold) above.push_back(a);
  } else {
    above = detail::collect_above(hidden, r.threshold, opt.impl);  // too many candidates: rescan
  }
  const std::int64_t D = r.dims;
  auto value_at = [&](std::int64_t flat) { return load_as_double(hidden.ptr_at(offset_of_flat(hidden, flat)), hidden.type()); };
  r.outliers.reserve(above.size());
  for (const auto& a : above) {
    const std::int64_t t = a.index / D, d = a.index % D;
    r.outliers.push_back({layer, r.site, t, d, value_at(a.index)});
    r.massive_dims.push_back(d);
    r.massive_tokens.push_back(t);
  }
  for (auto* v : {&r.massive_dims, &r.massive_tokens}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  for (const auto& t : sc.topk) r.top.push_back({t.index / D, t.index % D, value_at(t.index)});
  return r;
}

}  // namespace sysout::detect

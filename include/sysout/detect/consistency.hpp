// Consistency between the three kinds of systematic outliers (An et al. 2025
// report 100% weight<->activation and ~95% attention<->activation).
//
// Weight <-> activation: which down_proj channels can a massive dim be matched to?
//  - site "down_proj_in" ([T, d_ff]): a massive value in d_ff dim i is multiplied
//    by down_proj INPUT channel i, i.e. column i of the HF [d_model, d_ff]
//    matrix -> compared with weight_outlier_report::input (top input channels).
//  - site "layer_out" (or any [T, d_model] residual site): a massive value in
//    d_model dim j was written by down_proj OUTPUT channel j, i.e. row j of the
//    HF matrix -> compared with weight_outlier_report::output.
// The report's orientation already maps stored rows/cols to input/output
// channels, so both mappings hold for either storage order.
//
// Attention <-> activation: share of attention-outlier tokens (sink keys) that
// carry massive activations (massive_activation_report::massive_tokens).
//
// Shares of an empty set are reported as NaN (JSON null), not as 0 or 1.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "sysout/detect/attention_sinks.hpp"
#include "sysout/detect/massive_activations.hpp"
#include "sysout/detect/weight_outliers.hpp"

namespace sysout::detect {

enum class channel_side : std::uint8_t { input, output };

struct consistency_report {
  std::string kind;                   // "weight_activation" or "attention_activation"
  std::vector<std::int64_t> items;    // massive dims, or attention-outlier tokens
  std::vector<std::int64_t> against;  // top weight channels, or massive tokens
  std::vector<std::int64_t> matched;  // items found in `against`
  double share = std::numeric_limits<double>::quiet_NaN();  // matched / items (NaN if no items)

  void to_json(json_writer& w) const {
    w.begin_object();
    w.field("kind", kind).field("share", share).field("items", items).field("against", against);
    w.field("matched", matched);
    w.end_object();
  }
};

namespace detail {
inline consistency_report share_of(std::string kind, std::vector<std::int64_t> items, std::vector<std::int64_t> against) {
  consistency_report r;
  r.kind = std::move(kind);
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
  std::vector<std::int64_t> sorted_against = against;
  std::sort(sorted_against.begin(), sorted_against.end());
  for (auto x : items)
    if (std::binary_search(sorted_against.begin(), sorted_against.end(), x)) r.matched.push_back(x);
  if (!items.empty()) r.share = double(r.matched.size()) / double(items.size());
  r.items = std::move(items);
  r.against = std::move(against);
  return r;
}
}  // namespace detail

// Which side of down_proj a site's dims index: "down_proj_in" -> input, every
// other (residual-stream) site -> output.
inline channel_side side_of_site(const std::string& site) {
  return site == "down_proj_in" ? channel_side::input : channel_side::output;
}

// Share of the massive dims of `act` that are among the top_n weight-outlier
// channels of `w` on the matching side (see the header comment).
inline consistency_report weight_activation_consistency(const massive_activation_report& act,
                                                        const weight_outlier_report& w, std::size_t top_n) {
  const channel_side side = side_of_site(act.site);
  const channel_profile& prof = side == channel_side::input ? w.input : w.output;
  if (std::int64_t(prof.max_abs.size()) != act.dims)
    throw_error("weight_activation_consistency", "site '", act.site, "' has ", act.dims, " dims but ", w.name,
                " has ", prof.max_abs.size(), side == channel_side::input ? " input" : " output",
                " channels (stored shape [", w.rows, ", ", w.cols, "], orientation ",
                w.options.orientation == weight_orientation::out_in ? "out_in" : "in_out", ")");
  return detail::share_of("weight_activation", act.massive_dims, prof.top(top_n));
}

// Explicit form: massive dims vs a list of weight channels.
inline consistency_report weight_activation_consistency(const std::vector<std::int64_t>& massive_dims,
                                                        const std::vector<std::int64_t>& weight_channels) {
  return detail::share_of("weight_activation", massive_dims, weight_channels);
}

// Share of attention-outlier tokens that carry massive activations.
inline consistency_report attention_activation_consistency(const attention_sink_report& att,
                                                           const massive_activation_report& act) {
  return detail::share_of("attention_activation", att.outlier_tokens, act.massive_tokens);
}
inline consistency_report attention_activation_consistency(const std::vector<std::int64_t>& sink_tokens,
                                                           const std::vector<std::int64_t>& massive_tokens) {
  return detail::share_of("attention_activation", sink_tokens, massive_tokens);
}

}  // namespace sysout::detect

// Attention outliers (attention sinks): keys that soak up most of the attention.
//
// Input: attention probabilities P [heads, queries, keys] of one layer (post
// softmax; causal or not), either whole (find_attention_sinks) or streamed
// (attention_sink_accumulator): blocks of queries, or per-(head, key) column
// sums produced by a fused flash-style kernel that never materializes P.
//
// Measures (An et al. 2025 "Systematic Outliers in LLMs"; Gu et al. 2024 "When
// Attention Sink Emerges in Language Models"):
//  - received[k] = (1/H) sum_h sum_q P[h, q, k]: attention a key receives,
//    summed over queries and averaged over heads.
//  - attention outlier: received[k] >= outlier_ratio (default 0.1) x N_k, where
//      normalization::all_queries     N_k = number of queries Q (default; the
//                                     rule as the issue/paper states it), or
//      normalization::visible_queries N_k = queries that can see key k under a
//                                     causal mask (queries are the last Q of the
//                                     K positions: N_k = min(Q, K - k)). Late keys
//                                     are seen by few queries, so this flags them
//                                     more easily; all_queries favours early keys.
//  - sink_ratio[h]: share of head h's attention mass received by the outlier keys.
//  - first_token_mass[h] = (1/Q) sum_q P[h, q, 0]; Sink^eps = fraction of heads
//    with first_token_mass > eps (default 0.3), per layer (Gu et al. average
//    this over layers too: the caller does that).
//  - row mass: rows whose sum differs from 1 by more than mass_tolerance
//    (softmax1 / learned sinks / off-by-one attention) are counted and the
//    min/max row mass reported: not an error. From column sums only the
//    per-head total is known; the per-row fields are then -1 / NaN.
//  - value norms (optional input V): per-token L2 norm of the value vectors
//    averaged over kv heads; mean over sink tokens vs over the other tokens
//    (the papers find sinks carry small values).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "sysout/detect/stats.hpp"

namespace sysout::detect {

enum class sink_normalization : std::uint8_t { all_queries, visible_queries };

struct attention_sink_options {
  double outlier_ratio = 0.1;  // key is an outlier when received >= outlier_ratio x N_k
  sink_normalization normalization = sink_normalization::all_queries;
  double sink_epsilon = 0.3;     // Sink^eps threshold on first-token mass
  double mass_tolerance = 1e-3;  // |row sum - 1| above this counts as "mass not 1"
  int topk = 10;                 // keys with the largest received attention to list
  std::int64_t value_heads = 1;  // kv heads of a rank-2 V [tokens, value_heads * d]
  backend impl = backend::best;
};

struct attention_sink_report {
  int layer = -1;
  std::int64_t heads = 0, queries = 0, keys = 0;
  attention_sink_options options;
  std::vector<double> received;              // [keys]
  std::vector<std::int64_t> outlier_tokens;  // keys flagged as attention outliers, increasing
  std::vector<std::int64_t> top_keys;        // top-k keys by received, largest first
  std::vector<double> sink_ratio;            // [heads]
  std::vector<double> first_token_mass;      // [heads]
  double sink_eps_fraction = 0;              // Sink^eps of this layer
  std::vector<double> head_mass;             // [heads] total probability mass (= queries if rows sum to 1)
  std::int64_t off_mass_rows = -1;           // rows with |sum - 1| > tolerance; -1 = unknown
  std::int64_t nonfinite_rows = -1;          // rows holding NaN/Inf; -1 = unknown
  double min_row_mass = std::numeric_limits<double>::quiet_NaN();
  double max_row_mass = std::numeric_limits<double>::quiet_NaN();
  bool has_value_norms = false;
  std::vector<double> value_norm;  // [tokens] mean over kv heads of ||v||
  double sink_value_norm = std::numeric_limits<double>::quiet_NaN();   // mean over outlier tokens
  double other_value_norm = std::numeric_limits<double>::quiet_NaN();  // mean over the rest

  void to_json(json_writer& w) const {
    w.begin_object();
    w.field("layer", layer).field("heads", heads).field("queries", queries).field("keys", keys);
    w.field("outlier_ratio", options.outlier_ratio);
    w.field("normalization",
            options.normalization == sink_normalization::all_queries ? "all_queries" : "visible_queries");
    w.field("sink_epsilon", options.sink_epsilon);
    w.field("outlier_tokens", outlier_tokens).field("top_keys", top_keys);
    w.field("sink_eps_fraction", sink_eps_fraction);
    w.field("sink_ratio", sink_ratio).field("first_token_mass", first_token_mass).field("head_mass", head_mass);
    w.field("off_mass_rows", off_mass_rows).field("nonfinite_rows", nonfinite_rows);
    w.field("min_row_mass", min_row_mass).field("max_row_mass", max_row_mass);
    w.field("received", received);
    if (has_value_norms) {
      w.field("sink_value_norm", sink_value_norm).field("other_value_norm", other_value_norm);
      w.field("value_norm", value_norm);
    }
    w.end_object();
  }
};

// Streaming form: feed query blocks in any order (or column sums), then finish().
class attention_sink_accumulator {
 public:
  attention_sink_accumulator(std::int64_t heads, std::int64_t keys, attention_sink_options opt = {}, int layer = -1)
      : heads_(heads), keys_(keys), opt_(opt), layer_(layer),
        colsum_(std::size_t(std::max<std::int64_t>(heads * keys, 0)), 0.0),
        head_mass_(std::size_t(std::max<std::int64_t>(heads, 0)), 0.0) {
    if (heads < 0 || keys < 0) throw_error("attention_sink_accumulator", "negative heads/keys ", heads, ", ", keys);
  }

  // probs: [heads, q_block, keys] rows of P (any floating dtype / layout).
  void add_queries(const tensor_view& probs) {
    if (probs.rank() != 3 || probs.shape()[0] != heads_ || probs.shape()[2] != keys_)
      throw_error(probs.where(), "attention probabilities: expected [heads=", heads_, ", queries, keys=", keys_,
                  "], got shape ", probs.shape().str());
    if (!is_floating(probs.type())) throw_error(probs.where(), "attention probabilities must be floating");
    const std::int64_t qb = probs.shape()[1];
    std::vector<float> scratch;
    // Fast rows are addressed by pointer: building two sub-views per row
    // (select) took over a third of the detector's time on [9, 512, 512].
    const row_kernel kern = fast_row_kernel(probs);
    for (std::int64_t h = 0; h < heads_; ++h) {
      double* acc = colsum_.data() + h * keys_;
      const tensor_view head = kern == row_kernel::none ? probs.select(0, h) : tensor_view{};
      for (std::int64_t q = 0; q < qb; ++q) {
        const double s = kern == row_kernel::none
                             ? add_row(head.select(0, q), acc, scratch)
                             : add_fast_row(kern, probs.ptr_at(h * probs.strides()[0] + q * probs.strides()[1]), acc);
        head_mass_[std::size_t(h)] += s;
        if (!std::isfinite(s)) {
          ++nonfinite_rows_;
          continue;
        }
        if (std::fabs(s - 1.0) > opt_.mass_tolerance) ++off_mass_rows_;
        min_row_ = std::min(min_row_, s);
        max_row_ = std::max(max_row_, s);
      }
    }
    queries_ += qb;
  }

  // column_sums: [heads, keys], sum over num_queries queries of P (from a fused
  // kernel); head_mass: optional [heads] total mass (defaults to sum over keys).
  void add_column_sums(const tensor_view& column_sums, std::int64_t num_queries, const tensor_view& head_mass = {}) {
    if (column_sums.rank() != 2 || column_sums.shape()[0] != heads_ || column_sums.shape()[1] != keys_)
      throw_error(column_sums.where(), "column sums: expected [heads=", heads_, ", keys=", keys_, "], got shape ",
                  column_sums.shape().str());
    if (num_queries < 0) throw_error(column_sums.where(), "negative number of queries ", num_queries);
    if (head_mass.rank() > 0) {
      if (head_mass.rank() != 1 || head_mass.shape()[0] != heads_)
        throw_error(head_mass.where(), "head mass: expected [heads=", heads_, "], got shape ",
                    head_mass.shape().str());
    }
    for (std::int64_t h = 0; h < heads_; ++h) {
      double tot = 0;
      for (std::int64_t k = 0; k < keys_; ++k) {
        const double c = column_sums.get(h, k);
        colsum_[std::size_t(h * keys_ + k)] += c;
        tot += c;
      }
      head_mass_[std::size_t(h)] += head_mass.rank() == 1 ? head_mass.get(h) : tot;
    }
    queries_ += num_queries;
    rows_known_ = false;
  }

  std::int64_t queries() const noexcept { return queries_; }
  // Column sums so far, [heads, keys] row-major, double.
  const std::vector<double>& column_sums() const noexcept { return colsum_; }

  // values (optional): [tokens, value_heads * d] or [kv_heads, tokens, d] with tokens == keys.
  attention_sink_report finish(const tensor_view& values = {}) const {
    attention_sink_report r;
    r.layer = layer_;
    r.heads = heads_;
    r.queries = queries_;
    r.keys = keys_;
    r.options = opt_;
    r.received.assign(std::size_t(keys_), 0.0);
    for (std::int64_t h = 0; h < heads_; ++h)
      for (std::int64_t k = 0; k < keys_; ++k) r.received[std::size_t(k)] += colsum_[std::size_t(h * keys_ + k)];
    if (heads_ > 0)
      for (auto& x : r.received) x /= double(heads_);
    const std::int64_t offset = std::max<std::int64_t>(0, keys_ - queries_);  // queries are the last positions
    for (std::int64_t k = 0; k < keys_; ++k) {
      const double n_k = opt_.normalization == sink_normalization::all_queries
                             ? double(queries_)
                             : double(std::clamp<std::int64_t>(queries_ + offset - k, 0, queries_));
      if (n_k > 0 && r.received[std::size_t(k)] >= opt_.outlier_ratio * n_k) r.outlier_tokens.push_back(k);
    }
    {
      std::vector<std::int64_t> idx(static_cast<std::size_t>(keys_));
      for (std::int64_t k = 0; k < keys_; ++k) idx[std::size_t(k)] = k;
      const std::size_t kk = std::min<std::size_t>(std::size_t(std::max(opt_.topk, 0)), idx.size());
      std::partial_sort(idx.begin(), idx.begin() + std::ptrdiff_t(kk), idx.end(), [&](std::int64_t a, std::int64_t b) {
        const double ra = r.received[std::size_t(a)], rb = r.received[std::size_t(b)];
        return ra > rb || (ra == rb && a < b);
      });
      idx.resize(kk);
      r.top_keys = idx;
    }
    r.head_mass = head_mass_;
    std::int64_t eps_heads = 0;
    for (std::int64_t h = 0; h < heads_; ++h) {
      double sink = 0;
      for (auto k : r.outlier_tokens) sink += colsum_[std::size_t(h * keys_ + k)];
      const double m = head_mass_[std::size_t(h)];
      r.sink_ratio.push_back(m > 0 ? sink / m : 0.0);
      const double first = keys_ > 0 && queries_ > 0 ? colsum_[std::size_t(h * keys_)] / double(queries_) : 0.0;
      r.first_token_mass.push_back(first);
      if (first > opt_.sink_epsilon) ++eps_heads;
    }
    r.sink_eps_fraction = heads_ > 0 ? double(eps_heads) / double(heads_) : 0.0;
    if (rows_known_) {
      r.off_mass_rows = off_mass_rows_;
      r.nonfinite_rows = nonfinite_rows_;
      if (min_row_ <= max_row_) {
        r.min_row_mass = min_row_;
        r.max_row_mass = max_row_;
      }
    }
    if (values.rank() > 0) add_value_norms(r, values);
    return r;
  }

 private:
  enum class row_kernel : std::uint8_t { none, f32, f16, bf16 };
  row_kernel fast_row_kernel(const tensor_view& probs) const {
#ifdef SYSOUT_DETECT_HAVE_HIGHWAY
    if (opt_.impl == backend::best && (keys_ <= 1 || probs.strides()[2] == 1)) {
      if (probs.type() == dtype::f32) return row_kernel::f32;
      if (probs.type() == dtype::f16) return row_kernel::f16;
      if (probs.type() == dtype::bf16) return row_kernel::bf16;
    }
#endif
    (void)probs;
    return row_kernel::none;
  }
  double add_fast_row(row_kernel k, const void* row, double* acc) const {
#ifdef SYSOUT_DETECT_HAVE_HIGHWAY
    const std::size_t K = std::size_t(keys_);
    switch (k) {
      case row_kernel::f32: return simd::accumulate_row(static_cast<const float*>(row), K, acc);
      case row_kernel::f16: return simd::accumulate_row<simd::f16_src>(static_cast<const std::uint16_t*>(row), K, acc);
      case row_kernel::bf16: return simd::accumulate_row<simd::bf16_src>(static_cast<const std::uint16_t*>(row), K, acc);
      case row_kernel::none: break;
    }
#endif
    (void)k, (void)row, (void)acc;
    return 0;
  }
  double add_row(const tensor_view& row, double* acc, std::vector<float>& scratch) const {
#ifdef SYSOUT_DETECT_HAVE_HIGHWAY
    const std::int64_t K = keys_;
    if (opt_.impl == backend::best && (row.type() == dtype::f32 || row.type() == dtype::f16 || row.type() == dtype::bf16)) {
      if (row.rows_contiguous()) {  // f16/bf16 widened inside the kernel: no scratch round trip
        if (row.type() == dtype::f32) return simd::accumulate_row(static_cast<const float*>(row.data()), std::size_t(K), acc);
        const auto* p16 = static_cast<const std::uint16_t*>(row.data());
        return row.type() == dtype::f16 ? simd::accumulate_row<simd::f16_src>(p16, std::size_t(K), acc)
                                        : simd::accumulate_row<simd::bf16_src>(p16, std::size_t(K), acc);
      }
      scratch.resize(std::size_t(K));
      for (std::int64_t k = 0; k < K; ++k) scratch[std::size_t(k)] = float(row.get(k));
      return simd::accumulate_row(scratch.data(), std::size_t(K), acc);
    }
#endif
    (void)scratch;
    return add_row_reference(row, acc);
  }

  // Scalar reference. The dtype is resolved once per row: a per-element
  // load_as_double that the compiler does not inline was measured 2.7x slower.
  static double add_row_reference(const tensor_view& row, double* acc) {
    const std::int64_t K = row.shape()[0], stride = row.strides()[0];
    auto run = [&](auto load) {
      double s = 0;
      for (std::int64_t k = 0; k < K; ++k) {
        const double x = load(k * stride);
        acc[k] += x;
        s += x;
      }
      return s;
    };
    switch (row.type()) {
      case dtype::f32: {
        const auto* p = static_cast<const float*>(row.data());
        return run([p](std::int64_t o) { return double(p[o]); });
      }
      case dtype::f64: {
        const auto* p = static_cast<const double*>(row.data());
        return run([p](std::int64_t o) { return p[o]; });
      }
      default:
        return run([&row](std::int64_t o) { return load_as_double(row.ptr_at(o), row.type()); });
    }
  }

  void add_value_norms(attention_sink_report& r, const tensor_view& v) const {
    std::int64_t kvh, T, d;
    bool heads_first;
    if (v.rank() == 3) {
      kvh = v.shape()[0], T = v.shape()[1], d = v.shape()[2];
      heads_first = true;
    } else if (v.rank() == 2) {
      kvh = opt_.value_heads;
      T = v.shape()[0];
      if (kvh <= 0 || v.shape()[1] % kvh != 0)
        throw_error(v.where(), "values [tokens, kv_heads*d] of shape ", v.shape().str(), " do not split into ",
                    kvh, " kv heads (options.value_heads)");
      d = v.shape()[1] / kvh;
      heads_first = false;
    } else {
      throw_error(v.where(), "values: expected [tokens, kv_heads*d] or [kv_heads, tokens, d], got shape ",
                  v.shape().str());
    }
    if (T != keys_)
      throw_error(v.where(), "values have ", T, " tokens but the attention has ", keys_, " keys (shape ",
                  v.shape().str(), ")");
    r.has_value_norms = true;
    r.value_norm.assign(std::size_t(T), 0.0);
    for (std::int64_t t = 0; t < T; ++t) {
      double tot = 0;
      for (std::int64_t h = 0; h < kvh; ++h) {
        double ss = 0;
        for (std::int64_t j = 0; j < d; ++j) {
          const double x = heads_first ? v.get(h, t, j) : v.get(t, h * d + j);
          ss += x * x;
        }
        tot += std::sqrt(ss);
      }
      r.value_norm[std::size_t(t)] = kvh > 0 ? tot / double(kvh) : 0.0;
    }
    double s_sink = 0, s_other = 0;
    std::int64_t n_sink = 0;
    std::vector<char> is_sink(std::size_t(T), 0);
    for (auto k : r.outlier_tokens) is_sink[std::size_t(k)] = 1;
    for (std::int64_t t = 0; t < T; ++t) {
      if (is_sink[std::size_t(t)]) {
        s_sink += r.value_norm[std::size_t(t)];
        ++n_sink;
      } else {
        s_other += r.value_norm[std::size_t(t)];
      }
    }
    if (n_sink > 0) r.sink_value_norm = s_sink / double(n_sink);
    if (T - n_sink > 0) r.other_value_norm = s_other / double(T - n_sink);
  }

  std::int64_t heads_, keys_;
  attention_sink_options opt_;
  int layer_;
  std::vector<double> colsum_;
  std::vector<double> head_mass_;
  std::int64_t queries_ = 0;
  std::int64_t off_mass_rows_ = 0, nonfinite_rows_ = 0;
  double min_row_ = std::numeric_limits<double>::infinity();
  double max_row_ = -std::numeric_limits<double>::infinity();
  bool rows_known_ = true;
};

// Whole-matrix form: probs [heads, queries, keys]; values optional (see finish()).
inline attention_sink_report find_attention_sinks(const tensor_view& probs, int layer = -1,
                                                  const attention_sink_options& opt = {},
                                                  const tensor_view& values = {}) {
  if (probs.rank() != 3)
    throw_error(probs.where(), "attention probabilities: expected [heads, queries, keys], got shape ",
                probs.shape().str());
  attention_sink_accumulator acc(probs.shape()[0], probs.shape()[2], opt, layer);
  acc.add_queries(probs);
  return acc.finish(values);
}

}  // namespace sysout::detect

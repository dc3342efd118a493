// Weight outliers: down_proj channels (columns) whose largest |w| towers over
// their mean |w|. Massive activations are produced by these weights: a massive
// value in d_ff dim i at the down_proj INPUT is multiplied by input column i of
// down_proj, and the weight in that column with the outlier magnitude writes it
// into one d_model dim j, i.e. output row j (see detect/consistency.hpp).
//
// Orientation: weight_orientation::out_in is [out_features, in_features], the
// way PyTorch / Hugging Face store nn.Linear (down_proj: [d_model, d_ff]) and the
// way GGUF's ne = {in, out} reads as a row-major matrix; in_out is the transpose
// ([d_ff, d_model]). Input channel = column for out_in, row for in_out.
//
// Per input channel c (and likewise per output channel):
//   max_abs[c], mean_abs[c] over the other axis, ratio[c] = max_abs / mean_abs
//   (mean 0: ratio 0 if max is 0 too, else +Inf), and a ranking of the channels
//   by ratio (or by max_abs), largest first, ties by smaller index.
// Top outliers: the k largest |w| with (row, col) in the STORED matrix as passed.
// NaN/Inf weights are counted and skipped in every statistic.
//
// int8 weights: int8_weights{q, scales, group_size}: w[r, c] = q[r, c] *
// scales[r, c / group_size] (group_size == cols: one scale per row). GGUF
// blocks (Q4_K, Q6_K...) are dequantized by the caller with io/ggml_quants.hpp
// and passed as an f32 view.
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "sysout/detect/stats.hpp"

namespace sysout::detect {

enum class weight_orientation : std::uint8_t { out_in, in_out };
enum class channel_rank_by : std::uint8_t { ratio, max_abs };

// Symmetric int8 weights with per-row or per-group scales.
struct int8_weights {
  tensor_view q;       // [rows, cols] i8
  tensor_view scales;  // [rows, cols / group_size] f32/f16/bf16
  std::int64_t group_size = 0;  // along the stored row; 0 or cols = one scale per row
};

struct weight_outlier_options {
  weight_orientation orientation = weight_orientation::out_in;
  channel_rank_by rank_by = channel_rank_by::ratio;
  int top_outliers = 16;  // largest |w| entries to list
  backend impl = backend::best;
};

struct weight_entry {
  std::int64_t row = 0, col = 0;  // in the stored matrix
  double value = 0;

  void to_json(json_writer& w) const {
    w.begin_object();
    w.field("row", row).field("col", col).field("value", value);
    w.end_object();
  }
};

struct channel_profile {
  std::vector<double> max_abs, mean_abs, ratio;  // per channel
  std::vector<std::int64_t> ranking;             // channels, largest first

  // The first n channels of the ranking.
  std::vector<std::int64_t> top(std::size_t n) const {
    return {ranking.begin(), ranking.begin() + std::ptrdiff_t(std::min(n, ranking.size()))};
  }
  void to_json(json_writer& w) const {
    w.begin_object();
    w.field("ranking", ranking).field("max_abs", max_abs).field("mean_abs", mean_abs).field("ratio", ratio);
    w.end_object();
  }
};

struct weight_outlier_report {
  std::string name;
  int layer = -1;
  std::int64_t rows = 0, cols = 0;  // stored shape
  weight_outlier_options options;
  channel_profile input;   // per input channel (down_proj: d_ff)
  channel_profile output;  // per output channel (down_proj: d_model)
  std::vector<weight_entry> top;
  std::int64_t nan_count = 0, inf_count = 0;

  std::int64_t in_features() const { return std::int64_t(input.max_abs.size()); }
  std::int64_t out_features() const { return std::int64_t(output.max_abs.size()); }

  void to_json(json_writer& w) const {
    w.begin_object();
    w.field("name", name).field("layer", layer).field("rows", rows).field("cols", cols);
    w.field("orientation", options.orientation == weight_orientation::out_in ? "out_in" : "in_out");
    w.field("rank_by", options.rank_by == channel_rank_by::ratio ? "ratio" : "max_abs");
    w.field("nan_count", nan_count).field("inf_count", inf_count);
    w.field("top", top);
    w.key("input_channels").value(input);
    w.key("output_channels").value(output);
    w.end_object();
  }
};

namespace detail {

// Row-wise source of f32 weights (plain view or int8 + scales).
struct weight_rows {
  std::int64_t rows = 0, cols = 0;
  const tensor_view* plain = nullptr;
  const int8_weights* quant = nullptr;

  // Fills out[0..cols) with row r as f32; returns a pointer to the row (may point into the view).
  // w[r, c] as the f32 the detectors see.
  double value(std::int64_t r, std::int64_t c) const {
    if (plain) return double(float(load_as_double(plain->ptr_at(r * plain->strides()[0] + c * plain->strides()[1]), plain->type())));
    const int8_weights& w = *quant;
    const auto q = *static_cast<const std::int8_t*>(w.q.ptr_at(r * w.q.strides()[0] + c * w.q.strides()[1]));
    const double s = load_as_double(w.scales.ptr_at(r * w.scales.strides()[0] + (c / w.group_size) * w.scales.strides()[1]),
                                    w.scales.type());
    return double(float(double(q) * s));
  }

  const float* row(std::int64_t r, std::vector<float>& out, bool allow_direct) const {
    if (plain) {
      const tensor_view& v = *plain;
      if (allow_direct && v.type() == dtype::f32 && (v.strides()[1] == 1 || cols <= 1))
        return static_cast<const float*>(v.data()) + r * v.strides()[0];
      out.resize(std::size_t(cols));
#ifdef SYSOUT_DETECT_HAVE_HIGHWAY
      if (allow_direct && (v.type() == dtype::f16 || v.type() == dtype::bf16) && v.strides()[1] == 1) {
        simd::widen_to_f32(static_cast<const std::uint16_t*>(v.data()) + r * v.strides()[0], out.data(),
                           std::size_t(cols), v.type() == dtype::bf16);
        return out.data();
      }
#endif
      for (std::int64_t c = 0; c < cols; ++c)
        out[std::size_t(c)] = float(load_as_double(v.ptr_at(r * v.strides()[0] + c * v.strides()[1]), v.type()));
      return out.data();
    }
    const int8_weights& w = *quant;
    out.resize(std::size_t(cols));
    const std::int64_t g = w.group_size;
    for (std::int64_t c = 0; c < cols; ++c) {
      const auto q = *static_cast<const std::int8_t*>(w.q.ptr_at(r * w.q.strides()[0] + c * w.q.strides()[1]));
      const std::int64_t gi = c / g;
      const double s = load_as_double(w.scales.ptr_at(r * w.scales.strides()[0] + gi * w.scales.strides()[1]),
                                      w.scales.type());
      out[std::size_t(c)] = float(double(q) * s);
    }
    return out.data();
  }
};

inline void rank_channels(channel_profile& p, channel_rank_by by) {
  const std::size_t n = p.max_abs.size();
  p.ratio.resize(n);
  for (std::size_t i = 0; i < n; ++i)
    p.ratio[i] = p.mean_abs[i] > 0 ? p.max_abs[i] / p.mean_abs[i]
                                   : (p.max_abs[i] > 0 ? std::numeric_limits<double>::infinity() : 0.0);
  const std::vector<double>& key = by == channel_rank_by::ratio ? p.ratio : p.max_abs;
  // Keys are >= 0 (or +Inf), so their bit patterns order like the values:
  // an LSD radix sort of ~pattern is a descending sort, and being stable it
  // keeps ties in index order, the order of a stable sort by key. (A
  // comparison sort of a few thousand random keys was a fifth of the weight
  // detector's time, mostly mispredicted branches.)
  std::vector<std::uint64_t> kb(n), kb2(n);
  std::vector<std::int64_t> idx2(n);
  p.ranking.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    kb[i] = ~std::bit_cast<std::uint64_t>(key[i] + 0.0);  // + 0.0: -0 -> +0
    p.ranking[i] = std::int64_t(i);
  }
  for (int shift = 0; shift < 64; shift += 8) {
    std::size_t count[257] = {};
    for (std::size_t i = 0; i < n; ++i) ++count[((kb[i] >> shift) & 0xff) + 1];
    if (n == 0 || count[((kb[0] >> shift) & 0xff) + 1] == n) continue;  // one digit value: order unchanged
    for (int d = 0; d < 256; ++d) count[d + 1] += count[d];
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t at = count[(kb[i] >> shift) & 0xff]++;
      kb2[at] = kb[i];
      idx2[at] = p.ranking[i];
    }
    kb.swap(kb2);
    p.ranking.swap(idx2);
  }
}

inline weight_outlier_report weight_scan(const weight_rows& src, const weight_outlier_options& opt, int layer,
                                         std::string name) {
  weight_outlier_report r;
  r.name = std::move(name);
  r.layer = layer;
  r.rows = src.rows;
  r.cols = src.cols;
  r.options = opt;
  const std::int64_t R = src.rows, C = src.cols;
  std::vector<double> row_max(std::size_t(R), 0.0), row_sum(std::size_t(R), 0.0), col_sum(std::size_t(C), 0.0);
  std::vector<std::int64_t> row_cnt(std::size_t(R), 0), col_cnt(std::size_t(C), 0);
  std::vector<float> col_max(std::size_t(C), 0.0f);
  // f32 column sums over blocks of 256 rows, flushed into double: exact enough
  // (256 terms, relative error < 256 * 2^-24) and half the memory traffic.
  std::vector<float> col_sum_blk(std::size_t(C), 0.0f);
  auto flush = [&] {
    for (std::int64_t c = 0; c < C; ++c) {
      col_sum[std::size_t(c)] += double(col_sum_blk[std::size_t(c)]);
      col_sum_blk[std::size_t(c)] = 0.0f;
    }
  };
  std::vector<float> buf;
  std::vector<ranked_value> top;
  const int k = std::max(opt.top_outliers, 0);
  double top_thr = k > 0 ? 0.0 : std::numeric_limits<double>::infinity();
  bool fast = opt.impl == backend::best;
#ifndef SYSOUT_DETECT_HAVE_HIGHWAY
  fast = false;
#endif
  std::int64_t full_rows = 0;  // rows without NaN/Inf: they count in every column (added at the end)
  // f16/bf16 rows with unit column stride are widened inside the kernels.
  const bool direct16 = fast && src.plain && (src.plain->type() == dtype::f16 || src.plain->type() == dtype::bf16) &&
                        (C <= 1 || src.plain->strides()[1] == 1);
  [[maybe_unused]] const bool is_bf16 = direct16 && src.plain->type() == dtype::bf16;
  for (std::int64_t i = 0; i < R; ++i) {
    const float* p = nullptr;
    [[maybe_unused]] const std::uint16_t* p16 = nullptr;
    if (direct16)
      p16 = static_cast<const std::uint16_t*>(src.plain->data()) + i * src.plain->strides()[0];
    else
      p = src.row(i, buf, fast);
    auto f32_row = [&] {  // for the scalar code: widened on first use
      if (!p) p = src.row(i, buf, true);
      return p;
    };
    bool special = true;
#ifdef SYSOUT_DETECT_HAVE_HIGHWAY
    if (fast) {
      // One pass: the kernel updates the columns with the finite |w| only, so
      // a row holding NaN/Inf needs just its row statistics redone below.
      std::uint32_t mb;
      double rs;
      if (!p16)
        simd::weight_row(p, std::size_t(C), col_max.data(), col_sum_blk.data(), mb, rs);
      else if (is_bf16)
        simd::weight_row<simd::bf16_src>(p16, std::size_t(C), col_max.data(), col_sum_blk.data(), mb, rs);
      else
        simd::weight_row<simd::f16_src>(p16, std::size_t(C), col_max.data(), col_sum_blk.data(), mb, rs);
      if ((i + 1) % 256 == 0) flush();
      special = mb >= 0x7f800000u;
      if (!special) {
        row_max[std::size_t(i)] = double(std::bit_cast<float>(mb));
        row_sum[std::size_t(i)] = rs;
        row_cnt[std::size_t(i)] = C;
        ++full_rows;
      }
    }
#endif
    if (special) {  // scalar: skips NaN/Inf, counts them
      f32_row();
      for (std::int64_t c = 0; c < C; ++c) {
        const float a = std::fabs(p[c]);
        if (std::isnan(a)) {
          ++r.nan_count;
          continue;
        }
        if (std::isinf(a)) {
          ++r.inf_count;
          continue;
        }
        row_max[std::size_t(i)] = std::max(row_max[std::size_t(i)], double(a));
        row_sum[std::size_t(i)] += a;
        ++row_cnt[std::size_t(i)];
        ++col_cnt[std::size_t(c)];
        if (!fast) {  // the kernel already did the columns
          col_max[std::size_t(c)] = std::max(col_max[std::size_t(c)], a);
          col_sum[std::size_t(c)] += a;
        }
      }
    }
    if (k > 0) {
      auto push = [&](std::int64_t c, double a) {
        if (a >= top_thr && std::isfinite(a)) {
          top.push_back({a, i * C + c});
          if (top.size() >= std::size_t(8 * k + 256)) {
            finish_topk(top, k);
            top_thr = top.back().magnitude;
          }
        }
      };
#ifdef SYSOUT_DETECT_HAVE_HIGHWAY
      if (fast && !special) {  // rows below the running k-th largest are skipped whole
        if (row_max[std::size_t(i)] >= top_thr) {
          auto hit = [&](std::size_t c, float a) { push(std::int64_t(c), double(a)); };
          const float thr = float_at_or_below(top_thr);
          if (!p16)
            simd::scan_at_least<simd::f32_src>(p, std::size_t(C), thr, hit);
          else if (is_bf16)
            simd::scan_at_least<simd::bf16_src>(p16, std::size_t(C), thr, hit);
          else
            simd::scan_at_least<simd::f16_src>(p16, std::size_t(C), thr, hit);
        }
        continue;
      }
#endif
      f32_row();
      for (std::int64_t c = 0; c < C; ++c) push(c, std::fabs(double(p[c])));
    }
  }
  if (full_rows > 0)
    for (auto& c : col_cnt) c += full_rows;
  flush();
  channel_profile rows_p, cols_p;
  rows_p.max_abs = row_max;
  rows_p.mean_abs.resize(std::size_t(R));
  for (std::int64_t i = 0; i < R; ++i)
    rows_p.mean_abs[std::size_t(i)] = row_cnt[std::size_t(i)] ? row_sum[std::size_t(i)] / double(row_cnt[std::size_t(i)]) : 0.0;
  cols_p.max_abs.assign(col_max.begin(), col_max.end());
  cols_p.mean_abs.resize(std::size_t(C));
  for (std::int64_t c = 0; c < C; ++c)
    cols_p.mean_abs[std::size_t(c)] = col_cnt[std::size_t(c)] ? col_sum[std::size_t(c)] / double(col_cnt[std::size_t(c)]) : 0.0;
  rank_channels(rows_p, opt.rank_by);
  rank_channels(cols_p, opt.rank_by);
  if (opt.orientation == weight_orientation::out_in) {
    r.output = std::move(rows_p);
    r.input = std::move(cols_p);
  } else {
    r.input = std::move(rows_p);
    r.output = std::move(cols_p);
  }
  if (k > 0) finish_topk(top, k);
  for (const auto& t : top) {
    const std::int64_t i = t.index / C, c = t.index % C;
    r.top.push_back({i, c, src.value(i, c)});
  }
  return r;
}

}  // namespace detail

// w: [rows, cols] weight matrix (f32/f64/f16/bf16, any strides).
inline weight_outlier_report find_weight_outliers(const tensor_view& w, const weight_outlier_options& opt = {},
                                                  int layer = -1) {
  if (w.rank() != 2)
    throw_error(w.where(), "weight outliers expect a matrix [rows, cols], got shape ", w.shape().str());
  if (!is_floating(w.type()))
    throw_error(w.where(), "weight matrix must be floating (use int8_weights for i8), got ", dtype_name(w.type()));
  detail::weight_rows src;
  src.rows = w.shape()[0];
  src.cols = w.shape()[1];
  src.plain = &w;
  return detail::weight_scan(src, opt, layer, w.name());
}

inline weight_outlier_report find_weight_outliers(const int8_weights& w, const weight_outlier_options& opt = {},
                                                  int layer = -1) {
  const std::string who = w.q.where();
  if (w.q.rank() != 2 || w.q.type() != dtype::i8)
    throw_error(who, "int8 weights: expected an i8 matrix [rows, cols], got ", dtype_name(w.q.type()), " shape ",
                w.q.shape().str());
  const std::int64_t R = w.q.shape()[0], C = w.q.shape()[1];
  int8_weights ww = w;
  if (ww.group_size == 0) ww.group_size = std::max<std::int64_t>(C, 1);
  if (ww.group_size < 0 || (C > 0 && C % ww.group_size != 0))
    throw_error(who, "int8 weights: group size ", w.group_size, " does not divide the ", C, " columns of shape ",
                w.q.shape().str());
  const std::int64_t groups = C > 0 ? C / ww.group_size : 0;
  if (w.scales.rank() != 2 || w.scales.shape()[0] != R || w.scales.shape()[1] != groups || !is_floating(w.scales.type()))
    throw_error(w.scales.where(), "int8 scales: expected floating [", R, ", ", groups, "] for weights ",
                w.q.shape().str(), " with group size ", ww.group_size, ", got ", dtype_name(w.scales.type()), " ",
                w.scales.shape().str());
  detail::weight_rows src;
  src.rows = R;
  src.cols = C;
  src.quant = &ww;
  return detail::weight_scan(src, opt, layer, w.q.name());
}

}  // namespace sysout::detect

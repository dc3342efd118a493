// sysout: the papers' experiments on your model, from one command line.
//
//   sysout all --model models/SmolLM2-135M-Instruct.Q4_1.gguf --out results
//
// Every command prints a human summary on stdout, progress on stderr, and
// writes JSON (every number), NPY arrays and gnuplot PNG figures into --out.
// Files appear only when the command succeeds (see cli.hpp: output_dir).
#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "cli.hpp"
#include "engine.hpp"
#include "sysout/io/json_writer.hpp"
#include "sysout/io/npy.hpp"
#include "sysout/io/plot.hpp"

using namespace sysout;
using namespace sysout_cli;
namespace tr = sysout::trace;

namespace {

// ------------------------------------------------------------------ shared state

struct context {
  const options& o;
  const loaded_model& lm;
  output_dir& out;
  std::vector<std::string> figures;
  std::vector<std::string> notes;

  int n_layers() const { return lm.m.cfg.n_layers; }
  void plot_done(const io::plot_result& r) {
    if (r.png_written) figures.push_back(r.png);
    else if (!r.note.empty()) notes.push_back(r.note);
  }
  std::string stem(const std::string& name) const { return out.file(name); }
};

struct sentence_run {
  std::vector<int> ids;
  std::vector<std::string> toks;
  tr::recording rec;
};

sentence_run run_sentence(context& c, bool capture = true) {
  sentence_run r;
  r.ids = tokenize(c.lm, c.o.sentence, c.o.bos);
  if (int(r.ids.size()) > c.o.ctx) r.ids.resize(std::size_t(c.o.ctx));
  r.toks = token_strings(c.lm, r.ids);
  progress("running %zu tokens through %s\n", r.ids.size(), c.lm.name.c_str());
  r.rec = run_recorded(c.lm, r.ids, capture ? sentence_config() : tr::recorder_config{}, c.o);
  return r;
}

std::string printable(std::string s) {
  for (auto& ch : s)
    if (ch == '\n') ch = ' ';
  return s;
}

void write_tokens(json_writer& w, const sentence_run& s) {
  w.field("ids", s.ids).field("tokens", s.toks);
}

void header_json(json_writer& w, const context& c, const char* experiment) {
  w.field("experiment", experiment).field("model", c.lm.path).field("architecture", model::arch_name(c.lm.m.cfg.architecture));
  w.field("n_layers", c.lm.m.cfg.n_layers).field("dim", c.lm.m.cfg.dim).field("ffn_dim", c.lm.m.cfg.ffn_dim);
  w.field("n_heads", c.lm.m.cfg.n_heads).field("n_kv_heads", c.lm.m.cfg.n_kv_heads);
  w.field("dtype", c.o.dtype).field("seed", c.o.seed);
  w.field("bos", c.o.bos == -1 ? "model default" : (c.o.bos ? "on" : "off"));
}

// ------------------------------------------------------------------ existence

struct existence_data {
  sentence_run s;
  std::vector<detect::massive_activation_report> dpi, lout;
  std::vector<detect::attention_sink_report> att;
  std::vector<detect::weight_outlier_report> weights;
  int peak_layer = -1;
};

existence_data existence_analysis(context& c) {
  existence_data e;
  e.s = run_sentence(c);
  const int L = c.n_layers();
  detect::attention_sink_options aopt;
  aopt.value_heads = c.lm.m.cfg.n_kv_heads;
  double peak = -1;
  for (int l = 0; l < L; ++l) {
    e.dpi.push_back(detect::find_massive_activations(captured_view(e.s.rec, tr::site::down_proj_in, l), l, "down_proj_in"));
    e.lout.push_back(detect::find_massive_activations(captured_view(e.s.rec, tr::site::layer_out, l), l, "layer_out"));
    e.att.push_back(detect::find_attention_sinks(captured_view(e.s.rec, tr::site::attn_probs, l), l, aopt,
                                                 captured_view(e.s.rec, tr::site::v, l)));
    if (e.lout.back().stats.max_abs > peak) {
      peak = e.lout.back().stats.max_abs;
      e.peak_layer = l;
    }
  }
  progress("scanning down_proj weights of %d layers\n", L);
  e.weights = scan_down_proj(c.lm);
  return e;
}

std::vector<int> layers_with(const std::vector<detect::massive_activation_report>& r) {
  std::vector<int> v;
  for (const auto& x : r)
    if (x.found()) v.push_back(x.layer);
  return v;
}

std::string ranges(const std::vector<int>& v) {
  if (v.empty()) return "none";
  std::ostringstream os;
  for (std::size_t i = 0; i < v.size();) {
    std::size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    os << (i ? "," : "") << v[i];
    if (j > i) os << "-" << v[j];
    i = j + 1;
  }
  return os.str();
}

template <class T>
std::string list(const std::vector<T>& v, std::size_t max = 12) {
  std::ostringstream os;
  for (std::size_t i = 0; i < v.size() && i < max; ++i) os << (i ? "," : "") << v[i];
  if (v.size() > max) os << ",... (" << v.size() << ")";
  return v.empty() ? "none" : os.str();
}

void cmd_existence(context& c, const existence_data& e) {
  const int L = c.n_layers();
  const auto& toks = e.s.toks;
  // --- figures: top-3 per layer at both sites
  if (c.o.plots) {
    io::line_plot p;
    p.title = c.lm.name + ": top-3 |h| per layer (sentence: " + c.o.sentence + ")";
    p.xlabel = "layer";
    p.ylabel = "|h|";
    p.logy = true;
    for (const char* site : {"layer_out", "down_proj_in"}) {
      const auto& R = std::string(site) == "layer_out" ? e.lout : e.dpi;
      for (int k = 0; k < 3; ++k) {
        io::series s;
        s.title = std::string(site) + " top-" + std::to_string(k + 1);
        for (int l = 0; l < L; ++l) {
          s.x.push_back(l);
          s.y.push_back(k < int(R[std::size_t(l)].top.size()) ? std::fabs(R[std::size_t(l)].top[std::size_t(k)].value) : 0.0);
        }
        p.curves.push_back(s);
      }
      io::series m;
      m.title = std::string(site) + " median";
      m.style = "lines dashtype 2";
      for (int l = 0; l < L; ++l) {
        m.x.push_back(l);
        m.y.push_back(R[std::size_t(l)].stats.median_abs);
      }
      p.curves.push_back(m);
    }
    c.plot_done(io::write_line_plot(c.stem("existence_top3"), p));
    // 3D landscape of the peak layer (or --layers)
    std::vector<int> land = c.o.layers.empty() ? std::vector<int>{e.peak_layer} : c.o.layers;
    for (int l : land) {
      if (l < 0 || l >= L) continue;
      for (auto s : {tr::site::layer_out, tr::site::down_proj_in}) {
        const auto v = captured_view(e.s.rec, s, l);
        io::landscape ls;
        ls.title = c.lm.name + " " + std::string(tr::site_name(s)) + " layer " + std::to_string(l);
        ls.rows = v.dim(0);
        ls.cols = v.dim(1);
        for (std::int64_t i = 0; i < v.size(); ++i) ls.values.push_back(std::fabs(static_cast<const float*>(v.data())[i]));
        for (const auto& t : toks) ls.row_labels.push_back(printable(t));
        c.plot_done(io::write_landscape(c.stem("landscape_" + std::string(tr::site_name(s)) + "_L" + std::to_string(l)), ls));
      }
    }
    // weight outliers per layer
    io::line_plot wp;
    wp.title = c.lm.name + ": down_proj weight outliers (max|w| / mean|w| of the top channel)";
    wp.xlabel = "layer";
    wp.ylabel = "max/mean";
    io::series si{"input channel (d_ff)", {}, {}}, so{"output channel (d_model)", {}, {}};
    for (int l = 0; l < L; ++l) {
      const auto& w = e.weights[std::size_t(l)];
      si.x.push_back(l);
      si.y.push_back(w.input.ratio[std::size_t(w.input.ranking[0])]);
      so.x.push_back(l);
      so.y.push_back(w.output.ratio[std::size_t(w.output.ranking[0])]);
    }
    wp.curves = {si, so};
    c.plot_done(io::write_line_plot(c.stem("weight_outliers"), wp));
  }
  // --- NPY
  std::vector<float> top(std::size_t(L) * 2 * 4);
  for (int l = 0; l < L; ++l)
    for (int s = 0; s < 2; ++s) {
      const auto& R = (s == 0 ? e.lout : e.dpi)[std::size_t(l)];
      for (int k = 0; k < 3; ++k)
        top[std::size_t((l * 2 + s) * 4 + k)] = k < int(R.top.size()) ? float(std::fabs(R.top[std::size_t(k)].value)) : 0.0f;
      top[std::size_t((l * 2 + s) * 4 + 3)] = float(R.stats.median_abs);
    }
  write_npy(c.out.file("top_magnitudes.npy"), top.data(), {L, 2, 4});
  {
    const auto v = captured_view(e.s.rec, tr::site::layer_out, e.peak_layer);
    write_npy(c.out.file("layer_out_L" + std::to_string(e.peak_layer) + ".npy"), v);
  }
  std::vector<float> recv;
  const std::int64_t T = std::int64_t(e.s.ids.size());
  for (const auto& a : e.att)
    for (std::int64_t j = 0; j < T; ++j) recv.push_back(float(a.received[std::size_t(j)]));
  write_npy(c.out.file("attention_received.npy"), recv.data(), {L, T});
  // --- JSON
  json_writer w(1);
  w.begin_object();
  header_json(w, c, "existence");
  w.field("sentence", c.o.sentence);
  write_tokens(w, e.s);
  w.field("npy", std::vector<std::string>{"top_magnitudes.npy: [layer, site(0 layer_out, 1 down_proj_in), (top1, top2, top3, median)]",
                                           "attention_received.npy: [layer, key] attention received (sum over queries, mean over heads)",
                                           "layer_out_L" + std::to_string(e.peak_layer) + ".npy: [token, dim] residual stream of the peak layer"});
  w.field("peak_layer", e.peak_layer);
  w.key("layers").begin_array();
  for (int l = 0; l < L; ++l) {
    w.begin_object();
    w.field("layer", l);
    w.key("down_proj_in").value(e.dpi[std::size_t(l)]);
    w.key("layer_out").value(e.lout[std::size_t(l)]);
    w.key("attention").value(e.att[std::size_t(l)]);
    const auto& wr = e.weights[std::size_t(l)];
    w.key("weights").begin_object();
    w.field("top", wr.top);
    w.field("top_input_channels", wr.input.top(8)).field("top_output_channels", wr.output.top(8));
    std::vector<double> ri, ro;
    for (auto ch : wr.input.top(8)) ri.push_back(wr.input.ratio[std::size_t(ch)]);
    for (auto ch : wr.output.top(8)) ro.push_back(wr.output.ratio[std::size_t(ch)]);
    w.field("top_input_ratios", ri).field("top_output_ratios", ro);
    w.end_object();
    const auto& d = e.dpi[std::size_t(l)];
    const auto& lo = e.lout[std::size_t(l)];
    const std::size_t n_in = std::max<std::size_t>(8, d.massive_dims.size());
    const std::size_t n_out = std::max<std::size_t>(8, lo.massive_dims.size());
    w.key("consistency").begin_object();
    w.key("weight_activation_down_proj_in").value(detect::weight_activation_consistency(d, wr, n_in));
    w.key("weight_activation_layer_out").value(detect::weight_activation_consistency(lo, wr, n_out));
    w.key("attention_activation").value(detect::attention_activation_consistency(e.att[std::size_t(l)], lo));
    w.end_object();
    w.end_object();
  }
  w.end_array();
  w.end_object();
  w.save(c.out.file("existence.json"));
  // --- summary
  const auto lo_layers = layers_with(e.lout), dpi_layers = layers_with(e.dpi);
  std::printf("== existence: %s, %d layers, %zu tokens: %s\n", c.lm.name.c_str(), L, e.s.ids.size(), printable(c.o.sentence).c_str());
  std::printf("activation outliers (|h| > 100 and > 1000 x median):\n");
  std::printf("  layer_out    : layers %s\n", ranges(lo_layers).c_str());
  std::printf("  down_proj_in : layers %s\n", ranges(dpi_layers).c_str());
  const auto& pk = e.lout[std::size_t(e.peak_layer)];
  std::printf("  peak layer %d: top |h| = %.1f (median %.4f, ratio %.0fx)", e.peak_layer, pk.stats.max_abs, pk.stats.median_abs,
              pk.stats.median_abs > 0 ? pk.stats.max_abs / pk.stats.median_abs : 0.0);
  if (!pk.top.empty())
    std::printf(" at token %" PRId64 " '%s', dim %" PRId64 "\n", pk.top[0].token, printable(toks[std::size_t(pk.top[0].token)]).c_str(), pk.top[0].dim);
  else
    std::printf("\n");
  if (pk.found()) std::printf("  massive dims %s at tokens %s\n", list(pk.massive_dims).c_str(), list(pk.massive_tokens).c_str());
  {
    std::vector<int> over, inf;
    std::int64_t n_over = 0, n_inf = 0;
    for (const auto& r : e.lout) {
      if (r.stats.over_f16_count) over.push_back(r.layer), n_over += r.stats.over_f16_count;
      if (r.stats.inf_count) inf.push_back(r.layer), n_inf += r.stats.inf_count;
    }
    if (n_over) std::printf("  beyond the fp16 range (|h| > 65504): %lld entries, layers %s (an fp16 residual stream would overflow)\n", (long long)n_over, ranges(over).c_str());
    if (n_inf) std::printf("  infinite values: %lld entries, layers %s (with --dtype %s)\n", (long long)n_inf, ranges(inf).c_str(), c.o.dtype.c_str());
  }
  std::set<std::int64_t> sink_tok;
  std::vector<int> sink_layers;
  for (const auto& a : e.att) {
    if (!a.outlier_tokens.empty()) sink_layers.push_back(a.layer);
    sink_tok.insert(a.outlier_tokens.begin(), a.outlier_tokens.end());
  }
  std::printf("attention outliers (keys receiving >= 0.1 x queries): layers %s, tokens %s\n", ranges(sink_layers).c_str(),
              list(std::vector<std::int64_t>(sink_tok.begin(), sink_tok.end())).c_str());
  double fm = 0;
  for (const auto& a : e.att) {
    double m = 0;
    for (double x : a.first_token_mass) m += x;
    fm += m / double(a.first_token_mass.size());
  }
  std::printf("  mean first-token attention over layers and heads: %.3f\n", fm / L);
  double best = 0;
  int bl = 0;
  for (int l = 0; l < L; ++l) {
    const auto& wr = e.weights[std::size_t(l)];
    const double r = wr.input.ratio[std::size_t(wr.input.ranking[0])];
    if (r > best) best = r, bl = l;
  }
  const auto& wb = e.weights[std::size_t(bl)];
  std::printf("weight outliers: largest input-channel max/mean = %.1f at layer %d, channel %" PRId64 "\n", best, bl,
              wb.input.ranking[0]);
  for (int l : dpi_layers) {
    const auto cons = detect::weight_activation_consistency(e.dpi[std::size_t(l)], e.weights[std::size_t(l)],
                                                            std::max<std::size_t>(8, e.dpi[std::size_t(l)].massive_dims.size()));
    std::printf("  layer %d: down_proj_in massive dims %s; among the top weight-outlier input channels: %zu/%zu\n", l,
                list(e.dpi[std::size_t(l)].massive_dims).c_str(), cons.matched.size(), cons.items.size());
    break;  // the first layer is the one that matters for emergence; all are in the JSON
  }
}

// ------------------------------------------------------------------ positions

void cmd_positions(context& c, const existence_data& e) {
  const int L = c.n_layers();
  json_writer w(1);
  w.begin_object();
  header_json(w, c, "positions");
  w.field("sentence", c.o.sentence);
  write_tokens(w, e.s);
  std::vector<std::int64_t> all_pos(e.s.toks.size());
  for (std::size_t i = 0; i < all_pos.size(); ++i) all_pos[i] = std::int64_t(i);
  const auto cats = detect::classify_tokens(e.s.toks, all_pos);
  std::vector<std::string> catn;
  for (auto k : cats) catn.push_back(detect::token_category_name(k));
  w.field("token_categories", catn);
  std::printf("== positions: %s\n", c.lm.name.c_str());
  std::map<std::pair<std::int64_t, std::int64_t>, std::vector<int>> act_at;  // (token, dim) -> layers
  w.key("activation_outliers").begin_array();
  for (const auto* R : {&e.dpi, &e.lout})
    for (const auto& r : *R)
      for (const auto& o : r.outliers) {
        w.begin_object();
        w.field("site", r.site).field("layer", r.layer).field("token", o.token).field("token_text", e.s.toks[std::size_t(o.token)]);
        w.field("category", catn[std::size_t(o.token)]).field("dim", o.dim).field("value", o.value);
        w.end_object();
        if (r.site == "layer_out") act_at[{o.token, o.dim}].push_back(r.layer);
      }
  w.end_array();
  std::printf("activation outliers at layer_out ((token, dim): layers, value range):\n");
  for (const auto& [td, ls] : act_at) {
    double lo = 1e300, hi = -1e300;
    for (int l : ls)
      for (const auto& o : e.lout[std::size_t(l)].outliers)
        if (o.token == td.first && o.dim == td.second) lo = std::min(lo, o.value), hi = std::max(hi, o.value);
    std::printf("  token %" PRId64 " '%s' (%s), dim %" PRId64 ": layers %s, value %.1f .. %.1f\n", td.first,
                printable(e.s.toks[std::size_t(td.first)]).c_str(), catn[std::size_t(td.first)].c_str(), td.second,
                ranges(ls).c_str(), lo, hi);
  }
  if (act_at.empty()) std::printf("  none\n");
  std::map<std::int64_t, std::vector<int>> sink_at;
  w.key("attention_outliers").begin_array();
  for (const auto& a : e.att) {
    for (auto t : a.outlier_tokens) {
      sink_at[t].push_back(a.layer);
      // heads whose attention to the sink exceeds the rule on their own
      std::vector<std::int64_t> heads;
      const auto probs = captured_view(e.s.rec, tr::site::attn_probs, a.layer);
      for (std::int64_t h = 0; h < probs.dim(0); ++h) {
        double s = 0;
        for (std::int64_t q = 0; q < probs.dim(1); ++q) s += probs.get(h, q, t);
        if (s >= a.options.outlier_ratio * double(probs.dim(1))) heads.push_back(h);
      }
      w.begin_object();
      w.field("layer", a.layer).field("token", t).field("token_text", e.s.toks[std::size_t(t)]);
      w.field("category", catn[std::size_t(t)]).field("received", a.received[std::size_t(t)]).field("heads", heads);
      w.end_object();
    }
  }
  w.end_array();
  std::printf("attention outliers (token: layers):\n");
  for (const auto& [t, ls] : sink_at)
    std::printf("  token %" PRId64 " '%s' (%s): layers %s\n", t, printable(e.s.toks[std::size_t(t)]).c_str(),
                catn[std::size_t(t)].c_str(), ranges(ls).c_str());
  if (sink_at.empty()) std::printf("  none\n");
  w.key("weight_outliers").begin_array();
  std::printf("largest down_proj weights (layer: row (d_model), col (d_ff), value):\n");
  for (int l = 0; l < L; ++l) {
    const auto& wr = e.weights[std::size_t(l)];
    for (const auto& t : wr.top) {
      w.begin_object();
      w.field("layer", l).field("row", t.row).field("col", t.col).field("value", t.value);
      w.end_object();
    }
    if (!wr.top.empty())
      std::printf("  layer %2d: (%" PRId64 ", %" PRId64 ") %.4f   max/mean of col %" PRId64 " = %.1f\n", l, wr.top[0].row,
                  wr.top[0].col, wr.top[0].value, wr.top[0].col, wr.input.ratio[std::size_t(wr.top[0].col)]);
  }
  w.end_array();
  w.end_object();
  w.save(c.out.file("positions.json"));
}

// ------------------------------------------------------------------ lifecycle

tr::lifecycle_report lifecycle_analysis(context& c, const std::vector<detect::weight_outlier_report>* weights,
                                        sentence_run* keep = nullptr) {
  sentence_run s = run_sentence(c, false);
  std::vector<detect::weight_outlier_report> w;
  if (!weights) {
    progress("scanning down_proj weights\n");
    w = scan_down_proj(c.lm);
    weights = &w;
  }
  auto R = tr::analyze_lifecycle(s.rec, channels_of(*weights));
  if (keep) *keep = std::move(s);
  return R;
}

void cmd_lifecycle(context& c, const std::vector<detect::weight_outlier_report>* weights) {
  sentence_run s;
  const auto R = lifecycle_analysis(c, weights, &s);
  const int L = R.n_layers;
  // NPY: per-layer curves
  const char* cols[] = {"top1", "reference", "down_proj_top1", "pair_magnitude", "resid_in", "attn_contribution",
                        "mlp_contribution", "sink_mass", "first_token_mass", "sink_value_norm", "other_value_norm"};
  const int K = int(std::size(cols));
  std::vector<double> m(std::size_t(L * K));
  for (int l = 0; l < L; ++l) {
    const auto& y = R.layers[std::size_t(l)];
    const double v[] = {y.top1, y.reference, y.down_proj_top1, y.pair_magnitude, y.resid_in, y.attn_contribution,
                        y.mlp_contribution, y.sink_mass, y.first_token_mass, y.sink_value_norm, y.other_value_norm};
    for (int k = 0; k < K; ++k) m[std::size_t(l * K + k)] = v[k];
  }
  write_npy(c.out.file("lifecycle_curves.npy"), m.data(), {L, K});
  json_writer w(1);
  w.begin_object();
  header_json(w, c, "lifecycle");
  w.field("sentence", c.o.sentence);
  write_tokens(w, s);
  w.field("npy_columns", std::vector<std::string>(std::begin(cols), std::end(cols)));
  w.key("report").value(R);
  w.end_object();
  w.save(c.out.file("lifecycle.json"));
  if (c.o.plots) {
    auto curve = [&](const char* t, auto get, const char* style = "linespoints") {
      io::series sr;
      sr.title = t;
      sr.style = style;
      for (int l = 0; l < L; ++l) {
        const double v = get(R.layers[std::size_t(l)]);
        if (std::isfinite(v)) {
          sr.x.push_back(l);
          sr.y.push_back(v);
        }
      }
      return sr;
    };
    io::line_plot p1;
    p1.title = c.lm.name + ": outlier magnitude across layers";
    p1.xlabel = "layer";
    p1.ylabel = "|h|";
    p1.logy = true;
    p1.curves = {curve("layer_out top-1", [](const auto& y) { return y.top1; }),
                 curve("down_proj_in top-1", [](const auto& y) { return y.down_proj_top1; }),
                 curve("median |h| (layer_out)", [](const auto& y) { return y.reference; }, "lines")};
    c.plot_done(io::write_line_plot(c.stem("lifecycle_magnitude"), p1));
    if (!R.pairs.empty()) {
      io::line_plot p2;
      p2.title = c.lm.name + ": contributions along the massive (token, dim) pairs (aligned with their sign)";
      p2.xlabel = "layer";
      p2.ylabel = "aligned value";
      p2.curves = {curve("residual after layer", [](const auto& y) { return y.pair_magnitude; }),
                   curve("attention output", [](const auto& y) { return y.attn_contribution; }),
                   curve("MLP output", [](const auto& y) { return y.mlp_contribution; })};
      c.plot_done(io::write_line_plot(c.stem("lifecycle_contributions"), p2));
    }
    io::line_plot p3;
    p3.title = c.lm.name + ": attention sinks across layers";
    p3.xlabel = "layer";
    p3.ylabel = "share of attention";
    p3.ymin = 0;
    p3.ymax = 1.05;
    p3.curves = {curve("mass on sink keys", [](const auto& y) { return y.sink_mass; }),
                 curve("mass on first token", [](const auto& y) { return y.first_token_mass; }),
                 curve("Sink^0.3 (heads)", [](const auto& y) { return y.sink_eps_fraction; }, "lines")};
    c.plot_done(io::write_line_plot(c.stem("lifecycle_sinks"), p3));
    io::line_plot p4;
    p4.title = c.lm.name + ": value-vector norms, sink tokens vs the others";
    p4.xlabel = "layer";
    p4.ylabel = "||v||";
    p4.curves = {curve("sink tokens", [](const auto& y) { return y.sink_value_norm; }),
                 curve("other tokens", [](const auto& y) { return y.other_value_norm; })};
    c.plot_done(io::write_line_plot(c.stem("lifecycle_value_norms"), p4));
  }
  // summary
  const auto& E = R.emergence;
  std::printf("== lifecycle: %s (%d layers), %zu tokens\n", c.lm.name.c_str(), L, s.ids.size());
  if (!E.found) {
    std::printf("emergence: no massive activation in any layer (top |h| peaks at %.2f)\n",
                std::max_element(R.layers.begin(), R.layers.end(), [](auto& a, auto& b) { return a.top1 < b.top1; })->top1);
  } else {
    std::printf("emergence: layer %d, residual dims %s at tokens %s; written by %s\n", E.layer, list(E.dims).c_str(),
                list(E.tokens).c_str(), E.producer.c_str());
    std::printf("  down_proj input dims (%s): %s\n", E.down_proj_in_rule.c_str(), list(E.down_proj_in_dims).c_str());
    if (E.has_weights)
      std::printf("  top weight-outlier channels: input %s (matched %zu/%zu), output %s (matched %zu/%zu)\n",
                  list(E.weight_input_channels).c_str(), E.matched_input.size(), E.down_proj_in_dims.size(),
                  list(E.weight_output_channels).c_str(), E.matched_output.size(), E.dims.size());
    std::printf("  persistent massive dims (massive in >= half the layers that have any): %s, from layer %d (written by %s)\n",
                list(E.persistent_dims).c_str(), E.persistent_onset, E.persistent_producer.c_str());
    for (const auto& m : R.weight_matches)
      std::printf("  layer %d: down_proj input dims %s; in the top-%zu weight-outlier input channels: %zu/%zu\n", m.layer,
                  list(m.down_proj_in_dims).c_str(), R.options.weight_top_n, m.matched_input.size(), m.down_proj_in_dims.size());
  }
  std::printf("spread: persistent sinks %s", list(R.spread.persistent_sinks).c_str());
  if (!R.spread.persistent_sinks.empty()) {
    std::printf(" (");
    for (std::size_t i = 0; i < R.spread.persistent_sinks.size() && i < 6; ++i) {
      const auto t = R.spread.persistent_sinks[i];
      std::printf("%s'%s' from layer %d", i ? ", " : "", printable(s.toks[std::size_t(t)]).c_str(), R.spread.sink_onset.at(t));
    }
    std::printf(")");
  }
  std::printf("\n  value norm: sinks %.3f vs others %.3f", R.spread.mean_sink_value_norm, R.spread.mean_other_value_norm);
  if (std::isfinite(R.spread.sinks_with_massive_share))
    std::printf("; sinks carrying massive activations: %.0f%%\n", 100 * R.spread.sinks_with_massive_share);
  else
    std::printf("\n");
  const auto& D = R.disappearance;
  if (!E.found) {
    std::printf("disappearance: nothing to follow\n");
  } else {
    std::printf("disappearance: peak at layer %d (|h| %.1f)", D.peak_layer, D.peak);
    if (D.drops.empty()) std::printf("; no drop below %.0f%% of the incoming value after the peak\n", 100 * R.options.drop_fraction);
    else std::printf("\n");
    for (const auto& d : D.drops)
      std::printf("  layer %d: %.1f -> %.1f, attention %+.1f, MLP %+.1f: cancelled by %s\n", d.layer, d.before, d.after,
                  d.attn_contribution, d.mlp_contribution, d.canceller.c_str());
  }
}

// ------------------------------------------------------------------ interventions

std::vector<int> corpus_tokens(context& c, std::size_t chars) {
  const auto text = read_corpus(c.o);
  const auto ids32 = c.lm.tok.encode(text.substr(0, std::min(text.size(), chars)), false);
  return {ids32.begin(), ids32.end()};
}

struct condition {
  std::string name, description;
  ppl_result r;
  std::int64_t changed = -1;
};

void write_conditions(json_writer& w, const std::vector<condition>& cs, double base) {
  w.key("conditions").begin_array();
  for (const auto& x : cs) {
    w.begin_object();
    w.field("name", x.name).field("description", x.description).field("perplexity", x.r.ppl).field("nll", x.r.nll);
    w.field("tokens", x.r.tokens).field("windows", x.r.windows).field("seconds", x.r.seconds);
    w.field("ratio_to_baseline", x.r.ppl / base).field("entries_changed", x.changed);
    w.end_object();
  }
  w.end_array();
}

void print_conditions(const std::vector<condition>& cs) {
  const double base = cs.front().r.ppl;
  for (const auto& x : cs)
    std::printf("  %-28s ppl %10.3f  (x%.3f)%s\n", x.name.c_str(), x.r.ppl, x.r.ppl / base,
                x.changed >= 0 ? (" entries changed: " + std::to_string(x.changed)).c_str() : "");
}

tr::site intervention_site(const options& o) { return o.site == "down_proj_in" ? tr::site::down_proj_in : tr::site::layer_out; }

// Runs one activation-intervention condition (with the corpus-mean pass for kind::mean).
condition run_activation_condition(context& c, const std::vector<int>& ids, tr::activation_intervention iv,
                                   const std::string& name, const std::string& desc) {
  condition cd{name, desc, {}, 0};
  if (iv.kind == tr::intervention_kind::mean) {
    tr::massive_mean_collector col(iv.at, iv.threshold_abs, iv.ratio, iv.dims);
    perplexity(c.lm, ids, c.o, [&](tr::hook_registry& h) { col.attach(h); }, (name + " (mean pass)").c_str());
    iv.mean_values = col.means();
    // only dims/layers seen in the first pass can be replaced; the same windows are replayed, so all are
  }
  tr::intervention_set set;
  set.add(iv);
  cd.r = perplexity(c.lm, ids, c.o, [&](tr::hook_registry& h) { set.attach(h); }, name.c_str());
  cd.changed = set.changed();  // the window sessions (and their hooks) are gone: nothing to detach
  return cd;
}

void cmd_intervene(context& c, const tr::lifecycle_report* lc_in) {
  tr::lifecycle_report lc = lc_in ? *lc_in : lifecycle_analysis(c, nullptr);
  const auto ids = corpus_tokens(c, std::size_t(c.o.max_tokens) * 8 + 4096);
  const tr::site at = intervention_site(c.o);
  // Sun et al. intervene where the massive activations appear: by default the
  // emergence layer and the layer where the persistent dims appear (the same
  // layer in most models), with the massive dims of those layers; --layers
  // picks other layers (all their massive dims).
  std::vector<int> layers = c.o.layers;
  if (layers.empty() && lc.emergence.found) {
    layers = {lc.emergence.layer};
    if (lc.emergence.persistent_onset >= 0 && lc.emergence.persistent_onset != lc.emergence.layer)
      layers.push_back(lc.emergence.persistent_onset);
  }
  std::vector<std::int64_t> dims;
  if (at == tr::site::layer_out) {
    std::set<std::int64_t> ds;
    for (int l : layers)
      if (l >= 0 && l < int(lc.layers.size())) ds.insert(lc.layers[std::size_t(l)].massive_dims.begin(), lc.layers[std::size_t(l)].massive_dims.end());
    dims.assign(ds.begin(), ds.end());
  } else {
    dims = lc.emergence.down_proj_in_dims;
  }
  std::vector<condition> cs;
  progress("intervene: %zu corpus tokens (budget %d), windows of %d\n", ids.size(), c.o.max_tokens, c.o.ctx);
  cs.push_back({"baseline", "no intervention", perplexity(c.lm, ids, c.o, {}, "baseline"), -1});
  if (lc.emergence.found && !dims.empty()) {
    tr::activation_intervention iv;
    iv.at = at;
    iv.layers = layers;
    iv.dims = dims;
    const std::string where = std::string(tr::site_name(at)) + " of layers " + ranges(layers) + ", dims " + list(dims);
    iv.kind = tr::intervention_kind::zero;
    cs.push_back(run_activation_condition(c, ids, iv, "zero massive", "massive activations set to 0 at " + where));
    iv.kind = tr::intervention_kind::mean;
    cs.push_back(run_activation_condition(c, ids, iv, "mean massive",
                                          "massive activations set to their corpus mean at " + where));
    iv.kind = tr::intervention_kind::clamp;
    iv.clamp_to = iv.threshold_abs;
    cs.push_back(run_activation_condition(c, ids, iv, "clamp massive to 100", "massive activations clamped to |h| <= 100 at " + where));
    // control: as many random non-massive dims, zeroed on the rows that carry massive activations
    const std::int64_t width = at == tr::site::layer_out ? c.lm.m.cfg.dim : c.lm.m.cfg.ffn_dim;
    std::mt19937_64 g(c.o.seed);
    std::set<std::int64_t> excl(dims.begin(), dims.end()), ctrl;
    while (ctrl.size() < dims.size() && std::int64_t(ctrl.size() + excl.size()) < width) {
      const auto d = std::int64_t(g() % std::uint64_t(width));
      if (!excl.count(d)) ctrl.insert(d);
    }
    std::atomic<std::int64_t> changed{0};
    const std::vector<std::int64_t> ctrl_dims(ctrl.begin(), ctrl.end());
    condition cd{"zero random dims (control)",
                 "dims " + list(ctrl_dims) + " (seed " + std::to_string(c.o.seed) +
                     ") zeroed on the rows that carry massive activations, at " + where,
                 {}, 0};
    cd.r = perplexity(c.lm, ids, c.o, [&](tr::hook_registry& h) {
      h.add(at, tr::any_layer, [&, layers](const tr::hook_event& e) {
        if (std::find(layers.begin(), layers.end(), e.layer) == layers.end()) return;
        const double cut = tr::detail::massive_cut(e.t, 100.0, 1000.0);
        for (std::int64_t r = 0; r < e.t.dim(0); ++r) {
          bool massive = false;
          for (std::int64_t d = 0; d < e.t.dim(1) && !massive; ++d) massive = std::fabs(e.t.get(r, d)) > cut;
          if (!massive) continue;
          for (auto d : ctrl_dims) {
            e.t.set(0.0, r, d);
            ++changed;
          }
        }
      });
    }, cd.name.c_str());
    cd.changed = changed;
    cs.push_back(cd);
  }
  for (bool renorm : {true, false}) {
    tr::attention_intervention ai;
    ai.detect_sinks = true;
    ai.renormalize = renorm;
    tr::intervention_set set;
    set.add(ai);
    condition cd{renorm ? "no sinks (renormalized)" : "no sinks (not renormalized)",
                 std::string("attention to keys receiving >= 0.1 x queries set to 0 in every layer") +
                     (renorm ? ", rows renormalized to 1" : ", rows not renormalized"),
                 {}, 0};
    cd.r = perplexity(c.lm, ids, c.o, [&](tr::hook_registry& h) { set.attach(h); }, cd.name.c_str());
    cd.changed = set.removed_keys();
    cs.push_back(cd);
  }
  const double base = cs.front().r.ppl;
  json_writer w(1);
  w.begin_object();
  header_json(w, c, "intervene");
  w.field("corpus", c.o.text.empty() ? default_corpus() : c.o.text).field("ctx", c.o.ctx).field("max_tokens", c.o.max_tokens);
  w.field("site", tr::site_name(at)).field("layers", layers).field("dims", dims);
  w.field("emergence_found", lc.emergence.found);
  write_conditions(w, cs, base);
  w.end_object();
  w.save(c.out.file("intervene.json"));
  if (c.o.plots) {
    io::line_plot p;
    p.title = c.lm.name + ": perplexity under interventions (WikiText-2, " + std::to_string(cs.front().r.tokens) + " tokens)";
    p.xlabel = "condition";
    p.ylabel = "perplexity";
    p.logy = true;
    for (std::size_t i = 0; i < cs.size(); ++i) p.curves.push_back({cs[i].name, {double(i)}, {cs[i].r.ppl}, "boxes"});
    c.plot_done(io::write_line_plot(c.stem("intervene"), p));
  }
  std::printf("== intervene: %s, perplexity on %" PRId64 " WikiText-2 tokens (windows of %d)\n", c.lm.name.c_str(),
              cs.front().r.tokens, c.o.ctx);
  if (!lc.emergence.found) std::printf("  (no massive activations found: only the attention interventions ran)\n");
  else std::printf("  site %s, layers %s, dims %s\n", std::string(tr::site_name(at)).c_str(), ranges(layers).c_str(), list(dims).c_str());
  print_conditions(cs);
}

void cmd_intervention_analysis(context& c) {
  const auto lc = lifecycle_analysis(c, nullptr);
  const auto ids = corpus_tokens(c, std::size_t(c.o.max_tokens) * 8 + 4096);
  const tr::site at = intervention_site(c.o);
  std::vector<int> layers = c.o.layers;
  if (layers.empty())
    for (const auto& y : lc.layers)
      if ((at == tr::site::layer_out ? y.massive_count : y.down_proj_massive_count) > 0) layers.push_back(y.layer);
  std::vector<condition> cs;
  cs.push_back({"baseline", "no intervention", perplexity(c.lm, ids, c.o, {}, "baseline"), -1});
  json_writer w(1);
  w.begin_object();
  header_json(w, c, "intervention_analysis");
  w.field("site", tr::site_name(at)).field("layers", layers).field("ctx", c.o.ctx).field("max_tokens", c.o.max_tokens);
  io::series sz{"zero", {}, {}}, sm{"mean", {}, {}};
  for (int l : layers) {
    for (auto kind : {tr::intervention_kind::zero, tr::intervention_kind::mean}) {
      tr::activation_intervention iv;
      iv.at = at;
      iv.kind = kind;
      iv.layers = {l};
      const std::string name = std::string(tr::intervention_name(kind)) + " L" + std::to_string(l);
      cs.push_back(run_activation_condition(c, ids, iv, name,
                                            std::string("massive activations (any dim) at ") + std::string(tr::site_name(at)) +
                                                " of layer " + std::to_string(l)));
      (kind == tr::intervention_kind::zero ? sz : sm).x.push_back(l);
      (kind == tr::intervention_kind::zero ? sz : sm).y.push_back(cs.back().r.ppl);
    }
  }
  write_conditions(w, cs, cs.front().r.ppl);
  w.end_object();
  w.save(c.out.file("intervention_analysis.json"));
  if (c.o.plots && !layers.empty()) {
    io::line_plot p;
    p.title = c.lm.name + ": perplexity when one layer's massive activations are removed";
    p.xlabel = "layer";
    p.ylabel = "perplexity";
    p.logy = true;
    io::series b{"baseline", {}, {}, "lines"};
    for (int l : layers) b.x.push_back(l), b.y.push_back(cs.front().r.ppl);
    p.curves = {sz, sm, b};
    c.plot_done(io::write_line_plot(c.stem("intervention_analysis"), p));
  }
  std::printf("== intervention_analysis: %s, site %s, layers %s\n", c.lm.name.c_str(),
              std::string(tr::site_name(at)).c_str(), ranges(layers).c_str());
  print_conditions(cs);
}

// ------------------------------------------------------------------ multi-sentence experiments

struct sample_run {
  std::vector<int> ids;
  std::vector<std::string> toks;
  tr::recording rec;
};

std::vector<sample_run> run_samples(context& c) {
  const auto corpus = read_corpus(c.o);
  const auto sents = sample_sentences(corpus, c.o.samples, c.o.seed);
  std::vector<sample_run> r;
  tr::recorder_config cfg;
  cfg.sites = {tr::site::layer_out, tr::site::down_proj_in};
  for (std::size_t i = 0; i < sents.size(); ++i) {
    sample_run s;
    s.ids = tokenize(c.lm, sents[i], c.o.bos);
    if (int(s.ids.size()) > c.o.ctx) s.ids.resize(std::size_t(c.o.ctx));
    s.toks = token_strings(c.lm, s.ids);
    s.rec = run_recorded(c.lm, s.ids, cfg, c.o);
    r.push_back(std::move(s));
    progress("\r  sentence %zu / %zu", i + 1, sents.size());
  }
  progress("\n");
  return r;
}

void cmd_existence_validation(context& c) {
  const auto runs = run_samples(c);
  const int L = c.n_layers(), N = int(runs.size());
  if (N == 0) throw_error("existence_validation", "--samples must be > 0");
  const auto nL = static_cast<std::size_t>(L);
  std::vector<double> share_lo(nL), share_dpi(nL), med_top(nL), med_dpi(nL);
  for (int l = 0; l < L; ++l) {
    std::vector<double> a, b;
    for (const auto& s : runs) {
      const auto* lo = s.rec.find(tr::site::layer_out, l);
      const auto* d = s.rec.find(tr::site::down_proj_in, l);
      share_lo[std::size_t(l)] += lo->outlier_count > 0;
      share_dpi[std::size_t(l)] += d->outlier_count > 0;
      a.push_back(lo->top_abs(0));
      b.push_back(d->top_abs(0));
    }
    share_lo[std::size_t(l)] /= N;
    share_dpi[std::size_t(l)] /= N;
    std::nth_element(a.begin(), a.begin() + N / 2, a.end());
    std::nth_element(b.begin(), b.begin() + N / 2, b.end());
    med_top[std::size_t(l)] = a[std::size_t(N / 2)];
    med_dpi[std::size_t(l)] = b[std::size_t(N / 2)];
  }
  std::vector<double> m;
  for (int l = 0; l < L; ++l)
    for (double v : {share_lo[std::size_t(l)], share_dpi[std::size_t(l)], med_top[std::size_t(l)], med_dpi[std::size_t(l)]}) m.push_back(v);
  write_npy(c.out.file("existence_validation.npy"), m.data(), {L, 4});
  json_writer w(1);
  w.begin_object();
  header_json(w, c, "existence_validation");
  w.field("samples", N).field("npy_columns", std::vector<std::string>{"share_layer_out", "share_down_proj_in", "median_top1_layer_out", "median_top1_down_proj_in"});
  w.field("share_layer_out", share_lo).field("share_down_proj_in", share_dpi);
  w.field("median_top1_layer_out", med_top).field("median_top1_down_proj_in", med_dpi);
  w.key("sentences").begin_array();
  for (const auto& s : runs) {
    w.begin_object();
    w.field("ids", s.ids);
    std::vector<int> ls;
    for (int l = 0; l < L; ++l)
      if (s.rec.find(tr::site::layer_out, l)->outlier_count > 0) ls.push_back(l);
    w.field("layers_with_massive_layer_out", ls);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  w.save(c.out.file("existence_validation.json"));
  if (c.o.plots) {
    io::line_plot p;
    p.title = c.lm.name + ": share of " + std::to_string(N) + " corpus sentences with massive activations";
    p.xlabel = "layer";
    p.ylabel = "share";
    io::series a{"layer_out", {}, {}}, b{"down_proj_in", {}, {}};
    for (int l = 0; l < L; ++l) a.x.push_back(l), a.y.push_back(share_lo[std::size_t(l)]), b.x.push_back(l), b.y.push_back(share_dpi[std::size_t(l)]);
    p.curves = {a, b};
    c.plot_done(io::write_line_plot(c.stem("existence_validation"), p));
  }
  std::printf("== existence_validation: %s, %d corpus sentences (seed %" PRIu64 ")\n", c.lm.name.c_str(), N, c.o.seed);
  std::printf("  layer  share(layer_out)  share(down_proj_in)  median top-1 layer_out\n");
  for (int l = 0; l < L; ++l)
    std::printf("  %5d  %16.2f  %19.2f  %22.2f\n", l, share_lo[std::size_t(l)], share_dpi[std::size_t(l)], med_top[std::size_t(l)]);
}

void cmd_tokens_analysis(context& c) {
  const auto runs = run_samples(c);
  const int L = c.n_layers();
  detect::token_category_counts counts;
  std::map<std::string, std::int64_t> by_text;
  std::map<std::int64_t, std::int64_t> by_pos;
  std::int64_t first_token = 0, with_any = 0;
  for (const auto& s : runs) {
    std::set<std::int64_t> toks;
    for (int l = 0; l < L; ++l)
      for (auto t : s.rec.find(tr::site::layer_out, l)->massive_tokens()) toks.insert(t);
    if (!toks.empty()) ++with_any;
    if (toks.count(0)) ++first_token;
    for (auto t : toks) {
      counts.add(detect::classify_token(s.toks[std::size_t(t)], t));
      ++by_text[s.toks[std::size_t(t)]];
      ++by_pos[t];
    }
  }
  std::vector<std::pair<std::int64_t, std::string>> top;
  for (const auto& [k, v] : by_text) top.push_back({v, k});
  std::sort(top.rbegin(), top.rend());
  json_writer w(1);
  w.begin_object();
  header_json(w, c, "tokens_analysis");
  w.field("samples", runs.size()).field("sentences_with_massive", with_any).field("sentences_first_token_massive", first_token);
  w.key("categories").value(counts);
  w.key("by_text").begin_array();
  for (const auto& [n, t] : top) {
    w.begin_object();
    w.field("token", t).field("count", n);
    w.end_object();
  }
  w.end_array();
  w.key("by_position").begin_object();
  for (const auto& [p, n] : by_pos) w.field(std::to_string(p), n);
  w.end_object();
  w.end_object();
  w.save(c.out.file("tokens_analysis.json"));
  std::printf("== tokens_analysis: %s, %zu corpus sentences\n", c.lm.name.c_str(), runs.size());
  std::printf("  sentences with massive activations: %" PRId64 "; on the first token: %" PRId64 "\n", with_any, first_token);
  std::printf("  massive tokens by category: start %" PRId64 ", delimiter %" PRId64 ", weak semantic %" PRId64 ", other %" PRId64 "\n",
              counts.start, counts.delimiter, counts.weak_semantic, counts.other);
  std::printf("  most frequent:");
  for (std::size_t i = 0; i < top.size() && i < 10; ++i) std::printf(" '%s' x%" PRId64, printable(top[i].second).c_str(), top[i].first);
  std::printf("\n");
}

void cmd_top_activation_magnitude(context& c) {
  auto s = run_sentence(c, false);
  const int L = c.n_layers();
  std::vector<double> m(std::size_t(L) * 4);
  for (int l = 0; l < L; ++l) {
    const auto* a = s.rec.find(tr::site::layer_out, l);
    for (int k = 0; k < 3; ++k) m[std::size_t(l * 4 + k)] = a->top_abs(std::size_t(k));
    m[std::size_t(l * 4 + 3)] = a->reference();
  }
  std::vector<double> avg;
  int N = 0;
  if (c.o.samples > 0) {
    const auto runs = run_samples(c);
    N = int(runs.size());
    avg.assign(std::size_t(L) * 4, 0.0);
    for (const auto& r : runs)
      for (int l = 0; l < L; ++l) {
        const auto* a = r.rec.find(tr::site::layer_out, l);
        for (int k = 0; k < 3; ++k) avg[std::size_t(l * 4 + k)] += a->top_abs(std::size_t(k)) / N;
        avg[std::size_t(l * 4 + 3)] += a->reference() / N;
      }
    write_npy(c.out.file("top_activation_magnitude_corpus.npy"), avg.data(), {L, 4});
  }
  write_npy(c.out.file("top_activation_magnitude.npy"), m.data(), {L, 4});
  json_writer w(1);
  w.begin_object();
  header_json(w, c, "top_activation_magnitude");
  w.field("sentence", c.o.sentence);
  write_tokens(w, {s.ids, s.toks, {}});
  w.field("columns", std::vector<std::string>{"top1", "top2", "top3", "median"});
  w.field("sentence_values", m).field("samples", N).field("corpus_mean_values", avg);
  w.end_object();
  w.save(c.out.file("top_activation_magnitude.json"));
  if (c.o.plots) {
    io::line_plot p;
    p.title = c.lm.name + ": top-3 and median |h| of layer_out per layer";
    p.xlabel = "layer";
    p.ylabel = "|h|";
    p.logy = true;
    const char* names[] = {"top-1", "top-2", "top-3", "median"};
    for (int k = 0; k < 4; ++k) {
      io::series sr{names[k], {}, {}};
      for (int l = 0; l < L; ++l) sr.x.push_back(l + (k - 1.5) * 0.2), sr.y.push_back(std::max(m[std::size_t(l * 4 + k)], 1e-6));
      sr.style = "impulses lw 4";
      p.curves.push_back(sr);
    }
    c.plot_done(io::write_line_plot(c.stem("top_activation_magnitude"), p));
  }
  std::printf("== top_activation_magnitude: %s\n  layer      top-1      top-2      top-3     median%s\n", c.lm.name.c_str(),
              N ? "   (corpus mean top-1)" : "");
  for (int l = 0; l < L; ++l) {
    std::printf("  %5d %10.2f %10.2f %10.2f %10.4f", l, m[std::size_t(l * 4)], m[std::size_t(l * 4 + 1)], m[std::size_t(l * 4 + 2)],
                m[std::size_t(l * 4 + 3)]);
    if (N) std::printf("   %10.2f", avg[std::size_t(l * 4)]);
    std::printf("\n");
  }
}

void cmd_self_attention(context& c) {
  auto s = run_sentence(c);
  const int L = c.n_layers();
  std::vector<int> layers = c.o.layers;
  if (layers.empty()) {
    int em = -1;
    for (int l = 0; l < L && em < 0; ++l)
      if (s.rec.find(tr::site::layer_out, l)->outlier_count > 0) em = l;
    std::set<int> st{0, L - 1};
    if (em >= 0) st.insert(em);
    layers.assign(st.begin(), st.end());
  }
  detect::attention_sink_options aopt;
  aopt.value_heads = c.lm.m.cfg.n_kv_heads;
  json_writer w(1);
  w.begin_object();
  header_json(w, c, "self_attention");
  w.field("sentence", c.o.sentence);
  write_tokens(w, {s.ids, s.toks, {}});
  w.key("layers").begin_array();
  std::printf("== self_attention: %s, %zu tokens\n", c.lm.name.c_str(), s.ids.size());
  for (int l : layers) {
    if (l < 0 || l >= L) throw_error("--layers", "layer ", l, " outside [0, ", L, ")");
    const auto P = captured_view(s.rec, tr::site::attn_probs, l);
    const auto rep = detect::find_attention_sinks(P, l, aopt, captured_view(s.rec, tr::site::v, l));
    write_npy(c.out.file("attn_L" + std::to_string(l) + ".npy"), P);
    w.value(rep);
    if (c.o.plots) {
      std::vector<io::heatmap> maps;
      for (std::int64_t h = 0; h < P.dim(0); ++h) {
        io::heatmap hm;
        hm.title = "head " + std::to_string(h);
        hm.rows = P.dim(1);
        hm.cols = P.dim(2);
        hm.cb_min = 0;
        hm.cb_max = 1;  // probabilities: one colour scale for every head
        for (std::int64_t q = 0; q < hm.rows; ++q)
          for (std::int64_t k = 0; k < hm.cols; ++k) hm.values.push_back(P.get(h, q, k));
        maps.push_back(std::move(hm));
      }
      c.plot_done(io::write_heatmap_grid(c.stem("attention_L" + std::to_string(l)),
                                         c.lm.name + " layer " + std::to_string(l) + ": attention per head (queries x keys)", maps,
                                         std::min<int>(int(maps.size()), 5)));
    }
    double fm = 0;
    for (double x : rep.first_token_mass) fm += x;
    std::printf("  layer %d: sinks %s, mean first-token mass %.3f, Sink^0.3 %.2f, value norm sinks %.3f vs others %.3f\n", l,
                list(rep.outlier_tokens).c_str(), fm / double(rep.first_token_mass.size()), rep.sink_eps_fraction,
                rep.sink_value_norm, rep.other_value_norm);
  }
  w.end_array();
  w.end_object();
  w.save(c.out.file("self_attention.json"));
}

int run(const options& o) {
  const command_info* ci = find_command(o.command);
  progress("loading %s\n", o.model.empty() ? default_model().c_str() : o.model.c_str());
  const loaded_model lm = load_model(o);
  for (int l : o.layers)
    if (l >= lm.m.cfg.n_layers)
      throw usage_error("--layers: layer " + std::to_string(l) + " does not exist (" + lm.name + " has " +
                        std::to_string(lm.m.cfg.n_layers) + " layers, 0.." + std::to_string(lm.m.cfg.n_layers - 1) + ")");
  output_dir out(o.out);
  context c{o, lm, out, {}, {}};
  const std::string cmd = ci->name;
  if (cmd == "existence" || cmd == "positions" || cmd == "all") {
    const auto e = existence_analysis(c);
    if (cmd != "positions") cmd_existence(c, e);
    if (cmd != "existence") cmd_positions(c, e);
    if (cmd == "all") {
      cmd_lifecycle(c, &e.weights);
      const auto lc = lifecycle_analysis(c, &e.weights);
      cmd_intervene(c, &lc);
    }
  } else if (cmd == "lifecycle") {
    cmd_lifecycle(c, nullptr);
  } else if (cmd == "intervene") {
    cmd_intervene(c, nullptr);
  } else if (cmd == "existence_validation") {
    cmd_existence_validation(c);
  } else if (cmd == "tokens_analysis") {
    cmd_tokens_analysis(c);
  } else if (cmd == "intervention_analysis") {
    cmd_intervention_analysis(c);
  } else if (cmd == "top_activation_magnitude") {
    cmd_top_activation_magnitude(c);
  } else if (cmd == "self_attention") {
    cmd_self_attention(c);
  }
  const auto files = out.commit();
  std::printf("wrote %zu files to %s (%zu figures)\n", files.size(), out.final_path().string().c_str(), c.figures.size());
  for (const auto& n : c.notes) std::printf("note: %s\n", n.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  try {
    o = parse_args(argc, argv);
    if (o.help) {
      const command_info* ci = o.command.empty() ? nullptr : find_command(o.command);
      if (!o.command.empty() && !ci) throw usage_error("unknown command '" + o.command + "'");
      std::fputs(usage(ci).c_str(), stdout);
      return 0;
    }
    return run(o);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "sysout: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sysout %s: error: %s\n", o.command.c_str(), e.what());
    return 1;
  }
}

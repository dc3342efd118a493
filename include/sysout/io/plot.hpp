// plot: PNG figures through gnuplot, with no library dependency. Each figure is
// written as three files next to each other:
//   <stem>.dat   the numbers (plain text, gnuplot's formats)
//   <stem>.gp    the script (re-run it by hand: `gnuplot <stem>.gp`)
//   <stem>.png   the picture, made by running `gnuplot <stem>.gp`
// The PNG is rendered into a temporary name and renamed into place, so a
// failed run never leaves a partial image. When gnuplot is missing (or fails)
// the .dat and .gp files are still written and plot_result says why there is no
// PNG. Terminal: pngcairo, falling back to png when this gnuplot lacks cairo.
//
// Kinds of figure the examples need:
//   line_plot     curves over layers (top-k magnitudes, sink mass, lifecycle)
//   heatmap       one matrix (attention of one head: queries x keys)
//   heatmap_grid  several matrices in a grid (attention per head)
//   landscape     3D |activation| over (token, feature): the papers' "massive
//                 activation" picture, drawn as impulses so single spikes show
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sysout/core/error.hpp"

namespace sysout::io {

struct plot_result {
  std::string png;           // path of the PNG (empty when none was made)
  std::string script;        // path of the .gp script
  std::string data;          // path of the .dat file
  bool png_written = false;
  std::string note;          // why there is no PNG
};

struct series {
  std::string title;
  std::vector<double> x, y;
  std::string style = "linespoints";  // any gnuplot "with" style: lines, points, boxes, impulses
};

struct line_plot {
  std::string title, xlabel, ylabel;
  bool logy = false;
  double ymin = 0, ymax = 0;  // ymin == ymax: automatic range
  std::vector<series> curves;
  int width = 900, height = 560;
};

struct heatmap {
  std::string title, xlabel, ylabel;
  std::int64_t rows = 0, cols = 0;
  std::vector<double> values;  // row-major [rows, cols]; row 0 is drawn at the top
  std::vector<std::string> row_labels, col_labels;  // optional tick labels (tokens)
  bool logscale = false;
  double cb_min = 0, cb_max = 0;  // colour range; cb_min == cb_max: automatic (attention: 0..1)
};

struct landscape {
  std::string title, xlabel = "feature", ylabel = "token", zlabel = "|value|";
  std::int64_t rows = 0, cols = 0;  // tokens x features
  std::vector<double> values;       // row-major |value|
  std::vector<std::string> row_labels;
};

namespace detail {

// gnuplot string literal in single quotes ('' escapes a quote; no backslash
// processing inside single quotes). Control characters become spaces.
inline std::string gp_quote(const std::string& s) {
  std::string r = "'";
  for (char c : s) {
    if (c == '\'') r += "''";
    else if (static_cast<unsigned char>(c) < 0x20) r += ' ';
    else r += c;
  }
  return r + "'";
}

inline void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw_error(path, "cannot open '", tmp, "' for writing");
    f << text;
    if (!f) throw_error(path, "write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw_error(path, "cannot rename temporary file into place");
  }
}

inline std::string shell_quote(const std::string& s) {
  std::string r = "'";
  for (char c : s) {
    if (c == '\'') r += "'\\''";
    else r += c;
  }
  return r + "'";
}

inline std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

}  // namespace detail

// Which terminal works: "pngcairo", "png", or "" when gnuplot cannot make PNGs.
inline const std::string& gnuplot_terminal() {
  static const std::string term = [] {
    for (const char* t : {"pngcairo", "png"}) {
      const std::string cmd = std::string("echo 'set terminal ") + t +
                              "' | gnuplot >/dev/null 2>&1";
      if (std::system(cmd.c_str()) == 0) return std::string(t);
    }
    return std::string();
  }();
  return term;
}
inline bool gnuplot_available() { return !gnuplot_terminal().empty(); }

// Writes <stem>.gp from the body (terminal and output are prepended) and runs it.
inline plot_result run_gnuplot(const std::string& stem, const std::string& body, int width, int height,
                               const std::string& data_path) {
  plot_result r;
  r.script = stem + ".gp";
  r.data = data_path;
  const std::string png = stem + ".png";
  const std::string tmp_png = stem + ".tmp.png";
  std::ostringstream gp;
  const std::string& term = gnuplot_terminal();
  gp << "# made by sysout (io/plot.hpp); run: gnuplot " << std::filesystem::path(r.script).filename().string() << "\n";
  gp << "set terminal " << (term.empty() ? std::string("pngcairo") : term) << " noenhanced size " << width << ","
     << height << (term == "pngcairo" ? " font ',10'" : "") << "\n";
  gp << "set output " << detail::gp_quote(std::filesystem::path(png).filename().string()) << "\n";
  gp << body;
  detail::write_text_atomic(r.script, gp.str());
  if (term.empty()) {
    r.note = "gnuplot not found (or it cannot write PNG): wrote " + r.data + " and " + r.script + " only";
    return r;
  }
  // Render into a temporary name: the script is run from the figure's folder
  // with its output line redirected.
  const auto dir = std::filesystem::path(stem).parent_path();
  const std::string tmp_script = stem + ".run.gp";
  std::string run = gp.str();
  const std::string out_line = "set output " + detail::gp_quote(std::filesystem::path(png).filename().string());
  run.replace(run.find(out_line), out_line.size(),
              "set output " + detail::gp_quote(std::filesystem::path(tmp_png).filename().string()));
  detail::write_text_atomic(tmp_script, run);
  const std::string cmd = "cd " + detail::shell_quote(dir.empty() ? std::string(".") : dir.string()) +
                          " && gnuplot " + detail::shell_quote(std::filesystem::path(tmp_script).filename().string()) +
                          " >/dev/null 2>" + detail::shell_quote(std::filesystem::path(stem).filename().string() + ".log");
  const int rc = std::system(cmd.c_str());
  std::remove(tmp_script.c_str());
  std::error_code ec;
  if (rc == 0 && std::filesystem::exists(tmp_png, ec) && std::filesystem::file_size(tmp_png, ec) > 0) {
    std::filesystem::rename(tmp_png, png, ec);
    if (!ec) {
      r.png = png;
      r.png_written = true;
      std::remove((stem + ".log").c_str());
      return r;
    }
  }
  std::remove(tmp_png.c_str());
  r.note = "gnuplot failed on " + r.script + " (see " + stem + ".log)";
  return r;
}

// Curves: one data block per series (separated by two blank lines, index i).
inline plot_result write_line_plot(const std::string& stem, const line_plot& p) {
  std::ostringstream dat, body;
  for (std::size_t i = 0; i < p.curves.size(); ++i) {
    const auto& c = p.curves[i];
    if (c.x.size() != c.y.size())
      throw_error(stem, "series '", c.title, "' has ", c.x.size(), " x values and ", c.y.size(), " y values");
    dat << "# " << c.title << "\n";
    for (std::size_t j = 0; j < c.x.size(); ++j) dat << detail::fmt(c.x[j]) << ' ' << detail::fmt(c.y[j]) << '\n';
    dat << "\n\n";
  }
  const std::string data = stem + ".dat";
  detail::write_text_atomic(data, dat.str());
  const std::string dname = detail::gp_quote(std::filesystem::path(data).filename().string());
  body << "set title " << detail::gp_quote(p.title) << "\n";
  body << "set xlabel " << detail::gp_quote(p.xlabel) << "\nset ylabel " << detail::gp_quote(p.ylabel) << "\n";
  body << "set grid\nset key outside right top\n";
  if (p.logy) body << "set logscale y\n";
  if (p.ymax > p.ymin) body << "set yrange [" << p.ymin << ":" << p.ymax << "]\n";
  body << "set style fill solid 0.6\n";
  body << "plot ";
  for (std::size_t i = 0; i < p.curves.size(); ++i)
    body << (i ? ", \\\n     " : "") << dname << " index " << i << " using 1:2 with " << p.curves[i].style
         << " title " << detail::gp_quote(p.curves[i].title);
  if (p.curves.empty()) body << "NaN notitle";
  body << "\n";
  return run_gnuplot(stem, body.str(), p.width, p.height, data);
}

namespace detail {
inline void write_matrix(std::ostringstream& dat, std::int64_t rows, std::int64_t cols, const std::vector<double>& v) {
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) dat << (c ? " " : "") << fmt(v[std::size_t(r * cols + c)]);
    dat << '\n';
  }
}
inline std::string tick_labels(const char* axis, const std::vector<std::string>& labels, std::size_t max_labels = 64) {
  if (labels.empty() || labels.size() > max_labels) return {};
  std::string s = std::string("set ") + axis + " (";
  for (std::size_t i = 0; i < labels.size(); ++i) s += (i ? ", " : "") + gp_quote(labels[i]) + " " + std::to_string(i);
  return s + ")\n";
}
inline void check_matrix(const std::string& stem, std::int64_t rows, std::int64_t cols, const std::vector<double>& v) {
  if (rows <= 0 || cols <= 0 || std::int64_t(v.size()) != rows * cols)
    throw_error(stem, "matrix of ", rows, " x ", cols, " needs ", rows * cols, " values, got ", v.size());
}
}  // namespace detail

inline plot_result write_heatmap(const std::string& stem, const heatmap& h, int width = 760, int height = 680) {
  detail::check_matrix(stem, h.rows, h.cols, h.values);
  std::ostringstream dat, body;
  detail::write_matrix(dat, h.rows, h.cols, h.values);
  const std::string data = stem + ".dat";
  detail::write_text_atomic(data, dat.str());
  body << "set title " << detail::gp_quote(h.title) << "\n";
  body << "set xlabel " << detail::gp_quote(h.xlabel) << "\nset ylabel " << detail::gp_quote(h.ylabel) << "\n";
  body << "set yrange [" << h.rows - 0.5 << ":-0.5]\nset xrange [-0.5:" << h.cols - 0.5 << "]\n";
  body << "set palette rgbformulae 30,31,32\nset view map\n";
  if (h.logscale) body << "set logscale cb\n";
  if (h.cb_max > h.cb_min) body << "set cbrange [" << h.cb_min << ":" << h.cb_max << "]\n";
  body << detail::tick_labels("xtics rotate by 60 right", h.col_labels) << detail::tick_labels("ytics", h.row_labels);
  body << "plot " << detail::gp_quote(std::filesystem::path(data).filename().string())
       << " matrix with image notitle\n";
  return run_gnuplot(stem, body.str(), width, height, data);
}

// Several matrices of the same shape in a grid (e.g. attention of each head).
inline plot_result write_heatmap_grid(const std::string& stem, const std::string& title,
                                      const std::vector<heatmap>& maps, int columns = 4) {
  if (maps.empty()) throw_error(stem, "heatmap grid with no maps");
  std::ostringstream dat, body;
  for (const auto& h : maps) {
    detail::check_matrix(stem, h.rows, h.cols, h.values);
    detail::write_matrix(dat, h.rows, h.cols, h.values);
    dat << "\n\n";
  }
  const std::string data = stem + ".dat";
  detail::write_text_atomic(data, dat.str());
  const int n = int(maps.size());
  columns = std::max(1, std::min(columns, n));
  const int rows = (n + columns - 1) / columns;
  body << "set palette rgbformulae 30,31,32\nunset colorbox\nset tics font ',7'\n";
  if (maps[0].cb_max > maps[0].cb_min) body << "set cbrange [" << maps[0].cb_min << ":" << maps[0].cb_max << "]\n";
  body << "set multiplot layout " << rows << "," << columns << " title " << detail::gp_quote(title) << "\n";
  const std::string dname = detail::gp_quote(std::filesystem::path(data).filename().string());
  for (int i = 0; i < n; ++i) {
    const auto& h = maps[std::size_t(i)];
    body << "set title " << detail::gp_quote(h.title) << "\n";
    body << "set yrange [" << h.rows - 0.5 << ":-0.5]\nset xrange [-0.5:" << h.cols - 0.5 << "]\n";
    body << "plot " << dname << " index " << i << " matrix with image notitle\n";
  }
  body << "unset multiplot\n";
  return run_gnuplot(stem, body.str(), 300 * columns, 280 * rows + 40, data);
}

inline plot_result write_landscape(const std::string& stem, const landscape& l) {
  detail::check_matrix(stem, l.rows, l.cols, l.values);
  std::ostringstream dat, body;
  // x = feature, y = token, z = |value|; one block per token (impulses).
  for (std::int64_t r = 0; r < l.rows; ++r) {
    for (std::int64_t c = 0; c < l.cols; ++c)
      dat << c << ' ' << r << ' ' << detail::fmt(l.values[std::size_t(r * l.cols + c)]) << '\n';
    dat << "\n";
  }
  const std::string data = stem + ".dat";
  detail::write_text_atomic(data, dat.str());
  body << "set title " << detail::gp_quote(l.title) << "\n";
  body << "set xlabel " << detail::gp_quote(l.xlabel) << "\nset ylabel " << detail::gp_quote(l.ylabel) << "\n";
  body << "set zlabel " << detail::gp_quote(l.zlabel) << " rotate by 90\n";
  body << "set view 60,30\nset ticslevel 0\nset grid\nunset key\nset palette rgbformulae 33,13,10\n";
  body << detail::tick_labels("ytics", l.row_labels, 32);
  body << "splot " << detail::gp_quote(std::filesystem::path(data).filename().string())
       << " using 1:2:3:3 with impulses lc palette notitle\n";
  return run_gnuplot(stem, body.str(), 900, 680, data);
}

}  // namespace sysout::io

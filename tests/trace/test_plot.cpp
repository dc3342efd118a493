// io/plot.hpp: gnuplot figures (data + script always; PNG when gnuplot runs).
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "sysout/io/plot.hpp"

namespace fs = std::filesystem;

namespace {
fs::path fresh_dir(const char* name) {
  const auto d = fs::temp_directory_path() / ("sysout_test_plot_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
bool is_png(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  char m[8] = {};
  f.read(m, 8);
  return f && m[1] == 'P' && m[2] == 'N' && m[3] == 'G';
}
std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), {}};
}
}  // namespace

TEST_CASE("line plot: data, script, and a PNG when gnuplot can draw") {
  const auto d = fresh_dir("line");
  sysout::io::line_plot p;
  p.title = "top-1 |h| per layer (it's \"quoted\")";
  p.xlabel = "layer";
  p.ylabel = "|h|";
  p.logy = true;
  p.curves.push_back({"top-1", {0, 1, 2}, {1.5, 300, 2000}});
  p.curves.push_back({"median", {0, 1, 2}, {0.5, 0.4, 0.3}, "lines"});
  const auto r = sysout::io::write_line_plot((d / "top").string(), p);
  CHECK(fs::exists(r.script));
  CHECK(fs::exists(r.data));
  const auto dat = slurp(r.data);
  CHECK(dat.find("2 2000") != std::string::npos);
  CHECK(slurp(r.script).find("it''s") != std::string::npos);
  if (sysout::io::gnuplot_available()) {
    CHECK(r.png_written);
    CHECK(is_png(r.png));
    CHECK_FALSE(fs::exists(d / "top.tmp.png"));
  } else {
    MESSAGE("gnuplot is not installed: only data and script checked");
    CHECK_FALSE(r.png_written);
    CHECK(!r.note.empty());
  }
}

TEST_CASE("heatmap, heatmap grid and landscape") {
  const auto d = fresh_dir("maps");
  sysout::io::heatmap h;
  h.title = "head 0";
  h.rows = 3;
  h.cols = 3;
  h.values = {1, 0, 0, 0.5, 0.5, 0, 0.4, 0.3, 0.3};
  h.row_labels = {"<s>", "Summer", "is"};
  h.col_labels = h.row_labels;
  const auto r1 = sysout::io::write_heatmap((d / "attn").string(), h);
  const auto r2 = sysout::io::write_heatmap_grid((d / "heads").string(), "layer 3", {h, h, h}, 2);
  sysout::io::landscape l;
  l.title = "layer 3";
  l.rows = 2;
  l.cols = 4;
  l.values = {0.1, 0.2, 900, 0.1, 0.3, 0.1, 0.2, 0.4};
  const auto r3 = sysout::io::write_landscape((d / "land").string(), l);
  for (const auto* r : {&r1, &r2, &r3}) {
    CHECK(fs::exists(r->data));
    if (sysout::io::gnuplot_available()) CHECK(is_png(r->png));
  }
  CHECK(slurp(r3.data).find("2 0 900") != std::string::npos);
  h.values.pop_back();
  CHECK_THROWS_AS(sysout::io::write_heatmap((d / "bad").string(), h), sysout::error);
  fs::remove_all(d.parent_path());
}

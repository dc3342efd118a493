// bench_io_dequant: f32 output rate of dequantize_row_ref (scalar reference)
// and dequantize_row (Highway, static dispatch) per ggml type, measured in the
// same run on the same bytes. Sources: the tensors of each type in the real
// models (models/, ../shared/models/) when present, else seeded random blocks.
// Prints GB/s of f32 written and the Highway / reference ratio; best of 7
// alternating runs after a warm-up. The output (64 MB per type) does not fit in
// cache, so the fastest kernels meet memory bandwidth; types without a kernel
// (both columns the reference) show the run-to-run noise of the machine.
//
//   bench_io_dequant [MODEL.gguf ...]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "sysout/io/ggml_quants_highway.hpp"

using namespace sysout::io;

namespace {

struct workload {
  std::string source;
  std::vector<std::pair<const std::byte*, std::int64_t>> rows;  // (pointer, elements)
  std::int64_t elements = 0;
};

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

template <class F>
double best_seconds(F&& f, int reps = 7) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) files.push_back(argv[i]);
  if (files.empty())
    for (const char* f : {"models/SmolLM2-135M-Instruct.Q4_1.gguf", "models/gemma-3-270m-q4_k_m.gguf"})
      if (std::filesystem::exists(f)) files.push_back(f);

  std::vector<gguf_file> open;
  std::map<ggml_type, workload> work;
  constexpr std::int64_t target = 16 << 20;  // ~16M elements (64 MB of f32) per type
  for (const auto& f : files) {
    open.emplace_back(f);
    for (const auto& t : open.back().tensors()) {
      auto& w = work[t.type];
      if (w.elements >= target || t.type == ggml_type::f32) continue;
      if (w.source.find(std::filesystem::path(f).filename().string()) == std::string::npos)
        w.source += (w.source.empty() ? "" : " + ") + std::filesystem::path(f).filename().string();
      for (std::int64_t r = 0; r < t.n_rows() && w.elements < target; ++r) {
        w.rows.emplace_back(t.row(r), t.ne[0]);
        w.elements += t.ne[0];
      }
    }
  }
  // Types with a fast kernel that no model supplied: random blocks (seeded), finite f16 scales.
  std::vector<std::vector<std::byte>> owned;
  std::mt19937 rng(1);
  for (ggml_type t : {ggml_type::f16, ggml_type::bf16, ggml_type::q4_0, ggml_type::q4_1, ggml_type::q5_0,
                      ggml_type::q5_1, ggml_type::q8_0, ggml_type::q4_k, ggml_type::q5_k, ggml_type::q6_k}) {
    if (work.count(t)) continue;
    const std::int64_t n_elem = 4096, rows = target / n_elem;
    owned.emplace_back(std::size_t(rows * row_size(t, n_elem)));
    auto& buf = owned.back();
    for (auto& b : buf) b = std::byte(rng() & 0x3B);  // clears f16 exponent top bits: finite scales
    auto& w = work[t];
    w.source = "random blocks";
    for (std::int64_t r = 0; r < rows; ++r) {
      w.rows.emplace_back(buf.data() + r * row_size(t, n_elem), n_elem);
      w.elements += n_elem;
    }
  }

  std::printf("bench_io_dequant on %s, Highway static target %s\n", cpu_name().c_str(),
              hwy::TargetName(HWY_STATIC_TARGET));
  std::printf("%-6s %10s %12s %14s %8s  %s\n", "type", "Melements", "ref GB/s", "highway GB/s", "ratio", "source");
  std::vector<float> out;
  for (auto& [type, w] : work) {
    if (!can_dequantize(type) || w.elements == 0) continue;
    std::int64_t max_row = 0;
    for (auto& r : w.rows) max_row = std::max(max_row, r.second);
    out.resize(std::size_t(w.elements));
    auto run = [&](bool fast) {
      float* y = out.data();
      for (auto& [p, n] : w.rows) {
        if (fast) dequantize_row(type, p, y, n);
        else dequantize_row_ref(type, p, y, n);
        y += n;
      }
    };
    // Warm up (page faults on the mapping and the output), then alternate the two
    // so that load from other processes hits both alike; best of 7 each.
    run(false);
    run(true);
    double t_ref = 1e30, t_fast = 1e30;
    for (int r = 0; r < 7; ++r) {
      t_ref = std::min(t_ref, best_seconds([&] { run(false); }, 1));
      t_fast = std::min(t_fast, best_seconds([&] { run(true); }, 1));
    }
    const double gb = double(w.elements) * 4 / 1e9;
    std::printf("%-6s %10.1f %12.2f %14.2f %7.2fx  %s%s\n", type_name(type).c_str(), double(w.elements) / 1e6,
                gb / t_ref, gb / t_fast, t_ref / t_fast, w.source.c_str(),
                has_fast_dequantize(type) ? "" : " (no Highway kernel: both are the reference)");
  }
  return 0;
}

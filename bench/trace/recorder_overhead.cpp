// What tracing costs: the reference transformer's prompt processing with no
// hook, with the recorder on its default sites (what the lifecycle analysis
// reads), and with the recorder on every site; best of N runs each, interleaved,
// timed in the same run and printed as ratios.
//
//   bench_trace [model.gguf|model.bin] [tokens=64] [threads=1] [reps=6]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "sysout/model/forward.hpp"
#include "sysout/model/load_gguf.hpp"
#include "sysout/model/load_llama2c.hpp"
#include "sysout/trace.hpp"

using namespace sysout;

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "models/SmolLM2-135M-Instruct.Q4_1.gguf";
  const int T = argc > 2 ? std::atoi(argv[2]) : 64;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 1;
  const int reps = argc > 4 ? std::atoi(argv[4]) : 6;
  if (!std::filesystem::exists(path)) {
    std::printf("SKIP: model '%s' is absent (tools/fetch_models.py, or pass a path)\n", path.c_str());
    return 0;
  }
  const auto m = std::filesystem::path(path).extension() == ".gguf" ? model::load_gguf(path) : model::load_llama2c(path);
  std::vector<int> ids(static_cast<std::size_t>(T));
  for (int i = 0; i < T; ++i) ids[std::size_t(i)] = (1 + 37 * i) % m.cfg.vocab_size;
  const char* names[] = {"no hooks", "recorder, default sites", "recorder, every site"};
  double best[3] = {1e30, 1e30, 1e30};
  for (int r = 0; r < reps; ++r)
    for (int mode = 0; mode < 3; ++mode) {
      model::session s(m, T, threads);
      trace::recorder_config cfg;
      if (mode == 2) cfg.sites = trace::all_summary_sites();
      trace::recorder rec(cfg);
      if (mode > 0) rec.attach(s.hooks);
      const auto t0 = std::chrono::steady_clock::now();
      s.forward(ids);
      best[mode] = std::min(best[mode], std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  std::printf("model %s, prompt of %d tokens, %d thread(s), best of %d (hardware threads: %u)\n", path.c_str(), T,
              threads, reps, std::thread::hardware_concurrency());
  for (int mode = 0; mode < 3; ++mode)
    std::printf("  %-26s %8.1f ms  %7.1f tok/s  x%.2f\n", names[mode], 1e3 * best[mode], T / best[mode],
                best[mode] / best[0]);
  return 0;
}

// Tokens/s of the reference transformer: prompt processing (one batch of
// --pp tokens) and generation (--tg single-token steps after it), for 1 and 2
// threads, with hooks off, a no-op hook on every site, and a hook that reads
// every element of every site (an "all sites active" tracer stand-in).
// With --llama-cpp, runs tools/bench/model_llama_cpp_bench.py (llama-cpp-python,
// same GGUF, same thread count) in the same run and prints the ratios.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "sysout/model/forward.hpp"
#include "sysout/model/load_gguf.hpp"
#include "sysout/model/load_llama2c.hpp"

using namespace sysout;
using namespace sysout::model;
using clk = std::chrono::steady_clock;

namespace {
struct result {
  double pp_tps = 0, tg_tps = 0;
};

result run(const transformer& m, int threads, int pp, int tg, int hooks_mode, int reps) {
  result best;
  std::vector<int> prompt(static_cast<std::size_t>(pp));
  for (int i = 0; i < pp; ++i) prompt[std::size_t(i)] = (i * 7919 + 13) % m.cfg.vocab_size;
  volatile double sink = 0;
  for (int r = 0; r < reps; ++r) {
    session s(m, pp + tg + 1, threads);
    if (hooks_mode == 1) s.hooks.add_all([](const trace::hook_event&) {});
    if (hooks_mode == 2)
      s.hooks.add_all([&sink](const trace::hook_event& e) {
        const float* p = static_cast<const float*>(e.t.data());
        double acc = 0;
        for (std::int64_t i = 0, n = e.t.size(); i < n; ++i) acc += std::fabs(p[i]);
        sink = sink + acc;
      });
    auto t0 = clk::now();
    auto logits = s.forward(prompt);
    auto t1 = clk::now();
    int tok = 1;
    for (int i = 0; i < tg; ++i) {
      logits = s.forward(std::vector<int>{tok});
      tok = (tok * 31 + 7) % m.cfg.vocab_size;
    }
    auto t2 = clk::now();
    const double pp_s = std::chrono::duration<double>(t1 - t0).count();
    const double tg_s = std::chrono::duration<double>(t2 - t1).count();
    best.pp_tps = std::max(best.pp_tps, pp / pp_s);
    best.tg_tps = std::max(best.tg_tps, tg / tg_s);
  }
  return best;
}
}  // namespace

int main(int argc, char** argv) {
  std::string model = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
  int pp = 128, tg = 32, reps = 2;
  bool llama_cpp = false;
  std::string threads_list = "1,2";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--model") model = next();
    else if (a == "--pp") pp = std::atoi(next().c_str());
    else if (a == "--tg") tg = std::atoi(next().c_str());
    else if (a == "--reps") reps = std::atoi(next().c_str());
    else if (a == "--threads") threads_list = next();
    else if (a == "--llama-cpp") llama_cpp = true;
    else {
      std::printf(
          "usage: bench_model [--model F.gguf|F.bin] [--pp 128] [--tg 32] [--reps 2] [--threads 1,2] [--llama-cpp]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  {  // record the machine (the numbers mean little without it)
    std::ifstream cpu("/proc/cpuinfo");
    std::string line, model_name;
    int n_cpu = 0;
    while (std::getline(cpu, line))
      if (line.rfind("model name", 0) == 0) {
        ++n_cpu;
        model_name = line.substr(line.find(':') + 2);
      }
    std::ifstream la("/proc/loadavg");
    std::string load;
    std::getline(la, load);
    std::printf("machine: %s, %d logical CPUs, load average %s\n", model_name.c_str(), n_cpu, load.c_str());
  }
  const bool is_bin = model.size() > 4 && model.substr(model.size() - 4) == ".bin";
  const transformer m = is_bin ? load_llama2c(model) : load_gguf(model);
  std::printf("model %s (%s, %d layers, dim %d), kernels: %s, pp %d tokens, tg %d tokens, best of %d\n",
              model.c_str(), std::string(arch_name(m.cfg.architecture)).c_str(), m.cfg.n_layers, m.cfg.dim,
              have_fast_kernels ? "highway" : "scalar", pp, tg, reps);
  std::vector<int> threads;
  for (std::size_t p = 0; p < threads_list.size();) {
    auto q = threads_list.find(',', p);
    threads.push_back(std::atoi(threads_list.substr(p, q - p).c_str()));
    p = q == std::string::npos ? threads_list.size() : q + 1;
  }
  const char* modes[] = {"hooks off", "no-op hook on every site", "reading hook on every site"};
  for (int t : threads) {
    const result off = run(m, t, pp, tg, 0, reps);
    std::printf("threads %d  %-28s pp %8.1f tok/s  tg %7.1f tok/s\n", t, modes[0], off.pp_tps, off.tg_tps);
    for (int h = 1; h <= 2; ++h) {
      const result r = run(m, t, pp, tg, h, reps);
      std::printf("threads %d  %-28s pp %8.1f tok/s  tg %7.1f tok/s  (slowdown pp %.3fx, tg %.3fx)\n", t, modes[h],
                  r.pp_tps, r.tg_tps, off.pp_tps / r.pp_tps, off.tg_tps / r.tg_tps);
    }
    if (llama_cpp && !is_bin) {
      const std::string cmd = "python3 tools/bench/model_llama_cpp_bench.py --model '" + model + "' --pp " +
                              std::to_string(pp) + " --tg " + std::to_string(tg) + " --threads " + std::to_string(t) +
                              " --reps " + std::to_string(reps);
      FILE* f = popen(cmd.c_str(), "r");
      double lpp = 0, ltg = 0;
      if (f && std::fscanf(f, "%lf %lf", &lpp, &ltg) == 2 && lpp > 0 && ltg > 0)
        std::printf("threads %d  llama.cpp (llama-cpp-python)    pp %8.1f tok/s  tg %7.1f tok/s  -> sysout/llama.cpp: pp %.2fx, tg %.2fx\n",
                    t, lpp, ltg, off.pp_tps / lpp, off.tg_tps / ltg);
      else
        std::printf("threads %d  llama.cpp: not measured (llama-cpp-python missing or failed)\n", t);
      if (f) pclose(f);
    }
  }
  return 0;
}

// Detector throughput next to a plain vectorized memory-read pass (sum) over
// the same bytes, measured in the same run. Prints GB/s and the ratio
// detector / read-pass (the target: >= 0.5 for the activation and
// attention detectors). Usage: bench_detect [repeats (default 30)] [--no-forward]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sysout/core.hpp"
#include "sysout/detect.hpp"
#include "sysout/model/forward.hpp"
#include "sysout/model/load_gguf.hpp"
#include "sysout/model/tokenizer_gguf.hpp"

using namespace sysout;
using namespace sysout::detect;
namespace hn = hwy::HWY_NAMESPACE;

namespace {
volatile double sink_value = 0;

// Times f and the read pass g interleaved (so load from other processes hits
// both alike) and returns the fastest run of each: on a shared machine the
// minimum is the run that was not preempted.
struct timing {
  double t = 0, t_read = 0;
};
double seconds(const std::function<void()>& f) {
  const auto a = std::chrono::steady_clock::now();
  f();
  const auto b = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(b - a).count();
}
timing measure(int reps, const std::function<void()>& f, const std::function<void()>& read) {
  f();
  read();
  timing m{1e30, 1e30};
  for (int r = 0; r < reps; ++r) {
    m.t_read = std::min(m.t_read, seconds(read));
    m.t = std::min(m.t, seconds(f));
  }
  return m;
}

std::string cpu_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

void row(const char* what, const char* shape, double bytes, timing m) {
  const double t = m.t, t_read = m.t_read;
  const double gbs = bytes / t / 1e9, read = bytes / t_read / 1e9;
  std::printf("%-34s %-16s %8.3f ms %8.2f GB/s   read pass %8.2f GB/s   ratio %5.2f\n", what, shape, t * 1e3, gbs,
              read, t_read / t);
}
}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 30;
  const bool forward = !(argc > 2 && std::string(argv[2]) == "--no-forward");
  std::printf("sysout detector benchmark | CPU: %s (%u threads online) | Highway target: %s | f32 lanes %zu | fastest of %d runs, interleaved with the read pass\n",
              cpu_name().c_str(), std::thread::hardware_concurrency(), simd::target_name(), simd::f32_lanes(), reps);
  std::printf("ratio = read-pass time / detector time over the same bytes (1.0 = memory speed)\n\n");
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0, 1);

  // Activations: [tokens, dims] f32 (SmolLM2: d_model 576, d_ff 1536), plus f16/bf16 storage.
  for (auto [T, D] : {std::pair<std::int64_t, std::int64_t>{2048, 576}, {2048, 1536}}) {
    std::vector<float> h(static_cast<std::size_t>(T * D));
    for (auto& x : h) x = nd(rng);
    h[std::size_t(0 * D + 7)] = 3000.f;  // a few massive activations, as in real models
    h[std::size_t(5 * D + 7)] = -2000.f;
    const auto v = view(h.data(), {T, D});
    const double bytes = double(h.size()) * 4;
    auto read = [&] { sink_value = simd::sum_f32(h.data(), h.size()); };
    char shape[32];
    std::snprintf(shape, sizeof shape, "[%lld, %lld] f32", (long long)T, (long long)D);
    row("magnitude_statistics", shape, bytes, measure(reps, [&] { sink_value = magnitude_statistics(v).median_abs; }, read));
    row("find_massive_activations", shape, bytes, measure(reps, [&] {
      sink_value = double(find_massive_activations(v, 0, "layer_out").outliers.size());
    }, read));
    row("find_massive_activations (scalar)", shape, bytes, measure(std::max(2, reps / 10), [&] {
      sink_value = double(find_massive_activations(v, 0, "layer_out", {.impl = backend::reference}).outliers.size());
    }, read));
    std::vector<f16> hh(h.size());
    std::vector<bf16> hb(h.size());
    for (std::size_t i = 0; i < h.size(); ++i) {
      hh[i] = to_f16(h[i]);
      hb[i] = to_bf16(h[i]);
    }
    const double bytes16 = double(h.size()) * 2;
    // Each read pass sums the buffer its detector reads (same bytes, same cache state).
    auto read16 = [&] { sink_value = simd::sum_f32(reinterpret_cast<const float*>(hh.data()), hh.size() / 2); };
    auto read16b = [&] { sink_value = simd::sum_f32(reinterpret_cast<const float*>(hb.data()), hb.size() / 2); };
    std::snprintf(shape, sizeof shape, "[%lld, %lld] f16", (long long)T, (long long)D);
    row("find_massive_activations", shape, bytes16, measure(reps, [&] {
      sink_value = double(find_massive_activations(view(hh.data(), {T, D}), 0, "layer_out").outliers.size());
    }, read16));
    std::snprintf(shape, sizeof shape, "[%lld, %lld] bf16", (long long)T, (long long)D);
    row("find_massive_activations", shape, bytes16, measure(reps, [&] {
      sink_value = double(find_massive_activations(view(hb.data(), {T, D}), 0, "layer_out").outliers.size());
    }, read16b));
  }

  // Attention probabilities [heads, queries, keys] (SmolLM2: 9 heads), causal softmax.
  {
    const std::int64_t H = 9, Q = 512, K = 512;
    std::vector<float> p(static_cast<std::size_t>(H * Q * K), 0.0f);
    for (std::int64_t hq = 0; hq < H * Q; ++hq) {
      const std::int64_t q = hq % Q;
      float s = 0;
      for (std::int64_t k = 0; k <= q; ++k) s += (p[std::size_t(hq * K + k)] = std::exp(nd(rng) + (k == 0 ? 4.f : 0.f)));
      for (std::int64_t k = 0; k <= q; ++k) p[std::size_t(hq * K + k)] /= s;
    }
    const auto v = view(p.data(), {H, Q, K});
    const double bytes = double(p.size()) * 4;
    auto read = [&] { sink_value = simd::sum_f32(p.data(), p.size()); };
    row("find_attention_sinks", "[9, 512, 512] f32", bytes, measure(reps, [&] { sink_value = find_attention_sinks(v).received[0]; }, read));
    row("find_attention_sinks (scalar)", "[9, 512, 512] f32", bytes, measure(std::max(2, reps / 10), [&] {
      sink_value = find_attention_sinks(v, -1, {.impl = backend::reference}).received[0];
    }, read));
    // streaming: 8 query blocks of 64
    row("attention_sink_accumulator x8", "[9, 512, 512] f32", bytes, measure(reps, [&] {
      attention_sink_accumulator acc(H, K);
      for (std::int64_t q0 = 0; q0 < Q; q0 += 64) acc.add_queries(v.slice(1, q0, q0 + 64));
      sink_value = acc.finish().received[0];
    }, read));
    // f16 / bf16 probabilities (read pass over the same 2-byte buffer)
    std::vector<f16> ph(p.size());
    std::vector<bf16> pb(p.size());
    for (std::size_t i = 0; i < p.size(); ++i) {
      ph[i] = to_f16(p[i]);
      pb[i] = to_bf16(p[i]);
    }
    const double bytes16 = double(p.size()) * 2;
    auto read16 = [&] { sink_value = simd::sum_f32(reinterpret_cast<const float*>(ph.data()), ph.size() / 2); };
    auto read16b = [&] { sink_value = simd::sum_f32(reinterpret_cast<const float*>(pb.data()), pb.size() / 2); };
    row("find_attention_sinks", "[9, 512, 512] f16", bytes16, measure(reps, [&] {
      sink_value = find_attention_sinks(view(ph.data(), {H, Q, K})).received[0];
    }, read16));
    row("find_attention_sinks", "[9, 512, 512] bf16", bytes16, measure(reps, [&] {
      sink_value = find_attention_sinks(view(pb.data(), {H, Q, K})).received[0];
    }, read16b));
  }

  // Weights: down_proj [d_model, d_ff] = [576, 1536] f32.
  {
    const std::int64_t R = 576, C = 1536;
    std::vector<float> w(static_cast<std::size_t>(R * C));
    for (auto& x : w) x = 0.02f * nd(rng);
    const auto v = view(w.data(), {R, C});
    const double bytes = double(w.size()) * 4;
    auto read = [&] { sink_value = simd::sum_f32(w.data(), w.size()); };
    row("find_weight_outliers", "[576, 1536] f32", bytes, measure(reps, [&] { sink_value = double(find_weight_outliers(v).input.ranking[0]); }, read));
    std::vector<bf16> wb(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) wb[i] = to_bf16(w[i]);
    auto read16 = [&] { sink_value = simd::sum_f32(reinterpret_cast<const float*>(wb.data()), wb.size() / 2); };
    row("find_weight_outliers", "[576, 1536] bf16", double(w.size()) * 2, measure(reps, [&] {
      sink_value = double(find_weight_outliers(view(wb.data(), {R, C})).input.ranking[0]);
    }, read16));
  }

  // Full-layer detection during a forward pass of the reference transformer:
  // SmolLM2-135M on 256 WikiText-2 tokens, without hooks vs with detectors at
  // layer_out and down_proj_in (massive activations) and attn_probs (sinks) of
  // every layer. The target: <= 5% added.
  const std::filesystem::path model_path = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
  const std::filesystem::path text_path = "../shared/models/wikitext2-test.raw";
  if (!forward) return 0;
  if (!std::filesystem::exists(model_path) || !std::filesystem::exists(text_path)) {
    std::printf("\nforward-pass overhead: skipped (%s or %s absent; run from the repository root)\n",
                model_path.c_str(), text_path.c_str());
    return 0;
  }
  const auto m = model::load_gguf(model_path);
  const auto tok = tokenizer_from_gguf(model_path);
  std::string text;
  {
    std::ifstream f(text_path);
    text.assign(std::istreambuf_iterator<char>(f), {});
    text.resize(std::min<std::size_t>(text.size(), 8000));
  }
  auto ids32 = tok.encode(text, false);
  ids32.resize(std::min<std::size_t>(ids32.size(), 256));
  const std::vector<int> ids(ids32.begin(), ids32.end());
  for (int threads : {1, 2}) {
    model::session plain(m, 512, threads), hooked(m, 512, threads);
    std::size_t found = 0;
    double in_hooks = 0;  // time spent inside the detectors during the last hooked forward
    hooked.hooks.add(trace::site::layer_out, trace::any_layer, [&](const trace::hook_event& e) {
      in_hooks += seconds([&] { found += find_massive_activations(e.t, e.layer, "layer_out").outliers.size(); });
    });
    hooked.hooks.add(trace::site::down_proj_in, trace::any_layer, [&](const trace::hook_event& e) {
      in_hooks += seconds([&] { found += find_massive_activations(e.t, e.layer, "down_proj_in").outliers.size(); });
    });
    hooked.hooks.add(trace::site::attn_probs, trace::any_layer, [&](const trace::hook_event& e) {
      in_hooks += seconds([&] { found += find_attention_sinks(e.t, e.layer).outlier_tokens.size(); });
    });
    const int freps = std::max(3, reps / 6);
    double t_plain = 1e30, t_hooked = 1e30, t_in_hooks = 1e30;
    for (int r = 0; r < freps; ++r) {  // interleaved, fastest of each
      plain.reset();
      t_plain = std::min(t_plain, seconds([&] { plain.forward(ids); }));
      hooked.reset();
      in_hooks = 0;
      t_hooked = std::min(t_hooked, seconds([&] { hooked.forward(ids); }));
      t_in_hooks = std::min(t_in_hooks, in_hooks);
    }
    std::printf("\nSmolLM2-135M forward, %zu tokens, %d thread(s): %.1f ms plain, %.1f ms with detectors at every "
                "layer (layer_out, down_proj_in, attn_probs): %+.1f%% end to end; time inside the detectors %.2f ms "
                "= %.2f%% of the plain forward (detectors run on the calling thread)\n",
                ids.size(), threads, t_plain * 1e3, t_hooked * 1e3, (t_hooked / t_plain - 1) * 100, t_in_hooks * 1e3,
                t_in_hooks / t_plain * 100);
    sink_value = double(found);
  }
  return 0;
}

// GGUF models against llama.cpp (tests/fixtures/model/*_llama_cpp.txt, made by
// tools/fixtures/model_llama_cpp_logits.py with llama-cpp-python on the same
// files). Both engines use the same quantized weights and quantize activations to
// 8-bit blocks the same way, so differences come from float summation order,
// rounding ties in the activation quantization, libm and ggml's f16 GELU table.
// Both models have massive activations (SmolLM2's residual reaches ~3000), which
// amplify those differences: llama.cpp against itself with an f16 instead of f32
// KV cache moves SmolLM2's logits by up to 1.1. Measured here (MESSAGE lines):
// max |logit diff| 0.81-0.88 (SmolLM2 Q4_1) and 0.88-1.10 (Gemma 3 Q4_K_M; its
// logits reach ~25) over the recorded logits (top-10 + 32 probes at 3 positions
// of 3 prompts), moving by ~0.2 when only our summation order changes (the
// VNNI kernels), so:
//   logits and log-sum-exp: |diff| <= 1.0 (SmolLM2), 1.5 (Gemma 3);
//   top-1 token equal wherever llama.cpp's top-1/top-2 gap exceeds 1.0;
//   greedy continuation equal token for token up to the first step where
//   llama.cpp's own top-1/top-2 gap is below 0.5 (a near-tie either engine may
//   break either way); the number of steps so compared is reported.
// For scale: llama.cpp against itself moves these logits by 1.1 (SmolLM2) and 1.7
// (Gemma 3) between f16 and f32 KV cache, and by 1.3 / 1.8 with flash attention on.
// The exactness of the math itself is tested against numpy (below, 2e-4) and
// stories260K's golden output.
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "fixture.hpp"
#include "sysout/model/forward.hpp"
#include "sysout/model/load_gguf.hpp"
#include "sysout/model/perplexity.hpp"
#include "sysout/model/sampling.hpp"
#include "sysout/model/tokenizer_gguf.hpp"
#include "test_support.hpp"

using namespace sysout;
using namespace sysout::model;

namespace {

std::vector<int> greedy_continue(session& s, tensor_view logits, int n) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) {
    const int V = int(logits.dim(1));
    const int next = argmax(logits.data_as<const float>() + std::size_t(logits.dim(0) - 1) * V, V);
    out.push_back(next);
    if (i + 1 < n) logits = s.forward(std::vector<int>{next});
  }
  return out;
}

void check_against_llama_cpp(const std::filesystem::path& model_path, const char* fixture, double tol, int threads) {
  const auto m = load_gguf(model_path);
  const auto cases = testing::read_logit_fixture(testing::source_dir() / "tests/fixtures/model" / fixture);
  REQUIRE(cases.size() >= 3);
  double worst = 0.0;
  int total_compared = 0, total_steps = 0;
  for (const auto& c : cases) {
    CAPTURE(c.name);
    session s(m, 256, threads);
    auto logits = s.forward(c.tokens, true);
    REQUIRE(logits.dim(0) == int(c.tokens.size()));
    const int V = int(logits.dim(1));
    for (const auto& p : c.positions) {
      CAPTURE(p.pos);
      const float* row = logits.data_as<const float>() + std::size_t(p.pos) * V;
      double md = 0.0;
      for (std::size_t i = 0; i < p.top_ids.size(); ++i) md = std::max(md, std::fabs(row[p.top_ids[i]] - p.top_logits[i]));
      for (std::size_t i = 0; i < p.probe_ids.size(); ++i)
        md = std::max(md, std::fabs(row[p.probe_ids[i]] - p.probe_logits[i]));
      worst = std::max(worst, md);
      CHECK(md <= tol);
      if (p.top_logits[0] - p.top_logits[1] > tol) CHECK(argmax(row, V) == p.top_ids[0]);
      // log-sum-exp over the whole vocabulary (a full-row summary)
      double mx = row[0];
      for (int v = 0; v < V; ++v) mx = std::max(mx, double(row[v]));
      double se = 0.0;
      for (int v = 0; v < V; ++v) se += std::exp(double(row[v]) - mx);
      CHECK(std::fabs(mx + std::log(se) - p.logsumexp) <= tol);
    }
    const auto g = greedy_continue(s, logits, int(c.greedy.size()));
    REQUIRE(c.margin.size() == c.greedy.size());
    int compared = 0;
    for (std::size_t i = 0; i < g.size() && c.margin[i] >= 0.5; ++i, ++compared) CHECK(g[i] == c.greedy[i]);
    total_compared += compared;
    total_steps += int(g.size());
  }
  MESSAGE(model_path.filename().string() << ": max |logit - llama.cpp| = " << worst << " (tolerance " << tol << "); greedy tokens compared before the first near-tie: "
                  << total_compared << " of " << total_steps);
}

}  // namespace

// Against numpy (tools/fixtures/model_numpy_ref.py): float64, weights dequantized
// by the gguf package, activations not quantized. sysout's kernel_set::exact does
// the same math in f32 (dots accumulated in double), so only float rounding
// separates them: every recorded logit (top-10 + 32 probes at every position of
// the 8-9 token prompt) within 2e-4 absolute (measured 1.9e-5 SmolLM2, 1.5e-5 Gemma 3).
void check_against_numpy(const std::filesystem::path& model_path, const char* fixture) {
  const auto m = load_gguf(model_path);
  const auto cases = testing::read_logit_fixture(testing::source_dir() / "tests/fixtures/model" / fixture);
  REQUIRE(cases.size() == 1);
  const auto& c = cases[0];
  session s(m, 64);
  s.kernels = kernel_set::exact;
  auto logits = s.forward(c.tokens, true);
  const int V = int(logits.dim(1));
  double worst = 0;
  for (const auto& p : c.positions) {
    const float* row = logits.data_as<const float>() + std::size_t(p.pos) * V;
    for (std::size_t i = 0; i < p.top_ids.size(); ++i) worst = std::max(worst, std::fabs(row[p.top_ids[i]] - p.top_logits[i]));
    for (std::size_t i = 0; i < p.probe_ids.size(); ++i)
      worst = std::max(worst, std::fabs(row[p.probe_ids[i]] - p.probe_logits[i]));
    CHECK(argmax(row, V) == p.top_ids[0]);
  }
  CHECK(c.positions.size() == c.tokens.size());
  CHECK(worst <= 2e-4);
  MESSAGE(model_path.filename().string() << ": exact kernels, max |logit - numpy float64| = " << worst);
}

TEST_CASE("SmolLM2-135M and Gemma 3 270M: exact kernels equal a numpy float64 forward") {
  SYSOUT_REQUIRE_MODEL(smol, "SmolLM2-135M-Instruct.Q4_1.gguf");
  check_against_numpy(smol, "smollm2_numpy.txt");
  SYSOUT_REQUIRE_MODEL(gemma, "gemma-3-270m-q4_k_m.gguf");
  check_against_numpy(gemma, "gemma3_numpy.txt");
}

TEST_CASE("stories260K.gguf: greedy 64 steps equal llama2.c run.c") {
  SYSOUT_REQUIRE_MODEL(path, "stories260K.gguf");
  const auto fx = testing::read_logit_fixture(testing::source_dir() / "tests/fixtures/model/stories260K_greedy64.txt");
  const auto m = load_gguf(path);
  CHECK(m.cfg.architecture == arch::llama);
  CHECK(m.cfg.head_dim == 8);
  CHECK_FALSE(m.cfg.tied_embeddings);
  session s(m);
  auto logits = s.forward(fx[0].tokens);
  CHECK(greedy_continue(s, logits, int(fx[0].greedy.size())) == fx[0].greedy);
}

TEST_CASE("SmolLM2-135M Q4_1: logits and greedy tokens agree with llama.cpp") {
  SYSOUT_REQUIRE_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  check_against_llama_cpp(path, "smollm2_llama_cpp.txt", 1.0, 2);
}

TEST_CASE("Gemma 3 270M Q4_K_M: logits and greedy tokens agree with llama.cpp") {
  SYSOUT_REQUIRE_MODEL(path, "gemma-3-270m-q4_k_m.gguf");
  const auto m = load_gguf(path);
  CHECK(m.cfg.architecture == arch::gemma3);
  CHECK(m.cfg.is_sliding(0));
  CHECK_FALSE(m.cfg.is_sliding(5));
  CHECK(m.cfg.sliding_window == 512);
  check_against_llama_cpp(path, "gemma3_llama_cpp.txt", 1.5, 2);
}

// The whole pipeline on real text against llama.cpp
// (tools/fixtures/model_llama_cpp_perplexity.py): the start of WikiText-2
// tokenized by our GGUF tokenizer must give llama.cpp's ids exactly, and
// model::perplexity over them (windows of 256, BOS as the model asks) llama.cpp's
// mean NLL. Per-logit differences of up to ~1 (see the top of this file) average
// out over ~1000 scored tokens: measured |mean NLL diff| 0.0014 (SmolLM2) and
// 0.0037 (Gemma 3), i.e. perplexity within 0.4%; the tolerance is 0.01 nats (1%).
void check_perplexity_against_llama_cpp(const std::filesystem::path& model_path, const char* fixture) {
  const auto fx = testing::read_perplexity_fixture(testing::source_dir() / "tests/fixtures/model" / fixture);
  const auto& ids = fx.tokens;
  REQUIRE(ids.size() >= 512);
  std::ifstream tf(testing::shared_models() / "wikitext2-test.raw", std::ios::binary);
  REQUIRE(tf);
  std::string text(fx.text_bytes, '\0');
  tf.read(text.data(), std::streamsize(text.size()));
  REQUIRE(std::size_t(tf.gcount()) == text.size());

  const auto tok = tokenizer_from_gguf(model_path);
  const auto ours = tok.encode(text, false);
  REQUIRE(ours.size() >= ids.size());
  std::size_t same = 0;
  while (same < ids.size() && ours[same] == ids[same]) ++same;
  CHECK_MESSAGE(same == ids.size(), "first token that differs from llama.cpp's: index " << same);

  const auto m = load_gguf(model_path);
  session s(m, fx.ctx, 2);
  perplexity_options o;
  o.ctx = fx.ctx;
  o.add_bos = fx.add_bos;
  const auto r = perplexity(s, std::span<const int>(ids.data(), ids.size()), o);
  CHECK(r.n_scored == fx.scored);
  const double diff = r.mean_nll - fx.mean_nll;
  CHECK(std::fabs(diff) <= 0.01);
  MESSAGE(model_path.filename().string() << ": WikiText-2 perplexity " << r.perplexity << " vs llama.cpp "
                                         << fx.perplexity << " over " << r.n_scored << " tokens (mean NLL diff "
                                         << diff << ")");
}

TEST_CASE("SmolLM2-135M and Gemma 3 270M: WikiText-2 tokens and perplexity equal llama.cpp's") {
  SYSOUT_REQUIRE_MODEL(smol, "SmolLM2-135M-Instruct.Q4_1.gguf");
  check_perplexity_against_llama_cpp(smol, "smollm2_llama_cpp_ppl.txt");
  SYSOUT_REQUIRE_MODEL(gemma, "gemma-3-270m-q4_k_m.gguf");
  check_perplexity_against_llama_cpp(gemma, "gemma3_llama_cpp_ppl.txt");
}

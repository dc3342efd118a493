// Generation and perplexity on stories260K: the text path (llama2.c tokenizer ->
// generate -> decode) prints run.c's golden output; sampling is seeded and
// top-p -> 0 degenerates to greedy; perplexity equals a direct computation
// from one forward pass, and strided windows score each token once.
#include <cmath>
#include <string>
#include <vector>

#include "sysout/model/generate.hpp"
#include "sysout/model/load.hpp"
#include "sysout/model/perplexity.hpp"
#include "sysout/model/tokenizer.hpp"
#include "test_support.hpp"

using namespace sysout;
using namespace sysout::model;

TEST_CASE("stories260K: text in, golden text out") {
  SYSOUT_REQUIRE_MODEL(bin, "stories260K.bin");
  SYSOUT_REQUIRE_MODEL(tokp, "tok512.bin");
  SYSOUT_REQUIRE_MODEL(golden_path, "stories260K.greedy64.txt");
  const auto m = load_model(bin);
  const auto tok = load_llama2c_tokenizer(tokp, m.cfg.vocab_size);
  const auto prompt = tok.encode("Once upon a time", true);
  session s(m);
  generate_options o;
  o.max_new_tokens = 64 - int(prompt.size()) + 1;  // run.c -n 64: positions 0..63, one token printed per position
  o.stop_at_eos = true;
  const auto out = generate(s, std::vector<int>(prompt.begin(), prompt.end()), o);
  std::vector<std::int32_t> all(prompt.begin() + 1, prompt.end());
  all.insert(all.end(), out.begin(), out.end());
  std::string text = tok.decode(all);
  std::string golden = sysout::detail::read_whole_file(golden_path);
  while (!golden.empty() && golden.back() == '\n') golden.pop_back();
  if (!text.empty() && text.front() == ' ') text.erase(0, 1);  // run.c drops the space after BOS
  CHECK(text == golden);
}

TEST_CASE("sampling: seeded, and top-p near 0 is greedy") {
  SYSOUT_REQUIRE_MODEL(bin, "stories260K.bin");
  const auto m = load_model(bin);
  const std::vector<int> prompt = {1, 403, 407, 261, 378};
  auto run = [&](float temp, float top_p, std::uint64_t seed) {
    session s(m);
    generate_options o;
    o.max_new_tokens = 40;
    o.stop_at_eos = false;
    o.sampling = {temp, top_p, seed};
    return generate(s, prompt, o);
  };
  const auto greedy = run(0.0f, 1.0f, 0);
  CHECK(run(1.0f, 1e-6f, 5) == greedy);
  CHECK(run(1.0f, 0.9f, 11) == run(1.0f, 0.9f, 11));
  CHECK(run(1.0f, 1.0f, 1) != run(1.0f, 1.0f, 2));
  CHECK_THROWS_AS(sampler({-1.0f, 1.0f, 0}), sysout::error);
  CHECK_THROWS_AS(sampler({1.0f, 0.0f, 0}), sysout::error);
  // on_token can stop early
  session s(m);
  generate_options o;
  o.max_new_tokens = 40;
  int n = 0;
  o.on_token = [&](int) { return ++n < 3; };
  CHECK(generate(s, prompt, o).size() == 3);
}

TEST_CASE("perplexity: windows, BOS and stride") {
  SYSOUT_REQUIRE_MODEL(bin, "stories260K.bin");
  const auto m = load_model(bin);
  std::vector<int> toks;
  for (int i = 0; i < 100; ++i) toks.push_back(3 + (i * 37 + i / 3) % 500);
  session s(m, 64);

  // direct: one window of 40 with BOS scores tokens 0..38 from one forward pass
  perplexity_options o;
  o.ctx = 40;
  o.max_tokens = 39;
  o.batch = 7;  // chunking must not matter
  const auto r = perplexity(s, toks, o);
  CHECK(r.n_windows == 1);
  CHECK(r.n_scored == 39);
  session d(m, 64);
  std::vector<int> w = {1};
  w.insert(w.end(), toks.begin(), toks.begin() + 39);
  auto lg = d.forward(std::vector<int>(w.begin(), w.end() - 1), true);
  double nll = 0;
  for (int p = 0; p < 39; ++p) {
    double mx = -1e30, se = 0;
    for (int v = 0; v < 512; ++v) mx = std::max(mx, lg.get(p, v));
    for (int v = 0; v < 512; ++v) se += std::exp(lg.get(p, v) - mx);
    nll += mx + std::log(se) - lg.get(p, w[std::size_t(p + 1)]);
  }
  CHECK(r.mean_nll == doctest::Approx(nll / 39).epsilon(1e-6));

  // all 100 tokens: non-overlapping windows with BOS score every token once
  o.max_tokens = 0;
  const auto all = perplexity(s, toks, o);
  CHECK(all.n_scored == 100);
  CHECK(all.n_windows == 3);  // 39 + 39 + 22 text tokens
  // without BOS each non-overlapping window's first token has no prediction
  o.add_bos = false;
  const auto nobos = perplexity(s, toks, o);
  CHECK(nobos.n_windows == 3);  // 40 + 40 + 20
  CHECK(nobos.n_scored == 97);
  // overlapping windows (stride 20) still score each token once, with more context
  o.add_bos = true;
  o.stride = 20;
  const auto strided = perplexity(s, toks, o);
  CHECK(strided.n_scored == 100);
  CHECK(strided.n_windows > all.n_windows);
  CHECK(std::isfinite(strided.perplexity));
  o.ctx = 65;
  CHECK_THROWS_AS(perplexity(s, toks, o), sysout::error);
}

// stories260K (llama2.c checkpoint): greedy generation must reproduce llama2.c's
// run.c output token for token (the golden file's tokens, as llama.cpp
// tokenizes and generates them on the converted GGUF; see
// tools/fixtures/model_llama_cpp_logits.py, which checks that llama.cpp prints
// exactly ../shared/models/stories260K.greedy64.txt).
#include <cmath>
#include <vector>

#include "fixture.hpp"
#include "sysout/model/forward.hpp"
#include "sysout/model/load_llama2c.hpp"
#include "sysout/model/sampling.hpp"
#include "test_support.hpp"

using namespace sysout;
using namespace sysout::model;

namespace {
std::vector<int> greedy(session& s, const std::vector<int>& prompt, int n) {
  std::vector<int> out;
  auto logits = s.forward(prompt);
  for (int i = 0; i < n; ++i) {
    const int next = argmax(logits.data_as<const float>(), int(logits.dim(1)));
    out.push_back(next);
    if (i + 1 < n) logits = s.forward(std::vector<int>{next});
  }
  return out;
}
}  // namespace

TEST_CASE("stories260K.bin: greedy 64 steps equal llama2.c run.c") {
  SYSOUT_REQUIRE_MODEL(bin, "stories260K.bin");
  const auto fx = testing::read_logit_fixture(testing::source_dir() / "tests/fixtures/model/stories260K_greedy64.txt");
  REQUIRE(fx.size() == 1);
  const auto m = load_llama2c(bin);
  CHECK(m.cfg.dim == 64);
  CHECK(m.cfg.n_layers == 5);
  CHECK(m.cfg.n_heads == 8);
  CHECK(m.cfg.n_kv_heads == 4);
  CHECK(m.cfg.vocab_size == 512);
  for (int threads : {1, 2}) {
    session s(m, 0, threads);
    const auto got = greedy(s, fx[0].tokens, int(fx[0].greedy.size()));
    CHECK(got == fx[0].greedy);
  }
  // token-by-token prompt (T=1 every step) gives the same continuation
  session s(m);
  std::vector<int> got;
  tensor_view logits;
  for (int t : fx[0].tokens) logits = s.forward(std::vector<int>{t});
  for (int i = 0; i < int(fx[0].greedy.size()); ++i) {
    const int next = argmax(logits.data_as<const float>(), int(logits.dim(1)));
    got.push_back(next);
    logits = s.forward(std::vector<int>{next});
  }
  CHECK(got == fx[0].greedy);
}

TEST_CASE("stories260K: batched prompt equals token-by-token, reference kernels equal fast ones") {
  SYSOUT_REQUIRE_MODEL(bin, "stories260K.bin");
  const auto m = load_llama2c(bin);
  const std::vector<int> prompt = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376};
  session batched(m);
  auto all = batched.forward(prompt, true);
  REQUIRE(all.dim(0) == int(prompt.size()));
  session single(m);
  session ref(m);
  ref.kernels = kernel_set::reference;
  auto ref_all = ref.forward(prompt, true);
  double max_diff = 0, max_diff_ref = 0;
  for (std::size_t t = 0; t < prompt.size(); ++t) {
    auto l = single.forward(std::vector<int>{prompt[t]});
    for (int v = 0; v < 512; ++v) {
      max_diff = std::max(max_diff, std::fabs(l.get(0, v) - all.get(int(t), v)));
      max_diff_ref = std::max(max_diff_ref, std::fabs(ref_all.get(int(t), v) - all.get(int(t), v)));
    }
  }
  // Same math, different summation order only (matmul tiles are per row, so the
  // batched and single paths do identical dots: expect ~0; 1e-4 allows for libm).
  CHECK(max_diff < 1e-4);
  // f32 weights: Highway dot (8/16-lane partial sums) vs scalar order.
  CHECK(max_diff_ref < 1e-3);
  MESSAGE("stories260K max |batched - single| = " << max_diff << ", |fast - reference| = " << max_diff_ref);
}

TEST_CASE("stories260K: capacity and token id errors") {
  SYSOUT_REQUIRE_MODEL(bin, "stories260K.bin");
  const auto m = load_llama2c(bin);
  session s(m, 4);
  CHECK_THROWS_AS(s.forward(std::vector<int>{1, 2, 3, 4, 5}), sysout::error);
  CHECK_THROWS_AS(s.forward(std::vector<int>{512}), sysout::error);
  CHECK_THROWS_AS(s.forward(std::vector<int>{-1}), sysout::error);
  CHECK(s.n_past() == 0);
  s.forward(std::vector<int>{1, 2, 3, 4});
  CHECK(s.n_past() == 4);
  CHECK_THROWS_AS(s.forward(std::vector<int>{1}), sysout::error);
}

TEST_CASE("llama2c reader rejects truncated and inconsistent files") {
  SYSOUT_REQUIRE_MODEL(bin, "stories260K.bin");
  const auto dir = std::filesystem::temp_directory_path() / "sysout_model_test";
  std::filesystem::create_directories(dir);
  std::ifstream in(bin, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  {
    std::ofstream o(dir / "trunc.bin", std::ios::binary);
    o.write(bytes.data(), std::streamsize(bytes.size() - 100));
  }
  CHECK_THROWS_WITH_AS(io::read_llama2c(dir / "trunc.bin"), doctest::Contains("needs"), sysout::error);
  auto bad = bytes;
  const std::int32_t heads = 7;  // dim 64 not divisible by 7
  std::memcpy(bad.data() + 12, &heads, 4);
  {
    std::ofstream o(dir / "bad.bin", std::ios::binary);
    o.write(bad.data(), std::streamsize(bad.size()));
  }
  CHECK_THROWS_WITH_AS(io::read_llama2c(dir / "bad.bin"), doctest::Contains("n_heads"), sysout::error);
  // negative vocab: separate classifier expected -> sizes no longer match
  auto sep = bytes;
  const std::int32_t vneg = -512;
  std::memcpy(sep.data() + 20, &vneg, 4);
  {
    std::ofstream o(dir / "sep.bin", std::ios::binary);
    o.write(sep.data(), std::streamsize(sep.size()));
  }
  CHECK_THROWS_AS(io::read_llama2c(dir / "sep.bin"), sysout::error);
  // ...and accepted once a classifier is appended
  std::vector<char> cls(512 * 64 * 4, 0);
  sep.insert(sep.end(), cls.begin(), cls.end());
  {
    std::ofstream o(dir / "sep2.bin", std::ios::binary);
    o.write(sep.data(), std::streamsize(sep.size()));
  }
  const auto ck = io::read_llama2c(dir / "sep2.bin");
  CHECK_FALSE(ck.config.shared_classifier);
  CHECK(ck.wcls != ck.token_embedding);
  std::filesystem::remove_all(dir);
}

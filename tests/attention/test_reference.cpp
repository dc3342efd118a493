// The scalar reference against the definitions: identities between variants,
// probability sums, precision, validation, and an independent numpy fixture.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "attention_cases.hpp"
#include "sysout/attention/reference.hpp"
#include "sysout/attention/scaling.hpp"
#include "test_support.hpp"

using namespace sysout;
using namespace sysout::attention;
using namespace sysout::attention::testing;

static problem mk(const tensor_view& q, const tensor_view& k, const tensor_view& v, const tensor_view& out) {
  problem p;
  p.q = q, p.k = k, p.v = v, p.out = out;
  return p;
}

TEST_CASE("reference: softmax rows sum to one; column sums add up to Tq, probs agree with column sums") {
  case_data cd({23, 23, 32, 32, 4, 2, true, 0, 0, mask_kind::none, false, dtype::f32});
  config c = cd.make_config(variant::softmax);
  tensor<float> probs({4, 23, 23});
  problem p = cd.p;
  p.out = cd.out_ref.view();
  attend_reference(p, c, stats{cd.cols_ref.view(), cd.null_ref.view()}, probs.view());
  for (std::int64_t h = 0; h < 4; ++h) {
    double total = 0;
    for (std::int64_t i = 0; i < 23; ++i) {
      double row = 0;
      for (std::int64_t j = 0; j < 23; ++j) {
        row += probs(h, i, j);
        if (j > i) CHECK(probs(h, i, j) == 0.0f);  // causal
      }
      CHECK(row == doctest::Approx(1.0).epsilon(1e-6));
    }
    for (std::int64_t j = 0; j < 23; ++j) {
      double col = 0;
      for (std::int64_t i = 0; i < 23; ++i) col += probs(h, i, j);
      CHECK(cd.cols_ref(h, j) == doctest::Approx(col).epsilon(1e-6));
      total += cd.cols_ref(h, j);
    }
    CHECK(total == doctest::Approx(23.0).epsilon(1e-6));
    CHECK(cd.null_ref(h) == 0.0f);
  }
}

TEST_CASE("reference: softmax1 and sink logit put 1 - row sum on nothing") {
  for (variant var : {variant::softmax1, variant::sink_logit, variant::kv_bias}) {
    CAPTURE(variant_name(var));
    case_data cd({19, 19, 32, 32, 2, 1, true, 0, 0, mask_kind::none, false, dtype::f32});
    config c = cd.make_config(var);
    tensor<float> probs({2, 19, 19});
    problem p = cd.p;
    p.out = cd.out_ref.view();
    attend_reference(p, c, stats{cd.cols_ref.view(), cd.null_ref.view()}, probs.view());
    for (std::int64_t h = 0; h < 2; ++h) {
      double real = 0;
      for (std::int64_t j = 0; j < 19; ++j) real += cd.cols_ref(h, j);
      CHECK(cd.null_ref(h) > 0.0f);
      CHECK(real + cd.null_ref(h) == doctest::Approx(19.0).epsilon(1e-6));
    }
  }
}

TEST_CASE("reference: kv_bias equals softmax over [k'; K] with values [v'; V]") {
  // Non-causal so the extra key can sit at index 0 of an explicit concatenation.
  case_data cd({11, 13, 32, 24, 4, 2, false, 0, 0, mask_kind::none, false, dtype::f32});
  config c = cd.make_config(variant::kv_bias);
  problem p = cd.p;
  p.out = cd.out_ref.view();
  attend_reference(p, c);
  tensor<float> k2({2, 14, 32}), v2({2, 14, 24}), out2({4, 11, 24});
  for (std::int64_t g = 0; g < 2; ++g) {
    for (std::int64_t e = 0; e < 32; ++e) k2(g, 0, e) = cd.ek(g, e);
    for (std::int64_t e = 0; e < 24; ++e) v2(g, 0, e) = cd.ev(g, e);
    for (std::int64_t j = 0; j < 13; ++j) {
      for (std::int64_t e = 0; e < 32; ++e) k2(g, j + 1, e) = float(cd.k.get(g, j, e));
      for (std::int64_t e = 0; e < 24; ++e) v2(g, j + 1, e) = float(cd.v.get(g, j, e));
    }
  }
  problem p2 = mk(cd.q, k2.view(), v2.view(), out2.view());
  config c2;
  c2.causal = false;
  attend_reference(p2, c2);
  expect_close(cd.out_ref, out2, 1e-6, 1e-6, "kv_bias vs concatenation");
}

TEST_CASE("reference: context value bias = softmax + attention over [k'; K] with values [v'; 0]") {
  // The authors' GPT-2 code (model_cabias.py) adds two SDPA calls; rebuild that.
  case_data cd({9, 9, 32, 32, 2, 2, false, 0, 0, mask_kind::none, false, dtype::f32});
  config c = cd.make_config(variant::value_bias_context);
  problem p = cd.p;
  p.out = cd.out_ref.view();
  attend_reference(p, c);
  tensor<float> plain({2, 9, 32}), k2({2, 10, 32}), v2({2, 10, 32}), second({2, 9, 32});
  config cs;
  cs.causal = false;
  attend_reference(mk(cd.q, cd.k, cd.v, plain.view()), cs);
  for (std::int64_t g = 0; g < 2; ++g) {
    for (std::int64_t e = 0; e < 32; ++e) k2(g, 0, e) = cd.ek(g, e), v2(g, 0, e) = cd.ev(g, e);
    for (std::int64_t j = 0; j < 9; ++j)
      for (std::int64_t e = 0; e < 32; ++e) k2(g, j + 1, e) = float(cd.k.get(g, j, e));
  }
  attend_reference(mk(cd.q, k2.view(), v2.view(), second.view()), cs);
  for (std::int64_t i = 0; i < plain.size(); ++i) plain.data()[i] += second.data()[i];
  expect_close(cd.out_ref, plain, 1e-6, 1e-6, "value_bias_context vs two attentions");
}

TEST_CASE("reference: a sink logit of -1e30 is plain softmax; scaling factor 1 and gate +inf are identities") {
  case_data cd({15, 15, 64, 64, 2, 1, true, 0, 0, mask_kind::none, false, dtype::f32});
  problem p = cd.p;
  p.out = cd.out_ref.view();
  attend_reference(p, cd.make_config(variant::softmax));
  tensor<float> o2({2, 15, 64});
  config c = cd.make_config(variant::sink_logit);
  tensor<float> sink({2}, -1e30f);
  c.sink_logit = sink.view();
  attend_reference(mk(cd.q, cd.k, cd.v, o2.view()), c);
  expect_close(o2, cd.out_ref, 1e-7, 1e-6, "sink -1e30");
  c = cd.make_config(variant::scaling_factor);
  tensor<float> ones({2, 15}, 1.0f);
  c.scaling_factor = ones.view();
  attend_reference(mk(cd.q, cd.k, cd.v, o2.view()), c);
  expect_close(o2, cd.out_ref, 1e-7, 1e-6, "scaling factor 1");
  c = cd.make_config(variant::gated);
  tensor<float> big({2, 15}, 1e4f);
  c.gate_logit = big.view();
  attend_reference(mk(cd.q, cd.k, cd.v, o2.view()), c);
  expect_close(o2, cd.out_ref, 1e-7, 1e-6, "gate +inf");
}

TEST_CASE("reference: float accumulation stays within 1e-5 of double") {
  for (variant var : all_variants) {
    CAPTURE(variant_name(var));
    case_data cd({40, 40, 64, 64, 2, 1, true, 0, 0, mask_kind::none, false, dtype::f32});
    config c = cd.make_config(var);
    problem p = cd.run_reference(c);
    attend_reference<float>(p, c, cd.backend_stats());
    expect_close(cd.out, cd.out_ref, 1e-5, 1e-5, "out");
    expect_close(cd.cols, cd.cols_ref, 1e-5, 1e-5, "column sums");
  }
}

TEST_CASE("reference: bad shapes and missing parameters throw sysout::error naming the tensor") {
  case_data cd({4, 4, 8, 8, 3, 2, true, 0, 0, mask_kind::none, false, dtype::f32});  // 3 % 2 != 0
  problem p = cd.p;
  p.out = cd.out_ref.view();
  CHECK_THROWS_AS(attend_reference(p, config{}), sysout::error);
  case_data ok({4, 4, 8, 8, 2, 1, true, 0, 0, mask_kind::none, false, dtype::f32});
  problem p2 = ok.p;
  p2.out = ok.out_ref.view();
  config c;
  c.variant = variant::sink_logit;  // no sink_logit view
  CHECK_THROWS_WITH_AS(attend_reference(p2, c), doctest::Contains("sink_logit"), sysout::error);
  tensor<float> wrong({2, 4, 7});
  p2.out = wrong.view();
  CHECK_THROWS_WITH_AS(attend_reference(p2, config{}), doctest::Contains("out"), sysout::error);
  c.variant = variant::clipped_softmax;
  c.clip_gamma = 0.5f;
  p2.out = ok.out_ref.view();
  CHECK_THROWS_AS(attend_reference(p2, c), sysout::error);
}

TEST_CASE("scaling: context_scaling_factors = 2 sigmoid(Linear(LayerNorm(x)))") {
  tensor<float> x({3, 4}), w({2, 4}), b({2}), lw({4}, 1.0f), lb({4});
  for (std::int64_t i = 0; i < 12; ++i) x.data()[i] = float(i % 5) - 1.5f;
  for (std::int64_t i = 0; i < 8; ++i) w.data()[i] = 0.1f * float(i) - 0.3f;
  b(0) = 0.2f, b(1) = -0.4f;
  const auto f = context_scaling_factors(x.view(), w.view(), b.view(), lw.view(), lb.view());
  for (std::int64_t t = 0; t < 3; ++t) {
    double mean = 0, var = 0;
    for (int e = 0; e < 4; ++e) mean += x(t, e) / 4.0;
    for (int e = 0; e < 4; ++e) var += (x(t, e) - mean) * (x(t, e) - mean) / 4.0;
    for (std::int64_t h = 0; h < 2; ++h) {
      double z = b(h);
      for (int e = 0; e < 4; ++e) z += w(h, e) * (x(t, e) - mean) / std::sqrt(var + 1e-5);
      CHECK(f(h, t) == doctest::Approx(2.0 / (1.0 + std::exp(-z))).epsilon(1e-6));
      CHECK(f(h, t) > 0.0f);
      CHECK(f(h, t) < 2.0f);
    }
  }
}

// --- Independent check: numpy (tools/attention_fixtures.py) -------------------
namespace {
struct fixture_file {
  std::map<std::string, std::pair<std::vector<std::int64_t>, std::vector<double>>> t;
  std::map<std::string, std::string> meta;
};
fixture_file read_fixture(const std::filesystem::path& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "missing fixture " << path.string());
  fixture_file f;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string kind, name;
    ls >> kind >> name;
    if (kind == "meta") {
      std::string v;
      ls >> v;
      f.meta[name] = v;
      continue;
    }
    int rank;
    ls >> rank;
    std::vector<std::int64_t> shape(static_cast<std::size_t>(rank));
    std::int64_t n = 1;
    for (auto& s : shape) ls >> s, n *= s;
    std::vector<double> vals(static_cast<std::size_t>(n));
    for (auto& v : vals) ls >> v;
    REQUIRE_MESSAGE(!ls.fail(), "bad fixture line for " << name);
    f.t[name] = {shape, vals};
  }
  return f;
}
tensor<float> as_tensor(const fixture_file& f, const std::string& name) {
  auto it = f.t.find(name);
  REQUIRE_MESSAGE(it != f.t.end(), "fixture lacks " << name);
  tensor<float> t(extents(std::span<const std::int64_t>(it->second.first)));
  for (std::size_t i = 0; i < it->second.second.size(); ++i) t.data()[i] = float(it->second.second[i]);
  return t;
}
}  // namespace

TEST_CASE("reference agrees with an independent numpy implementation (tests/fixtures/attention)") {
  const auto f = read_fixture(sysout::testing::source_dir() / "tests/fixtures/attention/numpy_variants.txt");
  const auto q = as_tensor(f, "q"), k = as_tensor(f, "k"), v = as_tensor(f, "v");
  const auto ek = as_tensor(f, "extra_key"), ev = as_tensor(f, "extra_value"), sink = as_tensor(f, "sink_logit");
  const std::int64_t q_pos0 = std::stoll(f.meta.at("q_pos0"));
  int checked = 0;
  for (variant var : all_variants) {
    for (bool causal : {true, false}) {
      const std::string key = std::string(variant_name(var)) + (causal ? "_causal" : "_full");
      if (!f.t.count("out_" + key)) continue;
      CAPTURE(key);
      const auto want = as_tensor(f, "out_" + key), want_cols = as_tensor(f, "cols_" + key);
      tensor<float> out(want.shape()), cols(want_cols.shape());
      config c;
      c.variant = var;
      c.causal = causal;
      c.extra_key = ek.view();
      c.extra_value = ev.view();
      c.sink_logit = sink.view();
      c.clip_zeta = std::stof(f.meta.at("clip_zeta"));
      c.clip_gamma = std::stof(f.meta.at("clip_gamma"));
      problem p = mk(q.view(), k.view(), v.view(), out.view());
      p.q_pos0 = q_pos0;
      attend_reference(p, c, stats{cols.view(), {}});
      // numpy computes in float64 and prints 17 significant digits: only f32 output rounding remains.
      expect_close(out, want, 1e-6, 1e-6, "out " + key);
      expect_close(cols, want_cols, 1e-6, 1e-6, "column sums " + key);
      ++checked;
    }
  }
  CHECK(checked >= 10);
}

// Hook sites: names round-trip through sysout, TransformerLens and llama.cpp
// spellings; the registry's active() bitset matches the hooks added; hooks see
// the shapes the header documents and can intervene in place.
#include <cmath>
#include <map>
#include <vector>

#include "sysout/model/forward.hpp"
#include "sysout/model/load_llama2c.hpp"
#include "sysout/trace/hooks.hpp"
#include "sysout/trace/sites.hpp"
#include "test_support.hpp"

using namespace sysout;
using namespace sysout::trace;

TEST_CASE("site names round-trip") {
  for (site s : all_sites) {
    const int layer = is_global_site(s) ? -1 : 7;
    CAPTURE(site_name(s));
    CHECK(site_from_name(site_name(s)) == s);
    for (const std::string& n : {transformer_lens_name(s, layer), llama_cpp_name(s, layer)}) {
      CAPTURE(n);
      const auto p = parse_site_name(n);
      REQUIRE(p.has_value());
      CHECK(p->s == s);
      CHECK(p->layer == layer);
    }
  }
  CHECK(transformer_lens_name(site::layer_out, 3) == "blocks.3.hook_resid_post");
  CHECK(transformer_lens_name(site::down_proj_in, 0) == "blocks.0.mlp.hook_post");
  CHECK(transformer_lens_name(site::attn_probs, 11) == "blocks.11.attn.hook_pattern");
  CHECK(llama_cpp_name(site::attn_probs, 2) == "kq_soft_max-2");
  CHECK(llama_cpp_name(site::layer_out, 29) == "l_out-29");
  CHECK(llama_cpp_name(site::logits, -1) == "result_output");
  CHECK(parse_site_name("ffn_geglu-4")->s == site::down_proj_in);
  CHECK(parse_site_name("kq_soft_max_ext-1")->s == site::attn_probs);
  CHECK(parse_site_name("layer_out-12")->layer == 12);
  CHECK_FALSE(parse_site_name("l_out-x").has_value());
  CHECK_FALSE(parse_site_name("blocks.-1.hook_resid_post").has_value());
  CHECK_FALSE(parse_site_name("nonsense").has_value());
}

TEST_CASE("hook registry: active bits, removal, order") {
  hook_registry h;
  CHECK_FALSE(h.active(site::layer_out, 3));
  std::vector<int> calls;
  const auto a = h.add(site::layer_out, 3, [&](const hook_event&) { calls.push_back(1); });
  h.add(site::layer_out, any_layer, [&](const hook_event&) { calls.push_back(2); });
  CHECK(h.active(site::layer_out, 3));
  CHECK(h.active(site::layer_out, 100));
  CHECK_FALSE(h.active(site::q, 3));
  float buf[2] = {0, 0};
  h.call(hook_event{site::layer_out, 3, 0, tensor_view(static_cast<void*>(buf), dtype::f32, extents{1, 2}), "m"});
  CHECK(calls == std::vector<int>{1, 2});
  CHECK(h.remove(a));
  CHECK_FALSE(h.remove(a));
  h.clear();
  CHECK_FALSE(h.active(site::layer_out, 100));
  h.add(site::mlp_out, 70, [](const hook_event&) {});  // beyond the first 64-bit word
  CHECK(h.active(site::mlp_out, 70));
  CHECK_FALSE(h.active(site::mlp_out, 69));
  CHECK_THROWS_AS(h.add(site::logits, 3, [](const hook_event&) {}), sysout::error);
  h.add_all([](const hook_event&) {});
  CHECK(h.active(site::attn_scores, 0));
}

TEST_CASE("forward fires every site with documented shapes; interventions change the output") {
  SYSOUT_REQUIRE_MODEL(bin, "stories260K.bin");
  const auto m = model::load_llama2c(bin);
  model::session s(m);
  std::map<std::pair<int, int>, extents> seen;
  int pos0_seen = -1;
  s.hooks.add_all([&](const hook_event& e) {
    seen[{int(e.s), e.layer}] = e.t.shape();
    pos0_seen = e.pos0;
    CHECK(e.t.writable());
    CHECK(e.model == m.cfg.name);
  });
  const std::vector<int> prompt = {1, 403, 407, 261, 378};
  s.forward(prompt);
  const int T = 5, D = 64, L = 5;
  CHECK(seen.size() == std::size_t(3 + (site_count - 3) * L));
  CHECK(seen[{int(site::embed), -1}] == extents{T, D});
  CHECK(seen[{int(site::q), 2}] == extents{T, 64});
  CHECK(seen[{int(site::k), 2}] == extents{T, 32});
  CHECK(seen[{int(site::attn_probs), 4}] == extents{8, T, T});
  CHECK(seen[{int(site::down_proj_in), 0}] == extents{T, 172});
  CHECK(seen[{int(site::logits), -1}] == extents{1, 512});
  s.forward(std::vector<int>{432});
  CHECK(pos0_seen == 5);
  CHECK(seen[{int(site::attn_probs), 1}] == extents{8, 1, 6});

  // attention rows sum to one, and masked (future) entries are zero
  model::session s2(m);
  s2.hooks.add(site::attn_probs, 0, [&](const hook_event& e) {
    for (int h = 0; h < 8; ++h)
      for (int t = 0; t < T; ++t) {
        double sum = 0;
        for (int j = 0; j < T; ++j) sum += e.t.get(h, t, j);
        CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
        for (int j = t + 1; j < T; ++j) CHECK(e.t.get(h, t, j) == 0.0);
      }
  });
  auto base = s2.forward(prompt);
  std::vector<float> before(base.data_as<const float>(), base.data_as<const float>() + 512);

  // zeroing the MLP output of layer 1 changes the logits; a no-op hook does not
  model::session s3(m);
  s3.hooks.add(site::mlp_out, 1, [](const hook_event& e) {
    float* p = static_cast<float*>(e.t.data());
    for (std::int64_t i = 0; i < e.t.size(); ++i) p[i] = 0.0f;
  });
  auto zeroed = s3.forward(prompt);
  model::session s4(m);
  s4.hooks.add_all([](const hook_event&) {});
  auto noop = s4.forward(prompt);
  double d_zero = 0, d_noop = 0;
  for (int v = 0; v < 512; ++v) {
    d_zero = std::max(d_zero, std::fabs(zeroed.get(0, v) - before[std::size_t(v)]));
    d_noop = std::max(d_noop, std::fabs(noop.get(0, v) - before[std::size_t(v)]));
  }
  CHECK(d_zero > 0.01);
  CHECK(d_noop == 0.0);
}

TEST_CASE("attention variants through sysout/attention: softmax equals the built-in, sink logits change it") {
  SYSOUT_REQUIRE_MODEL(bin, "stories260K.bin");
  const auto m = model::load_llama2c(bin);
  const std::vector<int> prompt = {1, 403, 407, 261, 378, 432, 383};
  model::session builtin(m);
  auto a = builtin.forward(prompt, true);
  model::session via(m);
  via.attention = attention::config{};  // plain softmax, the attention area's kernels
  auto b = via.forward(prompt, true);
  double md = 0;
  for (int t = 0; t < 7; ++t)
    for (int v = 0; v < 512; ++v) md = std::max(md, std::fabs(a.get(t, v) - b.get(t, v)));
  CHECK(md < 1e-4);
  // On two threads the heads are spread over the session's pool: the same logits.
  model::session via2(m, 256, 2);
  via2.attention = attention::config{};
  auto b2 = via2.forward(prompt, true);
  double md2 = 0;
  for (int t = 0; t < 7; ++t)
    for (int v = 0; v < 512; ++v) md2 = std::max(md2, std::fabs(b2.get(t, v) - b.get(t, v)));
  CHECK(md2 < 1e-6);
  // generation step through the cache too
  auto a1 = builtin.forward(std::vector<int>{286});
  auto b1 = via.forward(std::vector<int>{286});
  for (int v = 0; v < 512; ++v) CHECK(std::fabs(a1.get(0, v) - b1.get(0, v)) < 1e-4);
  // probs hook still fires with the variant
  model::session sink(m);
  attention::config ac;
  ac.variant = attention::variant::sink_logit;
  std::vector<float> sink_logits(8, 2.0f);
  ac.sink_logit = tensor_view(static_cast<void*>(sink_logits.data()), dtype::f32, extents{8});
  sink.attention = ac;
  int fired = 0;
  sink.hooks.add(site::attn_probs, 2, [&](const hook_event& e) {
    ++fired;
    CHECK(e.t.shape() == extents{8, 7, 7});
    double row = 0;
    for (int j = 0; j < 7; ++j) row += e.t.get(0, 6, j);
    CHECK(row < 0.999);  // the sink takes some mass
  });
  auto c = sink.forward(prompt, true);
  CHECK(fired == 1);
  double dc = 0;
  for (int v = 0; v < 512; ++v) dc = std::max(dc, std::fabs(c.get(6, v) - a.get(6, v)));
  CHECK(dc > 1e-3);
}

TEST_CASE("sliding-window layers mask keys older than the window; global layers do not") {
  SYSOUT_REQUIRE_MODEL(bin, "stories260K.bin");
  auto m = model::load_llama2c(bin);
  m.cfg.sliding_window = 3;   // query i sees keys j with i - j < 3
  m.cfg.sliding_pattern = 2;  // layers 0, 2, 4 local; 1, 3 global
  m.cfg.rope_theta_local = 10000.0f;
  CHECK(m.cfg.is_sliding(0));
  CHECK_FALSE(m.cfg.is_sliding(1));
  for (bool variant : {false, true}) {
    CAPTURE(variant);
    model::session s(m);
    if (variant) s.attention = attention::config{};
    std::map<int, std::vector<double>> last_row;  // layer -> probs of the last query, head 0
    s.hooks.add(site::attn_probs, any_layer, [&](const hook_event& e) {
      auto& r = last_row[e.layer];
      r.clear();
      const auto T = e.t.dim(1), Tk = e.t.dim(2);
      for (std::int64_t j = 0; j < Tk; ++j) r.push_back(e.t.get(0, T - 1, j));
    });
    s.forward(std::vector<int>{1, 403, 407, 261, 378, 432});
    s.forward(std::vector<int>{383});  // generation step: query at position 6
    REQUIRE(last_row.size() == 5);
    for (int l = 0; l < 5; ++l) {
      CAPTURE(l);
      const auto& r = last_row[l];
      REQUIRE(r.size() == 7);
      double outside = 0, total = 0;
      for (int j = 0; j < 7; ++j) {
        total += r[std::size_t(j)];
        if (j < 4) outside += r[std::size_t(j)];
      }
      CHECK(total == doctest::Approx(1.0).epsilon(1e-5));
      if (m.cfg.is_sliding(l))
        CHECK(outside == 0.0);
      else
        CHECK(outside > 1e-3);  // stories260K puts most attention on the first token
    }
  }
}

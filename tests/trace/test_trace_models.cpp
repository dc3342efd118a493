// The tracer on real models: stories260K (fast; it has no massive activations)
// and SmolLM2-135M (skipped when absent; it has them: whatever dims it has are
// located from the data, never assumed).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "sysout/detect/massive_activations.hpp"
#include "sysout/detect/weight_outliers.hpp"
#include "sysout/model/forward.hpp"
#include "sysout/model/load_llama2c.hpp"
#include "sysout/model/matmul.hpp"
#include "sysout/model/tokenizer.hpp"
#include "sysout/trace.hpp"
#include "test_support.hpp"

#include "sysout/model/load_gguf.hpp"
#include "sysout/model/tokenizer_gguf.hpp"

using namespace sysout;
using namespace sysout::trace;

namespace {

recording run(const model::transformer& m, const std::vector<int>& ids, recorder_config cfg = {},
              const std::function<void(hook_registry&)>& extra = {}) {
  model::session s(m, int(ids.size()), 1);
  if (extra) extra(s.hooks);
  recorder rec(cfg, m.cfg.name);
  rec.attach(s.hooks);
  s.forward(ids);
  return rec.snapshot();
}

// Mean negative log-likelihood of ids[1..] given the prefix, with optional hooks.
double sentence_nll(const model::transformer& m, const std::vector<int>& ids,
                    const std::function<void(hook_registry&)>& hooks = {}) {
  model::session s(m, int(ids.size()), 1);
  if (hooks) hooks(s.hooks);
  const auto logits = s.forward(ids, true);
  const int V = int(logits.dim(1));
  double nll = 0;
  for (std::size_t t = 0; t + 1 < ids.size(); ++t) {
    const float* r = logits.data_as<const float>() + t * std::size_t(V);
    const float mx = *std::max_element(r, r + V);
    double z = 0;
    for (int j = 0; j < V; ++j) z += std::exp(double(r[j] - mx));
    nll -= double(r[ids[t + 1]] - mx) - std::log(z);
  }
  return nll / double(ids.size() - 1);
}

}  // namespace

TEST_CASE("stories260K: no massive activations anywhere; attention concentrates on token 0") {
  SYSOUT_REQUIRE_MODEL(path, "stories260K.bin");
  const auto m = model::load_llama2c(path);
  const auto tok = load_llama2c_tokenizer(testing::shared_models() / "tok512.bin", m.cfg.vocab_size);
  auto ids32 = tok.encode("Once upon a time, there was a little girl named Lily. She liked to play outside.", false);
  std::vector<int> ids{1};
  ids.insert(ids.end(), ids32.begin(), ids32.end());
  recorder_config cfg;
  cfg.capture = {{site::layer_out, any_layer}};
  const auto r = run(m, ids, cfg);
  REQUIRE(r.n_layers == m.cfg.n_layers);
  float top = 0;
  for (int l = 0; l < m.cfg.n_layers; ++l) {
    CAPTURE(l);
    for (site s : {site::layer_out, site::down_proj_in, site::resid_mid}) {
      const auto* a = r.find(s, l);
      REQUIRE(a);
      CHECK(a->rows == std::int64_t(ids.size()));
      CHECK(a->outlier_count == 0);
      CHECK(a->nan_count == 0);
      top = std::max(top, a->max_abs);
    }
    // the recorder agrees with the detector on the captured tensor
    const auto& cap = r.find_capture(site::layer_out, l)->front();
    const auto rep = detect::find_massive_activations(
        tensor_view(static_cast<const void*>(cap.data.data()), dtype::f32, cap.shape), l, "layer_out");
    CHECK_FALSE(rep.found());
    CHECK(r.find(site::layer_out, l)->max_abs == doctest::Approx(rep.stats.max_abs));
    CHECK(r.find(site::layer_out, l)->reference() == doctest::Approx(rep.reference_value));
    // attention: key 0 receives the most attention in every layer
    const auto* att = r.find_attention(l);
    REQUIRE(att);
    CHECK(att->heads == m.cfg.n_heads);
    CHECK(att->min_row_sum == doctest::Approx(1.0).epsilon(1e-4));
    for (std::int64_t j = 1; j < att->tracked_keys; ++j) CHECK(att->received_mean(0) > att->received_mean(j));
  }
  MESSAGE("stories260K: largest |h| over layers and sites = " << top);
  CHECK(top < 100.0f);  // the absolute threshold is never reached
  // the last layer puts more on token 0 than uniform causal attention would (sum 1/(q+1))
  const int L = m.cfg.n_layers;
  double uniform = 0;
  for (std::size_t q = 0; q < ids.size(); ++q) uniform += 1.0 / double(q + 1);
  const double recv0 = r.find_attention(L - 1)->received_mean(0);
  MESSAGE("stories260K last layer: attention received by token 0 = " << recv0 << " (uniform causal: " << uniform << ")");
  CHECK(recv0 > 1.3 * uniform);  // measured 1.45x on this sentence
  const auto lc = analyze_lifecycle(r);
  CHECK_FALSE(lc.emergence.found);
  CHECK(lc.pairs.empty());
  CHECK_FALSE(lc.disappearance.found);
  REQUIRE(lc.layers.back().has_attention);
  CHECK(std::find(lc.layers.back().sinks.begin(), lc.layers.back().sinks.end(), 0) != lc.layers.back().sinks.end());
}

TEST_CASE("stories260K: the cb_eval adapter on the model's own tensors in ggml layout equals the hook path") {
  SYSOUT_REQUIRE_MODEL(path, "stories260K.bin");
  const auto m = model::load_llama2c(path);
  const std::vector<int> ids = {1, 403, 407, 261, 378, 430, 267, 65, 46};
  recorder_config cfg;
  cfg.sites = all_summary_sites();  // q/k/v too: their {d, H, T} ggml layout is the interesting one
  recorder direct(cfg), via_ggml(cfg);
  ggml_adapter ad(via_ggml);
  model::session s(m, 32, 1);
  direct.attach(s.hooks);
  s.hooks.add_all([&](const hook_event& e) {
    // Re-describe the tensor as ggml would: reversed axes, byte strides.
    const auto& t = e.t;
    std::int64_t ne[4] = {1, 1, 1, 1};
    std::size_t nb[4];
    const int r = t.rank();
    for (int i = 0; i < r; ++i) ne[i] = t.dim(r - 1 - i);
    if (e.s == site::q || e.s == site::k || e.s == site::v || e.s == site::q_pre_rope || e.s == site::k_pre_rope) {
      ne[0] = m.cfg.head_dim;  // {d, H, T}
      ne[1] = t.dim(1) / m.cfg.head_dim;
      ne[2] = t.dim(0);
    }
    nb[0] = 4;
    for (int i = 1; i < 4; ++i) nb[i] = nb[i - 1] * std::size_t(ne[i - 1]);
    ad.set_pos0(e.pos0);
    ad.observe(llama_cpp_name(e.s, e.layer), t.data(), ne, nb, 0);
  });
  s.forward(std::vector<int>(ids.begin(), ids.begin() + 5));
  s.forward(std::vector<int>(ids.begin() + 5, ids.end()));  // a second batch at pos0 = 5
  const auto a = direct.snapshot(), b = via_ggml.snapshot();
  REQUIRE(a.activations.size() == b.activations.size());
  CHECK(a.find(site::q, 2));
  CHECK(a.find(site::attn_norm_out, 0));
  for (const auto& [k, sa] : a.activations) {
    CAPTURE(site_name(k.s));
    CAPTURE(k.layer);
    const auto* sb = b.find(k.s, k.layer);
    REQUIRE(sb);
    CHECK(sb->rows == std::int64_t(ids.size()));
    CHECK(sb->max_abs == sa.max_abs);
    CHECK(sb->dim_max_abs == sa.dim_max_abs);
    CHECK(sb->token_norm.size() == sa.token_norm.size());
  }
  for (const auto& [k, aa] : a.attention) {
    const auto* ab = b.find_attention(k.layer);
    REQUIRE(ab);
    CHECK(ab->queries == std::int64_t(ids.size()));
    CHECK(ab->received == aa.received);
  }
}

TEST_CASE("SmolLM2-135M: massive activations exist and are located, with their lifecycle") {
  SYSOUT_REQUIRE_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  const auto m = model::load_gguf(path);
  const auto tok = tokenizer_from_gguf(path);
  const auto ids32 = tok.encode("Summer is warm. Winter is cold.", false);  // the model adds no BOS
  const std::vector<int> ids(ids32.begin(), ids32.end());
  const auto r = run(m, ids);
  const auto lc = analyze_lifecycle(r);
  REQUIRE(lc.emergence.found);
  const int le = lc.emergence.layer;
  const auto& E = lc.emergence;
  MESSAGE("SmolLM2: emergence at layer " << le << ", dims " << E.dims.size() << " (first " << E.dims[0]
                                           << "), tokens " << E.tokens.size() << " (first " << E.tokens[0] << ")");
  CHECK(lc.layers[std::size_t(le)].top1 > 1000.0);  // |h| far above 100 ...
  CHECK(lc.layers[std::size_t(le)].top1 > 1000.0 * lc.layers[std::size_t(le)].reference);  // ... and 1000x the median
  // layers before emergence have none
  for (int l = 0; l < le; ++l) CHECK(lc.layers[std::size_t(l)].massive_count == 0);
  // the down_proj input dims match the top weight-outlier channels of that layer's down_proj
  const auto& W = m.w.layers[std::size_t(le)].w_down;
  std::vector<float> w(std::size_t(W.rows * W.cols));
  for (std::int64_t i = 0; i < W.rows; ++i) model::dequantize_matrix_row(W, i, w.data() + i * W.cols);
  const auto wr = detect::find_weight_outliers(
      tensor_view(static_cast<const void*>(w.data()), dtype::f32, extents{W.rows, W.cols}), {}, le);
  down_proj_channels ch{le, wr.input.ranking, wr.output.ranking, {}};
  const auto lc2 = analyze_lifecycle(r, {ch});
  REQUIRE(!lc2.emergence.down_proj_in_dims.empty());
  MESSAGE("SmolLM2: down_proj_in dims at emergence matched to weight outliers: " << lc2.emergence.matched_input.size()
                                                                                  << "/" << lc2.emergence.down_proj_in_dims.size());
  CHECK(lc2.emergence.input_match == 1.0);
  CHECK(lc2.emergence.producer == "mlp_out");
  // the massive tokens are attention sinks in the later layers
  CHECK(lc.spread.sinks_with_massive_share > 0.5);
  CHECK(lc.spread.mean_sink_value_norm < lc.spread.mean_other_value_norm);
  // and the MLP of late layers cancels them
  REQUIRE(lc.disappearance.found);
  CHECK(lc.disappearance.drops.back().canceller == "mlp_out");
  // interventions on this sentence: zeroing the massive activations at the emergence layer
  // is catastrophic, setting them to their mean is not
  const double base = sentence_nll(m, ids);
  activation_intervention iv;
  iv.layers = {le};
  iv.dims = E.persistent_dims;
  intervention_set zero;
  zero.add(iv);
  const double z = sentence_nll(m, ids, [&](hook_registry& h) { zero.attach(h); });
  massive_mean_collector col(site::layer_out, 100, 1000, E.persistent_dims);
  sentence_nll(m, ids, [&](hook_registry& h) { col.attach(h); });
  iv.kind = intervention_kind::mean;
  iv.mean_values = col.means();
  intervention_set mean;
  mean.add(iv);
  const double mn = sentence_nll(m, ids, [&](hook_registry& h) { mean.attach(h); });
  MESSAGE("SmolLM2 sentence NLL: baseline " << base << ", zero " << z << ", mean " << mn);
  CHECK(zero.changed() > 0);
  CHECK(z > base + 2.0);
  CHECK(std::fabs(mn - base) < 0.1);
}

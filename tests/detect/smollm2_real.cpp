// Detectors on SmolLM2-135M-Instruct's real activations (reference transformer
// of sysout/model, hooks at layer_out, down_proj_in, v and attn_probs).
// Nothing about the model is hard-coded: layers, dims and tokens are located
// from the data, and the test asserts the papers' findings as facts that could
// fail (massive activations exist, at the start token only, in one fixed set of
// dims over a contiguous band of middle layers, produced by top weight-outlier
// columns of down_proj; the start token is an attention sink with small values).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "sysout/detect.hpp"
#include "sysout/model/forward.hpp"
#include "sysout/model/load_gguf.hpp"
#include "sysout/model/matmul.hpp"
#include "sysout/model/tokenizer_gguf.hpp"
#include "test_support.hpp"

using namespace sysout;
using namespace sysout::detect;

TEST_CASE("SmolLM2-135M: massive activations, their weights and attention sinks, located from the data") {
  SYSOUT_REQUIRE_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  const auto m = model::load_gguf(path);
  const auto tok = tokenizer_from_gguf(path);
  const auto ids32 = tok.encode("Summer is warm. Winter is cold.", false);  // no BOS, as in the papers' GPT-2 example
  const std::vector<int> ids(ids32.begin(), ids32.end());
  REQUIRE(ids.size() >= 6);

  model::session s(m, 64, 1);
  const int L = m.cfg.n_layers;
  std::vector<massive_activation_report> out(static_cast<std::size_t>(L)), din(static_cast<std::size_t>(L));
  std::vector<attention_sink_report> att(static_cast<std::size_t>(L));
  std::vector<tensor<float>> v(static_cast<std::size_t>(L));
  s.hooks.add(trace::site::layer_out, trace::any_layer, [&](const trace::hook_event& e) {
    out[std::size_t(e.layer)] = find_massive_activations(e.t, e.layer, "layer_out");
  });
  s.hooks.add(trace::site::down_proj_in, trace::any_layer, [&](const trace::hook_event& e) {
    din[std::size_t(e.layer)] = find_massive_activations(e.t, e.layer, "down_proj_in");
  });
  s.hooks.add(trace::site::v, trace::any_layer,
              [&](const trace::hook_event& e) { v[std::size_t(e.layer)] = tensor<float>::from(e.t); });
  s.hooks.add(trace::site::attn_probs, trace::any_layer, [&](const trace::hook_event& e) {
    attention_sink_options o;
    o.value_heads = m.cfg.n_kv_heads;
    att[std::size_t(e.layer)] = find_attention_sinks(e.t, e.layer, o, v[std::size_t(e.layer)].view());
  });
  s.forward(ids);

  std::vector<int> with;  // layers whose output has massive activations
  for (int l = 0; l < L; ++l) {
    const auto& r = out[std::size_t(l)];
    CHECK(r.stats.nan_count == 0);
    CHECK(r.stats.inf_count == 0);
    if (r.found()) with.push_back(l);
    MESSAGE("layer " << l << ": median " << r.reference_value << " max " << r.stats.max_abs << " massive "
                     << r.outliers.size() << " | down_proj_in massive " << din[std::size_t(l)].outliers.size()
                     << " | sinks " << att[std::size_t(l)].outlier_tokens.size() << " Sink^eps "
                     << att[std::size_t(l)].sink_eps_fraction);
  }
  REQUIRE_FALSE(with.empty());
  const int first = with.front(), last = with.back();
  MESSAGE("massive activations at the layer output in layers " << first << ".." << last << " of " << L);
  // They emerge after the first layers and vanish before the last one, in a contiguous band.
  CHECK(first > 0);
  CHECK(last < L - 1);
  CHECK(int(with.size()) == last - first + 1);
  // Same dims throughout, only at the start token.
  const auto dims = out[std::size_t(first)].massive_dims;
  for (int l : with) {
    CHECK(out[std::size_t(l)].massive_dims == dims);
    CHECK(out[std::size_t(l)].massive_tokens == std::vector<std::int64_t>{0});
    CHECK(classify_token(tok.vocab[std::size_t(ids[0])], 0) == token_category::start);
  }

  // Emergence: at the first layer the down_proj input has massive activations
  // whose d_ff dims are top weight-outlier input columns of that layer's
  // down_proj, and the new residual dims are among its top output rows.
  const auto& w = m.w.layers[std::size_t(first)].w_down;
  tensor<float> wf({w.rows, w.cols});
  for (std::int64_t r = 0; r < w.rows; ++r) model::dequantize_matrix_row(w, r, wf.data() + r * w.cols);
  const auto wr = find_weight_outliers(wf.view(), {}, first);
  REQUIRE(din[std::size_t(first)].found());
  const auto c_in = weight_activation_consistency(din[std::size_t(first)], wr, din[std::size_t(first)].massive_dims.size());
  CHECK(c_in.share == 1.0);  // the massive d_ff dims ARE the top-ranked columns
  const auto c_out = weight_activation_consistency(out[std::size_t(first)], wr, 8);
  CHECK(c_out.share == 1.0);
  MESSAGE("emergence layer " << first << ": down_proj_in dims matched to weight columns, share " << c_in.share
                             << "; output dims in top-8 rows, share " << c_out.share);

  // Attention: from the layer after emergence on, the start token is an attention
  // outlier in every layer while the massive activation lives, most heads put
  // > 0.3 of their attention on it, and its value vectors are smaller than the rest.
  int smaller_values = 0;
  for (int l = first + 1; l <= last; ++l) {
    const auto& a = att[std::size_t(l)];
    CHECK(std::find(a.outlier_tokens.begin(), a.outlier_tokens.end(), 0) != a.outlier_tokens.end());
    CHECK(a.sink_eps_fraction >= 0.5);
    if (a.sink_value_norm < a.other_value_norm) ++smaller_values;
    CHECK(attention_activation_consistency(a, out[std::size_t(l)]).share > 0.0);
  }
  CHECK(smaller_values == last - first);
}

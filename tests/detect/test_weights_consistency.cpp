#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "sysout/core.hpp"
#include "sysout/detect/consistency.hpp"
#include "sysout/detect/token_categories.hpp"

using namespace sysout;
using namespace sysout::detect;

namespace {
// HF down_proj [d_model, d_ff] with outlier weights at (row 7, col 33) and (row 2, col 90).
std::vector<float> down_proj(std::int64_t dm, std::int64_t dff) {
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0, 0.02f);
  std::vector<float> w(static_cast<std::size_t>(dm * dff));
  for (auto& x : w) x = nd(rng);
  w[std::size_t(7 * dff + 33)] = 3.0f;
  w[std::size_t(2 * dff + 90)] = -2.0f;
  return w;
}
}  // namespace

TEST_CASE("weights: outlier columns found in both orientations and all float dtypes") {
  const std::int64_t dm = 48, dff = 128;
  auto w = down_proj(dm, dff);
  const auto r = find_weight_outliers(view(w.data(), {dm, dff}, layout::row_major, "blk.3.ffn_down"));
  CHECK(r.in_features() == dff);
  CHECK(r.out_features() == dm);
  CHECK(r.input.top(2) == std::vector<std::int64_t>{33, 90});
  CHECK(r.output.top(2) == std::vector<std::int64_t>{7, 2});
  REQUIRE(r.top.size() == 16);
  CHECK(r.top[0].row == 7);
  CHECK(r.top[0].col == 33);
  CHECK(r.top[0].value == 3.0);
  CHECK(r.top[1].value == -2.0);
  CHECK(r.input.max_abs[33] == 3.0);
  CHECK(r.input.ratio[33] > 20);
  // reference backend: identical rankings, same stats up to summation order
  weight_outlier_options ro;
  ro.impl = backend::reference;
  const auto rr = find_weight_outliers(view(w.data(), {dm, dff}), ro);
  CHECK(rr.input.ranking == r.input.ranking);
  CHECK(rr.output.ranking == r.output.ranking);
  for (std::int64_t c = 0; c < dff; ++c)
    CHECK(rr.input.mean_abs[std::size_t(c)] == doctest::Approx(r.input.mean_abs[std::size_t(c)]).epsilon(1e-6));
  // in_out: the same matrix stored [d_ff, d_model] (a transposed copy) and as a transposed view
  std::vector<float> wt(w.size());
  for (std::int64_t i = 0; i < dm; ++i)
    for (std::int64_t j = 0; j < dff; ++j) wt[std::size_t(j * dm + i)] = w[std::size_t(i * dff + j)];
  weight_outlier_options io;
  io.orientation = weight_orientation::in_out;
  const auto rt = find_weight_outliers(view(wt.data(), {dff, dm}), io);
  CHECK(rt.input.ranking == r.input.ranking);
  CHECK(rt.output.ranking == r.output.ranking);
  CHECK(rt.top[0].row == 33);  // stored coordinates
  CHECK(rt.top[0].col == 7);
  const auto rv = find_weight_outliers(view(w.data(), {dm, dff}).transpose(0, 1), io);
  CHECK(rv.input.ranking == r.input.ranking);
  // f16 / bf16 / f64 storage
  std::vector<f16> wh(w.size());
  std::vector<bf16> wb(w.size());
  std::vector<double> wd(w.size());
  for (std::size_t i = 0; i < w.size(); ++i) {
    wh[i] = to_f16(w[i]);
    wb[i] = to_bf16(w[i]);
    wd[i] = w[i];
  }
  CHECK(find_weight_outliers(view(wh.data(), {dm, dff})).input.top(2) == std::vector<std::int64_t>{33, 90});
  CHECK(find_weight_outliers(view(wb.data(), {dm, dff})).input.top(2) == std::vector<std::int64_t>{33, 90});
  CHECK(find_weight_outliers(view(wd.data(), {dm, dff})).input.top(2) == std::vector<std::int64_t>{33, 90});
}

TEST_CASE("weights: int8 with per-row and per-group scales equals the dequantized f32 matrix") {
  const std::int64_t R = 16, C = 64;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> qd(-20, 20);
  std::vector<std::int8_t> q(static_cast<std::size_t>(R * C));
  for (auto& x : q) x = std::int8_t(qd(rng));
  q[std::size_t(3 * C + 17)] = 127;
  for (std::int64_t g : {C, std::int64_t(16)}) {
    CAPTURE(g);
    const std::int64_t G = C / g;
    std::vector<float> s(static_cast<std::size_t>(R * G));
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = 0.01f * float(1 + i % 5);
    std::vector<float> deq(q.size());
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t c = 0; c < C; ++c)
        deq[std::size_t(r * C + c)] = float(q[std::size_t(r * C + c)]) * s[std::size_t(r * G + c / g)];
    int8_weights iw{view(q.data(), {R, C}), view(s.data(), {R, G}), g};
    const auto a = find_weight_outliers(iw);
    const auto b = find_weight_outliers(view(deq.data(), {R, C}));
    CHECK(a.input.ranking == b.input.ranking);
    CHECK(a.input.max_abs == b.input.max_abs);
    CHECK(a.top[0].row == 3);
    CHECK(a.top[0].col == 17);
    CHECK(a.top[0].value == double(deq[std::size_t(3 * C + 17)]));
  }
  int8_weights bad{view(q.data(), {R, C}), view(q.data(), {R, 3}), 7};
  CHECK_THROWS_WITH_AS(find_weight_outliers(bad), doctest::Contains("group size 7"), sysout::error);
}

TEST_CASE("weights: NaN/Inf are counted and skipped; bad shapes") {
  std::vector<float> w(32, 0.5f);
  w[3] = std::nanf("");
  w[9] = INFINITY;
  const auto r = find_weight_outliers(view(w.data(), {4, 8}));
  CHECK(r.nan_count == 1);
  CHECK(r.inf_count == 1);
  CHECK(r.input.max_abs[3] == 0.5);
  CHECK(r.input.mean_abs[1] == 0.5);
  CHECK_THROWS_WITH_AS(find_weight_outliers(view(w.data(), {2, 4, 4})), doctest::Contains("[2, 4, 4]"), sysout::error);
}

TEST_CASE("consistency: down_proj_in dims map to input columns, layer_out dims to output rows") {
  const std::int64_t dm = 48, dff = 128;
  auto w = down_proj(dm, dff);
  const auto wr = find_weight_outliers(view(w.data(), {dm, dff}, layout::row_major, "ffn_down"));
  massive_activation_report in_site;
  in_site.site = "down_proj_in";
  in_site.dims = dff;
  in_site.massive_dims = {33, 90};
  auto c = weight_activation_consistency(in_site, wr, 4);
  CHECK(c.share == 1.0);
  massive_activation_report out_site;
  out_site.site = "layer_out";
  out_site.dims = dm;
  out_site.massive_dims = {7, 40};
  c = weight_activation_consistency(out_site, wr, 2);
  CHECK(c.share == 0.5);
  CHECK(c.matched == std::vector<std::int64_t>{7});
  in_site.dims = dm;  // wrong side for this matrix
  CHECK_THROWS_WITH_AS(weight_activation_consistency(in_site, wr, 4), doctest::Contains("128 input"), sysout::error);
  out_site.massive_dims.clear();
  CHECK(std::isnan(weight_activation_consistency(out_site, wr, 2).share));

  attention_sink_report att;
  att.outlier_tokens = {0, 5, 9};
  massive_activation_report act;
  act.massive_tokens = {0, 9, 12};
  const auto ac = attention_activation_consistency(att, act);
  CHECK(ac.share == doctest::Approx(2.0 / 3.0));
  CHECK(ac.matched == std::vector<std::int64_t>{0, 9});
}

TEST_CASE("token categories: start, delimiters (with tokenizer markers), weak semantics, other") {
  CHECK(classify_token("Summer", 0) == token_category::start);
  CHECK(classify_token("<s>", 4) == token_category::start);
  CHECK(classify_token(".", 3) == token_category::delimiter);
  CHECK(classify_token(",", 3) == token_category::delimiter);
  CHECK(classify_token("\n", 3) == token_category::delimiter);
  CHECK(classify_token("\xC4\x8A", 3) == token_category::delimiter);      // GPT-2 'Ċ'
  CHECK(classify_token("\xC4\xA0", 3) == token_category::delimiter);      // GPT-2 'Ġ' alone
  CHECK(classify_token("\xE2\x96\x81", 3) == token_category::delimiter);  // SentencePiece '▁' alone
  CHECK(classify_token("<0x0A>", 3) == token_category::delimiter);
  CHECK(classify_token("\xE2\x96\x81the", 2) == token_category::weak_semantic);
  CHECK(classify_token("\xC4\xA0" "And", 2) == token_category::weak_semantic);
  CHECK(classify_token("\xC4\xA0" "winter", 2) == token_category::other);
  CHECK(classify_token("<0xZZ>", 2) == token_category::other);  // not a byte token: has letters
  token_category_options o;
  o.weak_semantic = {"winter"};
  o.position0_is_start = false;
  CHECK(classify_token("\xC4\xA0winter", 2, o) == token_category::weak_semantic);
  CHECK(classify_token("Summer", 0, o) == token_category::other);
  const std::vector<std::string> toks = {"Summer", " is", " warm", "."};
  const auto cats = classify_tokens(toks, {0, 1, 3});
  CHECK(cats == std::vector<token_category>{token_category::start, token_category::weak_semantic,
                                            token_category::delimiter});
  CHECK_THROWS_AS(classify_tokens(toks, {4}), sysout::error);
}

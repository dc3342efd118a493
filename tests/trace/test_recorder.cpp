// Recorder on synthetic planted data, from several threads, and through the
// llama.cpp cb_eval adapter with buffers in ggml layout.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "sysout/core/raw.hpp"
#include "sysout/trace/ggml_adapter.hpp"
#include "sysout/trace/recorder.hpp"

using namespace sysout;
using namespace sysout::trace;

namespace {
std::vector<float> noise(std::int64_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = d(g);
  return v;
}
}  // namespace

TEST_CASE("recorder finds planted massive activations exactly, none invented") {
  const std::int64_t T = 12, D = 96;
  auto h = noise(T * D, 1);
  h[0 * D + 17] = 2500.0f;   // token 0, dim 17
  h[0 * D + 40] = -1800.0f;  // token 0, dim 40 (negative)
  h[5 * D + 17] = 900.0f;    // token 5, dim 17
  h[7 * D + 3] = 50.0f;      // large but below the absolute threshold (100): not massive
  recorder rec;
  rec.on_tensor(site::layer_out, 3, 0, view(h.data(), {T, D}));
  const auto r = rec.snapshot();
  const auto* s = r.find(site::layer_out, 3);
  REQUIRE(s);
  CHECK(s->features == D);
  CHECK(s->rows == T);
  CHECK(s->outlier_count == 3);
  REQUIRE(s->outliers.size() == 3);
  CHECK(s->outliers[0].value == 2500.0f);
  CHECK(s->outliers[0].token == 0);
  CHECK(s->outliers[0].dim == 17);
  CHECK(s->outliers[1].value == -1800.0f);
  CHECK(s->outliers[1].dim == 40);
  CHECK(s->outliers[2].token == 5);
  CHECK(s->massive_dims() == std::vector<std::int64_t>{17, 40});
  CHECK(s->massive_tokens() == std::vector<std::int64_t>{0, 5});
  CHECK(s->top.size() == 8);
  CHECK(s->top[3].value == 50.0f);
  CHECK(s->max_abs == 2500.0f);
  CHECK(s->dim_max_abs[17] == 2500.0f);
  CHECK(s->dim_argmax_token[17] == 0);
  CHECK(s->dim_value_at_max[40] == -1800.0f);
  CHECK(s->token_max_abs[5] == 900.0f);
  CHECK(s->reference() > 0.3);  // median |N(0,1)| ~ 0.674
  CHECK(s->reference() < 1.2);
  CHECK(r.n_layers == 4);
  // positions < track_first_tokens keep full signed rows
  REQUIRE(s->tracked_rows.count(5));
  CHECK(s->tracked_rows.at(5)[17] == 900.0f);
}

TEST_CASE("recorder: ratio rule uses the tensor's median; fp16 overflow, NaN and Inf are counted") {
  const std::int64_t T = 4, D = 8;
  std::vector<float> h(std::size_t(T * D), 200.0f);  // everything large: median 200, nothing is 1000x it
  h[3] = 70000.0f;
  h[9] = std::nanf("");
  h[10] = INFINITY;
  recorder rec;
  rec.on_tensor(site::down_proj_in, 0, 0, view(h.data(), {T, D}));
  const auto snap = rec.snapshot();
  const auto* s = snap.find(site::down_proj_in, 0);
  REQUIRE(s);
  CHECK(s->reference() == doctest::Approx(200.0));
  CHECK(s->outlier_count == 1);  // only +Inf > 1000 x 200 ... and 70000 is not (< 200000)
  CHECK(s->nan_count == 1);
  CHECK(s->inf_count == 1);
  CHECK(s->beyond_f16_count == 1);  // finite values only (70000); the Inf is counted as inf
}

TEST_CASE("recorder: f16 and strided (column-major) views give the same summary as f32") {
  const std::int64_t T = 6, D = 10;
  auto h = noise(T * D, 7);
  h[2 * D + 4] = 6400.0f;
  std::vector<f16> h16(h.size());
  std::vector<float> hc(h.size());
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t d = 0; d < D; ++d) {
      h16[std::size_t(t * D + d)] = f16{f32_to_f16(h[std::size_t(t * D + d)])};
      hc[std::size_t(d * T + t)] = h[std::size_t(t * D + d)];
    }
  recorder rec;
  rec.on_tensor(site::layer_out, 0, 0, view(h16.data(), {T, D}));
  rec.on_tensor(site::layer_out, 1, 0, view(hc.data(), {T, D}, layout::col_major));
  const auto r = rec.snapshot();
  for (int l : {0, 1}) {
    const auto* s = r.find(site::layer_out, l);
    REQUIRE(s);
    REQUIRE(s->outliers.size() == 1);
    CHECK(s->outliers[0].token == 2);
    CHECK(s->outliers[0].dim == 4);
    CHECK(s->outliers[0].value == 6400.0f);
  }
}

TEST_CASE("recorder: memory stays bounded on a long input fed in chunks") {
  recorder_config cfg;
  cfg.max_outliers = 16;
  cfg.max_tracked_tokens = 100;
  cfg.track_first_tokens = 4;
  recorder rec(cfg);
  const std::int64_t D = 32, chunk = 50;
  std::int64_t planted = 0;
  for (int c = 0; c < 40; ++c) {  // 2000 tokens
    auto h = noise(chunk * D, unsigned(100 + c));
    for (std::int64_t t = 0; t < chunk; t += 5) {
      h[std::size_t(t * D + 9)] = 1000.0f + float(c * chunk + t);
      ++planted;
    }
    rec.on_tensor(site::layer_out, 0, int(c * chunk), view(h.data(), {chunk, D}));
  }
  const auto snap = rec.snapshot();
  const auto* s = snap.find(site::layer_out, 0);
  REQUIRE(s);
  CHECK(s->rows == 2000);
  CHECK(s->outlier_count == planted);
  CHECK(s->outliers.size() == 16);
  CHECK(s->outliers[0].token == 1995);  // the largest planted value is the last one
  CHECK(s->token_max_abs.size() == 100);
  // dynamic row tracking is capped
  CHECK(s->tracked_rows.size() <= std::size_t(cfg.track_first_tokens) + cfg.max_dynamic_rows);
}

TEST_CASE("recorder: attention column sums, first-key mass, streaming over calls equals one call") {
  const std::int64_t H = 2, T = 5;
  // causal attention, head 0 puts 0.8 on key 0, head 1 is uniform
  std::vector<float> p(std::size_t(H * T * T), 0.0f);
  for (std::int64_t q = 0; q < T; ++q) {
    for (std::int64_t k = 0; k <= q; ++k) p[std::size_t(1 * T * T + q * T + k)] = 1.0f / float(q + 1);
    if (q == 0) {
      p[0] = 1.0f;
      continue;
    }
    p[std::size_t(q * T)] = 0.8f;
    for (std::int64_t k = 1; k <= q; ++k) p[std::size_t(q * T + k)] = 0.2f / float(q);
  }
  recorder whole;
  whole.on_tensor(site::attn_probs, 2, 0, view(p.data(), {H, T, T}));
  recorder split;  // the same queries in two calls (prefill 3 then 2), keys as far as visible
  {
    tensor_view all = view(p.data(), {H, T, T});
    split.on_tensor(site::attn_probs, 2, 0, all.slice(1, 0, 3).slice(2, 0, 3));
    split.on_tensor(site::attn_probs, 2, 3, all.slice(1, 3, 5));
  }
  for (auto* rec : {&whole, &split}) {
    const auto snap = rec->snapshot();
    const auto* a = snap.find_attention(2);
    REQUIRE(a);
    CHECK(a->heads == H);
    CHECK(a->queries == T);
    CHECK(a->keys == T);
    CHECK(a->received_head(0, 0) == doctest::Approx(1.0 + 0.8 * 4));
    CHECK(a->received_head(1, 0) == doctest::Approx(1 + 1. / 2 + 1. / 3 + 1. / 4 + 1. / 5));
    CHECK(a->first_key_over_eps[0] == 5);
    CHECK(a->first_key_over_eps[1] == 3);  // 1, 1/2 and 1/3 exceed 0.3
    CHECK(a->min_row_sum == doctest::Approx(1.0));
    CHECK(a->max_row_sum == doctest::Approx(1.0));
  }
}

TEST_CASE("recorder: several threads feeding different and identical slots") {
  recorder_config cfg;
  cfg.capture = {{site::layer_out, 0}};
  recorder rec(cfg);
  const std::int64_t T = 8, D = 64;
  const int n_threads = 4, per_thread = 50;
  std::vector<std::thread> th;
  for (int w = 0; w < n_threads; ++w)
    th.emplace_back([&, w] {
      for (int i = 0; i < per_thread; ++i) {
        auto h = noise(T * D, unsigned(w * 1000 + i));
        h[std::size_t(1 * D + 5)] = 3000.0f + float(w);
        const int pos0 = (w * per_thread + i) * int(T);
        rec.on_tensor(site::layer_out, i % 3, pos0, view(h.data(), {T, D}));
        rec.on_tensor(site::mlp_out, w, pos0, view(h.data(), {T, D}));
      }
    });
  for (auto& t : th) t.join();
  const auto r = rec.snapshot();
  std::int64_t rows = 0, outl = 0;
  for (int l = 0; l < 3; ++l) {
    const auto* s = r.find(site::layer_out, l);
    REQUIRE(s);
    rows += s->rows;
    outl += s->outlier_count;
  }
  CHECK(rows == n_threads * per_thread * T);
  CHECK(outl == n_threads * per_thread);
  for (int w = 0; w < n_threads; ++w) {
    const auto* s = r.find(site::mlp_out, w);
    REQUIRE(s);
    CHECK(s->calls == per_thread);
    REQUIRE(!s->outliers.empty());
    CHECK(s->outliers[0].value == 3000.0f + float(w));
  }
  CHECK(r.find(site::layer_out, 0)->max_abs == 3003.0f);
  const auto* caps = r.find_capture(site::layer_out, 0);
  REQUIRE(caps);
  CHECK(caps->size() == std::size_t(n_threads * ((per_thread + 2) / 3)));
}

TEST_CASE("recorder: bad shapes are clear errors") {
  std::vector<float> x(24, 0.0f);
  recorder rec;
  CHECK_THROWS_WITH_AS(rec.on_tensor(site::attn_probs, 0, 0, view(x.data(), {4, 6})),
                       doctest::Contains("attention matrix"), sysout::error);
  CHECK_THROWS_AS(rec.on_tensor(site::layer_out, 0, -1, view(x.data(), {4, 6})), sysout::error);
}

// ---------------------------------------------------------------------------
// cb_eval adapter: buffers laid out the way ggml lays them out.

TEST_CASE("ggml adapter: l_out {D, T} f32, Qcur {d, H, T} and kq_soft_max {Tk, T, H}") {
  recorder_config cfg;
  cfg.capture = {{site::q, 1}};
  cfg.sites = all_summary_sites();  // q is not a default site
  recorder rec(cfg);
  ggml_adapter ad(rec);
  const std::int64_t D = 16, T = 3;
  // l_out-4: ggml ne = {D, T}; element (t, d) at byte t*nb[1] + d*nb[0].
  std::vector<float> lout(std::size_t(D * T), 0.5f);
  lout[std::size_t(2 * D + 11)] = -4000.0f;  // token 2, dim 11
  const std::int64_t ne_l[4] = {D, T, 1, 1};
  const std::size_t nb_l[4] = {4, std::size_t(4 * D), std::size_t(4 * D * T), std::size_t(4 * D * T)};
  CHECK(ad.wants("l_out-4"));
  CHECK_FALSE(ad.wants("norm-4"));
  ad.set_pos0(10);
  CHECK(ad.observe("l_out-4", lout.data(), ne_l, nb_l, 0));
  CHECK_FALSE(ad.observe("inp_pos", lout.data(), ne_l, nb_l, 0));

  // Qcur-1 as f16: ne = {d=4, H=2, T=3}
  const std::int64_t d = 4, H = 2;
  std::vector<std::uint16_t> q(std::size_t(d * H * T));
  for (std::size_t i = 0; i < q.size(); ++i) q[i] = f32_to_f16(float(i));
  const std::int64_t ne_q[4] = {d, H, T, 1};
  const std::size_t nb_q[4] = {2, std::size_t(2 * d), std::size_t(2 * d * H), std::size_t(2 * d * H * T)};
  CHECK(ad.observe("Qcur-1", q.data(), ne_q, nb_q, 1));

  // kq_soft_max-0: ne = {Tk, T, H}, with a padded row stride (ggml pads kq rows)
  const std::int64_t Tk = 13, pad = 16;
  std::vector<float> kq(std::size_t(pad * T * H), 0.0f);
  for (std::int64_t h = 0; h < H; ++h)
    for (std::int64_t t = 0; t < T; ++t) {
      const std::int64_t qpos = 10 + t;  // pos0 10: query sees keys 0..qpos
      for (std::int64_t k = 0; k <= qpos; ++k)
        kq[std::size_t(h * pad * T + t * pad + k)] = k == 0 ? 0.5f : 0.5f / float(qpos);
    }
  const std::int64_t ne_a[4] = {Tk, T, H, 1};
  const std::size_t nb_a[4] = {4, std::size_t(4 * pad), std::size_t(4 * pad * T), std::size_t(4 * pad * T * H)};
  CHECK(ad.observe("kq_soft_max-0", kq.data(), ne_a, nb_a, 0));

  const auto r = rec.snapshot();
  const auto* s = r.find(site::layer_out, 4);
  REQUIRE(s);
  CHECK(s->features == D);
  CHECK(s->rows == T);
  REQUIRE(s->outliers.size() == 1);
  CHECK(s->outliers[0].token == 12);
  CHECK(s->outliers[0].dim == 11);
  CHECK(s->outliers[0].value == -4000.0f);

  const auto* qs = r.find(site::q, 1);
  REQUIRE(qs);
  CHECK(qs->features == d * H);
  CHECK(qs->dim_max_abs[7] == 23.0f);  // token 2, head 1, element 3 = index 2*8 + 1*4 + 3
  const auto* cap = r.find_capture(site::q, 1);
  REQUIRE(cap);
  CHECK((*cap)[0].shape == extents{T, d * H});
  CHECK((*cap)[0].data[std::size_t(1 * 8 + 1 * 4 + 2)] == 14.0f);

  const auto* a = r.find_attention(0);
  REQUIRE(a);
  CHECK(a->heads == H);
  CHECK(a->keys == Tk);
  CHECK(a->received_head(1, 0) == doctest::Approx(1.5));
  CHECK(a->min_row_sum == doctest::Approx(1.0));
}

TEST_CASE("ggml adapter: quantized or misaligned tensors are refused with the tensor's name") {
  recorder rec;
  ggml_adapter ad(rec);
  std::vector<float> x(32, 0.0f);
  const std::int64_t ne[4] = {32, 1, 1, 1};
  const std::size_t nb[4] = {4, 128, 128, 128};
  CHECK_THROWS_WITH_AS(ad.observe("l_out-0", x.data(), ne, nb, 2), doctest::Contains("l_out-0"), sysout::error);
  const std::size_t nb_bad[4] = {4, 126, 128, 128};
  CHECK_THROWS_WITH_AS(ad.observe("l_out-0", x.data(), ne, nb_bad, 0), doctest::Contains("multiple"), sysout::error);
}

// Perplexity of a token sequence with a sliding window (Hugging Face's
// "strided" evaluation): windows of ctx positions start every `stride` tokens;
// each token is scored once, by the first window that sees it with the most
// context, i.e. window k scores the tokens after the previous window's end.
// With add_bos each window starts with BOS (taking one of the ctx positions) and
// its first text token is scored from BOS alone; without, a window's first
// token has no prediction and is scored by nothing unless an earlier window did.
// BOS changes where outliers appear (the papers' "with/without BOS" runs).
//
// The window runs in chunks of `batch` tokens through the session's KV cache,
// so its hooks fire as usual (interventions change the perplexity).
#pragma once
#include <algorithm>
#include <cmath>
#include <functional>
#include <span>
#include <vector>

#include "sysout/model/forward.hpp"

namespace sysout::model {

struct perplexity_options {
  int ctx = 512;         // positions per window, BOS included
  int stride = 0;        // text tokens between window starts; 0: ctx minus the BOS (non-overlapping)
  bool add_bos = true;
  std::int64_t max_tokens = 0;  // 0: all
  int batch = 64;        // tokens per forward call (bounds the [batch, V] logits buffer)
  std::function<void(std::int64_t done, std::int64_t total)> progress;
};

struct perplexity_result {
  double perplexity = 0;
  double mean_nll = 0;           // nats per scored token
  std::int64_t n_scored = 0;
  int n_windows = 0;
};

inline perplexity_result perplexity(session& s, std::span<const int> all_tokens, const perplexity_options& o) {
  const config& c = s.cfg();
  if (o.ctx < 2) throw_error("perplexity", "ctx must be >= 2, got ", o.ctx);
  if (o.ctx > s.capacity()) throw_error("perplexity", "ctx ", o.ctx, " exceeds the session capacity ", s.capacity());
  if (o.add_bos && c.bos_id < 0) throw_error("perplexity", "add_bos requested but the model has no BOS id");
  const int text_ctx = o.ctx - (o.add_bos ? 1 : 0);
  const int stride = o.stride > 0 ? o.stride : text_ctx;
  if (stride > text_ctx)
    throw_error("perplexity", "stride ", stride, " > ", text_ctx, " text tokens per window would leave tokens unscored");
  const auto N = std::int64_t(o.max_tokens > 0 ? std::min<std::int64_t>(o.max_tokens, std::int64_t(all_tokens.size()))
                                               : std::int64_t(all_tokens.size()));
  const int batch = std::max(1, o.batch);
  double nll = 0;
  perplexity_result r;
  std::int64_t scored_until = 0;  // tokens [0, scored_until) are scored (or unscoreable)
  std::vector<int> window;
  for (std::int64_t b = 0; b < N; b += stride) {
    const std::int64_t e = std::min<std::int64_t>(b + text_ctx, N);
    if (e <= scored_until) {
      if (e == N) break;
      continue;
    }
    window.clear();
    if (o.add_bos) window.push_back(c.bos_id);
    window.insert(window.end(), all_tokens.begin() + b, all_tokens.begin() + e);
    const int off = o.add_bos ? 1 : 0;  // window index of text token b
    s.reset();
    // position p of the window predicts window[p + 1]
    for (int p0 = 0; p0 < int(window.size()) - 1; p0 += batch) {
      const int n = std::min<int>(batch, int(window.size()) - 1 - p0);
      auto logits = s.forward(std::span<const int>(window.data() + p0, std::size_t(n)), true);
      const int V = int(logits.dim(1));
      for (int i = 0; i < n; ++i) {
        const int p = p0 + i;
        const std::int64_t target_index = b + (p + 1 - off);  // text index of window[p + 1]
        if (target_index < scored_until) continue;
        const float* row = logits.data_as<const float>() + std::size_t(i) * V;
        const float mx = *std::max_element(row, row + V);
        double se = 0;
        for (int v = 0; v < V; ++v) se += std::exp(double(row[v]) - mx);
        nll += (double(mx) + std::log(se)) - row[window[std::size_t(p + 1)]];
        ++r.n_scored;
      }
    }
    scored_until = e;
    ++r.n_windows;
    if (o.progress) o.progress(e, N);
    if (e == N) break;
  }
  if (r.n_scored == 0) throw_error("perplexity", "no token was scored (", N, " tokens, ctx ", o.ctx, ")");
  r.mean_nll = nll / double(r.n_scored);
  r.perplexity = std::exp(r.mean_nll);
  return r;
}

}  // namespace sysout::model

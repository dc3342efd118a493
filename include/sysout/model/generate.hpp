// Text generation on a session: run the prompt as one batch, then sample one
// token at a time (greedy at temperature 0, else temperature + top-p with a
// seed; see sampling.hpp) until max_new_tokens, EOS or the cache is full.
#pragma once
#include <functional>
#include <span>
#include <vector>

#include "sysout/model/forward.hpp"
#include "sysout/model/sampling.hpp"

namespace sysout::model {

struct generate_options {
  int max_new_tokens = 64;
  sampler_params sampling{};      // temperature 0 = greedy
  bool stop_at_eos = true;        // stop after the model's eos_id (it is returned)
  std::function<bool(int)> on_token;  // called with each new token; return false to stop
};

// Appends to the session's sequence (call s.reset() first for a fresh one) and
// returns the new tokens.
inline std::vector<int> generate(session& s, std::span<const int> prompt, const generate_options& o = {}) {
  if (prompt.empty()) throw_error("generate", "empty prompt (add a BOS token or text)");
  sampler smp(o.sampling);
  std::vector<int> out;
  auto logits = s.forward(prompt);
  const int V = int(logits.dim(1));
  for (int i = 0; i < o.max_new_tokens; ++i) {
    const int next = smp.sample(logits.data_as<const float>(), V);
    out.push_back(next);
    if (o.on_token && !o.on_token(next)) break;
    if (o.stop_at_eos && next == s.cfg().eos_id) break;
    if (i + 1 == o.max_new_tokens || s.n_past() >= s.capacity()) break;
    logits = s.forward(std::span<const int>(&out.back(), 1));
  }
  return out;
}

}  // namespace sysout::model

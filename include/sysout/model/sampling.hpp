// Choosing the next token from logits: greedy (argmax), or temperature +
// nucleus (top-p) sampling with a seeded generator (llama2.c run.c semantics:
// softmax(logits / T), keep the smallest set of tokens whose mass >= top_p,
// sample from it renormalised).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "sysout/core/error.hpp"

namespace sysout::model {

// Index of the largest logit (the first one on ties, like run.c and llama.cpp's greedy sampler).
inline int argmax(const float* logits, int n) {
  if (n <= 0) throw_error("argmax", "empty logits");
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

struct sampler_params {
  float temperature = 0.0f;  // 0: greedy
  float top_p = 1.0f;        // 1: no nucleus cut
  std::uint64_t seed = 0;
};

class sampler {
 public:
  explicit sampler(sampler_params p = {}) : p_(p), rng_(p.seed) {
    if (p.temperature < 0.0f) throw_error("sampler", "temperature must be >= 0, got ", p.temperature);
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) throw_error("sampler", "top_p must be in (0, 1], got ", p.top_p);
  }
  const sampler_params& params() const noexcept { return p_; }

  int sample(const float* logits, int n) {
    if (p_.temperature == 0.0f) return argmax(logits, n);
    probs_.resize(std::size_t(n));
    const float mx = *std::max_element(logits, logits + n);
    double sum = 0.0;
    for (int i = 0; i < n; ++i) {
      probs_[std::size_t(i)] = std::exp((logits[i] - mx) / p_.temperature);
      sum += probs_[std::size_t(i)];
    }
    for (auto& p : probs_) p = float(p / sum);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const double coin = u(rng_);
    if (p_.top_p >= 1.0f) {
      double c = 0.0;
      for (int i = 0; i < n; ++i) {
        c += probs_[std::size_t(i)];
        if (coin < c) return i;
      }
      return n - 1;
    }
    idx_.resize(std::size_t(n));
    std::iota(idx_.begin(), idx_.end(), 0);
    std::sort(idx_.begin(), idx_.end(), [&](int a, int b) {
      return probs_[std::size_t(a)] > probs_[std::size_t(b)] || (probs_[std::size_t(a)] == probs_[std::size_t(b)] && a < b);
    });
    double mass = 0.0;
    std::size_t last = 0;
    for (; last < idx_.size(); ++last) {
      mass += probs_[std::size_t(idx_[last])];
      if (mass >= p_.top_p) break;
    }
    if (last == idx_.size()) last = idx_.size() - 1;
    const double r = coin * mass;
    double c = 0.0;
    for (std::size_t k = 0; k <= last; ++k) {
      c += probs_[std::size_t(idx_[k])];
      if (r < c) return idx_[k];
    }
    return idx_[last];
  }

 private:
  sampler_params p_;
  std::mt19937_64 rng_;
  std::vector<float> probs_;
  std::vector<int> idx_;
};

}  // namespace sysout::model

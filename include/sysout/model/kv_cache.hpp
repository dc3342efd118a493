// Key/value cache of one sequence: for every layer, K and V as
// [Hkv, capacity, d] so that a head's keys are one contiguous block (the
// attention inner loops walk positions of one head).
#pragma once
#include <cstdint>
#include <vector>

#include "sysout/core/error.hpp"
#include "sysout/model/config.hpp"

namespace sysout::model {

struct kv_cache {
  int n_layers = 0, n_kv_heads = 0, head_dim = 0, capacity = 0;
  int n_past = 0;  // positions already stored
  std::vector<float> k, v;

  kv_cache() = default;
  kv_cache(const config& c, int capacity_tokens)
      : n_layers(c.n_layers), n_kv_heads(c.n_kv_heads), head_dim(c.head_dim), capacity(capacity_tokens) {
    if (capacity_tokens <= 0) throw_error("kv_cache", "capacity must be positive, got ", capacity_tokens);
    const auto n = std::size_t(n_layers) * std::size_t(n_kv_heads) * std::size_t(capacity) * std::size_t(head_dim);
    k.assign(n, 0.0f);
    v.assign(n, 0.0f);
  }
  // Keys of (layer, kv head): [capacity, d].
  float* k_head(int layer, int h) noexcept {
    return k.data() + ((std::size_t(layer) * std::size_t(n_kv_heads) + std::size_t(h)) * std::size_t(capacity)) *
                          std::size_t(head_dim);
  }
  float* v_head(int layer, int h) noexcept {
    return v.data() + ((std::size_t(layer) * std::size_t(n_kv_heads) + std::size_t(h)) * std::size_t(capacity)) *
                          std::size_t(head_dim);
  }
  void clear() noexcept { n_past = 0; }
  // Forget positions >= n (e.g. to re-run a suffix).
  void truncate(int n) {
    if (n < 0 || n > n_past) throw_error("kv_cache", "cannot truncate to ", n, " with ", n_past, " positions stored");
    n_past = n;
  }
};

}  // namespace sysout::model

// Hook registry: callbacks attached to (site, layer) pairs of a forward pass.
// A hook receives a writable view of the activation at that site, so it can
// read it (tracing) or change it in place (interventions: zeroing massive
// activations, clamping, re-weighting attention). The host checks
// `active(site, layer)` (two loads and a bit test) before building an event,
// so a forward pass with no hooks pays nothing measurable.
//
// Not synchronised: add/remove hooks between forward passes, not during one.
// A host that calls hooks from several threads must make the hooks themselves
// thread-safe (the tracer does).
#pragma once
#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include "sysout/core/error.hpp"
#include "sysout/core/tensor_view.hpp"
#include "sysout/trace/sites.hpp"

namespace sysout::trace {

// Layer value meaning "every layer" when adding a hook.
inline constexpr int any_layer = -2;

struct hook_event {
  site s;
  int layer;               // -1 for global sites (embed, final_norm_out, logits)
  int pos0;                // absolute position of the first row (token) in this call
  tensor_view t;           // [T, D] per-token sites, [H, T, Tk] for attn_scores/attn_probs; writable
  std::string_view model;  // model name, for recorders that serve several models
};

using hook_fn = std::function<void(const hook_event&)>;

class hook_registry {
 public:
  using handle = std::uint64_t;

  // Hook one site at one layer (or any_layer). Global sites take layer -1 or any_layer.
  handle add(site s, int layer, hook_fn f) {
    if (layer < any_layer) throw_error("hook_registry", "bad layer ", layer, " for site ", site_name(s));
    if (is_global_site(s) && layer >= 0)
      throw_error("hook_registry", "site ", site_name(s), " is global: use layer -1, got ", layer);
    const handle h = ++next_;
    entries_.push_back({h, s, layer, false, std::move(f)});
    rebuild();
    return h;
  }
  // Hook every site at every layer.
  handle add_all(hook_fn f) {
    const handle h = ++next_;
    entries_.push_back({h, site::embed, any_layer, true, std::move(f)});
    rebuild();
    return h;
  }
  bool remove(handle h) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->id == h) {
        entries_.erase(it);
        rebuild();
        return true;
      }
    return false;
  }
  void clear() {
    entries_.clear();
    rebuild();
  }
  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }

  // Cheap test the forward pass makes before building an event.
  bool active(site s, int layer) const noexcept {
    const auto i = std::size_t(s);
    if (all_layers_[i]) return true;
    const auto b = std::size_t(layer + 1);
    const auto& bits = layer_bits_[i];
    return b / 64 < bits.size() && ((bits[b / 64] >> (b % 64)) & 1u);
  }

  // Calls every matching hook, in the order they were added.
  void call(const hook_event& e) const {
    for (const auto& en : entries_)
      if (en.every_site || (en.s == e.s && (en.layer == any_layer || en.layer == e.layer))) en.f(e);
  }

 private:
  struct entry {
    handle id;
    site s;
    int layer;
    bool every_site;
    hook_fn f;
  };
  void rebuild() {
    for (auto& b : layer_bits_) b.clear();
    all_layers_.fill(false);
    for (const auto& en : entries_) {
      if (en.every_site) {
        all_layers_.fill(true);
        continue;
      }
      const auto i = std::size_t(en.s);
      if (en.layer == any_layer) {
        all_layers_[i] = true;
        continue;
      }
      const auto b = std::size_t(en.layer + 1);
      auto& bits = layer_bits_[i];
      if (bits.size() <= b / 64) bits.resize(b / 64 + 1, 0);
      bits[b / 64] |= std::uint64_t(1) << (b % 64);
    }
  }

  std::vector<entry> entries_;
  std::array<bool, site_count> all_layers_{};
  std::array<std::vector<std::uint64_t>, site_count> layer_bits_{};
  handle next_ = 0;
};

}  // namespace sysout::trace

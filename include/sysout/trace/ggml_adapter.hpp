// llama.cpp adapter: feed a recorder from ggml's graph-evaluation callback
// (llama_context_params::cb_eval, a ggml_backend_sched_eval_callback) without
// depending on ggml. A llama.cpp host writes a few lines:
//
//   sysout::trace::recorder rec;
//   sysout::trace::ggml_adapter ad(rec);
//   static bool cb(ggml_tensor* t, bool ask, void* ud) {
//     auto& a = *static_cast<sysout::trace::ggml_adapter*>(ud);
//     if (ask) return a.wants(t->name);
//     // with a GPU backend, copy t->data to host first (ggml_backend_tensor_get)
//     a.observe(t->name, t->data, t->ne, t->nb, int(t->type));
//     return true;                                   // keep evaluating the graph
//   }
//   params.cb_eval = cb; params.cb_eval_user_data = &ad;
//   ad.set_pos0(n_past);  llama_decode(ctx, batch);   // once per batch
//
// ggml layout: ne[0] is the innermost (fastest) axis and nb[i] are byte
// strides, so a ggml tensor {ne0, ne1, ne2, ne3} is the sysout view
// [ne3, ne2, ne1, ne0] with element strides nb[i] / element size. What each
// llama.cpp tensor is (llm_build_* in src/llama-model.cpp, llama-graph.cpp):
//   per-token tensors ("l_out-5", "ffn_out-5", "attn_norm-5", ...)  {D, T}
//   Qcur / Kcur / Vcur                                               {d, H, T}
//   kq, kq_soft_max (no flash attention)                             {Tk, T, H}
// so after reversal they are [T, D], [T, H, d] -> [T, H*d] and [H, T, Tk],
// the shapes the recorder expects. With flash attention (-fa) llama.cpp never
// materialises kq_soft_max: attention columns are then unavailable from cb_eval.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "sysout/core/error.hpp"
#include "sysout/core/tensor_view.hpp"
#include "sysout/io/ggml_types.hpp"
#include "sysout/trace/recorder.hpp"
#include "sysout/trace/sites.hpp"

namespace sysout::trace {

// The fields of ggml's struct ggml_tensor that the adapter reads, as a value
// type (ggml.h: enum ggml_type type; int64_t ne[4]; size_t nb[4]; void* data;
// char name[64]).
struct ggml_tensor_desc {
  std::string_view name;
  const void* data = nullptr;
  std::int64_t ne[4] = {1, 1, 1, 1};
  std::size_t nb[4] = {0, 0, 0, 0};
  io::ggml_type type = io::ggml_type::f32;
};

inline std::optional<dtype> ggml_element_dtype(io::ggml_type t) noexcept {
  switch (t) {
    case io::ggml_type::f32: return dtype::f32;
    case io::ggml_type::f16: return dtype::f16;
    case io::ggml_type::bf16: return dtype::bf16;
    case io::ggml_type::f64: return dtype::f64;
    case io::ggml_type::i8: return dtype::i8;
    case io::ggml_type::i32: return dtype::i32;
    case io::ggml_type::i64: return dtype::i64;
    default: return std::nullopt;
  }
}

// The sysout view of a ggml tensor: axes reversed, byte strides turned into
// element strides. Read-only unless `writable` (interventions through cb_eval
// must write before the next op runs, which llama.cpp's scheduler allows for
// host buffers). Throws for quantized types and misaligned strides.
inline tensor_view ggml_view(const ggml_tensor_desc& t, bool writable = false) {
  const std::string where = t.name.empty() ? std::string("ggml tensor") : "ggml tensor '" + std::string(t.name) + "'";
  const auto dt = ggml_element_dtype(t.type);
  if (!dt) throw_error(where, "type ", io::type_name(t.type), " is not a plain element type (quantized activations are not supported)");
  const std::size_t es = dtype_size(*dt);
  extents shape, strides;
  shape.rank = strides.rank = 4;
  for (int i = 0; i < 4; ++i) {
    if (t.ne[i] < 0) throw_error(where, "negative ne[", i, "] = ", t.ne[i]);
    if (t.nb[i] % es != 0)
      throw_error(where, "nb[", i, "] = ", t.nb[i], " bytes is not a multiple of the element size ", es);
    shape[3 - i] = t.ne[i];
    strides[3 - i] = std::int64_t(t.nb[i] / es);
  }
  if (writable) return tensor_view(const_cast<void*>(t.data), *dt, shape, strides, std::string(t.name));
  return tensor_view(t.data, *dt, shape, strides, std::string(t.name));
}

// Drops leading unit axes until the view has `rank` axes (ggml pads to 4).
inline tensor_view squeeze_leading(const tensor_view& v, int rank) {
  tensor_view r = v;
  while (r.rank() > rank) {
    if (r.dim(0) != 1) throw_error(r.where(), "expected at most rank ", rank, ", got shape ", v.shape().str());
    r = r.select(0, 0);
  }
  return r;
}

// The view the recorder expects for a site: [T, D] for per-token sites
// ({d, H, T} q/k/v tensors are merged to [T, H*d]), [H, T, Tk] for attention.
inline tensor_view site_view(site s, const ggml_tensor_desc& t, bool writable = false) {
  const tensor_view v = ggml_view(t, writable);
  if (is_attention_matrix_site(s)) return squeeze_leading(v, 3);
  if (s == site::q || s == site::k || s == site::v || s == site::q_pre_rope || s == site::k_pre_rope) {
    const tensor_view x = squeeze_leading(v, 3);  // [T, H, d]
    if (x.stride(1) != x.dim(2) * x.stride(2))
      throw_error(x.where(), "heads of shape ", x.shape().str(), " strides ", x.strides().str(),
                  " cannot be merged into one feature axis");
    return tensor_view(x.data(), x.type(), extents{x.dim(0), x.dim(1) * x.dim(2)}, extents{x.stride(0), x.stride(2)},
                       x.name());
  }
  return squeeze_leading(v, 2);
}

class ggml_adapter {
 public:
  explicit ggml_adapter(recorder& r) : rec_(&r) {}

  // Absolute position of the first token of the next batch (n_past).
  void set_pos0(int pos0) noexcept { pos0_ = pos0; }
  int pos0() const noexcept { return pos0_; }

  // The "ask" phase of cb_eval: true when the recorder wants this tensor.
  bool wants(std::string_view name) const {
    const auto p = parse_site_name(name);
    return p && rec_->wants(p->s, p->layer);
  }
  // The "observe" phase: records the tensor; returns false when the name is
  // not a site (ignored). Types as ggml's raw integer ids.
  bool observe(std::string_view name, const void* data, const std::int64_t ne[4], const std::size_t nb[4],
               int type) {
    ggml_tensor_desc d;
    d.name = name;
    d.data = data;
    for (int i = 0; i < 4; ++i) {
      d.ne[i] = ne[i];
      d.nb[i] = nb[i];
    }
    d.type = io::ggml_type(std::uint32_t(type));
    return observe(d);
  }
  bool observe(const ggml_tensor_desc& d) {
    const auto p = parse_site_name(d.name);
    if (!p || !rec_->wants(p->s, p->layer)) return false;
    rec_->on_tensor(p->s, p->layer, pos0_, site_view(p->s, d));
    return true;
  }

 private:
  recorder* rec_;
  int pos0_ = 0;
};

}  // namespace sysout::trace

// DLPack adapter: the exchange format of PyTorch, JAX, CuPy, TVM and NumPy
// (`__dlpack__`). A host written in any of them hands its tensors to sysout as
// a DLTensor / DLManagedTensor (or DLManagedTensorVersioned with DLPack >= 1.0);
// sysout::view(...) wraps the memory with no copy. to_dlpack(view) goes the
// other way, for hosts that import DLPack.
//
// Import rules (each violation is a sysout::error naming the tensor):
//  - device must be host-addressable: kDLCPU, kDLCUDAHost, kDLROCMHost or
//    kDLCUDAManaged (13, DLPack >= 0.7); GPU memory (kDLCUDA...) is refused,
//    since every sysout kernel dereferences the pointer on the CPU;
//  - dtype: float16/32/64, bfloat16, int8/32/64, lanes == 1;
//  - strides are in elements; null strides mean compact row-major (DLPack < 1.0
//    allowed that); negative strides are refused;
//  - byte_offset is added to data; the element pointer must be aligned to the
//    element size.
// Ownership: a view never owns. The caller keeps the DLManagedTensor alive
// while the view is used, then calls its deleter (dlpack::managed does that).
//
// Works with Debian's DLPack 0.6 and with 1.x (versioned structs are used when
// the header defines DLPACK_MAJOR_VERSION). Not included by sysout/sysout.hpp.
#pragma once
#include <dlpack/dlpack.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "sysout/core/raw.hpp"
#include "sysout/core/tensor_view.hpp"

namespace sysout {
namespace dlpack {

inline std::string device_name(int device_type) {
  switch (device_type) {
    case 1: return "kDLCPU";
    case 2: return "kDLCUDA";
    case 3: return "kDLCUDAHost";
    case 4: return "kDLOpenCL";
    case 7: return "kDLVulkan";
    case 8: return "kDLMetal";
    case 9: return "kDLVPI";
    case 10: return "kDLROCM";
    case 11: return "kDLROCMHost";
    case 12: return "kDLExtDev";
    case 13: return "kDLCUDAManaged";
    case 14: return "kDLOneAPI";
    case 15: return "kDLWebGPU";
    case 16: return "kDLHexagon";
  }
  return "device type " + std::to_string(device_type);
}

// Memory the CPU may dereference. 13 is kDLCUDAManaged (unified memory), an
// enumerator that DLPack 0.6 does not have, hence the number.
inline bool host_accessible(int device_type) noexcept {
  return device_type == kDLCPU || device_type == kDLCUDAHost || device_type == kDLROCMHost || device_type == 13;
}

inline std::string dtype_str(DLDataType t) {
  const char* code = "code?";
  switch (t.code) {
    case kDLInt: code = "int"; break;
    case kDLUInt: code = "uint"; break;
    case kDLFloat: code = "float"; break;
    case kDLBfloat: code = "bfloat"; break;
    case kDLComplex: code = "complex"; break;
    case 6: code = "bool"; break;  // kDLBool, DLPack >= 0.8
    default: break;
  }
  std::string s = std::string(code) + std::to_string(int(t.bits));
  if (t.code > 6) s = "type code " + std::to_string(int(t.code)) + " bits " + std::to_string(int(t.bits));
  if (t.lanes != 1) s += "x" + std::to_string(int(t.lanes));
  return s;
}

// DLPack dtype -> sysout dtype, or an error naming the tensor and the type.
inline dtype from_dl(DLDataType t, const std::string& where) {
  if (t.lanes != 1)
    throw_error(where, "DLPack dtype ", dtype_str(t), " has ", t.lanes,
                " lanes; sysout reads scalar elements only (lanes == 1)");
  if (t.code == kDLFloat && t.bits == 16) return dtype::f16;
  if (t.code == kDLFloat && t.bits == 32) return dtype::f32;
  if (t.code == kDLFloat && t.bits == 64) return dtype::f64;
  if (t.code == kDLBfloat && t.bits == 16) return dtype::bf16;
  if (t.code == kDLInt && t.bits == 8) return dtype::i8;
  if (t.code == kDLInt && t.bits == 32) return dtype::i32;
  if (t.code == kDLInt && t.bits == 64) return dtype::i64;
  throw_error(where, "unsupported DLPack dtype ", dtype_str(t),
              " (supported: float16, float32, float64, bfloat16, int8, int32, int64)");
}

inline DLDataType to_dl(dtype t) noexcept {
  DLDataType d{};
  d.lanes = 1;
  d.bits = std::uint8_t(dtype_size(t) * 8);
  switch (t) {
    case dtype::f16:
    case dtype::f32:
    case dtype::f64: d.code = kDLFloat; break;
    case dtype::bf16: d.code = kDLBfloat; break;
    case dtype::i8:
    case dtype::i32:
    case dtype::i64: d.code = kDLInt; break;
  }
  return d;
}

// The checks shared by every import path.
inline tensor_view import_tensor(const DLTensor& t, std::string name, bool read_only) {
  const std::string where = "DLPack tensor" + (name.empty() ? std::string() : " '" + name + "'");
  if (!host_accessible(int(t.device.device_type)))
    throw_error(where, "lives on ", device_name(int(t.device.device_type)), " (device id ", t.device.device_id,
                "); sysout reads host memory only (kDLCPU, kDLCUDAHost, kDLROCMHost, kDLCUDAManaged): "
                "copy it to the CPU first");
  const dtype dt = from_dl(t.dtype, where);
  if (t.ndim < 0 || t.ndim > max_rank)
    throw_error(where, "ndim ", t.ndim, " is outside [0, ", max_rank, "]");
  if (t.ndim > 0 && t.shape == nullptr) throw_error(where, "ndim ", t.ndim, " but shape is null");
  extents shape, strides;
  shape.rank = t.ndim;
  for (int i = 0; i < t.ndim; ++i) shape[i] = t.shape[i];
  if (t.strides == nullptr) {
    strides = dense_strides(shape);
  } else {
    strides.rank = t.ndim;
    for (int i = 0; i < t.ndim; ++i) strides[i] = t.strides[i];
  }
  for (int i = 0; i < t.ndim; ++i) {
    if (shape[i] < 0) throw_error(where, "negative extent in shape ", shape.str());
    if (strides[i] < 0)
      throw_error(where, "negative stride in strides ", strides.str(), " (shape ", shape.str(),
                  "): sysout views need non-negative strides; make the tensor contiguous first");
  }
  void* p = t.data == nullptr ? nullptr : static_cast<char*>(t.data) + t.byte_offset;
  if (p != nullptr && reinterpret_cast<std::uintptr_t>(p) % dtype_size(dt) != 0)
    throw_error(where, "data + byte_offset (", t.byte_offset, ") is not aligned to the ", dtype_size(dt),
                "-byte element size");
  if (name.empty()) name = "dlpack";
  if (read_only) return tensor_view(static_cast<const void*>(p), dt, shape, strides, std::move(name));
  return tensor_view(p, dt, shape, strides, std::move(name));
}

// Owns a DLManagedTensor received from a producer and calls its deleter once.
template <class M>
struct deleter_call {
  void operator()(M* m) const noexcept {
    if (m != nullptr && m->deleter != nullptr) m->deleter(m);
  }
};
using managed = std::unique_ptr<DLManagedTensor, deleter_call<DLManagedTensor>>;
#ifdef DLPACK_MAJOR_VERSION
using managed_versioned = std::unique_ptr<DLManagedTensorVersioned, deleter_call<DLManagedTensorVersioned>>;
#endif

// A DLTensor describing a sysout view, with its own shape/stride storage (the
// DLTensor points into this object, so copies re-point). Lives no longer than
// the memory the view refers to.
class exported {
 public:
  explicit exported(const tensor_view& v) {
    for (int i = 0; i < v.rank(); ++i) {
      shape_[std::size_t(i)] = v.shape()[i];
      strides_[std::size_t(i)] = v.strides()[i];
    }
    t_.data = v.data();
    t_.device.device_type = kDLCPU;
    t_.device.device_id = 0;
    t_.ndim = v.rank();
    t_.dtype = to_dl(v.type());
    t_.byte_offset = 0;
    repoint();
  }
  exported(const exported& o) : t_(o.t_), shape_(o.shape_), strides_(o.strides_) { repoint(); }
  exported& operator=(const exported& o) {
    t_ = o.t_;
    shape_ = o.shape_;
    strides_ = o.strides_;
    repoint();
    return *this;
  }
  DLTensor* get() noexcept { return &t_; }
  const DLTensor* get() const noexcept { return &t_; }
  const DLTensor& operator*() const noexcept { return t_; }
  const DLTensor* operator->() const noexcept { return &t_; }

 private:
  void repoint() noexcept {
    t_.shape = shape_.data();
    t_.strides = strides_.data();
  }
  DLTensor t_{};
  std::array<std::int64_t, max_rank> shape_{};
  std::array<std::int64_t, max_rank> strides_{};
};

namespace detail {
template <class M>
struct export_ctx {
  M managed{};
  exported tensor;
  explicit export_ctx(const tensor_view& v) : tensor(v) {}
};
}  // namespace detail

}  // namespace dlpack

// ---- import -----------------------------------------------------------------
inline tensor_view view(const DLTensor& t, std::string name = {}) {
  return dlpack::import_tensor(t, std::move(name), false);
}
inline tensor_view view(const DLManagedTensor& m, std::string name = {}) {
  return dlpack::import_tensor(m.dl_tensor, std::move(name), false);
}
#ifdef DLPACK_MAJOR_VERSION
// Versioned tensors carry flags: READ_ONLY gives a read-only view. A major
// version this header does not know means the struct layout may differ.
inline tensor_view view(const DLManagedTensorVersioned& m, std::string name = {}) {
  if (m.version.major != DLPACK_MAJOR_VERSION)
    throw_error("DLPack tensor" + (name.empty() ? std::string() : " '" + name + "'"), "DLPack major version ",
                m.version.major, " differs from this header's ", DLPACK_MAJOR_VERSION,
                "; its layout cannot be read (call its deleter)");
  return dlpack::import_tensor(m.dl_tensor, std::move(name), (m.flags & DLPACK_FLAG_BITMASK_READ_ONLY) != 0);
}
#endif

// ---- export -----------------------------------------------------------------
// A DLTensor (kDLCPU, byte_offset 0, strides in elements) over the view's
// memory; the returned object holds shape/strides and converts to DLTensor*.
inline dlpack::exported to_dlpack(const tensor_view& v) { return dlpack::exported(v); }

// A heap DLManagedTensor over the view's memory, for consumers that take
// ownership of the descriptor (e.g. a "dltensor" PyCapsule): its deleter frees
// the descriptor, never the data, which must outlive the consumer's use.
inline DLManagedTensor* to_dlpack_managed(const tensor_view& v) {
  auto* ctx = new dlpack::detail::export_ctx<DLManagedTensor>(v);
  ctx->managed.dl_tensor = *ctx->tensor;
  ctx->managed.manager_ctx = ctx;
  ctx->managed.deleter = [](DLManagedTensor* self) {
    delete static_cast<dlpack::detail::export_ctx<DLManagedTensor>*>(self->manager_ctx);
  };
  return &ctx->managed;
}
#ifdef DLPACK_MAJOR_VERSION
// Versioned form; a read-only view sets DLPACK_FLAG_BITMASK_READ_ONLY.
inline DLManagedTensorVersioned* to_dlpack_versioned(const tensor_view& v) {
  auto* ctx = new dlpack::detail::export_ctx<DLManagedTensorVersioned>(v);
  ctx->managed.version.major = DLPACK_MAJOR_VERSION;
  ctx->managed.version.minor = DLPACK_MINOR_VERSION;
  ctx->managed.flags = v.writable() ? 0 : DLPACK_FLAG_BITMASK_READ_ONLY;
  ctx->managed.dl_tensor = *ctx->tensor;
  ctx->managed.manager_ctx = ctx;
  ctx->managed.deleter = [](DLManagedTensorVersioned* self) {
    delete static_cast<dlpack::detail::export_ctx<DLManagedTensorVersioned>*>(self->manager_ctx);
  };
  return &ctx->managed;
}
#endif

}  // namespace sysout

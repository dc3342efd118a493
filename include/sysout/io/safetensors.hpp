// safetensors reader (Hugging Face's format), memory-mapped:
//   u64 N (little-endian), N bytes of JSON header, data.
//   header: {"__metadata__": {"k": "v", ...},
//            "<tensor>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
// Offsets are relative to the start of the data (8 + N). Following the format's
// own rules, the tensors must tile the data exactly: sorted by offset they are
// contiguous, start at 0 and end at the end of the file (no holes, no overlap).
// Every size is checked before use: N against the file and a 100 MB cap (the
// reference implementation's limit), each shape's byte size (overflow-checked)
// against its offsets. Errors name the file and the tensor.
//
// Tensor names are Hugging Face's ("model.layers.0.mlp.down_proj.weight") and
// shapes are row-major as written (a Linear weight is [out_features, in_features]).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sysout/core/error.hpp"
#include "sysout/core/tensor_view.hpp"
#include "sysout/io/json_parse.hpp"
#include "sysout/io/mapped_file.hpp"

namespace sysout::io {

enum class st_dtype : std::uint8_t { boolean, u8, i8, i16, u16, f16, bf16, i32, u32, f32, f64, i64, u64, f8_e4m3, f8_e5m2 };

struct st_dtype_info {
  st_dtype type;
  std::string_view name;  // as written in the header
  std::size_t size;
};
inline constexpr st_dtype_info st_dtypes[] = {
    {st_dtype::boolean, "BOOL", 1}, {st_dtype::u8, "U8", 1},       {st_dtype::i8, "I8", 1},
    {st_dtype::i16, "I16", 2},      {st_dtype::u16, "U16", 2},     {st_dtype::f16, "F16", 2},
    {st_dtype::bf16, "BF16", 2},    {st_dtype::i32, "I32", 4},     {st_dtype::u32, "U32", 4},
    {st_dtype::f32, "F32", 4},      {st_dtype::f64, "F64", 8},     {st_dtype::i64, "I64", 8},
    {st_dtype::u64, "U64", 8},      {st_dtype::f8_e4m3, "F8_E4M3", 1}, {st_dtype::f8_e5m2, "F8_E5M2", 1},
};
constexpr std::string_view st_dtype_name(st_dtype t) noexcept {
  for (const auto& d : st_dtypes)
    if (d.type == t) return d.name;
  return "?";
}
constexpr std::size_t st_dtype_size(st_dtype t) noexcept {
  for (const auto& d : st_dtypes)
    if (d.type == t) return d.size;
  return 0;
}
// The sysout dtype a tensor_view can carry, when there is one.
constexpr std::optional<dtype> to_dtype(st_dtype t) noexcept {
  switch (t) {
    case st_dtype::f32: return dtype::f32;
    case st_dtype::f64: return dtype::f64;
    case st_dtype::f16: return dtype::f16;
    case st_dtype::bf16: return dtype::bf16;
    case st_dtype::i8: return dtype::i8;
    case st_dtype::i32: return dtype::i32;
    case st_dtype::i64: return dtype::i64;
    default: return std::nullopt;
  }
}

struct st_tensor_info {
  std::string name;
  st_dtype type = st_dtype::f32;
  std::vector<std::int64_t> shape;  // row-major
  std::uint64_t begin = 0, end = 0;  // byte offsets relative to the data section
  const std::byte* data = nullptr;   // into the mapping
  std::uint64_t nbytes() const noexcept { return end - begin; }
  std::int64_t n_elements() const noexcept {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  std::string shape_str() const {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
};

class safetensors_file {
 public:
  static constexpr std::uint64_t max_header_bytes = 100u << 20;

  explicit safetensors_file(const std::filesystem::path& path) : safetensors_file(mapped_file(path)) {}
  explicit safetensors_file(mapped_file file) : file_(std::move(file)) { parse(); }
  safetensors_file(safetensors_file&&) noexcept = default;
  safetensors_file& operator=(safetensors_file&&) noexcept = default;

  const std::string& path() const noexcept { return file_.path(); }
  const mapped_file& file() const noexcept { return file_; }
  std::uint64_t data_offset() const noexcept { return data_offset_; }
  // __metadata__ (string -> string), in file order.
  const std::vector<std::pair<std::string, std::string>>& metadata() const noexcept { return metadata_; }
  std::optional<std::string> find_metadata(std::string_view key) const {
    for (const auto& [k, v] : metadata_)
      if (k == key) return v;
    return std::nullopt;
  }
  // Tensors in header order.
  const std::vector<st_tensor_info>& tensors() const noexcept { return tensors_; }
  const st_tensor_info* find_tensor(std::string_view name) const {
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }
  const st_tensor_info& info(std::string_view name) const {
    const st_tensor_info* t = find_tensor(name);
    if (!t) throw_error(path(), "tensor '", name, "' is absent (the file has ", tensors_.size(), " tensors)");
    return *t;
  }
  // Read-only view (no copy) of a tensor whose dtype sysout carries (F32, F64, F16, BF16, I8, I32, I64).
  tensor_view tensor(std::string_view name) const { return view(info(name)); }
  tensor_view view(const st_tensor_info& t) const {
    const auto dt = to_dtype(t.type);
    if (!dt)
      throw_error(path(), "tensor '", t.name, "' has dtype ", st_dtype_name(t.type),
                  ", which sysout views do not carry; read its bytes through info().data");
    if (t.shape.size() > std::size_t(max_rank))
      throw_error(path(), "tensor '", t.name, "' has rank ", t.shape.size(), " > ", max_rank);
    if (reinterpret_cast<std::uintptr_t>(t.data) % st_dtype_size(t.type) != 0)
      throw_error(path(), "tensor '", t.name, "' data is not aligned to its ", st_dtype_size(t.type),
                  "-byte elements (the header length is not a multiple of 8)");
    return tensor_view(static_cast<const void*>(t.data), *dt, extents(std::span<const std::int64_t>(t.shape)),
                       layout::row_major, t.name);
  }

 private:
  void parse() {
    if (file_.size() < 8)
      throw_error(path(), "not a safetensors file: ", file_.size(), " bytes, too short for the header length");
    std::uint64_t n;
    std::memcpy(&n, file_.data(), 8);
    if (n > max_header_bytes)
      throw_error(path(), "header length ", n, " exceeds the format's limit of ", max_header_bytes, " bytes");
    if (n > file_.size() - 8)
      throw_error(path(), "header length ", n, " exceeds the ", file_.size() - 8,
                  " bytes after it (truncated or not a safetensors file)");
    if (n < 2) throw_error(path(), "header length ", n, " is too small for a JSON object");
    data_offset_ = 8 + n;
    const std::string_view text(reinterpret_cast<const char*>(file_.data() + 8), std::size_t(n));
    if (text.front() != '{') throw_error(path(), "header does not start with '{' (not a safetensors file)");
    const json_value h = parse_json(text, path() + " (header)");
    if (!h.is_object()) throw_error(path(), "header is a JSON ", h.kind_name(), ", expected an object");

    const std::uint64_t data_size = file_.size() - data_offset_;
    for (const auto& [name, v] : h.as_object()) {
      if (name == "__metadata__") {
        if (!v.is_object()) throw_error(path(), "__metadata__ is a JSON ", v.kind_name(), ", expected an object");
        for (const auto& [k, mv] : v.as_object()) {
          if (!mv.is_string())
            throw_error(path(), "__metadata__ value '", k, "' is a JSON ", mv.kind_name(), ", expected a string");
          metadata_.emplace_back(k, mv.as_string());
        }
        continue;
      }
      const std::string where = "tensor '" + name + "'";
      if (!v.is_object()) throw_error(path(), where, " is a JSON ", v.kind_name(), ", expected an object");
      st_tensor_info t;
      t.name = name;
      const json_value* dt = v.find("dtype");
      const json_value* shape = v.find("shape");
      const json_value* offs = v.find("data_offsets");
      if (!dt || !dt->is_string()) throw_error(path(), where, ": missing string \"dtype\"");
      if (!shape || !shape->is_array()) throw_error(path(), where, ": missing array \"shape\"");
      if (!offs || !offs->is_array() || offs->size() != 2)
        throw_error(path(), where, ": \"data_offsets\" must be an array [begin, end]");
      bool known = false;
      for (const auto& d : st_dtypes)
        if (d.name == dt->as_string()) {
          t.type = d.type;
          known = true;
        }
      if (!known) throw_error(path(), where, ": unknown dtype \"", dt->as_string(), "\"");
      std::uint64_t nbytes = st_dtype_size(t.type);
      for (const auto& d : shape->as_array()) {
        if (!d.is_number() || !d.is_integer() || d.number_text()[0] == '-')
          throw_error(path(), where, ": shape ", shape->dump(), " has an entry that is not a non-negative integer");
        std::uint64_t e;
        try {
          e = d.as_uint64();
        } catch (const sysout::error&) {
          throw_error(path(), where, ": shape ", shape->dump(), " has an entry out of range");
        }
        if (e > std::uint64_t(std::numeric_limits<std::int64_t>::max()) ||
            (e != 0 && nbytes > std::numeric_limits<std::uint64_t>::max() / e))
          throw_error(path(), where, ": shape ", shape->dump(), " overflows");
        nbytes *= e;
        t.shape.push_back(std::int64_t(e));
      }
      for (int k = 0; k < 2; ++k) {
        const auto& o = offs->as_array()[std::size_t(k)];
        if (!o.is_number() || !o.is_integer() || o.number_text()[0] == '-')
          throw_error(path(), where, ": data_offsets ", offs->dump(), " are not non-negative integers");
        std::uint64_t x;
        try {
          x = o.as_uint64();
        } catch (const sysout::error&) {
          throw_error(path(), where, ": data_offsets ", offs->dump(), " out of range");
        }
        (k == 0 ? t.begin : t.end) = x;
      }
      if (t.end < t.begin) throw_error(path(), where, ": data_offsets ", offs->dump(), " end before they begin");
      if (t.end - t.begin != nbytes)
        throw_error(path(), where, ": ", st_dtype_name(t.type), " ", t.shape_str(), " needs ", nbytes,
                    " bytes but data_offsets ", offs->dump(), " span ", t.end - t.begin);
      if (t.end > data_size)
        throw_error(path(), where, ": data_offsets ", offs->dump(), " extend past the end of the file (",
                    data_size, " data bytes)");
      t.data = file_.data() + data_offset_ + t.begin;
      index_.emplace(t.name, tensors_.size());
      tensors_.push_back(std::move(t));
    }

    // The tensors must tile the data section exactly.
    std::vector<const st_tensor_info*> order;
    for (const auto& t : tensors_) order.push_back(&t);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) {
      return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    std::uint64_t expect = 0;
    for (const auto* t : order) {
      if (t->begin != expect)
        throw_error(path(), "tensor '", t->name, "' starts at data offset ", t->begin, " but the previous tensor ",
                    (t->begin < expect ? "overlaps it (ends at " : "ends at "), expect,
                    (t->begin < expect ? ")" : " (a hole)"));
      expect = t->end;
    }
    if (expect != data_size)
      throw_error(path(), "tensors cover ", expect, " data bytes but the file has ", data_size,
                  " after the header");
  }

  mapped_file file_;
  std::uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, std::string>> metadata_;
  std::vector<st_tensor_info> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace sysout::io

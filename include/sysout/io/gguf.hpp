// GGUF v2/v3 reader (llama.cpp's model file format, gguf.md in ggml's docs)
// over a memory-mapped file. Layout (little-endian):
//   "GGUF" u32 version, u64 n_tensors, u64 n_kv,
//   n_kv x { string key, u32 value_type, value },
//   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset },
//   padding to general.alignment (default 32), tensor data (offsets relative to it).
// A string is u64 length + bytes (no terminator); an array is u32 elem type +
// u64 count + elements (arrays may nest).
//
// Nothing read from the file is trusted: every count and length is checked
// against the bytes that remain before anything is read or allocated (so an
// element count larger than the rest of the file is an error, not a 2^60-byte
// vector), nesting depth is capped, dims are checked for overflow, and every
// tensor's [offset, offset + nbytes) must lie inside the file. Errors are
// sysout::error "<file>: metadata key 'k' ..." / "<file>: tensor 'name' ...".
//
// Strings and arrays are views into the mapping: they live as long as the
// gguf_file (which is move-only and keeps the mapping alive).
#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "sysout/core/error.hpp"
#include "sysout/core/tensor.hpp"
#include "sysout/core/tensor_view.hpp"
#include "sysout/io/ggml_quants.hpp"
#include "sysout/io/ggml_types.hpp"
#include "sysout/io/mapped_file.hpp"

namespace sysout::io {

// GGUF metadata value types (gguf_type in ggml).
enum class gguf_type : std::uint32_t {
  u8 = 0,
  i8 = 1,
  u16 = 2,
  i16 = 3,
  u32 = 4,
  i32 = 5,
  f32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  u64 = 10,
  i64 = 11,
  f64 = 12,
};

constexpr std::string_view gguf_type_name(gguf_type t) noexcept {
  switch (t) {
    case gguf_type::u8: return "u8";
    case gguf_type::i8: return "i8";
    case gguf_type::u16: return "u16";
    case gguf_type::i16: return "i16";
    case gguf_type::u32: return "u32";
    case gguf_type::i32: return "i32";
    case gguf_type::f32: return "f32";
    case gguf_type::boolean: return "bool";
    case gguf_type::string: return "string";
    case gguf_type::array: return "array";
    case gguf_type::u64: return "u64";
    case gguf_type::i64: return "i64";
    case gguf_type::f64: return "f64";
  }
  return "?";
}

// Bytes of a fixed-size value; 0 for string, array and unknown ids.
constexpr std::size_t gguf_scalar_size(gguf_type t) noexcept {
  switch (t) {
    case gguf_type::u8: case gguf_type::i8: case gguf_type::boolean: return 1;
    case gguf_type::u16: case gguf_type::i16: return 2;
    case gguf_type::u32: case gguf_type::i32: case gguf_type::f32: return 4;
    case gguf_type::u64: case gguf_type::i64: case gguf_type::f64: return 8;
    default: return 0;
  }
}
constexpr bool gguf_is_integer(gguf_type t) noexcept {
  switch (t) {
    case gguf_type::u8: case gguf_type::i8: case gguf_type::u16: case gguf_type::i16:
    case gguf_type::u32: case gguf_type::i32: case gguf_type::u64: case gguf_type::i64: return true;
    default: return false;
  }
}
constexpr bool gguf_is_signed(gguf_type t) noexcept {
  return t == gguf_type::i8 || t == gguf_type::i16 || t == gguf_type::i32 || t == gguf_type::i64;
}

// One metadata value. Scalars are decoded; strings and arrays point into the file.
struct gguf_value {
  gguf_type type = gguf_type::u8;

  // Scalars: integers in u (unsigned types) or i (signed types), floats in f, bool in b.
  std::uint64_t u = 0;
  std::int64_t i = 0;
  double f = 0.0;
  bool b = false;
  std::string_view str;  // type == string

  // type == array
  gguf_type elem_type = gguf_type::u8;
  std::uint64_t count = 0;
  const std::byte* elems = nullptr;      // fixed-size elements: raw little-endian data in the file
  std::vector<std::string_view> strings;  // elem_type == string
  std::vector<gguf_value> items;          // elem_type == array (nested arrays)

  bool is_array() const noexcept { return type == gguf_type::array; }
  // "u32", "string", "array[f32; 49152]", "array[array; 2]".
  std::string type_str() const {
    if (!is_array()) return std::string(gguf_type_name(type));
    return detail::concat("array[", gguf_type_name(elem_type), "; ", count, "]");
  }

  // Fixed-size element k of an array as double / int64 (checked index).
  double elem_as_double(std::uint64_t k) const {
    check_elem(k);
    const std::byte* p = elems + k * gguf_scalar_size(elem_type);
    return decode_scalar_double(elem_type, p);
  }
  std::int64_t elem_as_int64(std::uint64_t k) const {
    check_elem(k);
    const std::byte* p = elems + k * gguf_scalar_size(elem_type);
    if (elem_type == gguf_type::u64) {
      std::uint64_t v;
      std::memcpy(&v, p, 8);
      if (v > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
        throw_error("gguf_value", "element ", k, " = ", v, " does not fit in int64");
      return std::int64_t(v);
    }
    return std::int64_t(decode_scalar_double(elem_type, p));  // exact for all types but u64/i64
  }

  static double decode_scalar_double(gguf_type t, const std::byte* p) noexcept {
    switch (t) {
      case gguf_type::u8: return double(std::to_integer<std::uint8_t>(p[0]));
      case gguf_type::i8: return double(std::int8_t(std::to_integer<std::uint8_t>(p[0])));
      case gguf_type::boolean: return p[0] != std::byte{0} ? 1.0 : 0.0;
      case gguf_type::u16: { std::uint16_t v; std::memcpy(&v, p, 2); return v; }
      case gguf_type::i16: { std::int16_t v; std::memcpy(&v, p, 2); return v; }
      case gguf_type::u32: { std::uint32_t v; std::memcpy(&v, p, 4); return v; }
      case gguf_type::i32: { std::int32_t v; std::memcpy(&v, p, 4); return v; }
      case gguf_type::f32: { float v; std::memcpy(&v, p, 4); return v; }
      case gguf_type::u64: { std::uint64_t v; std::memcpy(&v, p, 8); return double(v); }
      case gguf_type::i64: { std::int64_t v; std::memcpy(&v, p, 8); return double(v); }
      case gguf_type::f64: { double v; std::memcpy(&v, p, 8); return v; }
      default: return 0.0;
    }
  }

  // Short human-readable rendering; arrays show their first `max_items` elements.
  std::string to_string(std::size_t max_items = 8) const {
    std::ostringstream os;
    switch (type) {
      case gguf_type::string: os << '"' << escape(str) << '"'; break;
      case gguf_type::boolean: os << (b ? "true" : "false"); break;
      case gguf_type::f32: case gguf_type::f64: os << f; break;
      case gguf_type::array: {
        os << '[';
        const std::uint64_t shown = count < max_items ? count : max_items;
        for (std::uint64_t k = 0; k < shown; ++k) {
          if (k) os << ", ";
          if (elem_type == gguf_type::string) os << '"' << escape(strings[k]) << '"';
          else if (elem_type == gguf_type::array) os << items[k].to_string(max_items);
          else if (elem_type == gguf_type::f32 || elem_type == gguf_type::f64) os << elem_as_double(k);
          else if (elem_type == gguf_type::boolean) os << (elem_as_double(k) != 0 ? "true" : "false");
          else if (elem_type == gguf_type::u64) { std::uint64_t v; std::memcpy(&v, elems + 8 * k, 8); os << v; }
          else if (elem_type == gguf_type::i64) { std::int64_t v; std::memcpy(&v, elems + 8 * k, 8); os << v; }
          else os << std::int64_t(elem_as_double(k));
        }
        if (shown < count) os << ", ... (" << count << " total)";
        os << ']';
        break;
      }
      default:
        if (gguf_is_signed(type)) os << i;
        else os << u;
    }
    return os.str();
  }

  static std::string escape(std::string_view s, std::size_t max_len = 80) {
    std::string r;
    for (std::size_t k = 0; k < s.size() && k < max_len; ++k) {
      const unsigned char c = static_cast<unsigned char>(s[k]);
      if (c == '\n') r += "\\n";
      else if (c == '\t') r += "\\t";
      else if (c == '"' || c == '\\') { r += '\\'; r += char(c); }
      else if (c < 0x20 || c == 0x7f) { char buf[8]; std::snprintf(buf, sizeof buf, "\\x%02x", c); r += buf; }
      else r += char(c);
    }
    if (s.size() > max_len) r += "...";
    return r;
  }

 private:
  void check_elem(std::uint64_t k) const {
    if (!is_array() || gguf_scalar_size(elem_type) == 0)
      throw_error("gguf_value", "not an array of fixed-size elements (", type_str(), ")");
    if (k >= count) throw_error("gguf_value", "element ", k, " out of range (", count, " elements)");
  }
};

struct gguf_kv {
  std::string key;
  gguf_value value;
};

// One tensor of the file. ne is in ggml order: ne[0] is the contiguous (row)
// dimension, so a [n_rows, n_cols] row-major matrix has ne = {n_cols, n_rows, 1, 1}.
struct gguf_tensor_info {
  std::string name;
  ggml_type type = ggml_type::f32;
  int n_dims = 0;
  std::array<std::int64_t, 4> ne{1, 1, 1, 1};  // unused dims are 1
  std::uint64_t offset = 0;                     // relative to the data section
  const std::byte* data = nullptr;              // into the mapping
  std::uint64_t nbytes = 0;

  std::int64_t n_elements() const noexcept { return ne[0] * ne[1] * ne[2] * ne[3]; }
  std::int64_t n_rows() const noexcept { return ne[1] * ne[2] * ne[3]; }
  std::int64_t row_bytes() const { return row_size(type, ne[0]); }
  // Start of row r (r in [0, n_rows)), unchecked.
  const std::byte* row(std::int64_t r) const noexcept { return data + r * row_bytes(); }
  // Row-major shape: ne reversed over n_dims, e.g. {ne1, ne0} for a matrix.
  extents shape() const {
    extents s;
    s.rank = n_dims;
    for (int k = 0; k < n_dims; ++k) s[k] = ne[std::size_t(n_dims - 1 - k)];
    return s;
  }
  // "[576, 49152]" in ggml order (what gguf-dump prints).
  std::string ne_str() const {
    std::ostringstream os;
    os << '[';
    for (int k = 0; k < n_dims; ++k) os << (k ? ", " : "") << ne[std::size_t(k)];
    os << ']';
    return os.str();
  }
};

// ggml_type -> sysout dtype for the plain (non-block) types a tensor_view can carry.
inline std::optional<dtype> dtype_of_ggml(ggml_type t) noexcept {
  switch (t) {
    case ggml_type::f32: return dtype::f32;
    case ggml_type::f16: return dtype::f16;
    case ggml_type::bf16: return dtype::bf16;
    case ggml_type::f64: return dtype::f64;
    case ggml_type::i8: return dtype::i8;
    case ggml_type::i32: return dtype::i32;
    case ggml_type::i64: return dtype::i64;
    default: return std::nullopt;
  }
}

class gguf_file {
 public:
  static constexpr std::uint32_t default_alignment = 32;
  static constexpr int max_dims = 4;         // GGML_MAX_DIMS
  static constexpr int max_array_depth = 8;  // nested arrays deeper than this are rejected
  static constexpr std::size_t max_name_bytes = 65535;  // keys (gguf.md) and tensor names

  explicit gguf_file(const std::filesystem::path& path) : gguf_file(mapped_file(path)) {}
  explicit gguf_file(mapped_file file) : file_(std::move(file)) { parse(); }

  gguf_file(gguf_file&&) noexcept = default;
  gguf_file& operator=(gguf_file&&) noexcept = default;

  const std::string& path() const noexcept { return file_.path(); }
  const mapped_file& file() const noexcept { return file_; }
  std::uint32_t version() const noexcept { return version_; }
  std::uint32_t alignment() const noexcept { return alignment_; }
  std::uint64_t data_offset() const noexcept { return data_offset_; }

  // ---- metadata ----
  const std::vector<gguf_kv>& metadata() const noexcept { return kv_; }
  bool has(std::string_view key) const { return find(key) != nullptr; }
  const gguf_value* find(std::string_view key) const {
    auto it = kv_index_.find(std::string(key));
    return it == kv_index_.end() ? nullptr : &kv_[it->second].value;
  }
  const gguf_value& get(std::string_view key) const {
    const gguf_value* v = find(key);
    if (!v) throw_error(path(), "metadata key '", key, "' is absent");
    return *v;
  }

  // Integer getters accept any integer-typed value that fits the requested type.
  std::uint32_t get_u32(std::string_view key) const { return get_int<std::uint32_t>(key, get(key)); }
  std::int32_t get_i32(std::string_view key) const { return get_int<std::int32_t>(key, get(key)); }
  std::uint64_t get_u64(std::string_view key) const { return get_int<std::uint64_t>(key, get(key)); }
  std::int64_t get_i64(std::string_view key) const { return get_int<std::int64_t>(key, get(key)); }
  // Float getters accept f32 and f64.
  float get_f32(std::string_view key) const { return float(get_float(key, get(key))); }
  double get_f64(std::string_view key) const { return get_float(key, get(key)); }
  bool get_bool(std::string_view key) const {
    const gguf_value& v = get(key);
    if (v.type != gguf_type::boolean) type_mismatch(key, v, "bool");
    return v.b;
  }
  std::string get_string(std::string_view key) const { return std::string(get_string_view(key)); }
  std::string_view get_string_view(std::string_view key) const {
    const gguf_value& v = get(key);
    if (v.type != gguf_type::string) type_mismatch(key, v, "string");
    return v.str;
  }
  // Arrays. Views point into the file; the vector-returning getters copy.
  const std::vector<std::string_view>& get_str_array_view(std::string_view key) const {
    const gguf_value& v = get(key);
    if (!v.is_array() || v.elem_type != gguf_type::string) type_mismatch(key, v, "array[string]");
    return v.strings;
  }
  std::vector<std::string> get_str_array(std::string_view key) const {
    const auto& s = get_str_array_view(key);
    return std::vector<std::string>(s.begin(), s.end());
  }
  std::vector<float> get_f32_array(std::string_view key) const {
    const gguf_value& v = get(key);
    if (!v.is_array() || (v.elem_type != gguf_type::f32 && v.elem_type != gguf_type::f64))
      type_mismatch(key, v, "array[f32]");
    std::vector<float> r(std::size_t(v.count));
    for (std::uint64_t k = 0; k < v.count; ++k) r[std::size_t(k)] = float(v.elem_as_double(k));
    return r;
  }
  std::vector<std::int32_t> get_i32_array(std::string_view key) const { return get_int_array<std::int32_t>(key); }
  std::vector<std::int64_t> get_i64_array(std::string_view key) const { return get_int_array<std::int64_t>(key); }
  std::vector<std::uint32_t> get_u32_array(std::string_view key) const {
    return get_int_array<std::uint32_t>(key);
  }

  // Optional variants: nullopt when the key is absent, an error when present with the wrong type.
  std::optional<std::uint32_t> find_u32(std::string_view key) const { return opt(key, &gguf_file::get_u32); }
  std::optional<std::int32_t> find_i32(std::string_view key) const { return opt(key, &gguf_file::get_i32); }
  std::optional<std::uint64_t> find_u64(std::string_view key) const { return opt(key, &gguf_file::get_u64); }
  std::optional<std::int64_t> find_i64(std::string_view key) const { return opt(key, &gguf_file::get_i64); }
  std::optional<float> find_f32(std::string_view key) const { return opt(key, &gguf_file::get_f32); }
  std::optional<double> find_f64(std::string_view key) const { return opt(key, &gguf_file::get_f64); }
  std::optional<bool> find_bool(std::string_view key) const { return opt(key, &gguf_file::get_bool); }
  std::optional<std::string> find_string(std::string_view key) const { return opt(key, &gguf_file::get_string); }
  std::optional<std::vector<std::string>> find_str_array(std::string_view key) const {
    return opt(key, &gguf_file::get_str_array);
  }
  std::optional<std::vector<float>> find_f32_array(std::string_view key) const {
    return opt(key, &gguf_file::get_f32_array);
  }
  std::optional<std::vector<std::int32_t>> find_i32_array(std::string_view key) const {
    return opt(key, &gguf_file::get_i32_array);
  }

  // general.architecture ("llama", "gemma3", ...) and "<arch>.<suffix>" keys.
  std::string architecture() const { return get_string("general.architecture"); }
  std::string arch_key(std::string_view suffix) const {
    return detail::concat(get_string_view("general.architecture"), '.', suffix);
  }

  // ---- tensors ----
  const std::vector<gguf_tensor_info>& tensors() const noexcept { return tensors_; }
  const gguf_tensor_info* find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(std::string(name));
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
  }
  const gguf_tensor_info& tensor(std::string_view name) const {
    const gguf_tensor_info* t = find_tensor(name);
    if (!t) throw_error(path(), "tensor '", name, "' is absent (the file has ", tensors_.size(), " tensors)");
    return *t;
  }
  // Read-only view of a plain-typed tensor (f32, f16, bf16, f64, i8, i32, i64),
  // shape reversed to row-major ([ne1, ne0] for a matrix). Block-quantized
  // tensors have no element view: dequantize them (dequantize_ref / dequantize).
  tensor_view view(std::string_view name) const { return view(tensor(name)); }
  tensor_view view(const gguf_tensor_info& t) const {
    const auto dt = dtype_of_ggml(t.type);
    if (!dt)
      throw_error(path(), "tensor '", t.name, "' is ", type_name(t.type),
                  ", which has no element view; dequantize it to f32 instead");
    return tensor_view(static_cast<const void*>(t.data), *dt, t.shape(), layout::row_major, t.name);
  }

 private:
  // Reading cursor: every read is bounds-checked against the file. Messages
  // ("<where> element <k> (<what>)") are built only when a check fails, so the
  // 262k-string vocabularies parse without formatting a string per element.
  static constexpr std::uint64_t no_elem = ~std::uint64_t{0};
  struct cursor {
    const mapped_file& f;
    std::uint64_t pos = 0;
    std::uint64_t remaining() const noexcept { return f.size() - pos; }
    [[noreturn]] void fail(std::uint64_t len, const std::string& where, const char* what, std::uint64_t elem) const {
      throw_error(f.path(), where, (elem != no_elem ? detail::concat(" element ", elem) : std::string()),
                  (what ? detail::concat(" (", what, ")") : std::string()), ": needs ", len, " bytes at offset ",
                  pos, " but the file has ", f.size(), " bytes (truncated or corrupt)");
    }
    template <class T>
    T read(const std::string& where, const char* what = nullptr, std::uint64_t elem = no_elem) {
      if (!f.in_bounds(pos, sizeof(T))) fail(sizeof(T), where, what, elem);
      T v;
      std::memcpy(&v, f.data() + pos, sizeof(T));
      pos += sizeof(T);
      return v;
    }
    std::string_view read_string(const std::string& where, const char* what = nullptr,
                                 std::uint64_t elem = no_elem) {
      const auto n = read<std::uint64_t>(where, what ? what : "string length", elem);
      if (!f.in_bounds(pos, n)) fail(n, where, what ? what : "string bytes", elem);
      const std::byte* p = f.data() + pos;
      pos += n;
      return std::string_view(reinterpret_cast<const char*>(p), std::size_t(n));
    }
  };

  std::string key_where(std::string_view key) const { return detail::concat("metadata key '", key, "'"); }

  [[noreturn]] void type_mismatch(std::string_view key, const gguf_value& v, std::string_view expected) const {
    throw_error(path(), key_where(key), " is ", v.type_str(), (v.is_array() ? "" : " = " + v.to_string(4)),
                ", expected ", expected);
  }

  template <class T>
  T get_int(std::string_view key, const gguf_value& v) const {
    constexpr const char* tname = std::is_same_v<T, std::uint32_t>   ? "u32"
                                  : std::is_same_v<T, std::int32_t>  ? "i32"
                                  : std::is_same_v<T, std::uint64_t> ? "u64"
                                                                     : "i64";
    if (!gguf_is_integer(v.type)) type_mismatch(key, v, tname);
    if (gguf_is_signed(v.type)) {
      if (v.i < 0 && std::is_unsigned_v<T>) type_mismatch(key, v, tname);
      if (v.i >= 0 && std::uint64_t(v.i) > std::uint64_t(std::numeric_limits<T>::max()))
        type_mismatch(key, v, tname);
      if constexpr (std::is_signed_v<T>)
        if (v.i < std::int64_t(std::numeric_limits<T>::min())) type_mismatch(key, v, tname);
      return T(v.i);
    }
    if (v.u > std::uint64_t(std::numeric_limits<T>::max())) type_mismatch(key, v, tname);
    return T(v.u);
  }
  double get_float(std::string_view key, const gguf_value& v) const {
    if (v.type != gguf_type::f32 && v.type != gguf_type::f64) type_mismatch(key, v, "f32 or f64");
    return v.f;
  }
  template <class T>
  std::vector<T> get_int_array(std::string_view key) const {
    const gguf_value& v = get(key);
    if (!v.is_array() || !gguf_is_integer(v.elem_type))
      type_mismatch(key, v, detail::concat("array of integers"));
    std::vector<T> r(std::size_t(v.count));
    for (std::uint64_t k = 0; k < v.count; ++k) {
      const std::byte* p = v.elems + k * gguf_scalar_size(v.elem_type);
      bool ok = true;
      T out{};
      if (v.elem_type == gguf_type::u64) {
        std::uint64_t x;
        std::memcpy(&x, p, 8);
        ok = x <= std::uint64_t(std::numeric_limits<T>::max());
        out = T(x);
      } else {
        std::int64_t x;
        if (v.elem_type == gguf_type::i64) std::memcpy(&x, p, 8);
        else x = std::int64_t(gguf_value::decode_scalar_double(v.elem_type, p));
        if constexpr (std::is_unsigned_v<T>) ok = x >= 0 && std::uint64_t(x) <= std::numeric_limits<T>::max();
        else ok = x >= std::numeric_limits<T>::min() && x <= std::numeric_limits<T>::max();
        out = T(x);
      }
      if (!ok)
        throw_error(path(), key_where(key), " (", v.type_str(), "): element ", k,
                    " does not fit the requested integer type");
      r[std::size_t(k)] = out;
    }
    return r;
  }
  template <class R>
  std::optional<R> opt(std::string_view key, R (gguf_file::*getter)(std::string_view) const) const {
    if (!has(key)) return std::nullopt;
    return (this->*getter)(key);
  }

  // Reads one value of type t; `where` names the key for messages.
  gguf_value read_value(cursor& c, gguf_type t, const std::string& where, int depth) {
    gguf_value v;
    v.type = t;
    switch (t) {
      case gguf_type::u8: v.u = c.read<std::uint8_t>(where); break;
      case gguf_type::i8: v.i = c.read<std::int8_t>(where); break;
      case gguf_type::u16: v.u = c.read<std::uint16_t>(where); break;
      case gguf_type::i16: v.i = c.read<std::int16_t>(where); break;
      case gguf_type::u32: v.u = c.read<std::uint32_t>(where); break;
      case gguf_type::i32: v.i = c.read<std::int32_t>(where); break;
      case gguf_type::u64: v.u = c.read<std::uint64_t>(where); break;
      case gguf_type::i64: v.i = c.read<std::int64_t>(where); break;
      case gguf_type::f32: v.f = c.read<float>(where); break;
      case gguf_type::f64: v.f = c.read<double>(where); break;
      case gguf_type::boolean: {
        const auto x = c.read<std::uint8_t>(where);
        if (x > 1) throw_error(path(), where, ": bool value ", unsigned(x), " is neither 0 nor 1");
        v.b = x != 0;
        v.u = x;
        break;
      }
      case gguf_type::string: v.str = c.read_string(where); break;
      case gguf_type::array: {
        if (depth >= max_array_depth)
          throw_error(path(), where, ": arrays nested deeper than ", max_array_depth, " levels");
        const auto et_raw = c.read<std::uint32_t>(where, "array element type");
        if (et_raw > std::uint32_t(gguf_type::f64))
          throw_error(path(), where, ": array element type id ", et_raw, " is not a GGUF value type");
        v.elem_type = gguf_type(et_raw);
        v.count = c.read<std::uint64_t>(where, "array count");
        // Smallest encoding of one element; bounds the count before anything is allocated.
        const std::size_t fixed = gguf_scalar_size(v.elem_type);
        const std::uint64_t min_elem = fixed ? fixed : (v.elem_type == gguf_type::string ? 8 : 12);
        if (v.count > c.remaining() / min_elem)
          throw_error(path(), where, ": array of ", v.count, " ", gguf_type_name(v.elem_type),
                      " elements needs at least ", min_elem, " bytes each, but only ", c.remaining(),
                      " bytes remain (truncated or corrupt)");
        if (fixed) {
          v.elems = c.f.at(c.pos, v.count * fixed, where);
          if (v.elem_type == gguf_type::boolean)
            for (std::uint64_t k = 0; k < v.count; ++k)
              if (std::to_integer<unsigned>(v.elems[k]) > 1)
                throw_error(path(), where, ": bool element ", k, " is neither 0 nor 1");
          c.pos += v.count * fixed;
        } else if (v.elem_type == gguf_type::string) {
          // No reserve: memory grows only with elements actually present in the file.
          for (std::uint64_t k = 0; k < v.count; ++k) v.strings.push_back(c.read_string(where, nullptr, k));
        } else {
          for (std::uint64_t k = 0; k < v.count; ++k) {
            const std::string w = detail::concat(where, " element ", k);
            v.items.push_back(read_value(c, gguf_type::array, w, depth + 1));
          }
        }
        break;
      }
      default:
        throw_error(path(), where, ": value type id ", std::uint32_t(t), " is not a GGUF value type");
    }
    return v;
  }

  void parse() {
    cursor c{file_};
    if (file_.size() < 4) throw_error(path(), "not a GGUF file: ", file_.size(), " bytes, too short for the magic");
    const auto magic = c.read<std::uint32_t>("header", "magic");
    if (magic == 0x47475546u) throw_error(path(), "big-endian GGUF files are not supported");
    if (magic != 0x46554747u) throw_error(path(), "not a GGUF file: magic is not \"GGUF\"");
    version_ = c.read<std::uint32_t>("header", "version");
    if (version_ == 1) throw_error(path(), "GGUF version 1 is not supported (only 2 and 3)");
    if (version_ != 2 && version_ != 3)
      throw_error(path(), "GGUF version ", version_, " is not supported (only 2 and 3)");
    const auto n_tensors = c.read<std::uint64_t>("header", "tensor count");
    const auto n_kv = c.read<std::uint64_t>("header", "metadata count");
    // Each kv needs >= 13 bytes (key length, type, 1-byte value); each tensor info >= 24.
    if (n_kv > c.remaining() / 13)
      throw_error(path(), "header: metadata count ", n_kv, " cannot fit in the ", c.remaining(),
                  " bytes that remain (truncated or corrupt)");
    if (n_tensors > c.remaining() / 24)
      throw_error(path(), "header: tensor count ", n_tensors, " cannot fit in the ", c.remaining(),
                  " bytes that remain (truncated or corrupt)");

    // Reserve at most what a small header needs: the counts are not trusted yet.
    kv_.reserve(std::size_t(std::min<std::uint64_t>(n_kv, 256)));
    for (std::uint64_t k = 0; k < n_kv; ++k) {
      const std::string_view key = c.read_string("metadata entry", "key", k);
      if (key.size() > max_name_bytes)
        throw_error(path(), "metadata entry ", k, ": key of ", key.size(), " bytes exceeds the format's ",
                    max_name_bytes);
      const std::string where = key_where(key);
      const auto t_raw = c.read<std::uint32_t>(where, "value type");
      if (t_raw > std::uint32_t(gguf_type::f64))
        throw_error(path(), where, ": value type id ", t_raw, " is not a GGUF value type");
      gguf_kv kv{std::string(key), read_value(c, gguf_type(t_raw), where, 0)};
      if (!kv_index_.emplace(kv.key, kv_.size()).second) throw_error(path(), where, " appears twice");
      kv_.push_back(std::move(kv));
    }

    if (const gguf_value* a = find("general.alignment")) {
      if (a->type != gguf_type::u32) type_mismatch("general.alignment", *a, "u32");
      if (a->u == 0 || (a->u & (a->u - 1)) != 0)
        throw_error(path(), "metadata key 'general.alignment' = ", a->u, " is not a power of two");
      alignment_ = std::uint32_t(a->u);
    }

    tensors_.reserve(std::size_t(std::min<std::uint64_t>(n_tensors, 1024)));
    for (std::uint64_t k = 0; k < n_tensors; ++k) {
      gguf_tensor_info t;
      const std::string_view name = c.read_string("tensor info", "name", k);
      if (name.size() > max_name_bytes)
        throw_error(path(), "tensor info ", k, ": name of ", name.size(), " bytes exceeds ", max_name_bytes);
      t.name = std::string(name);
      const std::string where = detail::concat("tensor '", t.name, "'");
      const auto n_dims = c.read<std::uint32_t>(where, "n_dims");
      if (n_dims > std::uint32_t(max_dims))
        throw_error(path(), where, ": n_dims = ", n_dims, " exceeds ", max_dims);
      t.n_dims = int(n_dims);
      for (int d = 0; d < t.n_dims; ++d) {
        const auto ne = c.read<std::uint64_t>(where, "dims");
        if (ne > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
          throw_error(path(), where, ": dimension ", d, " = ", ne, " overflows int64");
        t.ne[std::size_t(d)] = std::int64_t(ne);
      }
      const auto type_raw = c.read<std::uint32_t>(where, "type");
      t.type = ggml_type(type_raw);
      if (!is_known(t.type)) throw_error(path(), where, ": ", type_name(t.type), " is not a ggml type");
      t.offset = c.read<std::uint64_t>(where, "offset");

      // Element count and byte size, overflow-checked.
      std::int64_t nel = 1;
      for (int d = 0; d < max_dims; ++d) {
        const std::int64_t ne = t.ne[std::size_t(d)];
        if (ne != 0 && nel > std::numeric_limits<std::int64_t>::max() / ne)
          throw_error(path(), where, ": shape ", t.ne_str(), " overflows int64 elements");
        nel *= ne;
      }
      const std::int64_t bs = block_size(t.type);
      if (t.ne[0] % bs != 0)
        throw_error(path(), where, ": ne[0] = ", t.ne[0], " is not a multiple of the ", type_name(t.type),
                    " block size ", bs);
      if (t.ne[0] / bs > std::numeric_limits<std::int64_t>::max() / type_size(t.type))
        throw_error(path(), where, ": shape ", t.ne_str(), " overflows int64 bytes");
      const std::int64_t row_bytes = (t.ne[0] / bs) * type_size(t.type);
      const std::int64_t rows = nel == 0 ? 0 : nel / t.ne[0];
      if (rows != 0 && row_bytes > std::numeric_limits<std::int64_t>::max() / rows)
        throw_error(path(), where, ": shape ", t.ne_str(), " overflows int64 bytes");
      t.nbytes = std::uint64_t(row_bytes * rows);
      if (!tensor_index_.emplace(t.name, tensors_.size()).second) throw_error(path(), where, " appears twice");
      tensors_.push_back(std::move(t));
    }

    // Data section: aligned end of the header.
    const std::uint64_t pad = (alignment_ - c.pos % alignment_) % alignment_;
    data_offset_ = c.pos + pad;
    for (auto& t : tensors_) {
      const std::string where = detail::concat("tensor '", t.name, "'");
      if (t.offset % alignment_ != 0)
        throw_error(path(), where, ": offset ", t.offset, " is not a multiple of the alignment ", alignment_);
      if (!file_.in_bounds(data_offset_, 0) || !file_.in_bounds(data_offset_ + 0, t.offset) ||
          !file_.in_bounds(data_offset_ + t.offset, t.nbytes))
        throw_error(path(), where, " (", type_name(t.type), " ", t.ne_str(), ", ", t.nbytes,
                    " bytes at data offset ", t.offset, ") extends past the end of the file (",
                    file_.size(), " bytes; data section starts at ", data_offset_, ")");
      t.data = file_.data() + data_offset_ + t.offset;
    }
  }

  mapped_file file_;
  std::uint32_t version_ = 0;
  std::uint32_t alignment_ = default_alignment;
  std::uint64_t data_offset_ = 0;
  std::vector<gguf_kv> kv_;
  std::unordered_map<std::string, std::size_t> kv_index_;
  std::vector<gguf_tensor_info> tensors_;
  std::unordered_map<std::string, std::size_t> tensor_index_;
};

// ---- dequantization of whole tensors / row ranges ----
// Checks once, then converts row by row with `row_fn(type, src, dst, n)`: the
// scalar reference here, the Highway kernels in io/ggml_quants_highway.hpp.

template <class RowFn>
void dequantize_rows_with(const gguf_tensor_info& t, std::int64_t row_begin, std::int64_t n_rows, float* dst,
                          RowFn&& row_fn) {
  if (row_begin < 0 || n_rows < 0 || row_begin + n_rows > t.n_rows())
    throw_error("tensor '" + t.name + "'", "rows [", row_begin, ", ", row_begin + n_rows, ") out of range (",
                t.n_rows(), " rows)");
  check_dequantize_args(t.type, t.ne[0], ("tensor '" + t.name + "'").c_str());
  for (std::int64_t r = 0; r < n_rows; ++r) row_fn(t.type, t.row(row_begin + r), dst + r * t.ne[0], t.ne[0]);
}

template <class RowFn>
tensor<float> dequantize_with(const gguf_tensor_info& t, RowFn&& row_fn) {
  check_dequantize_args(t.type, t.ne[0], ("tensor '" + t.name + "'").c_str());
  tensor<float> out(t.shape());
  dequantize_rows_with(t, 0, t.n_rows(), out.data(), row_fn);
  return out;
}

// Rows [row_begin, row_begin + n_rows) of t into dst (n_rows * ne[0] floats), scalar reference.
inline void dequantize_rows_ref(const gguf_tensor_info& t, std::int64_t row_begin, std::int64_t n_rows,
                                float* dst) {
  dequantize_rows_with(t, row_begin, n_rows, dst,
                       [](ggml_type ty, const void* src, float* d, std::int64_t n) { dequantize_row_ref(ty, src, d, n); });
}

// Whole tensor as an owning f32 tensor of shape t.shape(), scalar reference.
inline tensor<float> dequantize_ref(const gguf_tensor_info& t) {
  return dequantize_with(t, [](ggml_type ty, const void* src, float* d, std::int64_t n) { dequantize_row_ref(ty, src, d, n); });
}

}  // namespace sysout::io

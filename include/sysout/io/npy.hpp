// NPY (numpy .npy, format version 1.0) writer and reader.
//
// Writer: write_npy(path, view) writes any tensor_view of f32/f64/f16/i8/i32/i64
// (bf16 has no numpy dtype: it is widened to f32 and the header says '<f4'),
// and write_npy(path, ptr, shape) takes raw pointers including std::uint8_t.
// Data is written in C (row-major) order whatever the view's strides; the file
// appears atomically (written to "<path>.tmp" then renamed), so a reader never
// sees a partial file.
//
// Reader: read_npy(path) validates before it trusts: magic, version (1.0, 2.0
// and 3.0 headers are accepted), header length, the header dictionary
// ('descr', 'fortran_order', 'shape'), little-endian dtypes only, and that the
// file holds exactly prod(shape) * itemsize bytes of data. Errors name the file
// and say what was expected and what was found.
#pragma once
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "sysout/core/error.hpp"
#include "sysout/core/half.hpp"
#include "sysout/core/tensor_view.hpp"

namespace sysout {

enum class npy_dtype : std::uint8_t { f32, f64, f16, i8, u8, i32, i64 };

constexpr std::size_t npy_itemsize(npy_dtype t) noexcept {
  switch (t) {
    case npy_dtype::f32: return 4;
    case npy_dtype::f64: return 8;
    case npy_dtype::f16: return 2;
    case npy_dtype::i8: return 1;
    case npy_dtype::u8: return 1;
    case npy_dtype::i32: return 4;
    case npy_dtype::i64: return 8;
  }
  return 0;
}
constexpr const char* npy_descr(npy_dtype t) noexcept {
  switch (t) {
    case npy_dtype::f32: return "<f4";
    case npy_dtype::f64: return "<f8";
    case npy_dtype::f16: return "<f2";
    case npy_dtype::i8: return "|i1";
    case npy_dtype::u8: return "|u1";
    case npy_dtype::i32: return "<i4";
    case npy_dtype::i64: return "<i8";
  }
  return "?";
}

template <class T> struct npy_dtype_of;
template <> struct npy_dtype_of<float> { static constexpr npy_dtype value = npy_dtype::f32; };
template <> struct npy_dtype_of<double> { static constexpr npy_dtype value = npy_dtype::f64; };
template <> struct npy_dtype_of<f16> { static constexpr npy_dtype value = npy_dtype::f16; };
template <> struct npy_dtype_of<std::int8_t> { static constexpr npy_dtype value = npy_dtype::i8; };
template <> struct npy_dtype_of<std::uint8_t> { static constexpr npy_dtype value = npy_dtype::u8; };
template <> struct npy_dtype_of<std::int32_t> { static constexpr npy_dtype value = npy_dtype::i32; };
template <> struct npy_dtype_of<std::int64_t> { static constexpr npy_dtype value = npy_dtype::i64; };

namespace detail {

static_assert(std::endian::native == std::endian::little, "sysout NPY I/O assumes a little-endian host");

inline std::string npy_header(npy_dtype t, const std::vector<std::int64_t>& shape) {
  std::string dict = "{'descr': '";
  dict += npy_descr(t);
  dict += "', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    if (shape.size() == 1 || i + 1 < shape.size()) dict += ",";
    if (i + 1 < shape.size()) dict += " ";
  }
  dict += "), }";
  // magic(6) + version(2) + len(2) + dict + padding + '\n' is a multiple of 64.
  const std::size_t unpadded = 10 + dict.size() + 1;
  const std::size_t total = (unpadded + 63) / 64 * 64;
  if (total - 10 > 65535) throw error("npy", "header too long for format 1.0");
  dict.append(total - unpadded, ' ');
  dict += '\n';
  std::string h = "\x93NUMPY";
  h += char(1);
  h += char(0);
  const std::uint16_t len = std::uint16_t(dict.size());
  h += char(len & 0xff);
  h += char(len >> 8);
  return h + dict;
}

inline void npy_write_file(const std::string& path, const std::string& header, const void* data,
                           std::size_t bytes) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw_error(path, "cannot open '", tmp, "' for writing");
    f.write(header.data(), std::streamsize(header.size()));
    if (bytes) f.write(static_cast<const char*>(data), std::streamsize(bytes));
    f.flush();
    if (!f) {
      f.close();
      std::remove(tmp.c_str());
      throw_error(path, "write failed (", bytes, " data bytes)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw_error(path, "cannot rename '", tmp, "' into place");
  }
}

}  // namespace detail

// Raw dense row-major data.
template <class T>
void write_npy(const std::string& path, const T* data, const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (auto s : shape) {
    if (s < 0) throw_error(path, "negative extent in NPY shape");
    n *= s;
  }
  if (n > 0 && data == nullptr) throw_error(path, "null data for a non-empty NPY array");
  detail::npy_write_file(path, detail::npy_header(npy_dtype_of<T>::value, shape), data,
                         std::size_t(n) * sizeof(T));
}

// Any view, written in C order (strided and column-major views are gathered).
inline void write_npy(const std::string& path, const tensor_view& v) {
  std::vector<std::int64_t> shape(v.shape().v.begin(), v.shape().v.begin() + v.rank());
  npy_dtype t;
  switch (v.type()) {
    case dtype::f32: t = npy_dtype::f32; break;
    case dtype::f64: t = npy_dtype::f64; break;
    case dtype::f16: t = npy_dtype::f16; break;
    case dtype::bf16: t = npy_dtype::f32; break;  // numpy has no bf16: widened exactly
    case dtype::i8: t = npy_dtype::i8; break;
    case dtype::i32: t = npy_dtype::i32; break;
    case dtype::i64: t = npy_dtype::i64; break;
    default: throw_error(path, "unsupported dtype for NPY");
  }
  const std::size_t isz = npy_itemsize(t);
  std::vector<char> buf(std::size_t(v.size()) * isz);
  if (v.type() == dtype::bf16) {
    std::size_t k = 0;
    for_each_offset(v, [&](std::int64_t off) {
      std::uint16_t b;
      std::memcpy(&b, v.ptr_at(off), 2);
      const float f = bf16_to_f32(b);
      std::memcpy(buf.data() + (k++) * 4, &f, 4);
    });
  } else if (v.is_contiguous()) {
    if (!buf.empty()) std::memcpy(buf.data(), v.data(), buf.size());
  } else {
    std::size_t k = 0;
    for_each_offset(v, [&](std::int64_t off) { std::memcpy(buf.data() + (k++) * isz, v.ptr_at(off), isz); });
  }
  detail::npy_write_file(path, detail::npy_header(t, shape), buf.data(), buf.size());
}

// A loaded NPY array: owns its bytes.
struct npy_array {
  npy_dtype type = npy_dtype::f32;
  std::vector<std::int64_t> shape;
  bool fortran_order = false;
  std::vector<char> bytes;
  std::string path;

  std::int64_t size() const {
    std::int64_t n = 1;
    for (auto s : shape) n *= s;
    return n;
  }
  // Typed pointer; throws when the stored dtype differs.
  template <class T>
  const T* data() const {
    if (npy_dtype_of<T>::value != type)
      throw_error(path, "NPY dtype is ", npy_descr(type), ", requested ", npy_descr(npy_dtype_of<T>::value));
    return reinterpret_cast<const T*>(bytes.data());
  }
  // Elements converted to double in C order (fortran_order arrays are reordered).
  std::vector<double> to_double() const {
    std::vector<double> out(static_cast<std::size_t>(size()));
    std::size_t k = 0;
    if (type == npy_dtype::u8) {
      // No sysout dtype for u8: walk the same offsets on the raw bytes.
      tensor_view as_i8 = view_or_throw(false);
      for_each_offset(as_i8, [&](std::int64_t off) { out[k++] = double(std::uint8_t(bytes[std::size_t(off)])); });
      return out;
    }
    const tensor_view v = view_or_throw(true);
    for_each_offset(v, [&](std::int64_t off) { out[k++] = load_as_double(v.ptr_at(off), v.type()); });
    return out;
  }
  // A view of the data (column-major strides when fortran_order). u8 has no
  // sysout dtype: view() throws for it; use data<std::uint8_t>().
  tensor_view view() const { return view_or_throw(true); }

 private:
  tensor_view view_or_throw(bool strict) const {
    dtype t;
    switch (type) {
      case npy_dtype::f32: t = dtype::f32; break;
      case npy_dtype::f64: t = dtype::f64; break;
      case npy_dtype::f16: t = dtype::f16; break;
      case npy_dtype::i8: t = dtype::i8; break;
      case npy_dtype::i32: t = dtype::i32; break;
      case npy_dtype::i64: t = dtype::i64; break;
      case npy_dtype::u8:
        if (strict) throw_error(path, "NPY dtype |u1 has no sysout tensor_view dtype; use data<std::uint8_t>()");
        t = dtype::i8;
        break;
      default: throw_error(path, "bad dtype");
    }
    if (shape.size() > std::size_t(max_rank)) throw_error(path, "NPY rank ", shape.size(), " > ", max_rank);
    extents e(std::span<const std::int64_t>(shape.data(), shape.size()));
    return tensor_view(static_cast<const void*>(bytes.data()), t, e,
                       fortran_order ? layout::col_major : layout::row_major, path);
  }
};

namespace detail {

inline std::string npy_dict_value(const std::string& path, const std::string& dict, const std::string& key) {
  const std::string k = "'" + key + "'";
  const auto p = dict.find(k);
  if (p == std::string::npos) throw_error(path, "NPY header has no ", k, " entry: ", dict);
  auto c = dict.find(':', p + k.size());
  if (c == std::string::npos) throw_error(path, "NPY header: no ':' after ", k);
  ++c;
  while (c < dict.size() && dict[c] == ' ') ++c;
  if (c >= dict.size()) throw_error(path, "NPY header truncated after ", k);
  std::size_t e;
  if (dict[c] == '\'' || dict[c] == '"') {
    e = dict.find(dict[c], c + 1);
    if (e == std::string::npos) throw_error(path, "NPY header: unterminated string for ", k);
    return dict.substr(c + 1, e - c - 1);
  }
  if (dict[c] == '(') {
    e = dict.find(')', c);
    if (e == std::string::npos) throw_error(path, "NPY header: unterminated shape tuple");
    return dict.substr(c, e - c + 1);
  }
  e = dict.find_first_of(",}", c);
  if (e == std::string::npos) throw_error(path, "NPY header: bad value for ", k);
  return dict.substr(c, e - c);
}

}  // namespace detail

inline npy_array read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw_error(path, "cannot open NPY file");
  f.seekg(0, std::ios::end);
  const std::int64_t file_size = std::int64_t(f.tellg());
  f.seekg(0);
  char pre[10];
  if (file_size < 10 || !f.read(pre, 10)) throw_error(path, "not an NPY file: ", file_size, " bytes is too short");
  if (std::memcmp(pre, "\x93NUMPY", 6) != 0) throw_error(path, "not an NPY file: bad magic");
  const int major = static_cast<unsigned char>(pre[6]);
  std::int64_t hlen;
  std::int64_t prefix;
  if (major == 1) {
    hlen = std::int64_t(static_cast<unsigned char>(pre[8])) | (std::int64_t(static_cast<unsigned char>(pre[9])) << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    char more[2];
    if (!f.read(more, 2)) throw_error(path, "NPY header truncated");
    hlen = 0;
    const unsigned char b[4] = {static_cast<unsigned char>(pre[8]), static_cast<unsigned char>(pre[9]),
                                static_cast<unsigned char>(more[0]), static_cast<unsigned char>(more[1])};
    for (int i = 3; i >= 0; --i) hlen = (hlen << 8) | b[i];
    prefix = 12;
  } else {
    throw_error(path, "unsupported NPY format version ", major, ".", int(pre[7]));
  }
  if (prefix + hlen > file_size)
    throw_error(path, "NPY header length ", hlen, " runs past the end of the file (", file_size, " bytes)");
  std::string dict(std::size_t(hlen), '\0');
  if (!f.read(dict.data(), hlen)) throw_error(path, "NPY header truncated");

  npy_array a;
  a.path = path;
  const std::string descr = detail::npy_dict_value(path, dict, "descr");
  const npy_dtype all[] = {npy_dtype::f32, npy_dtype::f64, npy_dtype::f16, npy_dtype::i8,
                           npy_dtype::u8,  npy_dtype::i32, npy_dtype::i64};
  bool found = false;
  for (auto t : all) {
    std::string d = npy_descr(t);
    // '|' and '<' are both fine for one-byte types; '=' means native (little endian here).
    if (descr == d || (d[0] == '|' && descr == "<" + d.substr(1)) || (d[0] != '|' && descr == "=" + d.substr(1))) {
      a.type = t;
      found = true;
      break;
    }
  }
  if (!found)
    throw_error(path, "unsupported NPY dtype '", descr,
                "' (supported: <f4 <f8 <f2 |i1 |u1 <i4 <i8, little endian)");
  const std::string fo = detail::npy_dict_value(path, dict, "fortran_order");
  if (fo == "True")
    a.fortran_order = true;
  else if (fo == "False")
    a.fortran_order = false;
  else
    throw_error(path, "NPY header: fortran_order is '", fo, "'");
  const std::string sh = detail::npy_dict_value(path, dict, "shape");
  if (sh.size() < 2 || sh.front() != '(' || sh.back() != ')') throw_error(path, "NPY header: bad shape '", sh, "'");
  {
    std::size_t i = 1;
    while (i + 1 < sh.size()) {
      while (i + 1 < sh.size() && (sh[i] == ' ' || sh[i] == ',')) ++i;
      if (i + 1 >= sh.size()) break;
      std::size_t j = i;
      while (j + 1 < sh.size() && sh[j] >= '0' && sh[j] <= '9') ++j;
      if (j == i) throw_error(path, "NPY header: bad shape '", sh, "'");
      const std::string num = sh.substr(i, j - i);
      if (num.size() > 15) throw_error(path, "NPY header: extent ", num, " is too large");
      a.shape.push_back(std::stoll(num));
      i = j;
    }
  }
  std::int64_t n = 1;
  for (auto s : a.shape) {
    if (s != 0 && n > (std::int64_t(1) << 50) / s) throw_error(path, "NPY shape ", sh, " is too large");
    n *= s;
  }
  const std::int64_t want = n * std::int64_t(npy_itemsize(a.type));
  const std::int64_t have = file_size - prefix - hlen;
  if (have != want)
    throw_error(path, "NPY data size mismatch: shape ", sh, " of ", descr, " needs ", want, " bytes, file holds ",
                have);
  a.bytes.resize(std::size_t(want));
  if (want && !f.read(a.bytes.data(), want)) throw_error(path, "NPY data truncated");
  return a;
}

}  // namespace sysout

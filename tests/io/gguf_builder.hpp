// Test helper: writes small GGUF v3 files in memory, so tests can build exact
// (and exactly wrong) files without a writer in the library.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "sysout/io/gguf.hpp"

namespace sysout::testing {

struct gguf_builder {
  std::vector<std::byte> kv;       // encoded metadata entries
  std::uint64_t n_kv = 0;
  struct tensor_entry {
    std::string name;
    std::vector<std::uint64_t> ne;
    std::uint32_t type;
    std::vector<std::byte> data;
  };
  std::vector<tensor_entry> tensors;
  std::uint32_t alignment = 32;
  std::uint32_t version = 3;

  template <class T>
  static void put(std::vector<std::byte>& out, T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out.insert(out.end(), p, p + sizeof(T));
  }
  static void put_str(std::vector<std::byte>& out, std::string_view s) {
    put<std::uint64_t>(out, s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    out.insert(out.end(), p, p + s.size());
  }
  void key(std::string_view k, io::gguf_type t) {
    put_str(kv, k);
    put<std::uint32_t>(kv, std::uint32_t(t));
    ++n_kv;
  }
  template <class T>
  gguf_builder& scalar(std::string_view k, io::gguf_type t, T v) {
    key(k, t);
    put<T>(kv, v);
    return *this;
  }
  gguf_builder& str(std::string_view k, std::string_view v) {
    key(k, io::gguf_type::string);
    put_str(kv, v);
    return *this;
  }
  template <class T>
  gguf_builder& array(std::string_view k, io::gguf_type et, const std::vector<T>& v) {
    key(k, io::gguf_type::array);
    put<std::uint32_t>(kv, std::uint32_t(et));
    put<std::uint64_t>(kv, v.size());
    for (const T& x : v) put<T>(kv, x);
    return *this;
  }
  gguf_builder& str_array(std::string_view k, const std::vector<std::string>& v) {
    key(k, io::gguf_type::array);
    put<std::uint32_t>(kv, std::uint32_t(io::gguf_type::string));
    put<std::uint64_t>(kv, v.size());
    for (const auto& s : v) put_str(kv, s);
    return *this;
  }
  // Raw bytes appended after a key and type (for nested arrays and lies).
  gguf_builder& raw(std::string_view k, io::gguf_type t, const std::vector<std::byte>& bytes) {
    key(k, t);
    kv.insert(kv.end(), bytes.begin(), bytes.end());
    return *this;
  }
  gguf_builder& tensor(std::string name, std::vector<std::uint64_t> ne, io::ggml_type type,
                       std::vector<std::byte> data) {
    tensors.push_back({std::move(name), std::move(ne), std::uint32_t(type), std::move(data)});
    return *this;
  }
  template <class T>
  gguf_builder& tensor_of(std::string name, std::vector<std::uint64_t> ne, io::ggml_type type,
                          const std::vector<T>& v) {
    std::vector<std::byte> d(v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(d.data(), v.data(), d.size());
    return tensor(std::move(name), std::move(ne), type, std::move(d));
  }

  std::vector<std::byte> bytes() const {
    std::vector<std::byte> out;
    put<std::uint32_t>(out, 0x46554747u);
    put<std::uint32_t>(out, version);
    put<std::uint64_t>(out, tensors.size());
    put<std::uint64_t>(out, n_kv);
    out.insert(out.end(), kv.begin(), kv.end());
    std::uint64_t off = 0;
    std::vector<std::uint64_t> offs;
    for (const auto& t : tensors) {
      put_str(out, t.name);
      put<std::uint32_t>(out, std::uint32_t(t.ne.size()));
      for (auto n : t.ne) put<std::uint64_t>(out, n);
      put<std::uint32_t>(out, t.type);
      put<std::uint64_t>(out, off);
      offs.push_back(off);
      off += (t.data.size() + alignment - 1) / alignment * alignment;
    }
    if (!tensors.empty())
      while (out.size() % alignment) out.push_back(std::byte{0});
    for (const auto& t : tensors) {
      out.insert(out.end(), t.data.begin(), t.data.end());
      if (&t != &tensors.back())
        while (out.size() % alignment) out.push_back(std::byte{0});
    }
    return out;
  }
  io::gguf_file open(std::string name = "mem.gguf") const {
    return io::gguf_file(io::mapped_file::from_bytes(bytes(), std::move(name)));
  }
};

}  // namespace sysout::testing

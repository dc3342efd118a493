// Test helper: builds safetensors files byte by byte (header JSON + data).
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "sysout/io/safetensors.hpp"

namespace sysout::testing {

// header: the JSON text as written; data: the bytes after it. The header is
// padded with spaces to a multiple of 8 unless pad == false.
inline std::vector<std::byte> st_bytes(std::string header, const std::vector<std::byte>& data, bool pad = true) {
  if (pad)
    while ((header.size() + 8) % 8) header += ' ';
  std::vector<std::byte> out(8 + header.size());
  const std::uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}
template <class T>
std::vector<std::byte> as_bytes_of(const std::vector<T>& v) {
  std::vector<std::byte> b(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}
inline io::safetensors_file st_open(std::vector<std::byte> bytes, std::string name = "mem.safetensors") {
  return io::safetensors_file(io::mapped_file::from_bytes(std::move(bytes), std::move(name)));
}

}  // namespace sysout::testing

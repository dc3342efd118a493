// mapped_file: a read-only view of a whole file's bytes, memory-mapped (POSIX
// mmap) so that multi-hundred-megabyte weights cost no copy and no read time
// until touched. Move-only RAII; the mapping lives as long as the object.
// Readers (GGUF, safetensors) never trust a size they read from the file: they
// check every (offset, length) against size() with in_bounds() first.
//
// from_bytes() (owned) and borrow() (not owned) put an in-memory buffer behind
// the same interface, so the corruption tests (and callers that already hold a
// file in memory) run the very same parsing code without touching the disk.
#pragma once
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "sysout/core/error.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define SYSOUT_IO_HAVE_MMAP 1
#else
#include <fstream>
#define SYSOUT_IO_HAVE_MMAP 0
#endif

namespace sysout::io {

class mapped_file {
 public:
  mapped_file() = default;

  // Maps `path` read-only. Throws sysout::error naming the file when it cannot
  // be opened, is not a regular file, or cannot be mapped.
  explicit mapped_file(const std::filesystem::path& path) : path_(path.string()) {
#if SYSOUT_IO_HAVE_MMAP
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw_error(path_, "cannot open: ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int e = errno;
      ::close(fd);
      throw_error(path_, "cannot stat: ", std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      throw_error(path_, "not a regular file");
    }
    size_ = std::size_t(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int e = errno;
        ::close(fd);
        throw_error(path_, "cannot mmap ", size_, " bytes: ", std::strerror(e));
      }
      data_ = static_cast<const std::byte*>(p);
      mapped_ = true;
    }
    ::close(fd);  // the mapping keeps the file alive
#else
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) throw_error(path_, "cannot open");
    const auto n = in.tellg();
    if (n < 0) throw_error(path_, "cannot determine size");
    buffer_.resize(std::size_t(n));
    in.seekg(0);
    if (n > 0 && !in.read(reinterpret_cast<char*>(buffer_.data()), n)) throw_error(path_, "read failed");
    data_ = buffer_.data();
    size_ = buffer_.size();
#endif
  }

  // An in-memory "file" named `name` (used in error messages).
  static mapped_file from_bytes(std::vector<std::byte> bytes, std::string name) {
    mapped_file f;
    f.path_ = std::move(name);
    f.buffer_ = std::move(bytes);
    f.data_ = f.buffer_.data();
    f.size_ = f.buffer_.size();
    return f;
  }

  // A non-owning view of bytes the caller keeps alive (and unchanged) for the
  // lifetime of this object and of any reader built on it.
  static mapped_file borrow(const std::byte* data, std::size_t size, std::string name) {
    mapped_file f;
    f.path_ = std::move(name);
    f.data_ = data;
    f.size_ = size;
    return f;
  }

  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  mapped_file(mapped_file&& o) noexcept { swap(o); }
  mapped_file& operator=(mapped_file&& o) noexcept {
    if (this != &o) {
      mapped_file tmp(std::move(o));
      swap(tmp);
    }
    return *this;
  }
  ~mapped_file() { release(); }

  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  // The path (or in-memory name) to put in error messages.
  const std::string& path() const noexcept { return path_; }
  bool is_mapped() const noexcept { return mapped_; }

  // True when [offset, offset + length) lies inside the file (overflow-safe).
  bool in_bounds(std::uint64_t offset, std::uint64_t length) const noexcept {
    return offset <= size_ && length <= size_ - offset;
  }
  // Throws "<file>: <what>: needs bytes [a, b) but the file has N bytes" unless in bounds.
  void require(std::uint64_t offset, std::uint64_t length, const std::string& what) const {
    if (!in_bounds(offset, length))
      throw_error(path_, what, ": needs ", length, " bytes at offset ", offset, " but the file has ", size_,
                  " bytes (truncated or corrupt)");
  }
  // Bytes [offset, offset + length), checked.
  const std::byte* at(std::uint64_t offset, std::uint64_t length, const std::string& what) const {
    require(offset, length, what);
    return data_ + offset;
  }

 private:
  void swap(mapped_file& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(mapped_, o.mapped_);
    std::swap(path_, o.path_);
    std::swap(buffer_, o.buffer_);
    // A moved vector keeps its heap buffer, so data_ stays valid for from_bytes files.
  }
  void release() noexcept {
#if SYSOUT_IO_HAVE_MMAP
    if (mapped_ && data_) ::munmap(const_cast<std::byte*>(data_), size_);
#endif
    data_ = nullptr;
    size_ = 0;
    mapped_ = false;
  }

  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  bool mapped_ = false;
  std::string path_;
  std::vector<std::byte> buffer_;
};

}  // namespace sysout::io

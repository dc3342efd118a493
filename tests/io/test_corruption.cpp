// Corruption corpus: real files (stories260K.gguf, SmolLM2's GGUF when present,
// a safetensors file written by Hugging Face's package) truncated at many points
// and with their header fields overwritten by hostile values. Every case must
// end in a sysout::error whose message names the file, or (for a mutation that
// happens to leave a valid file) in a file whose tensors all lie inside it;
// never a crash, another exception type, or a huge allocation.
//
// Allocation sizes are watched through a replaced global operator new: parsing
// a 1 MB file must never ask for more than 64 MB at once.
#include <doctest/doctest.h>

// GCC cannot see that the replaced operator new below pairs malloc with free.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "sysout/io/gguf.hpp"
#include "sysout/io/safetensors.hpp"
#include "test_support.hpp"

namespace {
std::atomic<std::size_t> g_largest_alloc{0};   // since the last reset
std::atomic<std::size_t> g_largest_parse_alloc{0};  // largest seen inside try_open
void note_alloc(std::size_t n) {
  std::size_t cur = g_largest_alloc.load(std::memory_order_relaxed);
  while (n > cur && !g_largest_alloc.compare_exchange_weak(cur, n, std::memory_order_relaxed)) {
  }
}
}  // namespace

// Replaced allocation functions (this program only): record the largest request.
void* operator new(std::size_t n) {
  note_alloc(n);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  note_alloc(n);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace sysout;
using namespace sysout::io;

namespace {

std::vector<std::byte> read_all(const std::filesystem::path& p) {
  const mapped_file f(p);
  return std::vector<std::byte>(f.data(), f.data() + f.size());
}

struct outcome {
  int errors = 0, ok = 0;
};

// Opens the bytes as `name`; an error must name the file. A file that opens must be consistent.
template <class File>
void try_open(const std::vector<std::byte>& bytes, std::size_t len, const std::string& name, outcome& out,
              const std::string& what) {
  g_largest_alloc = 0;
  struct note_on_exit {
    ~note_on_exit() {
      if (g_largest_alloc > g_largest_parse_alloc) g_largest_parse_alloc = g_largest_alloc.load();
    }
  } note;
  try {
    File f(mapped_file::borrow(bytes.data(), len, name));
    for (const auto& t : f.tensors()) {
      const std::byte* end = f.file().data() + f.file().size();
      if constexpr (std::is_same_v<File, gguf_file>) {
        if (!(t.data + t.nbytes <= end)) FAIL_CHECK(what, ": tensor ", t.name, " escapes the file");
      } else {
        if (!(t.data + t.nbytes() <= end)) FAIL_CHECK(what, ": tensor ", t.name, " escapes the file");
      }
    }
    ++out.ok;
  } catch (const sysout::error& e) {
    if (std::string(e.what()).find(name) == std::string::npos) FAIL_CHECK(what, ": error lacks the file name: ", e.what());
    ++out.errors;
  } catch (const std::exception& e) {
    FAIL_CHECK(what, ": not a sysout::error: ", e.what());
  }
}

// Positions of the GGUF header fields a liar would change, found by walking a valid file.
struct field {
  std::uint64_t pos;
  int size;
  std::string what;
};
std::vector<field> gguf_fields(const std::vector<std::byte>& b) {
  std::vector<field> fs;
  std::uint64_t pos = 8;
  auto u32 = [&](std::uint64_t p) { std::uint32_t v; std::memcpy(&v, b.data() + p, 4); return v; };
  auto u64 = [&](std::uint64_t p) { std::uint64_t v; std::memcpy(&v, b.data() + p, 8); return v; };
  const auto n_tensors = u64(8), n_kv = u64(16);
  fs.push_back({4, 4, "version"});
  fs.push_back({8, 8, "tensor count"});
  fs.push_back({16, 8, "kv count"});
  pos = 24;
  auto skip_value = [&](auto&& self, std::uint32_t type, bool record) -> void {
    const auto t = gguf_type(type);
    if (t == gguf_type::string) {
      if (record) fs.push_back({pos, 8, "string length"});
      pos += 8 + u64(pos);
    } else if (t == gguf_type::array) {
      const auto et = u32(pos);
      if (record) fs.push_back({pos, 4, "array element type"});
      if (record) fs.push_back({pos + 4, 8, "array count"});
      const auto n = u64(pos + 4);
      pos += 12;
      for (std::uint64_t k = 0; k < n; ++k) self(self, et, record && k < 2);
    } else {
      pos += gguf_scalar_size(t);
    }
  };
  for (std::uint64_t k = 0; k < n_kv; ++k) {
    fs.push_back({pos, 8, "key length"});
    pos += 8 + u64(pos);
    fs.push_back({pos, 4, "value type"});
    const auto t = u32(pos);
    pos += 4;
    skip_value(skip_value, t, true);
  }
  for (std::uint64_t k = 0; k < n_tensors; ++k) {
    fs.push_back({pos, 8, "tensor name length"});
    pos += 8 + u64(pos);
    fs.push_back({pos, 4, "n_dims"});
    const auto nd = u32(pos);
    pos += 4;
    for (std::uint32_t d = 0; d < nd; ++d, pos += 8) fs.push_back({pos, 8, "ne"});
    fs.push_back({pos, 4, "tensor type"});
    fs.push_back({pos + 4, 8, "tensor offset"});
    pos += 12;
  }
  return fs;
}

void gguf_corpus(const std::filesystem::path& path, std::uint64_t header_stride, int data_points, int max_fields) {
  const auto bytes = read_all(path);
  const std::string name = path.filename().string() + " (corrupted)";
  gguf_file good(path);
  const std::uint64_t header_end = good.data_offset();
  outcome trunc, lies, flips;
  g_largest_parse_alloc = 0;

  // 1. Truncations: every header_stride-th byte of the header, then points spread over the data.
  for (std::uint64_t n = 0; n < header_end; n += header_stride)
    try_open<gguf_file>(bytes, n, name, trunc, "truncated at " + std::to_string(n));
  for (int k = 0; k < data_points; ++k) {
    const std::uint64_t n = header_end + (bytes.size() - header_end) * std::uint64_t(k) / std::uint64_t(data_points);
    try_open<gguf_file>(bytes, n, name, trunc, "truncated at " + std::to_string(n));
  }
  try_open<gguf_file>(bytes, bytes.size() - 1, name, trunc, "truncated by one byte");
  CHECK(trunc.ok == 0);  // every strict prefix of a file with tensors is invalid

  // 2. Header fields overwritten with hostile values.
  auto fields = gguf_fields(bytes);
  CHECK(fields.size() > 50);
  if (int(fields.size()) > max_fields) {  // keep the corpus fast: a spread of fields
    std::vector<field> pick;
    for (int k = 0; k < max_fields; ++k) pick.push_back(fields[fields.size() * std::size_t(k) / std::size_t(max_fields)]);
    pick.push_back(fields.back());
    fields = pick;
  }
  const std::uint64_t hostile[] = {0, 1, 3, 0xFFFFFFFFull, 0x7FFFFFFFFFFFFFFFull, 0xFFFFFFFFFFFFFFFFull,
                                   0x100000000ull, bytes.size(), bytes.size() * 2, 1ull << 61};
  std::vector<std::byte> m = bytes;
  for (const auto& f : fields) {
    for (std::uint64_t h : hostile) {
      std::memcpy(m.data() + f.pos, &h, std::size_t(f.size));  // little-endian: low bytes for u32 fields
      try_open<gguf_file>(m, m.size(), name, lies, f.what + " at " + std::to_string(f.pos) + " = " + std::to_string(h));
    }
    std::memcpy(m.data() + f.pos, bytes.data() + f.pos, std::size_t(f.size));  // restore
  }
  CHECK(lies.errors > lies.ok);

  // 3. Random byte flips in the header (seeded).
  std::mt19937_64 rng(42);
  for (int k = 0; k < 400; ++k) {
    const std::uint64_t p = rng() % header_end;
    const auto old = m[p];
    m[p] = std::byte(rng() & 0xFF);
    try_open<gguf_file>(m, m.size(), name, flips, "byte " + std::to_string(p) + " flipped");
    m[p] = old;
  }

  CHECK(g_largest_parse_alloc.load() < (std::size_t(64) << 20));
  MESSAGE(path.filename().string(), ": ", trunc.errors, " truncations rejected; ", lies.errors, " of ",
          lies.errors + lies.ok, " hostile header values rejected (the rest still valid); ", flips.errors, " of ",
          flips.errors + flips.ok, " random header flips rejected; largest allocation while parsing ", g_largest_parse_alloc.load(),
          " bytes");
}

}  // namespace

TEST_CASE("corruption corpus: stories260K.gguf truncated and lied about") {
  SYSOUT_REQUIRE_MODEL(path, "stories260K.gguf");
  gguf_corpus(path, 1, 200, 100000);
}

TEST_CASE("corruption corpus: SmolLM2 GGUF (sampled)") {
  SYSOUT_REQUIRE_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  gguf_corpus(path, 8191, 6, 60);
}

TEST_CASE("corruption corpus: specific lies get specific messages") {
  SYSOUT_REQUIRE_MODEL(path, "stories260K.gguf");
  const auto bytes = read_all(path);
  auto msg = [&](std::uint64_t pos, std::uint64_t v, int size) {
    auto m = bytes;
    std::memcpy(m.data() + pos, &v, std::size_t(size));
    try {
      gguf_file f(mapped_file::from_bytes(std::move(m), "lie.gguf"));
    } catch (const sysout::error& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  const auto fields = gguf_fields(bytes);
  auto first = [&](const std::string& what) {
    for (const auto& f : fields)
      if (f.what == what) return f;
    FAIL("no field ", what);
    return field{};
  };
  CHECK(msg(8, 1ull << 40, 8).find("lie.gguf: header: tensor count 1099511627776 cannot fit") == 0);
  CHECK(msg(16, 1ull << 40, 8).find("lie.gguf: header: metadata count") == 0);
  CHECK(msg(4, 7, 4) == "lie.gguf: GGUF version 7 is not supported (only 2 and 3)");
  CHECK(msg(0, 0x12345678, 4) == "lie.gguf: not a GGUF file: magic is not \"GGUF\"");
  CHECK(msg(first("array count").pos, 1ull << 50, 8).find("lie.gguf: metadata key 'tokenizer.ggml.tokens': array of") == 0);
  CHECK(msg(first("string length").pos, 1ull << 50, 8).find("lie.gguf: metadata key") == 0);
  CHECK(msg(first("n_dims").pos, 9, 4).find("lie.gguf: tensor 'token_embd.weight': n_dims = 9 exceeds 4") == 0);
  CHECK(msg(first("ne").pos, 1ull << 62, 8).find("lie.gguf: tensor 'token_embd.weight'") == 0);
  CHECK(msg(first("tensor type").pos, 4, 4) == "lie.gguf: tensor 'token_embd.weight': unknown type id 4 is not a ggml type");
  CHECK(msg(first("tensor offset").pos, 1ull << 40, 8).find("lie.gguf: tensor 'token_embd.weight' (f32 [64, 512], 131072 bytes at data offset 1099511627776) extends past the end of the file") == 0);
  CHECK(msg(first("tensor offset").pos, 3, 8).find("offset 3 is not a multiple of the alignment 32") != std::string::npos);
}

TEST_CASE("corruption corpus: a truncated file on disk names its path") {
  SYSOUT_REQUIRE_MODEL(path, "stories260K.gguf");
  const auto bytes = read_all(path);
  const auto tmp = std::filesystem::temp_directory_path() / ("sysout_io_trunc_" + std::to_string(::getpid()) + ".gguf");
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size() / 2));
  }
  std::string e;
  try {
    gguf_file f(tmp);
  } catch (const sysout::error& err) {
    e = err.what();
  }
  std::filesystem::remove(tmp);
  CHECK(e.find(tmp.string()) == 0);
  CHECK(e.find("extends past the end of the file") != std::string::npos);
  CHECK_THROWS_WITH_AS(gguf_file("/nonexistent/dir/x.gguf"), doctest::Contains("/nonexistent/dir/x.gguf: cannot open"),
                       sysout::error);
}

TEST_CASE("corruption corpus: safetensors truncated at every byte and flipped") {
  const auto path = sysout::testing::source_dir() / "tests/fixtures/io/small.safetensors";
  const auto bytes = read_all(path);
  const std::string name = "small.safetensors (corrupted)";
  outcome trunc, flips;
  g_largest_parse_alloc = 0;
  for (std::size_t n = 0; n < bytes.size(); ++n)
    try_open<safetensors_file>(bytes, n, name, trunc, "truncated at " + std::to_string(n));
  CHECK(trunc.ok == 0);
  std::uint64_t hlen;
  std::memcpy(&hlen, bytes.data(), 8);
  auto m = bytes;
  std::mt19937_64 rng(7);
  for (std::uint64_t p = 0; p < 8 + hlen; ++p)
    for (int k = 0; k < 4; ++k) {
      const auto old = m[p];
      m[p] = std::byte(rng() & 0xFF);
      try_open<safetensors_file>(m, m.size(), name, flips, "byte " + std::to_string(p) + " flipped");
      m[p] = old;
    }
  CHECK(flips.errors > flips.ok);
  CHECK(g_largest_parse_alloc.load() < (std::size_t(64) << 20));
  MESSAGE("small.safetensors: ", trunc.errors, " truncations rejected; ", flips.errors, " of ",
          flips.errors + flips.ok, " header byte flips rejected (the rest still valid)");
}

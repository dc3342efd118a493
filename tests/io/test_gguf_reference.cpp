// sysout's GGUF reader and scalar dequantization against the independent gguf
// Python package: tests/fixtures/io/<file>.ref.txt, written by
// tools/fixtures/io_gguf_reference.py (format described there). Every metadata
// value, every tensor info, and a hash of every dequantized value of every
// tensor must match bit for bit; rows and sums give readable values on failure.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sysout/io/gguf.hpp"
#include "test_support.hpp"

using namespace sysout;
using namespace sysout::io;

namespace {

std::uint64_t fnv1a64(std::uint64_t h, const void* p, std::size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= b[i];
    h *= 0x100000001b3ull;
  }
  return h;
}
constexpr std::uint64_t fnv_basis = 0xcbf29ce484222325ull;

std::uint64_t value_hash(const float* x, std::int64_t n, std::uint64_t first_index) {
  std::uint64_t h = 0;
  for (std::int64_t k = 0; k < n; ++k) {
    std::uint64_t z = std::uint64_t(std::bit_cast<std::uint32_t>(x[k])) ^
                      ((first_index + std::uint64_t(k)) * 0x9E3779B97F4A7C15ull);
    z ^= z >> 29;
    z *= 0xBF58476D1CE4E5B9ull;
    z ^= z >> 32;
    h += z;
  }
  return h;
}

std::string hex_of(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string r;
  for (unsigned char c : s) {
    r += digits[c >> 4];
    r += digits[c & 15];
  }
  return r;
}

std::string scalar_payload(const gguf_value& v) {
  char buf[32];
  switch (v.type) {
    case gguf_type::f32: {
      const float f = float(v.f);
      const auto bits = std::bit_cast<std::uint32_t>(f);
      std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x", bits & 0xff, (bits >> 8) & 0xff, (bits >> 16) & 0xff,
                    bits >> 24);
      return buf;
    }
    case gguf_type::f64: {
      const auto bits = std::bit_cast<std::uint64_t>(v.f);
      std::string r;
      for (int k = 0; k < 8; ++k) {
        std::snprintf(buf, sizeof buf, "%02x", unsigned((bits >> (8 * k)) & 0xff));
        r += buf;
      }
      return r;
    }
    case gguf_type::boolean: return v.b ? "1" : "0";
    default: return gguf_is_signed(v.type) ? std::to_string(v.i) : std::to_string(v.u);
  }
}

void check_against_fixture(const std::string& model) {
  SYSOUT_REQUIRE_MODEL(path, model);
  const auto fixture = sysout::testing::source_dir() / "tests/fixtures/io" / (model + ".ref.txt");
  std::ifstream in(fixture);
  REQUIRE_MESSAGE(in.good(), "fixture missing: ", fixture.string());
  const gguf_file g(path);
  std::string line;
  std::size_t n_kv = 0, n_tensors = 0, n_hash = 0, n_rows = 0;
  std::vector<float> buf;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string rec;
    ls >> rec;
    if (rec == "file") {
      std::string name;
      std::uint32_t version;
      std::size_t kvs, ts;
      ls >> name >> version >> kvs >> ts;
      CHECK(g.version() == version);
      CHECK(g.metadata().size() == kvs);
      CHECK(g.tensors().size() == ts);
    } else if (rec == "kv") {
      std::string key, type;
      ls >> key >> type;
      CAPTURE(key);
      const gguf_value* v = g.find(key);
      REQUIRE(v != nullptr);
      ++n_kv;
      if (type == "string") {
        std::string hex;
        ls >> hex;
        CHECK(v->type == gguf_type::string);
        CHECK(hex_of(v->str) == hex);
      } else if (type == "array") {
        std::string et, hash;
        std::uint64_t count;
        ls >> et >> count >> hash;
        REQUIRE(v->is_array());
        CHECK(gguf_type_name(v->elem_type) == et);
        CHECK(v->count == count);
        std::uint64_t h = fnv_basis;
        if (v->elem_type == gguf_type::string) {
          for (auto s : v->strings) {
            const std::uint64_t len = s.size();
            h = fnv1a64(h, &len, 8);
            h = fnv1a64(h, s.data(), s.size());
          }
        } else {
          h = fnv1a64(h, v->elems, std::size_t(v->count * gguf_scalar_size(v->elem_type)));
        }
        char got[17];
        std::snprintf(got, sizeof got, "%016llx", static_cast<unsigned long long>(h));
        CHECK(std::string(got) == hash);
      } else {
        std::string payload;
        ls >> payload;
        CHECK(gguf_type_name(v->type) == type);
        CHECK(scalar_payload(*v) == payload);
      }
    } else if (rec == "tensor") {
      std::string name;
      std::uint32_t type;
      int n_dims;
      ls >> name >> type >> n_dims;
      CAPTURE(name);
      const auto& t = g.tensor(name);
      ++n_tensors;
      CHECK(std::uint32_t(t.type) == type);
      CHECK(t.n_dims == n_dims);
      for (int d = 0; d < n_dims; ++d) {
        std::int64_t ne;
        ls >> ne;
        CHECK(t.ne[std::size_t(d)] == ne);
      }
      std::uint64_t offset, nbytes;
      ls >> offset >> nbytes;
      CHECK(t.offset == offset);
      CHECK(t.nbytes == nbytes);
    } else if (rec == "hash" || rec == "sum") {
      std::string name;
      std::int64_t n;
      ls >> name >> n;
      CAPTURE(name);
      const auto& t = g.tensor(name);
      REQUIRE(t.n_elements() == n);
      // Chunks of rows: bounded memory on the 167M-value embeddings.
      const std::int64_t chunk = std::max<std::int64_t>(1, (1 << 22) / std::max<std::int64_t>(1, t.ne[0]));
      std::uint64_t h = 0;
      double sum = 0, sumsq = 0;
      for (std::int64_t r = 0; r < t.n_rows(); r += chunk) {
        const std::int64_t nr = std::min(chunk, t.n_rows() - r);
        buf.resize(std::size_t(nr * t.ne[0]));
        dequantize_rows_ref(t, r, nr, buf.data());
        if (rec == "hash") h += value_hash(buf.data(), nr * t.ne[0], std::uint64_t(r * t.ne[0]));
        else
          for (float x : buf) {
            sum += x;
            sumsq += double(x) * x;
          }
      }
      if (rec == "hash") {
        std::string expect;
        ls >> expect;
        char got[17];
        std::snprintf(got, sizeof got, "%016llx", static_cast<unsigned long long>(h));
        CHECK(std::string(got) == expect);
        ++n_hash;
      } else {
        double rs, rss;
        ls >> rs >> rss;
        // Summation-order error bound: n * eps * sum|x| with sum|x| <= sqrt(n * sum x^2).
        const double eps = std::ldexp(1.0, -52);
        CHECK(std::abs(sum - rs) <= double(n) * eps * std::sqrt(double(n) * rss) + 1e-30);
        CHECK(std::abs(sumsq - rss) <= double(n) * eps * rss + 1e-30);
      }
    } else if (rec == "row") {
      std::string name;
      std::int64_t row, n;
      ls >> name >> row >> n;
      CAPTURE(name);
      CAPTURE(row);
      const auto& t = g.tensor(name);
      REQUIRE(t.ne[0] == n);
      buf.resize(std::size_t(n));
      dequantize_rows_ref(t, row, 1, buf.data());
      int bad = 0;
      for (std::int64_t k = 0; k < n; ++k) {
        std::string hex;
        ls >> hex;
        const float expect = std::bit_cast<float>(std::uint32_t(std::stoul(hex, nullptr, 16)));
        if (std::bit_cast<std::uint32_t>(buf[std::size_t(k)]) != std::bit_cast<std::uint32_t>(expect) && bad++ < 3)
          FAIL_CHECK("element ", k, ": sysout ", buf[std::size_t(k)], ", gguf-py ", expect);
      }
      CHECK(bad == 0);
      ++n_rows;
    } else {
      FAIL("unknown fixture record: ", rec);
    }
  }
  CHECK(n_kv == g.metadata().size());
  CHECK(n_tensors == g.tensors().size());
  CHECK(n_hash == g.tensors().size());
  MESSAGE(model, ": ", n_kv, " keys, ", n_tensors, " tensor infos, ", n_hash, " tensor value hashes, ", n_rows,
          " rows equal gguf-py");
}

}  // namespace

TEST_CASE("gguf vs gguf-py: stories260K.gguf") { check_against_fixture("stories260K.gguf"); }
TEST_CASE("gguf vs gguf-py: ggml-vocab-gpt-2.gguf") { check_against_fixture("ggml-vocab-gpt-2.gguf"); }
TEST_CASE("gguf vs gguf-py: ggml-vocab-llama-spm.gguf") { check_against_fixture("ggml-vocab-llama-spm.gguf"); }
TEST_CASE("gguf vs gguf-py: SmolLM2-135M-Instruct.Q4_1.gguf") {
  check_against_fixture("SmolLM2-135M-Instruct.Q4_1.gguf");
}
TEST_CASE("gguf vs gguf-py: gemma-3-270m-q4_k_m.gguf") { check_against_fixture("gemma-3-270m-q4_k_m.gguf"); }

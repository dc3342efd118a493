// Quantized dot products: the Highway (and AVX-512 VNNI) kernels against the
// scalar reference on random blocks, for every supported weight type and row
// lengths of 1..12 blocks. The integer parts are exact in both, so the only
// difference is float summation order: tolerance 1e-5 relative to sum |w_i x_i|.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "sysout/model/matmul.hpp"
#include "test_support.hpp"

using namespace sysout;
using namespace sysout::model;

namespace {

// Random bytes make valid blocks for every type once the f16 scales are sane.
std::vector<std::byte> random_row(ggml_type t, std::int64_t n, std::mt19937& rng) {
  std::vector<std::byte> b(static_cast<std::size_t>(io::row_size(t, n)));
  std::uniform_int_distribution<int> u(0, 255);
  for (auto& x : b) x = std::byte(u(rng));
  std::uniform_real_distribution<float> sc(0.001f, 0.05f);
  const std::int64_t nb = n / io::block_size(t), bs = io::type_size(t);
  for (std::int64_t i = 0; i < nb; ++i) {
    std::byte* blk = b.data() + i * bs;
    auto put = [&](std::size_t off, float v) {
      const std::uint16_t h = f32_to_f16(v);
      std::memcpy(blk + off, &h, 2);
    };
    switch (t) {
      case ggml_type::q4_0: case ggml_type::q5_0: case ggml_type::q8_0: put(0, sc(rng)); break;
      case ggml_type::q4_1: case ggml_type::q5_1: put(0, sc(rng)); put(2, -sc(rng)); break;
      case ggml_type::q4_k: put(0, sc(rng)); put(2, sc(rng)); break;
      case ggml_type::q6_k: put(208, sc(rng)); break;
      case ggml_type::f16:
        for (std::int64_t k = 0; k < n; ++k) {
          const std::uint16_t h = f32_to_f16(sc(rng) * 20 - 0.5f);
          std::memcpy(b.data() + 2 * k, &h, 2);
        }
        return b;
      default: break;
    }
  }
  return b;
}

double dot_abs(ggml_type t, const std::vector<std::byte>& w, const std::vector<float>& x) {
  std::vector<float> wf(x.size());
  io::dequantize_row_ref(t, w.data(), wf.data(), std::int64_t(x.size()));
  double s = 0;
  for (std::size_t i = 0; i < x.size(); ++i) s += std::fabs(double(wf[i]) * x[i]);
  return s;
}

}  // namespace

TEST_CASE("quantized dots: fast kernels equal the scalar reference") {
  std::mt19937 rng(42);
  std::normal_distribution<float> g(0.0f, 1.0f);
  const ggml_type types[] = {ggml_type::f32, ggml_type::f16, ggml_type::q4_0, ggml_type::q4_1, ggml_type::q5_0,
                             ggml_type::q5_1, ggml_type::q8_0, ggml_type::q4_k, ggml_type::q6_k};
  for (ggml_type t : types) {
    CAPTURE(io::type_name(t));
    for (int blocks : {1, 2, 3, 7, 12}) {
      const std::int64_t n = blocks * io::block_size(t) * (io::block_size(t) == 1 ? 32 : 1);
      std::vector<float> x(static_cast<std::size_t>(n));
      for (auto& v : x) v = g(rng) * (rng() % 16 == 0 ? 50.0f : 1.0f);  // a few outliers, as in real rows
      std::vector<std::byte> w;
      if (t == ggml_type::f32) {
        std::vector<float> wf(static_cast<std::size_t>(n));
        for (auto& v : wf) v = g(rng);
        w.resize(std::size_t(n) * 4);
        std::memcpy(w.data(), wf.data(), w.size());
      } else {
        w = random_row(t, n, rng);
      }
      std::vector<std::byte> act_ref(activation_row_bytes(activation_format_for(t), n)), act_fast(act_ref.size());
      std::vector<float> scratch(static_cast<std::size_t>(n));
      prepare_activation(kernel_set::reference, t, x.data(), act_ref.data(), n);
      prepare_activation(kernel_set::fast, t, x.data(), act_fast.data(), n);
      CHECK(std::memcmp(act_ref.data(), act_fast.data(), act_ref.size()) == 0);
      const float r = vec_dot(kernel_set::reference, t, n, w.data(), act_ref.data(), scratch.data());
      const float f = vec_dot(kernel_set::fast, t, n, w.data(), act_fast.data(), scratch.data());
      CHECK(std::fabs(r - f) <= 1e-5 * dot_abs(t, w, x) + 1e-6);
      // and the 8-bit activation is close to the f32 dot (quantization error ~ 1/127 per block)
      if (activation_format_for(t) != activation_format::f32) {
        std::vector<float> wf(static_cast<std::size_t>(n));
        io::dequantize_row_ref(t, w.data(), wf.data(), n);
        double exact = 0;
        for (std::int64_t i = 0; i < n; ++i) exact += double(wf[std::size_t(i)]) * x[std::size_t(i)];
        CHECK(std::fabs(exact - r) <= 0.02 * dot_abs(t, w, x));
      }
    }
  }
}

TEST_CASE("q8 activation quantization: ggml x86 rounding") {
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;  // amax: scale 1
  x[1] = 2.5f;    // tie -> even (2)
  x[2] = -3.5f;   // tie -> even (-4)
  x[3] = 0.49f;
  io::block_q8_0 b;
  ref::quantize_row_q8_0(x.data(), &b, 32);
  CHECK(f16_to_f32(b.d) == 1.0f);
  CHECK(b.qs[0] == 127);
  CHECK(b.qs[1] == 2);
  CHECK(b.qs[2] == -4);
  CHECK(b.qs[3] == 0);
  std::vector<float> z(32, 0.0f);
  ref::quantize_row_q8_0(z.data(), &b, 32);
  CHECK(f16_to_f32(b.d) == 0.0f);
  CHECK(b.qs[5] == 0);
}

TEST_CASE("matmul: threads and tiles give the reference result; missing matrix is an error") {
  std::mt19937 rng(7);
  std::normal_distribution<float> g;
  const std::int64_t rows = 37, cols = 64, T = 5;  // rows not a multiple of the 16-row tile
  std::vector<std::byte> w;
  for (std::int64_t r = 0; r < rows; ++r) {
    auto row = random_row(ggml_type::q4_1, cols, rng);
    w.insert(w.end(), row.begin(), row.end());
  }
  const matrix W = make_matrix(ggml_type::q4_1, rows, cols, w.data(), "w");
  std::vector<float> x(static_cast<std::size_t>(T * cols));
  for (auto& v : x) v = g(rng);
  std::vector<float> y_ref(static_cast<std::size_t>(T * rows)), y(std::size_t(T * rows));
  matmul_ref(W, x.data(), T, cols, y_ref.data(), rows);
  thread_pool pool(2);
  matmul_scratch s;
  matmul(W, x.data(), T, cols, y.data(), rows, &pool, s);
  for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(y_ref[i]).epsilon(1e-4).scale(1.0));
  CHECK_THROWS_AS(matmul(matrix{}, x.data(), T, cols, y.data(), rows, nullptr, s), sysout::error);
}

TEST_CASE("multi-token and multi-row kernels are bit-identical to the single-row kernel") {
  std::mt19937 rng(9);
  std::normal_distribution<float> g;
  struct shape {
    std::int64_t rows, cols, T;
  };
  // partial row groups and token groups (T % 4 = 1, 2, 3), odd block counts
  const shape shapes[] = {{23, 512, 7}, {5, 768, 6}, {1, 256, 5}, {9, 256, 1}, {4, 1280, 2}};
  for (ggml_type t : {ggml_type::q4_1, ggml_type::q8_0, ggml_type::q5_0, ggml_type::q4_k, ggml_type::q6_k}) {
    for (const shape& sh : shapes) {
      CAPTURE(io::type_name(t));
      CAPTURE(sh.rows);
      CAPTURE(sh.cols);
      CAPTURE(sh.T);
      const std::int64_t rows = sh.rows, cols = sh.cols, T = sh.T;
      std::vector<std::byte> w;
      for (std::int64_t r = 0; r < rows; ++r) {
        auto row = random_row(t, cols, rng);
        w.insert(w.end(), row.begin(), row.end());
      }
      const matrix W = make_matrix(t, rows, cols, w.data(), "w");
      std::vector<float> x(static_cast<std::size_t>(T * cols));
      for (auto& v : x) v = g(rng);
      matmul_scratch s;
      std::vector<float> batched(static_cast<std::size_t>(T * rows)), single(batched.size());
      matmul(W, x.data(), T, cols, batched.data(), rows, nullptr, s);
      for (std::int64_t i = 0; i < T; ++i)
        matmul(W, x.data() + i * cols, 1, cols, single.data() + i * rows, rows, nullptr, s);
      CHECK(std::memcmp(batched.data(), single.data(), batched.size() * 4) == 0);
      // and each equals the scalar reference up to float summation order
      std::vector<float> ref(batched.size());
      matmul_ref(W, x.data(), T, cols, ref.data(), rows);
      for (std::size_t i = 0; i < ref.size(); ++i) CHECK(batched[i] == doctest::Approx(ref[i]).epsilon(1e-4).scale(1.0));
    }
  }
}

TEST_CASE("matmul_group: one fork-join over several matrices gives each matmul's bits") {
  std::mt19937 rng(11);
  std::normal_distribution<float> g;
  const std::int64_t cols = 128;
  // Q/K/V-like shapes (rows not multiples of any tile); q5_0 and q8_0 share the q8_0 activation.
  const std::pair<ggml_type, std::int64_t> shapes[] = {{ggml_type::q5_0, 150}, {ggml_type::q8_0, 37}, {ggml_type::q5_0, 37}};
  std::vector<std::vector<std::byte>> store;
  std::vector<matrix> Ws;
  for (auto [t, rows] : shapes) {
    std::vector<std::byte> w;
    for (std::int64_t r = 0; r < rows; ++r) {
      auto row = random_row(t, cols, rng);
      w.insert(w.end(), row.begin(), row.end());
    }
    store.push_back(std::move(w));
    Ws.push_back(make_matrix(t, rows, cols, store.back().data(), "w"));
  }
  thread_pool pool(2);
  for (std::int64_t T : {1, 6}) {
    CAPTURE(T);
    std::vector<float> x(static_cast<std::size_t>(T * cols));
    for (auto& v : x) v = g(rng);
    std::vector<std::vector<float>> sep(3), grp(3);
    matmul_scratch s;
    std::vector<matmul_out> outs;
    for (std::size_t i = 0; i < 3; ++i) {
      sep[i].resize(std::size_t(T * Ws[i].rows));
      grp[i].assign(sep[i].size(), -1.0f);
      matmul(Ws[i], x.data(), T, cols, sep[i].data(), Ws[i].rows, nullptr, s);
      outs.push_back({&Ws[i], grp[i].data(), Ws[i].rows});
    }
    REQUIRE(groupable(outs, kernel_set::fast));
    matmul_group(outs, x.data(), T, cols, &pool, s);
    for (std::size_t i = 0; i < 3; ++i) CHECK(std::memcmp(sep[i].data(), grp[i].data(), sep[i].size() * 4) == 0);
  }
  const matrix q41 = make_matrix(ggml_type::q4_1, 1, cols, store[0].data(), "other format");
  const matmul_out mixed[] = {{&Ws[0], nullptr, 0}, {&q41, nullptr, 0}};
  CHECK_FALSE(groupable(mixed, kernel_set::fast));
  CHECK(groupable(mixed, kernel_set::exact));  // exact: f32 activations for every type
}

TEST_CASE("thread_pool: every item exactly once, across many back-to-back jobs") {
  for (int threads : {2, 3}) {
    thread_pool pool(threads);
    std::vector<int> hits(1000);
    for (int job = 0; job < 3000; ++job) {
      const std::int64_t n = 1 + job % 97, chunk = 1 + job % 5;
      std::fill(hits.begin(), hits.begin() + n, 0);
      pool.parallel_ranges(
          n, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) ++hits[std::size_t(i)];
          },
          chunk);
      bool ok = true;
      for (std::int64_t i = 0; i < n; ++i) ok = ok && hits[std::size_t(i)] == 1;
      REQUIRE(ok);
    }
    // Workers fall asleep between sparse jobs and must wake for the next one.
    std::atomic<int> sum{0};
    for (int job = 0; job < 3; ++job) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      pool.parallel_for(64, [&](std::int64_t i) { sum += int(i); });
    }
    CHECK(sum.load() == 3 * 64 * 63 / 2);
  }
}

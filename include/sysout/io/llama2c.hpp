// Reader for llama2.c checkpoints (karpathy/llama2.c run.c "legacy" format):
//   7 x int32 header: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
//   (a negative vocab_size means the classifier is stored separately, not tied),
//   then float32 tensors in this order, each row-major [out, in]:
//     token_embedding [vocab, dim], rms_att [L, dim], wq [L, dim(out), dim], wk [L, kv_dim, dim],
//     wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim],
//     w2 [L, dim, hidden], w3 [L, hidden, dim], rms_final [dim],
//     freq_cis_real [seq_len, head_size/2], freq_cis_imag [seq_len, head_size/2],
//     wcls [vocab, dim] (only when not shared).
// The freq_cis tables are legacy (run.c skips them and recomputes RoPE); files
// written without them are accepted too. Every size is checked against the file.
#pragma once
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "sysout/core/error.hpp"

namespace sysout::io {

struct llama2c_config {
  int dim = 0;
  int hidden_dim = 0;
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int vocab_size = 0;  // always positive here; see shared_classifier
  int seq_len = 0;
  bool shared_classifier = true;
  int head_size() const { return dim / n_heads; }
  int kv_dim() const { return head_size() * n_kv_heads; }
};

// All floats after the header, and where each tensor starts (in floats).
struct llama2c_checkpoint {
  static constexpr std::size_t absent = std::size_t(-1);
  llama2c_config config;
  std::string path;
  std::vector<float> data;
  std::size_t token_embedding = 0, rms_att = 0, wq = 0, wk = 0, wv = 0, wo = 0, rms_ffn = 0, w1 = 0, w2 = 0,
              w3 = 0, rms_final = 0, freq_cis_real = absent, freq_cis_imag = absent, wcls = 0;
  const float* at(std::size_t off) const { return data.data() + off; }
};

inline llama2c_config parse_llama2c_header(const std::int32_t h[7], const std::string& where) {
  llama2c_config c;
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.shared_classifier = h[5] > 0;
  c.vocab_size = h[5] < 0 ? -h[5] : h[5];
  c.seq_len = h[6];
  if (c.dim <= 0 || c.hidden_dim <= 0 || c.n_layers <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 ||
      c.vocab_size <= 0 || c.seq_len <= 0)
    throw_error(where, "llama2.c header has a non-positive field: dim=", c.dim, " hidden_dim=", c.hidden_dim,
                " n_layers=", c.n_layers, " n_heads=", c.n_heads, " n_kv_heads=", c.n_kv_heads,
                " vocab_size=", h[5], " seq_len=", c.seq_len);
  if (c.dim % c.n_heads != 0) throw_error(where, "dim ", c.dim, " is not a multiple of n_heads ", c.n_heads);
  if (c.n_heads % c.n_kv_heads != 0)
    throw_error(where, "n_heads ", c.n_heads, " is not a multiple of n_kv_heads ", c.n_kv_heads);
  if (c.head_size() % 2 != 0) throw_error(where, "head size ", c.head_size(), " is odd (RoPE needs pairs)");
  return c;
}

inline llama2c_checkpoint read_llama2c(const std::filesystem::path& path) {
  const std::string where = path.string();
  std::ifstream f(path, std::ios::binary);
  if (!f) throw_error(where, "cannot open llama2.c checkpoint");
  f.seekg(0, std::ios::end);
  const auto file_size = std::uint64_t(f.tellg());
  f.seekg(0);
  if (file_size < 28) throw_error(where, "file of ", file_size, " bytes is shorter than the 28-byte header");
  std::int32_t h[7];
  f.read(reinterpret_cast<char*>(h), sizeof h);
  llama2c_checkpoint ck;
  ck.path = where;
  ck.config = parse_llama2c_header(h, where);
  const auto& c = ck.config;
  const std::uint64_t L = std::uint64_t(c.n_layers), D = std::uint64_t(c.dim), H = std::uint64_t(c.hidden_dim),
                      V = std::uint64_t(c.vocab_size), KV = std::uint64_t(c.kv_dim());
  std::uint64_t off = 0;
  auto take = [&](std::uint64_t n) {
    const auto o = off;
    off += n;
    return std::size_t(o);
  };
  ck.token_embedding = take(V * D);
  ck.rms_att = take(L * D);
  ck.wq = take(L * D * D);
  ck.wk = take(L * KV * D);
  ck.wv = take(L * KV * D);
  ck.wo = take(L * D * D);
  ck.rms_ffn = take(L * D);
  ck.w1 = take(L * H * D);
  ck.w2 = take(L * D * H);
  ck.w3 = take(L * H * D);
  ck.rms_final = take(D);
  const std::uint64_t without_freq = off + (c.shared_classifier ? 0 : V * D);
  const std::uint64_t freq = std::uint64_t(c.seq_len) * std::uint64_t(c.head_size() / 2);
  const std::uint64_t with_freq = without_freq + 2 * freq;
  const std::uint64_t have = (file_size - 28);
  if (have % 4 != 0) throw_error(where, "payload of ", have, " bytes is not a whole number of float32");
  const std::uint64_t n = have / 4;
  if (n == with_freq) {
    ck.freq_cis_real = take(freq);
    ck.freq_cis_imag = take(freq);
  } else if (n != without_freq) {
    throw_error(where, "llama2.c config (dim=", c.dim, " hidden=", c.hidden_dim, " layers=", c.n_layers,
                " heads=", c.n_heads, " kv_heads=", c.n_kv_heads, " vocab=", c.vocab_size, " seq_len=", c.seq_len,
                c.shared_classifier ? " shared classifier" : " separate classifier", ") needs ", with_freq,
                " floats (with freq_cis) or ", without_freq, " (without), file has ", n);
  }
  ck.wcls = c.shared_classifier ? ck.token_embedding : take(V * D);
  ck.data.resize(std::size_t(n));
  f.read(reinterpret_cast<char*>(ck.data.data()), std::streamsize(n * 4));
  if (!f) throw_error(where, "short read of ", n, " floats");
  return ck;
}

}  // namespace sysout::io

// Hugging Face safetensors checkpoints written by the test itself:
// - a tiny random GPT-2 (Conv1D [in, out] weights, fused c_attn, biases, learned
//   positions, LayerNorm, gelu_new) checked against a naive double-precision
//   GPT-2 written here from the HF layout directly (x @ W + b);
// - stories260K re-laid out as an HF LLaMA checkpoint (q/k rows permuted to
//   rotate_half order, the inverse of llama.cpp's converter), which must still
//   reproduce llama2.c's golden greedy tokens (checks neox RoPE + HF names).
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "fixture.hpp"
#include "sysout/model/forward.hpp"
#include "sysout/model/load_llama2c.hpp"
#include "sysout/model/load_safetensors.hpp"
#include "sysout/model/sampling.hpp"
#include "test_support.hpp"

using namespace sysout;
using namespace sysout::model;
namespace fs = std::filesystem;

namespace {

struct st_entry {
  std::vector<std::int64_t> shape;
  std::vector<float> data;
};

void write_safetensors(const fs::path& p, const std::map<std::string, st_entry>& ts) {
  std::string h = "{\"__metadata__\":{\"format\":\"pt\"}";
  std::uint64_t off = 0;
  for (const auto& [name, e] : ts) {
    h += ",\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[";
    for (std::size_t i = 0; i < e.shape.size(); ++i) {
      if (i) h += ',';
      h += std::to_string(e.shape[i]);
    }
    const std::uint64_t n = e.data.size() * 4;
    h += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + n) + "]}";
    off += n;
  }
  h += "}";
  while (h.size() % 8) h += ' ';
  std::ofstream o(p, std::ios::binary);
  const std::uint64_t hn = h.size();
  o.write(reinterpret_cast<const char*>(&hn), 8);
  o.write(h.data(), std::streamsize(h.size()));
  for (const auto& [name, e] : ts) o.write(reinterpret_cast<const char*>(e.data.data()), std::streamsize(e.data.size() * 4));
}

double gelu_new(double x) { return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))); }

}  // namespace

TEST_CASE("GPT-2 safetensors (Conv1D, fused qkv, biases) match a naive reference") {
  const int D = 16, H = 2, L = 2, V = 50, P = 32, F = 64, hd = D / H;
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0.0f, 0.3f);
  std::map<std::string, st_entry> ts;
  auto rnd = [&](std::vector<std::int64_t> shape, float scale = 1.0f, float bias = 0.0f) {
    st_entry e{shape, {}};
    std::int64_t n = 1;
    for (auto s : shape) n *= s;
    e.data.resize(std::size_t(n));
    for (auto& x : e.data) x = bias + scale * g(rng);
    return e;
  };
  ts["transformer.wte.weight"] = rnd({V, D});
  ts["transformer.wpe.weight"] = rnd({P, D});
  for (int l = 0; l < L; ++l) {
    const std::string h = "transformer.h." + std::to_string(l) + ".";
    ts[h + "ln_1.weight"] = rnd({D}, 0.1f, 1.0f);
    ts[h + "ln_1.bias"] = rnd({D}, 0.1f);
    ts[h + "attn.c_attn.weight"] = rnd({D, 3 * D});
    ts[h + "attn.c_attn.bias"] = rnd({3 * D}, 0.1f);
    ts[h + "attn.c_proj.weight"] = rnd({D, D});
    ts[h + "attn.c_proj.bias"] = rnd({D}, 0.1f);
    ts[h + "ln_2.weight"] = rnd({D}, 0.1f, 1.0f);
    ts[h + "ln_2.bias"] = rnd({D}, 0.1f);
    ts[h + "mlp.c_fc.weight"] = rnd({D, F});
    ts[h + "mlp.c_fc.bias"] = rnd({F}, 0.1f);
    ts[h + "mlp.c_proj.weight"] = rnd({F, D});
    ts[h + "mlp.c_proj.bias"] = rnd({D}, 0.1f);
  }
  ts["transformer.ln_f.weight"] = rnd({D}, 0.1f, 1.0f);
  ts["transformer.ln_f.bias"] = rnd({D}, 0.1f);
  const fs::path dir = fs::temp_directory_path() / "sysout_model_gpt2";
  fs::create_directories(dir);
  write_safetensors(dir / "model.safetensors", ts);
  {
    std::ofstream c(dir / "config.json");
    c << "{\"model_type\": \"gpt2\", \"n_embd\": 16, \"n_layer\": 2, \"n_head\": 2, \"n_positions\": 32,"
         " \"vocab_size\": 50, \"layer_norm_epsilon\": 1e-5, \"n_inner\": null, \"activation_function\": \"gelu_new\"}";
  }
  const auto m = load_hf_safetensors(dir);
  REQUIRE(m.cfg.architecture == arch::gpt2);
  CHECK(m.cfg.tied_embeddings);

  // naive reference
  const std::vector<int> toks = {3, 17, 42, 8, 8, 0, 49};
  const int T = int(toks.size());
  auto W = [&](const std::string& n) -> const std::vector<float>& { return ts.at(n).data; };
  auto ln = [&](const std::vector<double>& x, const std::string& n) {
    double mean = 0, var = 0;
    for (double v : x) mean += v;
    mean /= D;
    for (double v : x) var += (v - mean) * (v - mean);
    var /= D;
    std::vector<double> y(D);
    for (int i = 0; i < D; ++i) y[i] = (x[i] - mean) / std::sqrt(var + 1e-5) * W(n + ".weight")[i] + W(n + ".bias")[i];
    return y;
  };
  auto conv = [&](const std::vector<double>& x, const std::string& n, int in, int out) {  // x @ W + b
    std::vector<double> y(out);
    for (int o = 0; o < out; ++o) {
      double s = W(n + ".bias")[o];
      for (int i = 0; i < in; ++i) s += x[i] * W(n + ".weight")[std::size_t(i * out + o)];
      y[o] = s;
    }
    return y;
  };
  std::vector<std::vector<double>> x(T, std::vector<double>(D));
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < D; ++i) x[t][i] = W("transformer.wte.weight")[toks[t] * D + i] + W("transformer.wpe.weight")[t * D + i];
  for (int l = 0; l < L; ++l) {
    const std::string h = "transformer.h." + std::to_string(l) + ".";
    std::vector<std::vector<double>> qkv(T);
    for (int t = 0; t < T; ++t) qkv[t] = conv(ln(x[t], h + "ln_1"), h + "attn.c_attn", D, 3 * D);
    for (int t = 0; t < T; ++t) {
      std::vector<double> z(D, 0.0);
      for (int hh = 0; hh < H; ++hh) {
        std::vector<double> s(t + 1);
        double mx = -1e300, sum = 0;
        for (int j = 0; j <= t; ++j) {
          double d = 0;
          for (int i = 0; i < hd; ++i) d += qkv[t][hh * hd + i] * qkv[j][D + hh * hd + i];
          s[j] = d / std::sqrt(double(hd));
          mx = std::max(mx, s[j]);
        }
        for (auto& v : s) sum += (v = std::exp(v - mx));
        for (int j = 0; j <= t; ++j)
          for (int i = 0; i < hd; ++i) z[hh * hd + i] += s[j] / sum * qkv[j][2 * D + hh * hd + i];
      }
      qkv[t] = z;  // reuse as z
    }
    for (int t = 0; t < T; ++t) {
      const auto a = conv(qkv[t], h + "attn.c_proj", D, D);
      for (int i = 0; i < D; ++i) x[t][i] += a[i];
      auto u = conv(ln(x[t], h + "ln_2"), h + "mlp.c_fc", D, F);
      for (auto& v : u) v = gelu_new(v);
      const auto mo = conv(u, h + "mlp.c_proj", F, D);
      for (int i = 0; i < D; ++i) x[t][i] += mo[i];
    }
  }
  session s(m);
  auto logits = s.forward(toks, true);
  double md = 0;
  for (int t = 0; t < T; ++t) {
    const auto y = ln(x[t], "transformer.ln_f");
    for (int v = 0; v < V; ++v) {
      double ref = 0;
      for (int i = 0; i < D; ++i) ref += y[i] * W("transformer.wte.weight")[v * D + i];
      md = std::max(md, std::fabs(ref - logits.get(t, v)));
    }
  }
  MESSAGE("GPT-2 max |logit - naive double reference| = " << md);
  CHECK(md < 1e-4);  // f32 vs double over 2 layers of width 16

  // GPT-2 positions are learned: the cache cannot exceed n_positions
  CHECK_THROWS_AS(session(m, 33), sysout::error);
  // shape errors name the tensor
  ts["transformer.h.1.mlp.c_fc.bias"] = rnd({F + 1});
  write_safetensors(dir / "model.safetensors", ts);
  CHECK_THROWS_WITH_AS(load_hf_safetensors(dir), doctest::Contains("transformer.h.1.mlp.c_fc.bias"), sysout::error);
  fs::remove_all(dir);
}

TEST_CASE("stories260K as an HF LLaMA safetensors checkpoint: golden greedy tokens") {
  SYSOUT_REQUIRE_MODEL(bin, "stories260K.bin");
  const auto ck = io::read_llama2c(bin);
  const auto& c = ck.config;
  const int D = c.dim, KV = c.kv_dim(), F = c.hidden_dim, V = c.vocab_size, hd = c.head_size();
  std::map<std::string, st_entry> ts;
  auto take = [&](std::size_t off, std::vector<std::int64_t> shape) {
    std::int64_t n = 1;
    for (auto s : shape) n *= s;
    return st_entry{shape, std::vector<float>(ck.at(off), ck.at(off) + n)};
  };
  // Meta/llama2.c order (pairs 2i, 2i+1) -> HF rotate_half order (i, i + hd/2)
  auto to_hf = [&](st_entry e, int heads) {
    st_entry out = e;
    const std::int64_t cols = e.shape[1];
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < hd / 2; ++i)
        for (std::int64_t k = 0; k < cols; ++k) {
          out.data[std::size_t((h * hd + i) * cols + k)] = e.data[std::size_t((h * hd + 2 * i) * cols + k)];
          out.data[std::size_t((h * hd + hd / 2 + i) * cols + k)] = e.data[std::size_t((h * hd + 2 * i + 1) * cols + k)];
        }
    return out;
  };
  ts["model.embed_tokens.weight"] = take(ck.token_embedding, {V, D});
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const auto L = std::size_t(l);
    ts[p + "input_layernorm.weight"] = take(ck.rms_att + L * D, {D});
    ts[p + "self_attn.q_proj.weight"] = to_hf(take(ck.wq + L * D * D, {D, D}), c.n_heads);
    ts[p + "self_attn.k_proj.weight"] = to_hf(take(ck.wk + L * KV * D, {KV, D}), c.n_kv_heads);
    ts[p + "self_attn.v_proj.weight"] = take(ck.wv + L * KV * D, {KV, D});
    ts[p + "self_attn.o_proj.weight"] = take(ck.wo + L * D * D, {D, D});
    ts[p + "post_attention_layernorm.weight"] = take(ck.rms_ffn + L * D, {D});
    ts[p + "mlp.gate_proj.weight"] = take(ck.w1 + L * F * D, {F, D});
    ts[p + "mlp.down_proj.weight"] = take(ck.w2 + L * D * F, {D, F});
    ts[p + "mlp.up_proj.weight"] = take(ck.w3 + L * F * D, {F, D});
  }
  ts["model.norm.weight"] = take(ck.rms_final, {D});
  const fs::path dir = fs::temp_directory_path() / "sysout_model_hfllama";
  fs::create_directories(dir);
  write_safetensors(dir / "model.safetensors", ts);
  {
    std::ofstream o(dir / "config.json");
    o << "{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 5, \"num_attention_heads\": 8,"
         " \"num_key_value_heads\": 4, \"intermediate_size\": 172, \"vocab_size\": 512, \"rms_norm_eps\": 1e-5,"
         " \"rope_theta\": 10000.0, \"max_position_embeddings\": 512, \"tie_word_embeddings\": true}";
  }
  const auto m = load_hf_safetensors(dir);
  CHECK(m.cfg.rope == rope_style::neox);
  const auto fx = testing::read_logit_fixture(testing::source_dir() / "tests/fixtures/model/stories260K_greedy64.txt");
  session s(m);
  auto logits = s.forward(fx[0].tokens);
  std::vector<int> got;
  for (std::size_t i = 0; i < fx[0].greedy.size(); ++i) {
    got.push_back(argmax(logits.data_as<const float>(), V));
    logits = s.forward(std::vector<int>{got.back()});
  }
  CHECK(got == fx[0].greedy);
  fs::remove_all(dir);
}

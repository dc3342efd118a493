// A LLaMA transformer from a llama2.c checkpoint (io/llama2c.hpp). The float
// data stays in the checkpoint buffer; matrices point into it.
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "sysout/io/llama2c.hpp"
#include "sysout/model/weights.hpp"

namespace sysout::model {

inline transformer load_llama2c(const std::filesystem::path& path) {
  auto ck = std::make_shared<io::llama2c_checkpoint>(io::read_llama2c(path));
  const auto& h = ck->config;
  transformer m;
  m.source = path.string();
  config& c = m.cfg;
  c.architecture = arch::llama;
  c.name = path.stem().string();
  c.dim = h.dim;
  c.n_layers = h.n_layers;
  c.n_heads = h.n_heads;
  c.n_kv_heads = h.n_kv_heads;
  c.head_dim = h.head_size();
  c.ffn_dim = h.hidden_dim;
  c.vocab_size = h.vocab_size;
  c.max_seq_len = h.seq_len;
  c.norm = norm_kind::rms;
  c.norm_eps = 1e-5f;  // run.c
  c.rope = rope_style::interleaved;
  c.rope_theta = 10000.0f;
  c.mlp = mlp_kind::swiglu;
  c.tied_embeddings = h.shared_classifier;
  c.bos_id = 1;  // llama2.c / sentencepiece convention
  c.eos_id = 2;
  c.add_bos = true;
  c.validate(m.source);

  const auto D = std::int64_t(h.dim), F = std::int64_t(h.hidden_dim), KV = std::int64_t(h.kv_dim()),
             V = std::int64_t(h.vocab_size);
  auto mat = [&](std::size_t off, std::int64_t rows, std::int64_t cols, std::string name) {
    return make_matrix(io::ggml_type::f32, rows, cols, ck->at(off), std::move(name));
  };
  auto vec = [&](std::size_t off, std::int64_t n) {
    return norm_weights{std::vector<float>(ck->at(off), ck->at(off) + n), {}};
  };
  m.w.token_embd = mat(ck->token_embedding, V, D, "token_embedding_table");
  m.w.layers.resize(std::size_t(h.n_layers));
  for (int l = 0; l < h.n_layers; ++l) {
    auto& lw = m.w.layers[std::size_t(l)];
    const auto L = std::size_t(l);
    const std::string p = "layer" + std::to_string(l) + ".";
    lw.attn_norm = vec(ck->rms_att + L * std::size_t(D), D);
    lw.wq = mat(ck->wq + L * std::size_t(D * D), D, D, p + "wq");
    lw.wk = mat(ck->wk + L * std::size_t(KV * D), KV, D, p + "wk");
    lw.wv = mat(ck->wv + L * std::size_t(KV * D), KV, D, p + "wv");
    lw.wo = mat(ck->wo + L * std::size_t(D * D), D, D, p + "wo");
    lw.ffn_norm = vec(ck->rms_ffn + L * std::size_t(D), D);
    lw.w_gate = mat(ck->w1 + L * std::size_t(F * D), F, D, p + "w1");
    lw.w_down = mat(ck->w2 + L * std::size_t(D * F), D, F, p + "w2");
    lw.w_up = mat(ck->w3 + L * std::size_t(F * D), F, D, p + "w3");
  }
  m.w.output_norm = vec(ck->rms_final, D);
  m.w.output = mat(ck->wcls, V, D, "wcls");
  m.keep_alive.push_back(ck);
  return m;
}

}  // namespace sysout::model

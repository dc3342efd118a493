// A transformer from a GGUF file (llama.cpp's format) for the "llama" and
// "gemma3" architectures, with llama.cpp's tensor names (token_embd,
// blk.N.attn_q, ..., output_norm, output). Matrices stay quantized and point
// into the memory mapping; norm weights are copied to f32.
//
// Conventions taken from llama.cpp (src/llama-model.cpp), which wrote the files:
// - llama: RoPE "normal" mode = adjacent pairs (the HF converter permuted the q/k
//   rows so this equals HF's rotate_half); tied classifier when `output` is absent.
// - gemma3: NEOX RoPE (pairs i, i+d/2); the converter already stored RMSNorm
//   weights as (1 + w), so they are used as is; embeddings scaled by sqrt(dim);
//   sliding layers (window <arch>.attention.sliding_window) use RoPE base 10000,
//   every 6th layer is global with <arch>.rope.freq_base; query scale
//   1/sqrt(key_length) (query_pre_attn_scalar = head_dim for the released sizes
//   except 27B, which llama.cpp special-cases as 1/sqrt(dim/heads)).
#pragma once
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>

#include "sysout/io/ggml_quants.hpp"
#include "sysout/io/gguf.hpp"
#include "sysout/model/weights.hpp"

namespace sysout::model {

namespace detail {

inline matrix gguf_matrix(const io::gguf_file& f, const std::string& name, std::int64_t rows, std::int64_t cols) {
  const auto& t = f.tensor(name);
  if (t.ne[0] != cols || t.n_rows() != rows || t.ne[2] != 1 || t.ne[3] != 1)
    throw_error(f.path(), "tensor '", name, "' has ne ", t.ne_str(), ", expected [", cols, ", ", rows, "]");
  if (!io::can_dequantize(t.type)) throw_error(f.path(), "tensor '", name, "' has unsupported type ", io::type_name(t.type));
  return make_matrix(t.type, rows, cols, t.data, name);
}

inline norm_weights gguf_vector(const io::gguf_file& f, const std::string& name, std::int64_t n) {
  const auto& t = f.tensor(name);
  if (t.n_elements() != n || t.ne[0] != n)
    throw_error(f.path(), "tensor '", name, "' has ne ", t.ne_str(), ", expected [", n, "]");
  norm_weights w;
  w.w.resize(std::size_t(n));
  io::dequantize_row_ref(t.type, t.data, w.w.data(), n);
  return w;
}

}  // namespace detail

inline transformer load_gguf(const std::filesystem::path& path) {
  auto file = std::make_shared<io::gguf_file>(path);
  const io::gguf_file& f = *file;
  const std::string a = f.architecture();
  transformer m;
  m.source = path.string();
  config& c = m.cfg;
  if (a == "llama")
    c.architecture = arch::llama;
  else if (a == "gemma3")
    c.architecture = arch::gemma3;
  else
    throw_error(f.path(), "architecture '", a, "' is not supported (llama, gemma3)");
  c.name = f.find_string("general.name").value_or(path.stem().string());

  auto u = [&](const char* k) { return int(f.get_u32(f.arch_key(k))); };
  auto ou = [&](const char* k) { return f.find_u32(f.arch_key(k)); };
  c.dim = u("embedding_length");
  c.n_layers = u("block_count");
  c.ffn_dim = u("feed_forward_length");
  c.n_heads = u("attention.head_count");
  c.n_kv_heads = int(ou("attention.head_count_kv").value_or(std::uint32_t(c.n_heads)));
  c.head_dim = int(ou("attention.key_length").value_or(std::uint32_t(c.dim / c.n_heads)));
  c.max_seq_len = int(ou("context_length").value_or(0));
  c.norm = norm_kind::rms;
  c.norm_eps = f.get_f32(f.arch_key("attention.layer_norm_rms_epsilon"));
  c.rope_theta = f.find_f32(f.arch_key("rope.freq_base")).value_or(10000.0f);
  c.rope_theta_local = c.rope_theta;
  const auto& embd = f.tensor("token_embd.weight");
  c.vocab_size = int(embd.ne[1]);
  if (auto v = ou("vocab_size"); v && int(*v) != c.vocab_size)
    throw_error(f.path(), a, ".vocab_size is ", *v, " but token_embd.weight has ", c.vocab_size, " rows");
  if (auto rd = ou("rope.dimension_count"); rd && int(*rd) != c.head_dim)
    throw_error(f.path(), "partial RoPE (", *rd, " of ", c.head_dim, " dims) is not supported");
  c.bos_id = f.find_u32("tokenizer.ggml.bos_token_id") ? int(*f.find_u32("tokenizer.ggml.bos_token_id")) : -1;
  c.eos_id = f.find_u32("tokenizer.ggml.eos_token_id") ? int(*f.find_u32("tokenizer.ggml.eos_token_id")) : -1;
  c.add_bos = f.find_bool("tokenizer.ggml.add_bos_token").value_or(true);

  if (c.architecture == arch::llama) {
    c.rope = rope_style::interleaved;
    c.mlp = mlp_kind::swiglu;
  } else {  // gemma3
    c.rope = rope_style::neox;
    c.mlp = mlp_kind::geglu_tanh;
    c.qk_norm = true;
    c.post_norms = true;
    c.embed_scale = std::sqrt(float(c.dim));
    c.sliding_window = int(ou("attention.sliding_window").value_or(0));
    c.sliding_pattern = 6;
    c.rope_theta_local = 10000.0f;
    const bool is_27b = c.n_layers == 62;
    c.attn_scale = is_27b ? 1.0f / std::sqrt(float(c.dim / c.n_heads)) : 1.0f / std::sqrt(float(c.head_dim));
    c.final_logit_softcap = f.find_f32(f.arch_key("final_logit_softcapping")).value_or(0.0f);
    c.attn_logit_softcap = f.find_f32(f.arch_key("attn_logit_softcapping")).value_or(0.0f);
  }
  c.validate(f.path());

  const std::int64_t D = c.dim, F = c.ffn_dim, Q = c.q_dim(), KV = c.kv_dim(), V = c.vocab_size;
  m.w.token_embd = detail::gguf_matrix(f, "token_embd.weight", V, D);
  m.w.layers.resize(std::size_t(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l) {
    auto& lw = m.w.layers[std::size_t(l)];
    const std::string p = "blk." + std::to_string(l) + ".";
    lw.attn_norm = detail::gguf_vector(f, p + "attn_norm.weight", D);
    lw.wq = detail::gguf_matrix(f, p + "attn_q.weight", Q, D);
    lw.wk = detail::gguf_matrix(f, p + "attn_k.weight", KV, D);
    lw.wv = detail::gguf_matrix(f, p + "attn_v.weight", KV, D);
    lw.wo = detail::gguf_matrix(f, p + "attn_output.weight", D, Q);
    lw.ffn_norm = detail::gguf_vector(f, p + "ffn_norm.weight", D);
    lw.w_gate = detail::gguf_matrix(f, p + "ffn_gate.weight", F, D);
    lw.w_up = detail::gguf_matrix(f, p + "ffn_up.weight", F, D);
    lw.w_down = detail::gguf_matrix(f, p + "ffn_down.weight", D, F);
    if (c.qk_norm) {
      lw.q_norm = detail::gguf_vector(f, p + "attn_q_norm.weight", c.head_dim);
      lw.k_norm = detail::gguf_vector(f, p + "attn_k_norm.weight", c.head_dim);
    }
    if (c.post_norms) {
      lw.post_attn_norm = detail::gguf_vector(f, p + "post_attention_norm.weight", D);
      lw.post_ffn_norm = detail::gguf_vector(f, p + "post_ffw_norm.weight", D);
    }
  }
  m.w.output_norm = detail::gguf_vector(f, "output_norm.weight", D);
  c.tied_embeddings = f.find_tensor("output.weight") == nullptr;
  m.w.output = c.tied_embeddings ? m.w.token_embd : detail::gguf_matrix(f, "output.weight", V, D);
  m.keep_alive.push_back(file);
  return m;
}

}  // namespace sysout::model

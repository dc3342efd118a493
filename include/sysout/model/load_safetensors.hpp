// A transformer from a Hugging Face checkpoint: model.safetensors + config.json
// (a directory holding both, or the .safetensors path with config.json beside it).
// Architectures, from config.json "model_type" / the tensor names:
// - "gpt2": GPT2LMHeadModel / GPT2Model names (transformer.h.N.attn.c_attn, ...).
//   GPT-2's Conv1D stores weights as [in, out]; they are transposed to [out, in]
//   f32 at load, and the fused c_attn [D, 3D] is split into q, k, v.
// - "llama" (and "mistral"): model.layers.N.self_attn.q_proj, ...; HF keeps q/k
//   rows in rotate_half order, so RoPE pairs (i, i + d/2) (rope_style::neox)
//   - llama.cpp's converter permutes the rows instead and uses adjacent pairs.
// F32/F16/BF16 Linear weights are used in place (no copy).
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "sysout/io/ggml_quants.hpp"
#include "sysout/io/hf_config.hpp"
#include "sysout/io/safetensors.hpp"
#include "sysout/model/weights.hpp"

namespace sysout::model {

namespace detail {

inline io::ggml_type ggml_of(const io::safetensors_file& f, const io::st_tensor_info& t) {
  switch (t.type) {
    case io::st_dtype::f32: return io::ggml_type::f32;
    case io::st_dtype::f16: return io::ggml_type::f16;
    case io::st_dtype::bf16: return io::ggml_type::bf16;
    default: throw_error(f.path(), "tensor '", t.name, "' has dtype ", io::st_dtype_name(t.type), " (want F32, F16 or BF16)");
  }
}

inline const io::st_tensor_info& st_expect(const io::safetensors_file& f, const std::string& name,
                                           std::vector<std::int64_t> shape) {
  const auto& t = f.info(name);
  if (t.shape != shape) {
    std::string want = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) want += (i ? ", " : "") + std::to_string(shape[i]);
    throw_error(f.path(), "tensor '", name, "' has shape ", t.shape_str(), ", expected ", want, "]");
  }
  return t;
}

// All elements as f32 (row-major as stored).
inline std::vector<float> st_f32(const io::safetensors_file& f, const io::st_tensor_info& t) {
  std::vector<float> v(static_cast<std::size_t>(t.n_elements()));
  io::dequantize_row_ref(ggml_of(f, t), t.data, v.data(), t.n_elements());
  return v;
}

inline matrix st_matrix(const io::safetensors_file& f, const std::string& name, std::int64_t rows, std::int64_t cols) {
  const auto& t = st_expect(f, name, {rows, cols});
  return make_matrix(ggml_of(f, t), rows, cols, t.data, name);
}

inline norm_weights st_norm(const io::safetensors_file& f, const std::string& w, const std::string& b, std::int64_t n) {
  norm_weights nw;
  nw.w = st_f32(f, st_expect(f, w, {n}));
  if (!b.empty()) nw.b = st_f32(f, st_expect(f, b, {n}));
  return nw;
}

}  // namespace detail

inline transformer load_hf_safetensors(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const fs::path st_path = fs::is_directory(path) ? path / "model.safetensors" : path;
  const fs::path cfg_path = st_path.parent_path() / "config.json";
  if (!fs::exists(cfg_path)) throw_error(st_path.string(), "config.json not found next to it (", cfg_path.string(), ")");
  const auto hc = io::hf_config::load(cfg_path);
  auto file = std::make_shared<io::safetensors_file>(st_path);
  const io::safetensors_file& f = *file;
  transformer m;
  m.source = st_path.string();
  config& c = m.cfg;
  const std::string type = hc.find_string("model_type").value_or("");
  c.name = hc.find_string("_name_or_path").value_or(st_path.parent_path().filename().string());

  if (type == "gpt2") {
    c.architecture = arch::gpt2;
    c.dim = int(hc.get_int("n_embd"));
    c.n_layers = int(hc.get_int("n_layer"));
    c.n_heads = c.n_kv_heads = int(hc.get_int("n_head"));
    c.head_dim = c.dim / c.n_heads;
    c.ffn_dim = int(hc.find_int("n_inner").value_or(4 * c.dim));
    c.vocab_size = int(hc.get_int("vocab_size"));
    c.max_seq_len = int(hc.get_int("n_positions"));
    c.norm = norm_kind::layer;
    c.norm_eps = float(hc.find_double("layer_norm_epsilon").value_or(1e-5));
    c.rope = rope_style::none;
    c.mlp = mlp_kind::gelu_tanh;
    c.bos_id = c.eos_id = int(hc.find_int("bos_token_id").value_or(50256));
    c.add_bos = false;  // GPT-2 prompts have no BOS by default (the papers' "no BOS" setting)
    c.validate(m.source);
    const std::string p = f.find_tensor("transformer.wte.weight") ? "transformer." : "";
    const std::int64_t D = c.dim, F = c.ffn_dim;
    m.w.token_embd = detail::st_matrix(f, p + "wte.weight", c.vocab_size, D);
    m.w.pos_embd = detail::st_matrix(f, p + "wpe.weight", c.max_seq_len, D);
    // Conv1D weight [in, out] -> owned f32 [out, in]
    auto conv = [&](const std::string& name, std::int64_t in, std::int64_t out) {
      const auto w = detail::st_f32(f, detail::st_expect(f, name, {in, out}));
      std::vector<float> t(w.size());
      for (std::int64_t i = 0; i < in; ++i)
        for (std::int64_t o = 0; o < out; ++o) t[std::size_t(o * in + i)] = w[std::size_t(i * out + o)];
      return m.own(std::move(t));
    };
    m.w.layers.resize(std::size_t(c.n_layers));
    for (int l = 0; l < c.n_layers; ++l) {
      auto& lw = m.w.layers[std::size_t(l)];
      const std::string h = p + "h." + std::to_string(l) + ".";
      lw.attn_norm = detail::st_norm(f, h + "ln_1.weight", h + "ln_1.bias", D);
      const float* qkv = conv(h + "attn.c_attn.weight", D, 3 * D);  // [3D, D]: q rows, then k, then v
      lw.wq = make_matrix(io::ggml_type::f32, D, D, qkv, h + "attn.c_attn.q");
      lw.wk = make_matrix(io::ggml_type::f32, D, D, qkv + D * D, h + "attn.c_attn.k");
      lw.wv = make_matrix(io::ggml_type::f32, D, D, qkv + 2 * D * D, h + "attn.c_attn.v");
      const auto b = detail::st_f32(f, detail::st_expect(f, h + "attn.c_attn.bias", {3 * D}));
      lw.bq.assign(b.begin(), b.begin() + D);
      lw.bk.assign(b.begin() + D, b.begin() + 2 * D);
      lw.bv.assign(b.begin() + 2 * D, b.end());
      lw.wo = make_matrix(io::ggml_type::f32, D, D, conv(h + "attn.c_proj.weight", D, D), h + "attn.c_proj");
      lw.bo = detail::st_f32(f, detail::st_expect(f, h + "attn.c_proj.bias", {D}));
      lw.ffn_norm = detail::st_norm(f, h + "ln_2.weight", h + "ln_2.bias", D);
      lw.w_up = make_matrix(io::ggml_type::f32, F, D, conv(h + "mlp.c_fc.weight", D, F), h + "mlp.c_fc");
      lw.b_up = detail::st_f32(f, detail::st_expect(f, h + "mlp.c_fc.bias", {F}));
      lw.w_down = make_matrix(io::ggml_type::f32, D, F, conv(h + "mlp.c_proj.weight", F, D), h + "mlp.c_proj");
      lw.b_down = detail::st_f32(f, detail::st_expect(f, h + "mlp.c_proj.bias", {D}));
    }
    m.w.output_norm = detail::st_norm(f, p + "ln_f.weight", p + "ln_f.bias", D);
    c.tied_embeddings = f.find_tensor("lm_head.weight") == nullptr;
    m.w.output = c.tied_embeddings ? m.w.token_embd : detail::st_matrix(f, "lm_head.weight", c.vocab_size, D);
  } else if (type == "llama" || type == "mistral") {
    c.architecture = arch::llama;
    c.dim = int(hc.get_int("hidden_size"));
    c.n_layers = int(hc.get_int("num_hidden_layers"));
    c.n_heads = int(hc.get_int("num_attention_heads"));
    c.n_kv_heads = int(hc.find_int("num_key_value_heads").value_or(c.n_heads));
    c.head_dim = int(hc.find_int("head_dim").value_or(c.dim / c.n_heads));
    c.ffn_dim = int(hc.get_int("intermediate_size"));
    c.vocab_size = int(hc.get_int("vocab_size"));
    c.max_seq_len = int(hc.find_int("max_position_embeddings").value_or(0));
    c.norm = norm_kind::rms;
    c.norm_eps = float(hc.find_double("rms_norm_eps").value_or(1e-5));
    c.rope = rope_style::neox;
    c.rope_theta = float(hc.find_double("rope_theta").value_or(10000.0));
    c.mlp = mlp_kind::swiglu;
    c.bos_id = int(hc.find_int("bos_token_id").value_or(1));
    c.eos_id = int(hc.find_int("eos_token_id").value_or(2));
    c.validate(m.source);
    const std::int64_t D = c.dim, F = c.ffn_dim, Q = c.q_dim(), KV = c.kv_dim(), V = c.vocab_size;
    m.w.token_embd = detail::st_matrix(f, "model.embed_tokens.weight", V, D);
    m.w.layers.resize(std::size_t(c.n_layers));
    for (int l = 0; l < c.n_layers; ++l) {
      auto& lw = m.w.layers[std::size_t(l)];
      const std::string p = "model.layers." + std::to_string(l) + ".";
      lw.attn_norm = detail::st_norm(f, p + "input_layernorm.weight", "", D);
      lw.wq = detail::st_matrix(f, p + "self_attn.q_proj.weight", Q, D);
      lw.wk = detail::st_matrix(f, p + "self_attn.k_proj.weight", KV, D);
      lw.wv = detail::st_matrix(f, p + "self_attn.v_proj.weight", KV, D);
      lw.wo = detail::st_matrix(f, p + "self_attn.o_proj.weight", D, Q);
      lw.ffn_norm = detail::st_norm(f, p + "post_attention_layernorm.weight", "", D);
      lw.w_gate = detail::st_matrix(f, p + "mlp.gate_proj.weight", F, D);
      lw.w_up = detail::st_matrix(f, p + "mlp.up_proj.weight", F, D);
      lw.w_down = detail::st_matrix(f, p + "mlp.down_proj.weight", D, F);
    }
    m.w.output_norm = detail::st_norm(f, "model.norm.weight", "", D);
    const bool tie = hc.find_bool("tie_word_embeddings").value_or(f.find_tensor("lm_head.weight") == nullptr);
    c.tied_embeddings = tie;
    m.w.output = tie ? m.w.token_embd : detail::st_matrix(f, "lm_head.weight", V, D);
  } else {
    throw_error(cfg_path.string(), "model_type '", type, "' is not supported (gpt2, llama, mistral)");
  }
  m.keep_alive.push_back(file);
  return m;
}

}  // namespace sysout::model

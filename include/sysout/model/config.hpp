// Hyper-parameters of the transformers sysout runs: one aggregate for the
// LLaMA family (stories260K, SmolLM2), Gemma 3 and GPT-2. Loaders fill it
// from the file's own metadata; defaults are those of LLaMA.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "sysout/core/error.hpp"

namespace sysout::model {

enum class arch : std::uint8_t { llama, gemma3, gpt2 };

constexpr std::string_view arch_name(arch a) noexcept {
  switch (a) {
    case arch::llama: return "llama";
    case arch::gemma3: return "gemma3";
    case arch::gpt2: return "gpt2";
  }
  return "?";
}

// How RoPE pairs the dimensions of a head.
//   interleaved: (x[2i], x[2i+1]) - llama2.c, and llama.cpp's "normal" mode that LLaMA
//                GGUFs use (the HF->GGUF converter permutes q/k rows so this equals
//                HF's rotate_half);
//   neox:        (x[i], x[i + d/2]) - Gemma, GPT-NeoX, HF rotate_half on unpermuted weights.
enum class rope_style : std::uint8_t { none, interleaved, neox };
enum class norm_kind : std::uint8_t { rms, layer };
enum class mlp_kind : std::uint8_t {
  swiglu,     // down(silu(gate x) * up x)            LLaMA
  geglu_tanh, // down(gelu_tanh(gate x) * up x)       Gemma 3
  gelu_tanh,  // down(gelu_tanh(up x + b) ) + b       GPT-2 ("gelu_new")
};

// Which attention the forward pass runs. Only plain softmax exists in the model
// area; the attention-variants area plugs in here (see forward.hpp: attend()).
enum class attention_variant : std::uint8_t { softmax };

struct config {
  arch architecture = arch::llama;
  std::string name;

  int dim = 0;          // residual width D
  int n_layers = 0;
  int n_heads = 0;      // query heads Hq
  int n_kv_heads = 0;   // key/value heads Hkv (GQA when < Hq)
  int head_dim = 0;     // d
  int ffn_dim = 0;      // F
  int vocab_size = 0;   // V
  int max_seq_len = 0;  // positions the model was trained for (GPT-2: learned positions)

  norm_kind norm = norm_kind::rms;
  float norm_eps = 1e-5f;

  rope_style rope = rope_style::interleaved;
  float rope_theta = 10000.0f;        // base of global layers
  float rope_theta_local = 10000.0f;  // base of sliding-window layers (Gemma 3)

  // Sliding-window attention: a key at position j is visible from query i when
  // i - j < sliding_window (llama.cpp's LLAMA_SWA_TYPE_STANDARD). With
  // sliding_pattern = p > 0, layer l is global when (l + 1) % p == 0, else local
  // (Gemma 3: p = 6, five local layers then one global).
  int sliding_window = 0;
  int sliding_pattern = 0;

  mlp_kind mlp = mlp_kind::swiglu;
  bool qk_norm = false;     // RMSNorm on each q and k head before RoPE (Gemma 3)
  bool post_norms = false;  // RMSNorm on the attention and MLP outputs before the residual add (Gemma 3)
  bool tied_embeddings = true;

  float embed_scale = 1.0f;  // Gemma: sqrt(dim)
  float attn_scale = 0.0f;   // 0: 1/sqrt(head_dim); Gemma 3: 1/sqrt(query_pre_attn_scalar)
  float attn_logit_softcap = 0.0f;   // 0: none (Gemma 2 style tanh capping)
  float final_logit_softcap = 0.0f;  // 0: none

  int bos_id = -1;
  int eos_id = -1;
  bool add_bos = true;  // whether prompts get a BOS by default (the tokenizer/metadata decides)

  attention_variant attention = attention_variant::softmax;

  bool is_sliding(int layer) const noexcept {
    return sliding_window > 0 && (sliding_pattern <= 0 || (layer + 1) % sliding_pattern != 0);
  }
  float rope_base(int layer) const noexcept { return is_sliding(layer) ? rope_theta_local : rope_theta; }
  float query_scale() const noexcept {
    return attn_scale > 0.0f ? attn_scale : 1.0f / std::sqrt(float(head_dim));
  }
  int q_dim() const noexcept { return n_heads * head_dim; }
  int kv_dim() const noexcept { return n_kv_heads * head_dim; }

  void validate(const std::string& where) const {
    if (dim <= 0 || n_layers <= 0 || n_heads <= 0 || n_kv_heads <= 0 || head_dim <= 0 || ffn_dim <= 0 ||
        vocab_size <= 0)
      throw_error(where, "config has a non-positive size: dim=", dim, " n_layers=", n_layers, " n_heads=", n_heads,
                  " n_kv_heads=", n_kv_heads, " head_dim=", head_dim, " ffn_dim=", ffn_dim,
                  " vocab_size=", vocab_size);
    if (n_heads % n_kv_heads != 0)
      throw_error(where, "n_heads ", n_heads, " is not a multiple of n_kv_heads ", n_kv_heads);
    if (rope != rope_style::none && head_dim % 2 != 0)
      throw_error(where, "head_dim ", head_dim, " is odd; RoPE needs pairs");
    if (architecture == arch::gpt2 && max_seq_len <= 0)
      throw_error(where, "GPT-2 needs max_seq_len (learned positions), got ", max_seq_len);
  }
};

}  // namespace sysout::model

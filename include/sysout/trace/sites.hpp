// Hook sites: the named places in a transformer forward pass where an
// activation can be read or modified. One vocabulary, three spellings:
//   site_name(s)                 "layer_out"            (sysout's own)
//   transformer_lens_name(s, l)  "blocks.3.hook_resid_post"  (TransformerLens)
//   llama_cpp_name(s, l)         "l_out-3"              (llama.cpp graph callback names,
//                                                        src/llama-model.cpp / llama-graph.cpp)
// and parse_site_name() reads any of them back, so a tracer can sit behind the
// reference transformer, a TransformerLens dump or llama.cpp's cb_eval.
//
// Shapes a hook sees (T = tokens in this call, Tk = keys visible = past + T):
//   per-token sites                    [T, D]   (D = dim, q/k/v: heads*head_dim, z: Hq*head_dim,
//                                                down_proj_in: ffn dim, logits: vocab)
//   attn_scores, attn_probs            [Hq, T, Tk]
#pragma once
#include <array>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sysout::trace {

enum class site : std::uint8_t {
  embed,           // token (+ position) embedding, after any embedding scale   [T, D]
  attn_norm_out,   // input of the attention block after its norm               [T, D]
  q_pre_rope,      // queries before RoPE (after QK-norm where the model has it) [T, Hq*d]
  q,               // queries after RoPE                                        [T, Hq*d]
  k_pre_rope,      // keys before RoPE                                          [T, Hkv*d]
  k,               // keys after RoPE (what the KV cache stores)                [T, Hkv*d]
  v,               // values                                                    [T, Hkv*d]
  attn_scores,     // scaled q.k logits, masked entries -inf                    [Hq, T, Tk]
  attn_probs,      // softmax of the scores (the attention pattern)             [Hq, T, Tk]
  attn_z,          // per-head attention output, heads concatenated, before o   [T, Hq*d]
  attn_out,        // attention block output added to the residual (after o and
                   // any post-attention norm)                                  [T, D]
  resid_mid,       // residual stream between attention and MLP                 [T, D]
  mlp_norm_out,    // MLP input after its norm                                  [T, D]
  down_proj_in,    // act(gate) * up: where massive activations are born         [T, F]
  mlp_out,         // MLP block output added to the residual                    [T, D]
  layer_out,       // residual stream after the layer (resid_post)              [T, D]
  final_norm_out,  // after the final norm                                      [T, D]
  logits,          // classifier output                                         [T, V]
};

inline constexpr int site_count = int(site::logits) + 1;

inline constexpr std::array<site, site_count> all_sites = {
    site::embed,     site::attn_norm_out, site::q_pre_rope, site::q,        site::k_pre_rope,
    site::k,         site::v,             site::attn_scores, site::attn_probs, site::attn_z,
    site::attn_out,  site::resid_mid,     site::mlp_norm_out, site::down_proj_in, site::mlp_out,
    site::layer_out, site::final_norm_out, site::logits};

// Sites outside the layer stack (layer index is -1 for them).
constexpr bool is_global_site(site s) noexcept {
  return s == site::embed || s == site::final_norm_out || s == site::logits;
}
// Sites whose tensor is [Hq, T, Tk] rather than [T, features].
constexpr bool is_attention_matrix_site(site s) noexcept {
  return s == site::attn_scores || s == site::attn_probs;
}

constexpr std::string_view site_name(site s) noexcept {
  switch (s) {
    case site::embed: return "embed";
    case site::attn_norm_out: return "attn_norm_out";
    case site::q_pre_rope: return "q_pre_rope";
    case site::q: return "q";
    case site::k_pre_rope: return "k_pre_rope";
    case site::k: return "k";
    case site::v: return "v";
    case site::attn_scores: return "attn_scores";
    case site::attn_probs: return "attn_probs";
    case site::attn_z: return "attn_z";
    case site::attn_out: return "attn_out";
    case site::resid_mid: return "resid_mid";
    case site::mlp_norm_out: return "mlp_norm_out";
    case site::down_proj_in: return "down_proj_in";
    case site::mlp_out: return "mlp_out";
    case site::layer_out: return "layer_out";
    case site::final_norm_out: return "final_norm_out";
    case site::logits: return "logits";
  }
  return "?";
}

inline std::optional<site> site_from_name(std::string_view n) noexcept {
  for (site s : all_sites)
    if (site_name(s) == n) return s;
  return std::nullopt;
}

// TransformerLens hook names. Global sites ignore the layer.
inline std::string transformer_lens_name(site s, int layer) {
  const std::string b = "blocks." + std::to_string(layer) + ".";
  switch (s) {
    case site::embed: return "hook_embed";
    case site::attn_norm_out: return b + "ln1.hook_normalized";
    case site::q_pre_rope: return b + "attn.hook_q";
    case site::q: return b + "attn.hook_rot_q";
    case site::k_pre_rope: return b + "attn.hook_k";
    case site::k: return b + "attn.hook_rot_k";
    case site::v: return b + "attn.hook_v";
    case site::attn_scores: return b + "attn.hook_attn_scores";
    case site::attn_probs: return b + "attn.hook_pattern";
    case site::attn_z: return b + "attn.hook_z";
    case site::attn_out: return b + "hook_attn_out";
    case site::resid_mid: return b + "hook_resid_mid";
    case site::mlp_norm_out: return b + "ln2.hook_normalized";
    case site::down_proj_in: return b + "mlp.hook_post";
    case site::mlp_out: return b + "hook_mlp_out";
    case site::layer_out: return b + "hook_resid_post";
    case site::final_norm_out: return "ln_final.hook_normalized";
    case site::logits: return "logits";
  }
  return "?";
}

// llama.cpp graph tensor names as its cb_eval callback sees them ("<op>-<layer>"
// for per-layer tensors). llama.cpp names q and k "Qcur"/"Kcur" both before and
// after RoPE; we give the post-RoPE tensors those names and parse both ways.
// down_proj_in is "ffn_swiglu" (LLaMA) / "ffn_geglu" (Gemma) / "ffn_gelu" (GPT-2)
// in llama.cpp; we write "ffn_swiglu" and accept all (and the older "ffn_gate_par").
inline std::string llama_cpp_name(site s, int layer) {
  std::string l(1, '-');  // appended, not "-" + ...: g++ 12 -Wrestrict false positive on the insert
  l += std::to_string(layer);
  switch (s) {
    case site::embed: return "inp_embd";
    case site::attn_norm_out: return "attn_norm" + l;
    case site::q_pre_rope: return "Qcur_pre_rope" + l;
    case site::q: return "Qcur" + l;
    case site::k_pre_rope: return "Kcur_pre_rope" + l;
    case site::k: return "Kcur" + l;
    case site::v: return "Vcur" + l;
    case site::attn_scores: return "kq" + l;
    case site::attn_probs: return "kq_soft_max" + l;
    case site::attn_z: return "kqv_out" + l;
    case site::attn_out: return "attn_out" + l;
    case site::resid_mid: return "ffn_inp" + l;
    case site::mlp_norm_out: return "ffn_norm" + l;
    case site::down_proj_in: return "ffn_swiglu" + l;
    case site::mlp_out: return "ffn_out" + l;
    case site::layer_out: return "l_out" + l;
    case site::final_norm_out: return "result_norm";
    case site::logits: return "result_output";
  }
  return "?";
}

struct parsed_site {
  site s;
  int layer;  // -1 for global sites
};

namespace detail {
inline bool parse_int(std::string_view t, int& out) {
  if (t.empty()) return false;
  const auto r = std::from_chars(t.data(), t.data() + t.size(), out);
  return r.ec == std::errc{} && r.ptr == t.data() + t.size() && out >= 0;
}
inline std::optional<parsed_site> parse_llama_cpp(std::string_view n) {
  if (n == "inp_embd") return parsed_site{site::embed, -1};
  if (n == "result_norm") return parsed_site{site::final_norm_out, -1};
  if (n == "result_output") return parsed_site{site::logits, -1};
  const auto dash = n.rfind('-');
  if (dash == std::string_view::npos) return std::nullopt;
  int layer = 0;
  if (!parse_int(n.substr(dash + 1), layer)) return std::nullopt;
  const auto op = n.substr(0, dash);
  struct entry {
    std::string_view op;
    site s;
  };
  static constexpr entry table[] = {
      {"attn_norm", site::attn_norm_out}, {"Qcur_pre_rope", site::q_pre_rope}, {"Qcur", site::q},
      {"Kcur_pre_rope", site::k_pre_rope}, {"Kcur", site::k},                  {"Vcur", site::v},
      {"kq", site::attn_scores},           {"kq_soft_max", site::attn_probs},
      {"kq_soft_max_ext", site::attn_probs}, {"kqv_out", site::attn_z},
      {"attn_out", site::attn_out},        {"attn_post_norm", site::attn_out},
      {"ffn_inp", site::resid_mid},        {"ffn_norm", site::mlp_norm_out},
      {"ffn_swiglu", site::down_proj_in},  {"ffn_geglu", site::down_proj_in},
      {"ffn_gelu", site::down_proj_in},    {"ffn_gate_par", site::down_proj_in},
      {"ffn_out", site::mlp_out},          {"ffn_post_norm", site::mlp_out},
      {"l_out", site::layer_out}};
  for (const auto& e : table)
    if (e.op == op) return parsed_site{e.s, layer};
  return std::nullopt;
}
inline std::optional<parsed_site> parse_transformer_lens(std::string_view n) {
  if (n == "hook_embed") return parsed_site{site::embed, -1};
  if (n == "ln_final.hook_normalized") return parsed_site{site::final_norm_out, -1};
  if (n == "logits") return parsed_site{site::logits, -1};
  constexpr std::string_view pre = "blocks.";
  if (n.substr(0, pre.size()) != pre) return std::nullopt;
  n.remove_prefix(pre.size());
  const auto dot = n.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  int layer = 0;
  if (!parse_int(n.substr(0, dot), layer)) return std::nullopt;
  const auto rest = n.substr(dot + 1);
  for (site s : all_sites) {
    if (is_global_site(s)) continue;
    const std::string full = transformer_lens_name(s, layer);
    if (std::string_view(full).substr(full.find('.', pre.size()) + 1) == rest) return parsed_site{s, layer};
  }
  return std::nullopt;
}
}  // namespace detail

// Reads a TransformerLens or llama.cpp name (or sysout's "<site>-<layer>" /
// "<site>" for global sites) back into a site and layer.
inline std::optional<parsed_site> parse_site_name(std::string_view n) {
  if (auto p = detail::parse_transformer_lens(n)) return p;
  if (auto p = detail::parse_llama_cpp(n)) return p;
  if (auto s = site_from_name(n); s && is_global_site(*s)) return parsed_site{*s, -1};
  const auto dash = n.rfind('-');
  if (dash != std::string_view::npos) {
    int layer = 0;
    auto s = site_from_name(n.substr(0, dash));
    if (s && !is_global_site(*s) && detail::parse_int(n.substr(dash + 1), layer)) return parsed_site{*s, layer};
  }
  return std::nullopt;
}

}  // namespace sysout::trace

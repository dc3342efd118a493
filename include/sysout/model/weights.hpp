// Weights of a transformer as plain structs: per-layer matrices that may stay
// quantized in the memory-mapped file (ggml type + rows + cols + pointer), and
// f32 vectors for norms and biases. A `transformer` owns what keeps the
// pointers alive (the mapping, or buffers a loader had to convert).
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "sysout/core/error.hpp"
#include "sysout/io/ggml_types.hpp"
#include "sysout/model/config.hpp"

namespace sysout::model {

// A weight matrix W [rows = out features, cols = in features], row-major with
// each row contiguous (ggml's ne[0] = cols), stored as `type` blocks.
struct matrix {
  io::ggml_type type = io::ggml_type::f32;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  const std::byte* data = nullptr;
  std::int64_t row_bytes = 0;
  std::string name;

  bool empty() const noexcept { return data == nullptr; }
  const std::byte* row(std::int64_t r) const noexcept { return data + r * row_bytes; }
};

inline matrix make_matrix(io::ggml_type t, std::int64_t rows, std::int64_t cols, const void* data,
                          std::string name) {
  if (rows <= 0 || cols <= 0) throw_error(name, "matrix of ", rows, " x ", cols, " is empty");
  matrix m;
  m.type = t;
  m.rows = rows;
  m.cols = cols;
  m.data = static_cast<const std::byte*>(data);
  m.row_bytes = io::row_size(t, cols);
  m.name = std::move(name);
  return m;
}

// Norm weight (and bias for LayerNorm), f32.
struct norm_weights {
  std::vector<float> w;
  std::vector<float> b;  // empty for RMSNorm
  bool empty() const noexcept { return w.empty(); }
};

struct layer_weights {
  norm_weights attn_norm;       // before attention
  matrix wq, wk, wv, wo;        // [Hq*d, D], [Hkv*d, D], [Hkv*d, D], [D, Hq*d]
  std::vector<float> bq, bk, bv, bo;  // GPT-2 biases (empty otherwise)
  norm_weights q_norm, k_norm;  // per-head RMSNorm [d] (Gemma 3)
  norm_weights post_attn_norm;  // Gemma 3
  norm_weights ffn_norm;        // before the MLP
  matrix w_gate, w_up, w_down;  // [F, D], [F, D], [D, F]; GPT-2 has no gate
  std::vector<float> b_up, b_down;
  norm_weights post_ffn_norm;   // Gemma 3
};

struct weights {
  matrix token_embd;      // [V, D]
  matrix pos_embd;        // [max_seq_len, D] (GPT-2)
  std::vector<layer_weights> layers;
  norm_weights output_norm;
  matrix output;          // [V, D]; the same as token_embd when tied
};

// Move-only: matrices point into owned_f32 / keep_alive, which a copy would
// duplicate while the copy's matrices still pointed at the original's buffers.
struct transformer {
  transformer() = default;
  transformer(transformer&&) noexcept = default;
  transformer& operator=(transformer&&) noexcept = default;
  transformer(const transformer&) = delete;
  transformer& operator=(const transformer&) = delete;

  config cfg;
  weights w;
  std::string source;  // file it was loaded from
  // Keeps mmaps and converted buffers alive for as long as the weights point into them.
  std::vector<std::shared_ptr<const void>> keep_alive;
  std::deque<std::vector<float>> owned_f32;

  // Stores a converted f32 buffer and returns a pointer that stays valid.
  const float* own(std::vector<float> v) {
    owned_f32.push_back(std::move(v));
    return owned_f32.back().data();
  }
};

}  // namespace sysout::model

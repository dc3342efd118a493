// The model side of the `sysout` example: load a model and its tokenizer,
// run a sentence with a recorder attached, scan down_proj weights, measure
// perplexity over a corpus with interventions attached.
#pragma once
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "sysout/core/half.hpp"
#include "sysout/detect.hpp"
#include "sysout/model/forward.hpp"
#include "sysout/model/load_gguf.hpp"
#include "sysout/model/load_llama2c.hpp"
#include "sysout/model/load_safetensors.hpp"
#include "sysout/model/matmul.hpp"
#include "sysout/model/perplexity.hpp"
#include "sysout/model/tokenizer.hpp"
#include "sysout/model/tokenizer_gguf.hpp"
#include "sysout/trace.hpp"

namespace sysout_cli {

using namespace sysout;

struct loaded_model {
  model::transformer m;
  sysout::tokenizer tok;
  std::string path;
  std::string name;
};

inline void progress(const char* fmt, auto... args) {
  std::fprintf(stderr, fmt, args...);
  std::fflush(stderr);
}

inline std::string default_model() { return "models/SmolLM2-135M-Instruct.Q4_1.gguf"; }
inline std::string default_corpus() { return "../shared/models/wikitext2-test.raw"; }

inline loaded_model load_model(const options& o) {
  loaded_model lm;
  lm.path = o.model.empty() ? default_model() : o.model;
  const fs::path p(lm.path);
  if (!fs::exists(p))
    throw_error(lm.path, "model not found", o.model.empty() ? " (the default; fetch it with tools/fetch_models.py or pass --model)" : "");
  const auto ext = p.extension().string();
  if (fs::is_directory(p) || ext == ".safetensors") {
    // Hugging Face checkpoint: model.safetensors + config.json; GPT-2's byte-level
    // BPE from vocab.json + merges.txt (or OpenAI's encoder.json + vocab.bpe).
    lm.m = model::load_hf_safetensors(p);
    const fs::path dir = fs::is_directory(p) ? p : p.parent_path();
    fs::path enc, bpe;
    for (auto [a, b] : {std::pair{"vocab.json", "merges.txt"}, std::pair{"encoder.json", "vocab.bpe"}})
      if (fs::exists(dir / a) && fs::exists(dir / b)) {
        enc = dir / a;
        bpe = dir / b;
        break;
      }
    if (enc.empty() && lm.m.cfg.architecture == model::arch::gpt2 && lm.m.cfg.vocab_size == 50257 &&
        fs::exists("../shared/models/gpt2_encoder.json")) {
      enc = "../shared/models/gpt2_encoder.json";  // OpenAI's GPT-2 vocabulary (the same for every GPT-2 size)
      bpe = "../shared/models/gpt2_vocab.bpe";
    }
    if (enc.empty())
      throw_error(lm.path, "no tokenizer found next to the checkpoint (vocab.json + merges.txt, or encoder.json + vocab.bpe)");
    lm.tok = sysout::load_gpt2_tokenizer(enc, bpe);
  } else if (ext == ".gguf") {
    lm.m = model::load_gguf(p);
    lm.tok = sysout::tokenizer_from_gguf(p);
  } else if (ext == ".bin") {
    lm.m = model::load_llama2c(p);
    fs::path tp = o.tokenizer;
    if (tp.empty()) {
      // llama2.c's convention: tok<vocab>.bin next to the model, or the 32000-token tokenizer.bin
      for (auto cand : {p.parent_path() / ("tok" + std::to_string(lm.m.cfg.vocab_size) + ".bin"),
                        p.parent_path() / "tokenizer.bin"})
        if (fs::exists(cand)) {
          tp = cand;
          break;
        }
      if (tp.empty()) throw_error(lm.path, "no tokenizer next to the model: pass --tokenizer PATH");
    }
    lm.tok = sysout::load_llama2c_tokenizer(tp, lm.m.cfg.vocab_size);
    if (lm.m.cfg.bos_id < 0) lm.m.cfg.bos_id = 1;  // run.c prepends token 1
  } else {
    throw_error(lm.path, "unknown model format '", ext, "' (expected .gguf, llama2.c .bin, or a safetensors folder)");
  }
  lm.name = p.stem().string();
  if (lm.m.cfg.name.empty()) lm.m.cfg.name = lm.name;
  return lm;
}

// Token ids of a text with the BOS policy: -1 the model's own (GGUF
// add_bos_token / llama2.c always), 0 never, 1 always.
inline std::vector<int> tokenize(const loaded_model& lm, const std::string& text, int bos) {
  const auto ids32 = lm.tok.encode(text, false);
  std::vector<int> ids(ids32.begin(), ids32.end());
  const int bos_id = lm.tok.bos_id >= 0 ? lm.tok.bos_id : lm.m.cfg.bos_id;
  const bool want = bos == 1 || (bos == -1 && (lm.tok.kind == sysout::tokenizer_kind::llama2c || lm.m.cfg.add_bos));
  if (want) {
    if (bos_id < 0) throw_error(lm.path, "--bos: the model has no BOS token");
    ids.insert(ids.begin(), bos_id);
  }
  if (ids.empty()) throw_error("tokenize", "the text gives no tokens");
  return ids;
}

inline std::vector<std::string> token_strings(const loaded_model& lm, const std::vector<int>& ids) {
  std::vector<std::string> r;
  for (int id : ids) {
    if (id == lm.tok.bos_id) {
      r.push_back(lm.tok.vocab[std::size_t(id)]);
      continue;
    }
    const std::int32_t one[1] = {id};
    r.push_back(lm.tok.decode(one));
  }
  return r;
}

// Rounds activations at every per-token site (and attention probabilities) to
// f16 or bf16, emulating a model that stores its activations in that type.
inline void add_dtype_rounding(trace::hook_registry& hooks, const std::string& dtype) {
  if (dtype == "f32") return;
  const bool half = dtype == "f16";
  hooks.add_all([half](const trace::hook_event& e) {
    if (e.s == trace::site::attn_scores || e.s == trace::site::logits) return;
    if (e.t.type() != dtype::f32 || !e.t.is_contiguous()) return;
    float* p = static_cast<float*>(e.t.data());
    for (std::int64_t i = 0; i < e.t.size(); ++i)
      p[i] = half ? f16_to_f32(f32_to_f16(p[i])) : bf16_to_f32(f32_to_bf16(p[i]));
  });
}

// One forward pass of `ids` with a recorder (and optional extra hooks) attached.
inline trace::recording run_recorded(const loaded_model& lm, const std::vector<int>& ids,
                                     const trace::recorder_config& cfg, const options& o,
                                     const std::function<void(trace::hook_registry&)>& extra = {}) {
  model::session s(lm.m, int(ids.size()), o.threads);
  add_dtype_rounding(s.hooks, o.dtype);
  if (extra) extra(s.hooks);
  trace::recorder rec(cfg, lm.name);
  rec.attach(s.hooks);
  s.forward(ids);
  return rec.snapshot();
}

// Recorder settings for single-sentence analyses: every site summarized and the
// tensors the figures need captured at every layer.
inline trace::recorder_config sentence_config(bool capture_attention = true) {
  trace::recorder_config c;
  c.capture = {{trace::site::layer_out, trace::any_layer}, {trace::site::down_proj_in, trace::any_layer},
               {trace::site::v, trace::any_layer}};
  if (capture_attention) c.capture.push_back({trace::site::attn_probs, trace::any_layer});
  return c;
}

// The captured tensor of a (site, layer) as a view (first call).
inline tensor_view captured_view(const trace::recording& r, trace::site s, int layer) {
  const auto* c = r.find_capture(s, layer);
  if (!c || c->empty()) throw_error("recording", "no capture of ", trace::site_name(s), "-", layer);
  const auto& t = c->front();
  return tensor_view(static_cast<const void*>(t.data.data()), dtype::f32, t.shape, layout::row_major,
                     std::string(trace::site_name(s)) + "-" + std::to_string(layer));
}

// down_proj of every layer, dequantized to f32 [D, F] (out_in), scanned for weight outliers.
inline std::vector<detect::weight_outlier_report> scan_down_proj(const loaded_model& lm) {
  std::vector<detect::weight_outlier_report> r;
  std::vector<float> w;
  for (int l = 0; l < lm.m.cfg.n_layers; ++l) {
    const auto& W = lm.m.w.layers[std::size_t(l)].w_down;
    w.resize(std::size_t(W.rows * W.cols));
    for (std::int64_t i = 0; i < W.rows; ++i) model::dequantize_matrix_row(W, i, w.data() + i * W.cols);
    tensor_view v(static_cast<const void*>(w.data()), dtype::f32, extents{W.rows, W.cols}, layout::row_major,
                  "blk." + std::to_string(l) + ".ffn_down");
    detect::weight_outlier_options opt;
    opt.orientation = detect::weight_orientation::out_in;
    r.push_back(detect::find_weight_outliers(v, opt, l));
  }
  return r;
}

inline std::vector<trace::down_proj_channels> channels_of(const std::vector<detect::weight_outlier_report>& w) {
  std::vector<trace::down_proj_channels> r;
  for (const auto& x : w) {
    trace::down_proj_channels c;
    c.layer = x.layer;
    c.input_ranking = x.input.ranking;
    c.output_ranking = x.output.ranking;
    r.push_back(std::move(c));
  }
  return r;
}

// The corpus as text: CRLF -> LF (the shared WikiText-2 file has CRLF endings).
inline std::string read_corpus(const options& o) {
  const std::string path = o.text.empty() ? default_corpus() : o.text;
  std::ifstream f(path, std::ios::binary);
  if (!f) throw_error(path, "cannot open the corpus (pass --text PATH)");
  std::string s((std::istreambuf_iterator<char>(f)), {});
  s.erase(std::remove(s.begin(), s.end(), '\r'), s.end());
  if (s.empty()) throw_error(path, "the corpus is empty");
  return s;
}

// `n` corpus lines of at least 40 characters, drawn with the seed; each is cut to ctx tokens later.
inline std::vector<std::string> sample_sentences(const std::string& corpus, int n, std::uint64_t seed) {
  std::vector<std::string> lines;
  std::stringstream ss(corpus);
  std::string line;
  while (std::getline(ss, line)) {
    const auto b = line.find_first_not_of(' ');
    if (b == std::string::npos) continue;
    line = line.substr(b);
    if (line.size() >= 40 && line[0] != '=') lines.push_back(line);
  }
  if (lines.empty()) throw_error("corpus", "no line of at least 40 characters");
  std::mt19937_64 g(seed);
  std::vector<std::string> r;
  for (int i = 0; i < n; ++i) r.push_back(lines[std::size_t(g() % lines.size())]);
  return r;
}

struct ppl_result {
  double ppl = 0, nll = 0;
  std::int64_t tokens = 0;  // predicted tokens
  int windows = 0;
  double seconds = 0;
};

// Perplexity over the first `max_tokens` tokens of the corpus, in independent
// windows of `ctx` tokens (BOS first when the policy asks for it), computed by
// the library's model::perplexity. `setup` attaches hooks to the session
// (interventions, collectors); each window runs as one forward call so a hook
// sees whole windows.
inline ppl_result perplexity(const loaded_model& lm, const std::vector<int>& corpus_ids, const options& o,
                             const std::function<void(trace::hook_registry&)>& setup = {}, const char* label = "") {
  const auto t0 = std::chrono::steady_clock::now();
  const bool bos = o.bos == 1 || (o.bos == -1 && (lm.tok.kind == sysout::tokenizer_kind::llama2c || lm.m.cfg.add_bos));
  if (bos && lm.tok.bos_id >= 0 && lm.m.cfg.bos_id >= 0 && lm.tok.bos_id != lm.m.cfg.bos_id)
    throw_error(lm.name, "tokenizer BOS id ", lm.tok.bos_id, " differs from the model's ", lm.m.cfg.bos_id);
  model::session s(lm.m, o.ctx, o.threads);
  add_dtype_rounding(s.hooks, o.dtype);
  if (setup) setup(s.hooks);
  model::perplexity_options po;
  po.ctx = o.ctx;
  po.add_bos = bos;
  po.max_tokens = o.max_tokens;
  po.batch = o.ctx;
  po.progress = [&](std::int64_t done, std::int64_t total) {
    progress("\r  perplexity %-28s %lld / %lld tokens", label, (long long)done, (long long)total);
  };
  const auto m = model::perplexity(s, corpus_ids, po);
  progress("\n");
  ppl_result r;
  r.ppl = m.perplexity;
  r.nll = m.mean_nll * double(m.n_scored);
  r.tokens = m.n_scored;
  r.windows = m.n_windows;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace sysout_cli

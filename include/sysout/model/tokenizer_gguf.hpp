// tokenizer_from_gguf: a sysout::tokenizer from a GGUF file's tokenizer.ggml.*
// metadata, configured as llama.cpp's llama_vocab::load configures it:
//   tokenizer.ggml.model "llama" -> kind::spm (defaults BOS 1, EOS 2, UNK 0,
//     add_bos, add_space_prefix; Gemma 3 turns add_space_prefix off in its file);
//   tokenizer.ggml.model "gpt2"  -> kind::bpe with tokenizer.ggml.merges and the
//     pre-tokenizer named by tokenizer.ggml.pre (defaults BOS = EOS = 11, no add_bos).
// Then tokenizer.ggml.{bos,eos,unknown}_token_id, add_bos_token, add_eos_token and
// add_space_prefix override the defaults. As llama.cpp does, tokens whose text
// marks the end of a turn ("<|endoftext|>", "<|im_end|>", "<end_of_turn>", ...)
// are typed control even when the file says normal.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sysout/core/error.hpp"
#include "sysout/io/gguf.hpp"
#include "sysout/model/tokenizer.hpp"

namespace sysout {

// The byte-level pre-tokenizer llama.cpp uses for a tokenizer.ggml.pre name,
// or nullopt when sysout does not implement that one.
inline std::optional<unicode::pretokenizer> pretokenizer_for(std::string_view pre) {
  using P = unicode::pretokenizer;
  for (std::string_view n : {"gpt-2", "phi-2", "mpt", "olmo", "jais", "trillion", "exaone4", "mellum", "modern-bert",
                             "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "gigachat", "a.x-4.0"})
    if (pre == n) return P::gpt2;
  for (std::string_view n : {"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"})
    if (pre == n) return P::digits_gpt2;
  if (pre.empty() || pre == "default") return P::bpe_default;
  return std::nullopt;
}

inline tokenizer tokenizer_from_gguf(const io::gguf_file& f) {
  const std::string& where = f.path();
  tokenizer tok;
  tok.source = where;
  const std::string model = f.get_string("tokenizer.ggml.model");
  const std::string pre = f.find_string("tokenizer.ggml.pre").value_or("");
  if (model == "llama") {
    tok.kind = tokenizer_kind::spm;
    tok.bos_id = 1;
    tok.eos_id = 2;
    tok.unk_id = 0;
    tok.add_bos = true;
    tok.add_space_prefix = true;
  } else if (model == "gpt2") {
    tok.kind = tokenizer_kind::bpe;
    const auto p = pretokenizer_for(pre);
    if (!p) throw_error(where, "tokenizer.ggml.pre '", pre, "' is not supported by sysout's byte-level BPE");
    tok.pre = *p;
    tok.bos_id = tok.eos_id = 11;
    tok.merges = f.get_str_array("tokenizer.ggml.merges");
  } else {
    throw_error(where, "tokenizer.ggml.model '", model, "' is not supported (sysout reads 'llama' and 'gpt2')");
  }

  tok.vocab = f.get_str_array("tokenizer.ggml.tokens");
  const std::size_t n = tok.vocab.size();
  for (std::size_t i = 0; i < n; ++i)
    if (tok.vocab[i].empty()) tok.vocab[i] = "[EMPTY_" + std::to_string(i) + "]";  // as llama.cpp

  if (auto s = f.find_f32_array("tokenizer.ggml.scores")) {
    if (s->size() < n) throw_error(where, "tokenizer.ggml.scores has ", s->size(), " entries for ", n, " tokens");
    s->resize(n);
    tok.scores = std::move(*s);
  } else {
    tok.scores.assign(n, 0.0f);
  }
  if (auto t = f.find_i32_array("tokenizer.ggml.token_type")) {
    if (t->size() < n) throw_error(where, "tokenizer.ggml.token_type has ", t->size(), " entries for ", n, " tokens");
    tok.types.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::int32_t v = (*t)[i];
      tok.types[i] = (v >= 1 && v <= 6) ? token_type(v) : token_type::undefined;
    }
  } else {
    tok.types.assign(n, token_type::normal);
  }

  // A default id outside the vocabulary is dropped; a file's id outside it is
  // ignored (llama.cpp warns and keeps the default).
  for (std::int32_t* id : {&tok.bos_id, &tok.eos_id, &tok.unk_id})
    if (*id >= std::int32_t(n)) *id = -1;
  const auto override_id = [&](const char* key, std::int32_t& id) {
    if (const auto v = f.find_u32(key); v && *v < n) id = std::int32_t(*v);
  };
  override_id("tokenizer.ggml.bos_token_id", tok.bos_id);
  override_id("tokenizer.ggml.eos_token_id", tok.eos_id);
  override_id("tokenizer.ggml.unknown_token_id", tok.unk_id);
  tok.add_bos = f.find_bool("tokenizer.ggml.add_bos_token").value_or(tok.add_bos);
  tok.add_eos = f.find_bool("tokenizer.ggml.add_eos_token").value_or(tok.add_eos);
  tok.add_space_prefix = f.find_bool("tokenizer.ggml.add_space_prefix").value_or(tok.add_space_prefix);
  if (tok.kind == tokenizer_kind::bpe) tok.add_space_prefix = false;  // llama.cpp: spm only

  for (std::size_t i = 0; i < n; ++i) {
    const std::string& s = tok.vocab[i];
    if (s == "<|eot_id|>" || s == "<|im_end|>" || s == "<|end|>" || s == "<end_of_turn>" || s == "<|endoftext|>" ||
        s == "<|end_of_text|>" || s == "<EOT>" || s == "<|eom_id|>" || s == "<end_of_utterance>")
      if (tok.types[i] != token_type::control) tok.types[i] = token_type::control;
  }
  tok.build_index();
  return tok;
}

inline tokenizer tokenizer_from_gguf(const std::filesystem::path& path) { return tokenizer_from_gguf(io::gguf_file(path)); }

}  // namespace sysout

// sysout::tokenizer: one small value type for the three tokenizers the models
// sysout reads use, with no class hierarchy: a `kind` plus the vocabulary.
//
//   kind::llama2c  llama2.c's tokenizer.bin / tok512.bin, encoded exactly as
//                  run.c's encode(): a dummy " " token first (when the text is
//                  not empty), one token per UTF-8 character with byte fallback
//                  (id = byte + 3), then repeatedly merge the adjacent pair whose
//                  concatenation is the highest-scoring vocabulary entry.
//   kind::spm      sentencepiece-style BPE from GGUF metadata ("llama"), as
//                  llama.cpp's llm_tokenizer_spm: spaces escaped to U+2581,
//                  optional space prefix, bigram merges by score, <0xNN> byte
//                  fallback. LLaMA, stories260K.gguf, Gemma 3.
//   kind::bpe      GPT-2-style byte-level BPE ("gpt2"; OpenAI's encoder.json +
//                  vocab.bpe): a regex pre-tokenizer (unicode.hpp), bytes mapped to
//                  printable code points, merges by rank. GPT-2, SmolLM2.
//
// Special tokens follow llama.cpp's llama_tokenize(add_special, parse_special):
// control and unknown tokens written in the text are matched only with
// parse_special; user-defined tokens (Gemma's "\n\n", "<table>", ...) always
// are, before the text is split further. llama.cpp's test-tokenizer-0 (whose
// vectors the tests check) calls common_tokenize(ctx, text, add_special = false,
// parse_special = false).
//
// Loaders build a finished value; a hand-filled one must call build_index()
// before encoding. tokenizer_from_gguf() is in tokenizer_gguf.hpp.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sysout/core/error.hpp"
#include "sysout/model/unicode.hpp"

namespace sysout {

// Token types as GGUF stores them (tokenizer.ggml.token_type; llama.cpp's llama_token_type).
enum class token_type : std::int32_t {
  undefined = 0,
  normal = 1,
  unknown = 2,
  control = 3,
  user_defined = 4,
  unused = 5,
  byte = 6,
};

enum class tokenizer_kind { spm, bpe, llama2c };

namespace detail {
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using string_index = std::unordered_map<std::string, std::int32_t, string_hash, std::equal_to<>>;

// "<0xNN>" (upper- or lower-case hex) -> NN, or -1.
inline int parse_byte_token(std::string_view s) {
  if (s.size() != 6 || s.substr(0, 3) != "<0x" || s[5] != '>') return -1;
  int v = 0;
  for (char c : s.substr(3, 2)) {
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else return -1;
  }
  return v;
}
}  // namespace detail

struct tokenizer {
  tokenizer_kind kind = tokenizer_kind::spm;
  unicode::pretokenizer pre = unicode::pretokenizer::gpt2;  // kind::bpe only
  std::string source;                // file it came from, for error messages

  std::vector<std::string> vocab;    // piece text as the file stores it
  std::vector<float> scores;         // spm / llama2c merge priority (higher merges first); may be empty for bpe
  std::vector<token_type> types;     // one per token
  std::vector<std::string> merges;   // bpe: "left right", rank = position

  std::int32_t bos_id = -1;          // -1: none
  std::int32_t eos_id = -1;
  std::int32_t unk_id = -1;
  bool add_bos = false;              // encode(..., add_special = true) prepends BOS
  bool add_eos = false;              // ... and appends EOS
  bool add_space_prefix = false;     // spm: a space before the text (sentencepiece's dummy prefix)

  std::size_t size() const noexcept { return vocab.size(); }
  std::int32_t bos() const noexcept { return bos_id; }
  std::int32_t eos() const noexcept { return eos_id; }

  // Id of the vocabulary entry with exactly this text, or -1.
  std::int32_t find(std::string_view text) const {
    const auto it = index_.find(text);
    return it == index_.end() ? -1 : it->second;
  }

  // Checks the fields and builds the lookup tables; loaders call it.
  void build_index() {
    const std::size_t n = vocab.size();
    if (n == 0) throw_error(source, "tokenizer has an empty vocabulary");
    if (n > std::size_t(INT32_MAX)) throw_error(source, "tokenizer vocabulary too large: ", n);
    if (types.empty()) types.assign(n, token_type::normal);
    if (types.size() != n) throw_error(source, "tokenizer has ", n, " tokens but ", types.size(), " token types");
    if (kind != tokenizer_kind::bpe && scores.size() != n)
      throw_error(source, "tokenizer has ", n, " tokens but ", scores.size(), " scores");
    if (kind == tokenizer_kind::bpe && merges.empty()) throw_error(source, "byte-level BPE tokenizer has no merges");
    for (const auto* id : {&bos_id, &eos_id, &unk_id})
      if (*id < -1 || *id >= std::int32_t(n))
        throw_error(source, "special token id ", *id, " is outside the vocabulary of ", n, " tokens");
    if (add_bos && bos_id < 0) throw_error(source, "add_bos is set but the tokenizer has no BOS token");
    if (add_eos && eos_id < 0) throw_error(source, "add_eos is set but the tokenizer has no EOS token");

    index_.clear();
    index_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) index_.emplace(vocab[i], std::int32_t(i));  // first id wins on duplicates

    ranks_.clear();
    ranks_.reserve(merges.size());
    for (std::size_t i = 0; i < merges.size(); ++i) ranks_.emplace(merges[i], std::int32_t(i));

    // Special tokens matched in raw text before splitting, longest first.
    special_.clear();
    if (kind != tokenizer_kind::llama2c) {
      for (std::size_t i = 0; i < n; ++i) {
        const token_type t = types[i];
        if ((t == token_type::control || t == token_type::user_defined || t == token_type::unknown) &&
            !vocab[i].empty())
          special_.push_back(std::int32_t(i));
      }
      std::stable_sort(special_.begin(), special_.end(),
                       [&](std::int32_t a, std::int32_t b) { return vocab[a].size() > vocab[b].size(); });
    }

    byte_token_.fill(-1);
    for (int b = 0; b < 256; ++b) {
      switch (kind) {
        case tokenizer_kind::llama2c:  // run.c: byte b is token b + 3
          if (b + 3 < std::int32_t(n)) byte_token_[b] = b + 3;
          break;
        case tokenizer_kind::spm: {  // llama.cpp byte_to_token: "<0xNN>", else the 1-byte piece
          static constexpr char hex[] = "0123456789ABCDEF";
          const char buf[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
          std::int32_t id = find(std::string_view(buf, 6));
          if (id < 0) id = find(std::string(1, char(b)));
          byte_token_[b] = id;
          break;
        }
        case tokenizer_kind::bpe:
          byte_token_[b] = find(unicode::to_utf8(unicode::byte_to_codepoint()[b]));
          break;
      }
    }
    indexed_ = true;
  }

  // Token ids of `text`. add_special: prepend BOS / append EOS where the
  // tokenizer's add_bos / add_eos flags say so (llama.cpp's add_special; for
  // llama2.c files add_bos is set, so this is run.c's bos = 1). parse_special:
  // also match control tokens written in the text ("<|im_start|>"); ignored by
  // kind::llama2c, which run.c never does.
  std::vector<std::int32_t> encode(std::string_view text, bool add_special, bool parse_special = false) const {
    require_index();
    std::vector<std::int32_t> out;
    if (kind == tokenizer_kind::llama2c) {
      encode_llama2c(text, add_special && add_bos, out);
    } else {
      if (add_special && add_bos) out.push_back(bos_id);
      bool prev_special = true;  // the text start counts as "after a special token" for the space prefix
      for (const fragment& f : partition(text, parse_special)) {
        if (f.token >= 0) {
          out.push_back(f.token);
          prev_special = true;
          continue;
        }
        const std::string_view raw = text.substr(f.offset, f.length);
        if (kind == tokenizer_kind::spm) {
          std::string s;
          s.reserve(raw.size() * 3 + 3);
          if (add_space_prefix && prev_special) s += "\xE2\x96\x81";
          for (char c : raw) {
            if (c == ' ') s += "\xE2\x96\x81";  // sentencepiece's escaped space U+2581
            else s.push_back(c);
          }
          encode_spm(s, out);
        } else {
          for (const std::string& word : unicode::pretokenize(raw, pre)) encode_bpe_word(unicode::byte_encode(word), out);
        }
        prev_special = false;
      }
    }
    if (add_special && add_eos) out.push_back(eos_id);
    return out;
  }

  // The bytes one token stands for: byte tokens (<0xNN>) become that byte;
  // byte-level BPE pieces map back through GPT-2's byte alphabet; sentencepiece's
  // U+2581 becomes a space; control, unknown and user-defined tokens give their
  // text ("<s>", "<|im_start|>"); unused / undefined ones give nothing.
  std::string piece(std::int32_t id) const {
    check_id(id);
    const std::string& text = vocab[std::size_t(id)];
    const token_type t = types[std::size_t(id)];
    if (t == token_type::byte) {
      const int b = detail::parse_byte_token(text);
      if (b >= 0) return std::string(1, char(b));
    }
    if (kind == tokenizer_kind::llama2c) return text;
    if (t == token_type::control || t == token_type::unknown || t == token_type::user_defined) return text;
    if (t != token_type::normal) return {};
    std::string out;
    if (kind == tokenizer_kind::spm) {
      out.reserve(text.size());
      for (std::size_t i = 0; i < text.size(); ++i) {
        if (text.compare(i, 3, "\xE2\x96\x81") == 0) {
          out.push_back(' ');
          i += 2;
        } else {
          out.push_back(text[i]);
        }
      }
    } else {
      for (std::size_t off = 0; off < text.size();) {
        const std::size_t at = off;
        const std::uint32_t cp = unicode::decode_utf8(text, off);
        const int b = unicode::codepoint_to_byte(cp);
        if (b >= 0) out.push_back(char(b));
        else out.append(text, at, off - at);  // not a byte-level character: keep it as written
      }
    }
    return out;
  }

  // Text of a token sequence: the pieces joined, with control and unknown
  // tokens (BOS, EOS, ...) left out and, where the tokenizer adds a space prefix
  // (spm with add_space_prefix, llama2.c), the first piece's leading space
  // removed -- so decode(encode(x, b)) == x whenever the encoding is lossless.
  std::string decode(std::span<const std::int32_t> ids) const {
    std::string out;
    const bool strip = kind == tokenizer_kind::llama2c || (kind == tokenizer_kind::spm && add_space_prefix);
    bool first = true;
    for (const std::int32_t id : ids) {
      check_id(id);
      const token_type t = types[std::size_t(id)];
      if (t == token_type::control || t == token_type::unknown) continue;
      std::string p = piece(id);
      if (p.empty()) continue;
      if (first && strip && t == token_type::normal && p[0] == ' ') p.erase(0, 1);
      first = false;
      out += p;
    }
    return out;
  }

  // ---- run.c pieces, public so tests can hold the fast merge against the literal loop ----

  // run.c before merging: [BOS], the dummy " " token (when text is not empty),
  // then one token per UTF-8 character (at most 4 bytes) or its bytes + 3.
  std::vector<std::int32_t> llama2c_initial_tokens(std::string_view text, bool bos) const {
    require_index();
    std::vector<std::int32_t> toks;
    if (bos) toks.push_back(bos_id);
    if (!text.empty()) {
      const std::int32_t space = find(" ");
      if (space < 0) throw_error(source, "llama2.c vocabulary has no \" \" token for the dummy prefix");
      toks.push_back(space);
    }
    std::string buf;
    for (std::size_t i = 0; i < text.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(text[i]);
      if ((c & 0xC0) != 0x80) buf.clear();
      buf.push_back(char(c));
      if (i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80 && buf.size() < 4) continue;
      const std::int32_t id = find(buf);
      if (id >= 0) {
        toks.push_back(id);
      } else {
        for (char b : buf) toks.push_back(byte_token(static_cast<unsigned char>(b)));
      }
      buf.clear();
    }
    return toks;
  }

  // run.c's merge loop written literally (O(n^2)): the reference the fast
  // path is tested against.
  void llama2c_merge_reference(std::vector<std::int32_t>& toks) const {
    std::string buf;
    for (;;) {
      float best_score = -1e10f;
      std::int32_t best_id = -1;
      std::size_t best_idx = 0;
      for (std::size_t i = 0; i + 1 < toks.size(); ++i) {
        buf = vocab[std::size_t(toks[i])];
        buf += vocab[std::size_t(toks[i + 1])];
        const std::int32_t id = find(buf);
        if (id != -1 && scores[std::size_t(id)] > best_score) {
          best_score = scores[std::size_t(id)];
          best_id = id;
          best_idx = i;
        }
      }
      if (best_id == -1) break;
      toks[best_idx] = best_id;
      toks.erase(toks.begin() + std::ptrdiff_t(best_idx) + 1);
    }
  }

 private:
  struct fragment {
    std::int32_t token;  // >= 0: a special token; -1: raw text [offset, offset + length)
    std::size_t offset, length;
  };

  void require_index() const {
    if (!indexed_) throw_error(source, "tokenizer used before build_index()");
  }
  void check_id(std::int32_t id) const {
    if (id < 0 || std::size_t(id) >= vocab.size())
      throw_error(source, "token id ", id, " is outside the vocabulary of ", vocab.size(), " tokens");
  }
  std::int32_t byte_token(unsigned char b) const {
    const std::int32_t id = byte_token_[b];
    if (id < 0) throw_error(source, "no byte-fallback token for byte 0x", std::hex, int(b));
    return id;
  }

  // llama.cpp's tokenizer_st_partition: for each special token, longest first,
  // cut every raw fragment at each of its occurrences (leftmost first).
  std::vector<fragment> partition(std::string_view text, bool parse_special) const {
    std::vector<fragment> frags;
    if (text.empty()) return frags;
    frags.push_back({-1, 0, text.size()});
    for (const std::int32_t id : special_) {
      const token_type t = types[std::size_t(id)];
      if (!parse_special && (t == token_type::control || t == token_type::unknown)) continue;
      const std::string& s = vocab[std::size_t(id)];
      std::vector<fragment> next;
      next.reserve(frags.size());
      for (const fragment& f : frags) {
        if (f.token >= 0) {
          next.push_back(f);
          continue;
        }
        std::size_t pos = f.offset;
        const std::size_t end = f.offset + f.length;
        const std::string_view hay = text.substr(0, end);
        for (std::size_t m; (m = hay.find(s, pos)) != std::string_view::npos;) {
          if (m > pos) next.push_back({-1, pos, m - pos});
          next.push_back({id, m, s.size()});
          pos = m + s.size();
        }
        if (end > pos) next.push_back({-1, pos, end - pos});
      }
      frags.swap(next);
    }
    return frags;
  }

  // The symbol-merge loop llama.cpp's SPM and BPE sessions share: start from
  // the UTF-8 characters of `text`, repeatedly merge the adjacent pair with the
  // highest priority (ties: leftmost), and return the surviving pieces in order.
  // `priority(l, r)` gives the priority of merging the adjacent pieces l and r, or nothing
  // when that merge does not exist.
  template <class PairPriority>
  static std::vector<std::string_view> merge_symbols(std::string_view text, PairPriority&& priority) {
    struct symbol {
      int prev, next;
      std::size_t start, n;
    };
    std::vector<symbol> sym;
    for (std::size_t off = 0; off < text.size();) {
      const std::size_t len = std::min(unicode::utf8_len(text[off]), text.size() - off);
      const int idx = int(sym.size());
      sym.push_back({idx - 1, off + len == text.size() ? -1 : idx + 1, off, len});
      off += len;
    }
    std::vector<std::string_view> pieces;
    if (sym.empty()) return pieces;
    struct bigram {
      int left, right;
      double priority;
      std::size_t size;
    };
    const auto lower = [](const bigram& a, const bigram& b) {
      return a.priority < b.priority || (a.priority == b.priority && a.left > b.left);
    };
    std::priority_queue<bigram, std::vector<bigram>, decltype(lower)> queue(lower);
    const auto try_add = [&](int l, int r) {
      if (l < 0 || r < 0) return;
      const std::optional<double> p = priority(text.substr(sym[l].start, sym[l].n), text.substr(sym[r].start, sym[r].n));
      if (p) queue.push({l, r, *p, sym[l].n + sym[r].n});
    };
    for (int i = 1; i < int(sym.size()); ++i) try_add(i - 1, i);
    while (!queue.empty()) {
      const bigram b = queue.top();
      queue.pop();
      symbol& l = sym[b.left];
      symbol& r = sym[b.right];
      // Both alive and of the recorded total length <=> the same two texts as when pushed.
      if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
      l.n += r.n;
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) sym[r.next].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    for (int i = 0; i != -1; i = sym[i].next) pieces.push_back(text.substr(sym[i].start, sym[i].n));
    return pieces;
  }

  // llama.cpp's llm_tokenizer_spm_session::tokenize on escaped text: merge the
  // pair whose concatenation is the highest-scoring token, then emit each
  // piece's token or, for a character that is no token, its bytes' <0xNN> tokens.
  void encode_spm(std::string_view text, std::vector<std::int32_t>& out) const {
    const auto pieces = merge_symbols(text, [&](std::string_view l, std::string_view r) -> std::optional<double> {
      // l and r are adjacent in text: their concatenation is one view
      const std::int32_t id = find(std::string_view(l.data(), l.size() + r.size()));
      if (id < 0) return std::nullopt;
      return double(scores[std::size_t(id)]);
    });
    for (const std::string_view s : pieces) {
      const std::int32_t id = find(s);
      if (id >= 0) {
        out.push_back(id);
      } else {
        for (char c : s) out.push_back(byte_token(static_cast<unsigned char>(c)));
      }
    }
  }

  // One pre-tokenized, byte-encoded word through llama.cpp's
  // llm_tokenizer_bpe_session: merge the adjacent pair with the lowest merge
  // rank (ties: leftmost) until none applies.
  void encode_bpe_word(std::string_view word, std::vector<std::int32_t>& out) const {
    std::string key;
    const auto pieces = merge_symbols(word, [&](std::string_view l, std::string_view r) -> std::optional<double> {
      key.assign(l);
      key.push_back(' ');
      key.append(r);
      const auto it = ranks_.find(std::string_view(key));
      if (it == ranks_.end()) return std::nullopt;
      return -double(it->second);
    });
    for (const std::string_view s : pieces) {
      const std::int32_t id = find(s);
      if (id >= 0) {
        out.push_back(id);
        continue;
      }
      for (char c : s) {  // as llama.cpp: single bytes that happen to be tokens, others dropped
        const std::int32_t b = find(std::string_view(&c, 1));
        if (b >= 0) out.push_back(b);
      }
    }
  }

  // karpathy/llama2.c run.c encode(), with its O(n^2) "scan all pairs for the
  // best merge" loop replaced by a priority queue that picks the same pair
  // (highest score; ties: leftmost) -- tests hold it against the literal loop.
  void encode_llama2c(std::string_view text, bool bos, std::vector<std::int32_t>& out) const {
    std::vector<std::int32_t> toks = llama2c_initial_tokens(text, bos);
    llama2c_merge(toks);
    out.insert(out.end(), toks.begin(), toks.end());
  }

  void llama2c_merge(std::vector<std::int32_t>& toks) const {
    struct symbol {
      int prev, next;
      std::int32_t id;  // -1 once merged into its left neighbour
    };
    std::vector<symbol> sym(toks.size());
    for (std::size_t i = 0; i < toks.size(); ++i)
      sym[i] = {int(i) - 1, i + 1 == toks.size() ? -1 : int(i) + 1, toks[i]};
    struct bigram {
      int left, right;
      float score;
      std::int32_t left_id, right_id, merged;
    };
    const auto lower = [](const bigram& a, const bigram& b) {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    };
    std::priority_queue<bigram, std::vector<bigram>, decltype(lower)> queue(lower);
    std::string buf;
    const auto try_add = [&](int l, int r) {
      if (l < 0 || r < 0) return;
      buf = vocab[std::size_t(sym[l].id)];
      buf += vocab[std::size_t(sym[r].id)];
      const std::int32_t id = find(buf);
      if (id < 0 || !(scores[std::size_t(id)] > -1e10f)) return;  // run.c's best_score starts at -1e10
      queue.push({l, r, scores[std::size_t(id)], sym[l].id, sym[r].id, id});
    };
    for (int i = 1; i < int(sym.size()); ++i) try_add(i - 1, i);
    while (!queue.empty()) {
      const bigram b = queue.top();
      queue.pop();
      symbol& l = sym[b.left];
      symbol& r = sym[b.right];
      if (l.id != b.left_id || r.id != b.right_id || l.next != b.right) continue;  // stale
      l.id = b.merged;
      r.id = -1;
      l.next = r.next;
      if (r.next >= 0) sym[r.next].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    toks.clear();
    for (int i = sym.empty() ? -1 : 0; i != -1; i = sym[i].next) toks.push_back(sym[i].id);
  }

  detail::string_index index_;  // piece text -> id
  detail::string_index ranks_;  // "left right" -> merge rank
  std::vector<std::int32_t> special_;
  std::array<std::int32_t, 256> byte_token_{};
  bool indexed_ = false;
};

// ---------------------------------------------------------------------------
// Loaders for tokenizer files (GGUF metadata: tokenizer_gguf.hpp).

namespace detail {
inline std::string read_whole_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_error(path.string(), "cannot open");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw_error(path.string(), "read failed");
  return s;
}
}  // namespace detail

// llama2.c tokenizer.bin / tok512.bin (written by llama2.c's tokenizer.py):
//   int32 max_token_length, then vocab_size x { float32 score, int32 len, len bytes }.
// Pieces keep sentencepiece's spaces as ' '; ids 0, 1, 2 are <unk>, BOS, EOS
// ("\n<s>\n", "\n</s>\n"); byte tokens "<0xNN>" follow. vocab_size comes from
// the model's config (run.c reads exactly that many entries); pass 0 to read
// entries until the end of the file.
inline tokenizer load_llama2c_tokenizer(const std::filesystem::path& path, std::int32_t vocab_size) {
  const std::string where = path.string();
  if (vocab_size < 0) throw_error(where, "vocab_size must be >= 0, got ", vocab_size);
  const std::string bytes = detail::read_whole_file(path);
  std::size_t off = 0;
  const auto need = [&](std::size_t n, std::size_t i, const char* what) {
    if (bytes.size() - off < n)
      throw_error(where, "token ", i, ": ", what, " needs ", n, " bytes at offset ", off, " but the file has ",
                  bytes.size(), " bytes (truncated?)");
  };
  const auto read_i32 = [&](std::size_t i, const char* what) {
    need(4, i, what);
    std::int32_t v;
    std::memcpy(&v, bytes.data() + off, 4);
    off += 4;
    return v;
  };
  if (bytes.size() < 4) throw_error(where, "too short for a llama2.c tokenizer header (", bytes.size(), " bytes)");
  const std::int32_t max_len = read_i32(0, "header");
  if (max_len <= 0) throw_error(where, "max_token_length is ", max_len, ", expected > 0");

  tokenizer tok;
  tok.kind = tokenizer_kind::llama2c;
  tok.source = where;
  for (std::size_t i = 0; vocab_size == 0 ? off < bytes.size() : i < std::size_t(vocab_size); ++i) {
    need(4, i, "score");
    float score;
    std::memcpy(&score, bytes.data() + off, 4);
    off += 4;
    const std::int32_t len = read_i32(i, "length");
    if (len < 0 || len > max_len)
      throw_error(where, "token ", i, " has length ", len, ", outside [0, max_token_length = ", max_len, "]");
    need(std::size_t(len), i, "text");
    tok.vocab.emplace_back(bytes.data() + off, std::size_t(len));
    tok.scores.push_back(score);
    off += std::size_t(len);
  }
  const std::size_t n = tok.vocab.size();
  if (n < 3) throw_error(where, "llama2.c vocabulary has ", n, " tokens; needs at least <unk>, BOS, EOS");
  tok.types.assign(n, token_type::normal);
  tok.types[0] = token_type::unknown;
  tok.types[1] = token_type::control;
  tok.types[2] = token_type::control;
  for (std::size_t i = 3; i < n && i < 259; ++i)
    if (detail::parse_byte_token(tok.vocab[i]) == int(i) - 3) tok.types[i] = token_type::byte;
  tok.unk_id = 0;
  tok.bos_id = 1;
  tok.eos_id = 2;
  tok.add_bos = true;  // run.c: encode(..., bos = 1, eos = 0)
  tok.add_space_prefix = true;
  tok.build_index();
  return tok;
}

namespace detail {

// A minimal JSON reader for one flat object of string keys to integers
// ({"token": id, ...}, OpenAI's encoder.json); anything else is an error.
inline std::vector<std::pair<std::string, std::int64_t>> parse_json_string_int_object(std::string_view s,
                                                                                      const std::string& where) {
  std::size_t i = 0;
  const auto fail = [&](const char* what) { throw_error(where, "JSON: ", what, " at byte ", i); };
  const auto ws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  };
  const auto hex4 = [&]() -> std::uint32_t {
    if (s.size() - i < 4) fail("truncated \\u escape");
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s[i++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= std::uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') v |= std::uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= std::uint32_t(c - 'A' + 10);
      else fail("bad hex digit in \\u escape");
    }
    return v;
  };
  const auto string = [&]() {
    if (i >= s.size() || s[i] != '"') fail("expected '\"'");
    ++i;
    std::string out;
    for (;;) {
      if (i >= s.size()) fail("unterminated string");
      const char c = s[i++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (i >= s.size()) fail("unterminated escape");
      const char e = s[i++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          std::uint32_t cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // surrogate pair
            if (s.size() - i < 6 || s[i] != '\\' || s[i + 1] != 'u') fail("unpaired high surrogate");
            i += 2;
            const std::uint32_t lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("bad low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("unpaired low surrogate");
          }
          unicode::append_utf8(out, cp);
          break;
        }
        default: fail("unknown escape");
      }
    }
  };
  std::vector<std::pair<std::string, std::int64_t>> out;
  ws();
  if (i >= s.size() || s[i] != '{') fail("expected '{'");
  ++i;
  ws();
  if (i < s.size() && s[i] == '}') {
    ++i;
  } else {
    for (;;) {
      ws();
      std::string key = string();
      ws();
      if (i >= s.size() || s[i] != ':') fail("expected ':'");
      ++i;
      ws();
      const bool neg = i < s.size() && s[i] == '-';
      if (neg) ++i;
      if (i >= s.size() || s[i] < '0' || s[i] > '9') fail("expected an integer value");
      std::int64_t v = 0;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        if (v > (INT64_MAX - 9) / 10) fail("integer too large");
        v = v * 10 + (s[i++] - '0');
      }
      if (i < s.size() && (s[i] == '.' || s[i] == 'e' || s[i] == 'E')) fail("expected an integer, got a fraction");
      out.emplace_back(std::move(key), neg ? -v : v);
      ws();
      if (i < s.size() && s[i] == ',') {
        ++i;
        continue;
      }
      if (i < s.size() && s[i] == '}') {
        ++i;
        break;
      }
      fail("expected ',' or '}'");
    }
  }
  ws();
  if (i != s.size()) fail("trailing data after the object");
  return out;
}

}  // namespace detail

// OpenAI's GPT-2 files: encoder.json ({"piece": id}, byte-level pieces) and
// vocab.bpe ("#version: 0.2" then one "left right" merge per line, in rank
// order). <|endoftext|> is GPT-2's only special token (BOS = EOS); GPT-2 adds
// no BOS of its own.
inline tokenizer load_gpt2_tokenizer(const std::filesystem::path& encoder_json, const std::filesystem::path& vocab_bpe) {
  const std::string where = encoder_json.string();
  const auto entries = detail::parse_json_string_int_object(detail::read_whole_file(encoder_json), where);
  if (entries.empty()) throw_error(where, "encoder has no tokens");
  tokenizer tok;
  tok.kind = tokenizer_kind::bpe;
  tok.pre = unicode::pretokenizer::gpt2;
  tok.source = where;
  tok.vocab.resize(entries.size());
  std::vector<bool> seen(entries.size(), false);
  for (const auto& [piece, id] : entries) {
    if (id < 0 || std::uint64_t(id) >= entries.size())
      throw_error(where, "token '", piece, "' has id ", id, ", outside [0, ", entries.size(), ")");
    if (seen[std::size_t(id)]) throw_error(where, "id ", id, " is used twice");
    seen[std::size_t(id)] = true;
    tok.vocab[std::size_t(id)] = piece;
  }
  const std::string bpe = detail::read_whole_file(vocab_bpe);
  std::size_t line_no = 0;
  for (std::size_t pos = 0; pos < bpe.size();) {
    std::size_t eol = bpe.find('\n', pos);
    if (eol == std::string::npos) eol = bpe.size();
    std::string_view line(bpe.data() + pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.substr(0, 9) == "#version:")) continue;
    const std::size_t sp = line.find(' ', 1);
    if (sp == std::string_view::npos || line.find(' ', sp + 1) != std::string_view::npos)
      throw_error(vocab_bpe.string(), "line ", line_no, ": expected two space-separated pieces");
    tok.merges.emplace_back(line);
  }
  tok.types.assign(tok.vocab.size(), token_type::normal);
  for (std::size_t i = 0; i < tok.vocab.size(); ++i) {
    if (tok.vocab[i] == "<|endoftext|>") {
      tok.types[i] = token_type::control;
      tok.bos_id = tok.eos_id = std::int32_t(i);
    }
  }
  tok.build_index();
  return tok;
}

}  // namespace sysout

// Token categories of outlier tokens (An et al. 2025 find systematic outliers
// at the start token, at delimiters and at tokens with weak semantics).
// Token strings come from the caller's tokenizer, as the vocabulary spells them:
// SentencePiece's '▁' (U+2581) and GPT-2 byte-level 'Ġ' (space) / 'Ċ' (newline)
// / 'ĉ' (tab) markers and "<0x0A>"-style byte tokens are understood.
//
//   start          position 0, or the caller's BOS string ("<s>", "<|endoftext|>"...)
//   delimiter      only punctuation and/or whitespace once markers are removed
//                  (".", ",", "\n", "Ċ", "▁", "Ġ", "<0x0A>", ":" ...)
//   weak_semantic  in the configurable word list (case-insensitive, markers removed)
//   other          everything else
#pragma once
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sysout/core/error.hpp"
#include "sysout/io/json_writer.hpp"

namespace sysout::detect {

enum class token_category : std::uint8_t { start, delimiter, weak_semantic, other };

constexpr const char* token_category_name(token_category c) noexcept {
  switch (c) {
    case token_category::start: return "start";
    case token_category::delimiter: return "delimiter";
    case token_category::weak_semantic: return "weak_semantic";
    case token_category::other: return "other";
  }
  return "?";
}

struct token_category_options {
  // Function words with little meaning of their own (the papers' examples:
  // "the", "and", "of"...); compared lower-case with markers removed.
  std::vector<std::string> weak_semantic = {"the", "a",  "an", "and", "or",   "of",   "to",  "in",
                                            "on",  "at", "for", "with", "is", "are", "was", "be",
                                            "as",  "by", "that", "this", "it", "from", "but", "not"};
  // Token strings that are a start-of-sequence token wherever they appear.
  std::vector<std::string> bos_strings = {"<s>", "<bos>", "<|endoftext|>", "<|begin_of_text|>", "<|im_start|>"};
  bool position0_is_start = true;  // the first token of the sequence is "start" whatever it is
};

namespace detail {
// Removes tokenizer markers and decodes <0xNN> byte tokens.
inline std::string strip_token_markers(std::string_view s) {
  if (s.size() == 6 && s.substr(0, 3) == "<0x" && s[5] == '>' && std::isxdigit(static_cast<unsigned char>(s[3])) &&
      std::isxdigit(static_cast<unsigned char>(s[4]))) {
    const int v = std::stoi(std::string(s.substr(3, 2)), nullptr, 16);
    return std::string(1, char(v));
  }
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s.substr(i, 3) == "\xE2\x96\x81") {  // '▁' (SentencePiece space)
      out += ' ';
      i += 3;
    } else if (s.substr(i, 2) == "\xC4\xA0") {  // 'Ġ' (GPT-2 space)
      out += ' ';
      i += 2;
    } else if (s.substr(i, 2) == "\xC4\x8A") {  // 'Ċ' (GPT-2 newline)
      out += '\n';
      i += 2;
    } else if (s.substr(i, 2) == "\xC4\x89") {  // 'ĉ' (GPT-2 tab)
      out += '\t';
      i += 2;
    } else {
      out += s[i++];
    }
  }
  return out;
}
}  // namespace detail

inline token_category classify_token(std::string_view token, std::int64_t position,
                                     const token_category_options& opt = {}) {
  if (position == 0 && opt.position0_is_start) return token_category::start;
  for (const auto& b : opt.bos_strings)
    if (token == b) return token_category::start;
  const std::string s = detail::strip_token_markers(token);
  bool delim = true;
  for (unsigned char c : s)
    if (!(std::ispunct(c) || std::isspace(c))) {
      delim = false;
      break;
    }
  if (delim) return token_category::delimiter;  // includes the empty / marker-only token
  std::string w;
  for (unsigned char c : s)
    if (!std::isspace(c)) w += char(std::tolower(c));
  for (const auto& x : opt.weak_semantic)
    if (w == x) return token_category::weak_semantic;
  return token_category::other;
}

// Categories of tokens[positions[i]]; positions must index into tokens.
inline std::vector<token_category> classify_tokens(const std::vector<std::string>& tokens,
                                                   const std::vector<std::int64_t>& positions,
                                                   const token_category_options& opt = {}) {
  std::vector<token_category> out;
  out.reserve(positions.size());
  for (auto p : positions) {
    if (p < 0 || p >= std::int64_t(tokens.size()))
      throw_error("classify_tokens", "position ", p, " out of range for ", tokens.size(), " tokens");
    out.push_back(classify_token(tokens[std::size_t(p)], p, opt));
  }
  return out;
}

// Counts per category, for reports.
struct token_category_counts {
  std::int64_t start = 0, delimiter = 0, weak_semantic = 0, other = 0;
  void add(token_category c) {
    switch (c) {
      case token_category::start: ++start; break;
      case token_category::delimiter: ++delimiter; break;
      case token_category::weak_semantic: ++weak_semantic; break;
      case token_category::other: ++other; break;
    }
  }
  void to_json(json_writer& w) const {
    w.begin_object();
    w.field("start", start).field("delimiter", delimiter).field("weak_semantic", weak_semantic).field("other", other);
    w.end_object();
  }
};

}  // namespace sysout::detect

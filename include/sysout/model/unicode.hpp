// Unicode helpers for the tokenizers: UTF-8 <-> code points (with llama.cpp's
// handling of invalid bytes), general-category flags for every code point
// (tables generated from Python's unicodedata by tools/gen_unicode_tables.py),
// GPT-2's byte <-> printable-character map (bytes_to_unicode in OpenAI's
// encoder.py), and the byte-level BPE pre-tokenizers written by hand, as
// llama.cpp's unicode.cpp does, instead of with std::regex.
//
// Every split function works on code points and returns piece lengths (in code
// points) that sum to the input length; pieces never cross the boundaries of
// the incoming `offsets`, which is how llama.cpp chains several regexes: each
// later regex only sees inside the pieces of the earlier ones, and its
// look-ahead (the `(?!\S)` of `\s+(?!\S)`) ends at a piece boundary.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sysout/model/unicode_data.hpp"

namespace sysout::unicode {

// One general-category bit per code point (as llama.cpp's unicode_cpt_flags),
// plus the White_Space property as its own bit.
enum cpt_flag : std::uint16_t {
  undefined = 0x001,    // Cn: unassigned
  number = 0x002,       // \p{N}
  letter = 0x004,       // \p{L}
  separator = 0x008,    // \p{Z}
  accent_mark = 0x010,  // \p{M}
  punctuation = 0x020,  // \p{P}
  symbol = 0x040,       // \p{S}
  control = 0x080,      // \p{C} except Cn
  whitespace = 0x100,   // White_Space (\s)
};

inline constexpr std::uint32_t max_codepoint = 0x10FFFF;
inline constexpr std::uint32_t replacement_char = 0xFFFD;

// Flags of one code point; code points past U+10FFFF are `undefined`.
inline std::uint16_t flags(std::uint32_t cp) noexcept {
  if (cp > max_codepoint) return undefined;
  const std::uint32_t* first = data::run_first;
  const std::uint32_t* last = data::run_first + data::n_runs;
  const std::uint32_t* it = std::upper_bound(first, last, cp);  // first run starting after cp
  return data::run_flags[(it - first) - 1];
}
inline bool is_letter(std::uint32_t cp) noexcept { return flags(cp) & letter; }
inline bool is_number(std::uint32_t cp) noexcept { return flags(cp) & number; }
inline bool is_whitespace(std::uint32_t cp) noexcept { return flags(cp) & whitespace; }
inline bool is_punctuation(std::uint32_t cp) noexcept { return flags(cp) & punctuation; }

// ---------------------------------------------------------------------------
// UTF-8

// Length of the UTF-8 sequence a lead byte announces, from its high nibble (a
// continuation byte counts as 1): what llama.cpp and sentencepiece use to cut
// text into characters before merging.
inline std::size_t utf8_len(char lead) noexcept {
  static constexpr std::uint8_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return lookup[static_cast<std::uint8_t>(lead) >> 4];
}

// Decodes the code point at `offset` and advances it. Malformed input (a stray
// continuation byte, a truncated sequence, a lead byte >= 0xF8) yields U+FFFD
// and advances by one byte, exactly as llama.cpp's unicode_cpts_from_utf8 does,
// so that pre-tokenization sees the same code points.
inline std::uint32_t decode_utf8(std::string_view s, std::size_t& offset) noexcept {
  const auto b = [&](std::size_t i) { return static_cast<std::uint8_t>(s[i]); };
  const auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  const std::uint8_t c = b(offset);
  if (!(c & 0x80)) {
    offset += 1;
    return c;
  }
  if ((c & 0x40) && !(c & 0x20)) {
    if (cont(offset + 1)) {
      const std::uint32_t r = (std::uint32_t(c & 0x1F) << 6) | (b(offset + 1) & 0x3F);
      offset += 2;
      return r;
    }
  } else if ((c & 0x40) && !(c & 0x10)) {
    if (cont(offset + 1) && cont(offset + 2)) {
      const std::uint32_t r =
          (std::uint32_t(c & 0x0F) << 12) | (std::uint32_t(b(offset + 1) & 0x3F) << 6) | (b(offset + 2) & 0x3F);
      offset += 3;
      return r;
    }
  } else if ((c & 0x40) && !(c & 0x08)) {
    if (cont(offset + 1) && cont(offset + 2) && cont(offset + 3)) {
      const std::uint32_t r = (std::uint32_t(c & 0x07) << 18) | (std::uint32_t(b(offset + 1) & 0x3F) << 12) |
                              (std::uint32_t(b(offset + 2) & 0x3F) << 6) | (b(offset + 3) & 0x3F);
      offset += 4;
      return r;
    }
  }
  offset += 1;
  return replacement_char;
}

inline std::vector<std::uint32_t> to_codepoints(std::string_view s) {
  std::vector<std::uint32_t> out;
  out.reserve(s.size());
  for (std::size_t off = 0; off < s.size();) out.push_back(decode_utf8(s, off));
  return out;
}

// Appends the UTF-8 encoding of `cp` (code points past U+10FFFF become U+FFFD).
inline void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp > max_codepoint) cp = replacement_char;
  if (cp <= 0x7F) {
    out.push_back(char(cp));
  } else if (cp <= 0x7FF) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp <= 0xFFFF) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

inline std::string to_utf8(std::uint32_t cp) {
  std::string s;
  append_utf8(s, cp);
  return s;
}

// ---------------------------------------------------------------------------
// GPT-2 byte-level alphabet: OpenAI's bytes_to_unicode() maps each byte to a
// printable code point (printable Latin-1 bytes to themselves, the other 68 to
// U+0100.. in byte order), so BPE works on strings without spaces or controls.

inline const std::array<std::uint32_t, 256>& byte_to_codepoint() {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    std::uint32_t n = 0;
    for (std::uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[b] = printable ? b : 256 + n++;
    }
    return t;
  }();
  return table;
}

// The byte a byte-level code point stands for, or -1 when it stands for none.
inline int codepoint_to_byte(std::uint32_t cp) {
  static const std::array<std::int16_t, 324> table = [] {
    std::array<std::int16_t, 324> t{};
    t.fill(-1);
    const auto& fwd = byte_to_codepoint();
    for (int b = 0; b < 256; ++b) t[fwd[b]] = std::int16_t(b);
    return t;
  }();
  return cp < table.size() ? table[cp] : -1;
}

// Byte-level encoding of raw bytes: each byte becomes its printable stand-in.
inline std::string byte_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  const auto& fwd = byte_to_codepoint();
  for (char c : bytes) append_utf8(out, fwd[static_cast<std::uint8_t>(c)]);
  return out;
}

// ---------------------------------------------------------------------------
// Pre-tokenizer splits (pieces as code point counts; see the file comment).

using pieces = std::vector<std::size_t>;

// GPT-2's pattern  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// matched left to right by hand (llama.cpp's unicode_regex_split_custom_gpt2).
inline pieces split_gpt2(const std::vector<std::uint32_t>& cpts, const pieces& offsets) {
  pieces out;
  out.reserve(offsets.size());
  std::size_t start = 0;
  for (const std::size_t len : offsets) {
    const std::size_t ini = start, end = start + len;
    start = end;
    constexpr std::uint32_t out_of_range = 0xFFFFFFFF;
    const auto cpt_at = [&](std::size_t p) { return p < end ? cpts[p] : out_of_range; };
    // Outside the piece: no flags at all (neither letter, number, space nor other).
    const auto flags_at = [&](std::size_t p) -> std::uint16_t { return p < end ? flags(cpts[p]) : 0; };
    std::size_t prev_end = ini;
    const auto emit = [&](std::size_t e) {
      const std::size_t n = e - prev_end;
      if (n > 0) out.push_back(n);
      prev_end = e;
      return n;
    };
    for (std::size_t pos = ini; pos < end;) {
      const std::uint32_t c = cpt_at(pos);
      const std::uint16_t f = flags_at(pos);
      if (c == '\'' && pos + 1 < end) {  // 's|'t|'re|'ve|'m|'ll|'d
        const std::uint32_t n1 = cpt_at(pos + 1);
        if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
          pos += emit(pos + 2);
          continue;
        }
        if (pos + 2 < end) {
          const std::uint32_t n2 = cpt_at(pos + 2);
          if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
            pos += emit(pos + 3);
            continue;
          }
        }
      }
      std::uint16_t f2 = (c == ' ') ? flags_at(pos + 1) : f;
      if (f2 & letter) {  // ' ?\p{L}+'
        pos += (c == ' ');
        while (flags_at(pos) & letter) ++pos;
        emit(pos);
        continue;
      }
      if (f2 & number) {  // ' ?\p{N}+'
        pos += (c == ' ');
        while (flags_at(pos) & number) ++pos;
        emit(pos);
        continue;
      }
      const auto other = [](std::uint16_t g) { return g != 0 && !(g & (whitespace | letter | number)); };
      if (other(f2)) {  // ' ?[^\s\p{L}\p{N}]+'
        pos += (c == ' ');
        while (other(flags_at(pos))) ++pos;
        emit(pos);
        continue;
      }
      std::size_t n_ws = 0;
      while (flags_at(pos + n_ws) & whitespace) ++n_ws;
      if (n_ws > 1 && cpt_at(pos + n_ws) != out_of_range) {  // '\s+(?!\S)': leave the last space to the next word
        pos += n_ws - 1;
        emit(pos);
        continue;
      }
      if (n_ws > 0) {  // '\s+'
        pos += n_ws;
        emit(pos);
        continue;
      }
      emit(++pos);  // no alternative matched: a piece of one code point
    }
  }
  return out;
}

// A regex that is one character class, `[class]` or `[class]+`, run the way
// std::regex_iterator does over each piece: every match becomes a piece, and so
// does the text between matches. `each` = true isolates every matching code
// point (`[class]`), false isolates maximal runs (`[class]+`).
template <class Pred>
pieces split_class(const std::vector<std::uint32_t>& cpts, const pieces& offsets, Pred in_class, bool each) {
  pieces out;
  out.reserve(offsets.size());
  std::size_t start = 0;
  for (const std::size_t len : offsets) {
    const std::size_t ini = start, end = start + len;
    start = end;
    std::size_t prev = ini;
    for (std::size_t pos = ini; pos < end;) {
      if (!in_class(cpts[pos])) {
        ++pos;
        continue;
      }
      if (pos > prev) out.push_back(pos - prev);
      std::size_t e = pos + 1;
      if (!each)
        while (e < end && in_class(cpts[e])) ++e;
      out.push_back(e - pos);
      prev = pos = e;
    }
    if (end > prev) out.push_back(end - prev);
  }
  return out;
}

// `[0-9][0-9][0-9]`: non-overlapping groups of three ASCII digits, leftmost first.
inline pieces split_ascii_digit_triples(const std::vector<std::uint32_t>& cpts, const pieces& offsets) {
  pieces out;
  std::size_t start = 0;
  const auto digit = [&](std::size_t p) { return cpts[p] >= '0' && cpts[p] <= '9'; };
  for (const std::size_t len : offsets) {
    const std::size_t ini = start, end = start + len;
    start = end;
    std::size_t prev = ini;
    for (std::size_t pos = ini; pos + 3 <= end;) {
      if (digit(pos) && digit(pos + 1) && digit(pos + 2)) {
        if (pos > prev) out.push_back(pos - prev);
        out.push_back(3);
        prev = pos = pos + 3;
      } else {
        ++pos;
      }
    }
    if (end > prev) out.push_back(end - prev);
  }
  return out;
}

// The pre-tokenizers of llama.cpp's byte-level BPE that sysout implements, by
// the `tokenizer.ggml.pre` names that select them.
enum class pretokenizer {
  gpt2,         // "gpt-2" (also mpt, olmo, phi-2, ...): the GPT-2 pattern alone
  digits_gpt2,  // "smollm" (also starcoder, refact, command-r, ...): \p{N} isolated, then GPT-2
  bpe_default,  // "default" / absent: [\p{P}$+<=>^~|]+, GPT-2, \p{N}+, [0-9][0-9][0-9]
};

// Splits `text` into the words BPE merges within, each as UTF-8 (malformed
// bytes already replaced by U+FFFD, as llama.cpp does).
inline std::vector<std::string> pretokenize(std::string_view text, pretokenizer kind) {
  const std::vector<std::uint32_t> cpts = to_codepoints(text);
  pieces p{cpts.size()};
  if (cpts.empty()) return {};
  const auto num = [](std::uint32_t c) { return (flags(c) & number) != 0; };
  switch (kind) {
    case pretokenizer::gpt2:
      p = split_gpt2(cpts, p);
      break;
    case pretokenizer::digits_gpt2:
      p = split_class(cpts, p, num, /*each=*/true);
      p = split_gpt2(cpts, p);
      break;
    case pretokenizer::bpe_default: {
      // llama.cpp runs this class through std::regex on a "collapsed" text:
      // ASCII as itself (its punctuation plus $+<=>^~|), other code points by
      // category, where whitespace wins over the category.
      const auto punct = [](std::uint32_t c) {
        if (c < 128) {
          const std::string_view extra = "$+<=>^~|";
          return (flags(c) & punctuation) != 0 || extra.find(char(c)) != std::string_view::npos;
        }
        const std::uint16_t f = flags(c);
        return !(f & whitespace) && (f & punctuation);
      };
      p = split_class(cpts, p, punct, /*each=*/false);
      p = split_gpt2(cpts, p);
      p = split_class(cpts, p, num, /*each=*/false);
      p = split_ascii_digit_triples(cpts, p);
      break;
    }
  }
  std::vector<std::string> words;
  words.reserve(p.size());
  std::size_t at = 0;
  for (const std::size_t n : p) {
    std::string w;
    for (std::size_t i = at; i < at + n; ++i) append_utf8(w, cpts[i]);
    words.push_back(std::move(w));
    at += n;
  }
  return words;
}

}  // namespace sysout::unicode

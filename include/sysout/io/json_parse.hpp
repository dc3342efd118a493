// A small, strict JSON parser (RFC 8259) for the JSON that model files carry:
// safetensors headers and Hugging Face config.json. No dependency. It keeps
// each number's text so that 64-bit integers (safetensors byte offsets) stay
// exact, caps nesting depth (no stack overflow on hostile input), decodes
// \uXXXX escapes (surrogate pairs included) to UTF-8, and reports errors as
// sysout::error "<where>: JSON error at byte N (line L, column C): ...".
// Objects keep their members in file order; duplicate keys are an error.
#pragma once
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sysout/core/error.hpp"

namespace sysout::io {

class json_value {
 public:
  enum class kind : std::uint8_t { null, boolean, number, string, array, object };

  json_value() = default;
  kind type() const noexcept { return kind_; }
  bool is_null() const noexcept { return kind_ == kind::null; }
  bool is_bool() const noexcept { return kind_ == kind::boolean; }
  bool is_number() const noexcept { return kind_ == kind::number; }
  bool is_string() const noexcept { return kind_ == kind::string; }
  bool is_array() const noexcept { return kind_ == kind::array; }
  bool is_object() const noexcept { return kind_ == kind::object; }

  static std::string_view kind_name(kind k) noexcept {
    switch (k) {
      case kind::null: return "null";
      case kind::boolean: return "bool";
      case kind::number: return "number";
      case kind::string: return "string";
      case kind::array: return "array";
      case kind::object: return "object";
    }
    return "?";
  }
  std::string_view kind_name() const noexcept { return kind_name(kind_); }

  bool as_bool() const {
    expect(kind::boolean);
    return bool_;
  }
  // The number's text as written ("1e-05", "128").
  const std::string& number_text() const {
    expect(kind::number);
    return text_;
  }
  double as_double() const {
    expect(kind::number);
    double v = 0;
    const auto r = std::from_chars(text_.data(), text_.data() + text_.size(), v);
    if (r.ec != std::errc()) throw_error("json", "number ", text_, " is out of the range of double");
    return v;
  }
  // Exact integer value; throws for fractions, exponents and out-of-range values.
  std::int64_t as_int64() const {
    expect(kind::number);
    std::int64_t v = 0;
    const auto r = std::from_chars(text_.data(), text_.data() + text_.size(), v);
    if (r.ec != std::errc() || r.ptr != text_.data() + text_.size())
      throw_error("json", "number ", text_, " is not an integer in int64 range");
    return v;
  }
  std::uint64_t as_uint64() const {
    expect(kind::number);
    std::uint64_t v = 0;
    const auto r = std::from_chars(text_.data(), text_.data() + text_.size(), v);
    if (r.ec != std::errc() || r.ptr != text_.data() + text_.size())
      throw_error("json", "number ", text_, " is not a non-negative integer in uint64 range");
    return v;
  }
  bool is_integer() const noexcept {
    return kind_ == kind::number && text_.find_first_of(".eE") == std::string::npos;
  }
  const std::string& as_string() const {
    expect(kind::string);
    return text_;
  }
  const std::vector<json_value>& as_array() const {
    expect(kind::array);
    return items_;
  }
  const std::vector<std::pair<std::string, json_value>>& as_object() const {
    expect(kind::object);
    return members_;
  }
  // Member lookup (linear: objects here are small); nullptr when absent or not an object.
  const json_value* find(std::string_view key) const noexcept {
    if (kind_ != kind::object) return nullptr;
    for (const auto& [k, v] : members_)
      if (k == key) return &v;
    return nullptr;
  }
  std::size_t size() const noexcept {
    return kind_ == kind::array ? items_.size() : kind_ == kind::object ? members_.size() : 0;
  }

  // Compact JSON text (strings escaped; numbers as written).
  std::string dump() const {
    std::string out;
    dump_to(out);
    return out;
  }

 private:
  friend class json_parser;
  void expect(kind k) const {
    if (kind_ != k) throw_error("json", "value is ", kind_name(kind_), ", expected ", kind_name(k));
  }
  static void dump_string(std::string& out, std::string_view s) {
    out += '"';
    for (unsigned char c : s) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += char(c);
      } else if (c == '\n') out += "\\n";
      else if (c == '\t') out += "\\t";
      else if (c == '\r') out += "\\r";
      else if (c < 0x20) {
        static const char* hex = "0123456789abcdef";
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
      } else out += char(c);
    }
    out += '"';
  }
  void dump_to(std::string& out) const {
    switch (kind_) {
      case kind::null: out += "null"; break;
      case kind::boolean: out += bool_ ? "true" : "false"; break;
      case kind::number: out += text_; break;
      case kind::string: dump_string(out, text_); break;
      case kind::array:
        out += '[';
        for (std::size_t i = 0; i < items_.size(); ++i) {
          if (i) out += ',';
          items_[i].dump_to(out);
        }
        out += ']';
        break;
      case kind::object:
        out += '{';
        for (std::size_t i = 0; i < members_.size(); ++i) {
          if (i) out += ',';
          dump_string(out, members_[i].first);
          out += ':';
          members_[i].second.dump_to(out);
        }
        out += '}';
        break;
    }
  }

  kind kind_ = kind::null;
  bool bool_ = false;
  std::string text_;  // number text or string value
  std::vector<json_value> items_;
  std::vector<std::pair<std::string, json_value>> members_;
};

class json_parser {
 public:
  static constexpr int max_depth = 128;

  json_parser(std::string_view text, std::string where) : s_(text), where_(std::move(where)) {}

  json_value parse_document() {
    skip_ws();
    json_value v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < pos_ && i < s_.size(); ++i) {
      if (s_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw_error(where_, "JSON error at byte ", pos_, " (line ", line, ", column ", col, "): ", what);
  }
  bool eof() const noexcept { return pos_ >= s_.size(); }
  char peek() const noexcept { return eof() ? '\0' : s_[pos_]; }
  void skip_ws() noexcept {
    while (!eof() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  void expect_literal(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) != lit) fail("invalid literal (expected " + std::string(lit) + ")");
    pos_ += lit.size();
  }

  json_value parse_value(int depth) {
    if (depth > max_depth) fail("nesting deeper than " + std::to_string(max_depth) + " levels");
    if (eof()) fail("unexpected end of input");
    json_value v;
    const char c = peek();
    if (c == '{') {
      v.kind_ = json_value::kind::object;
      ++pos_;
      skip_ws();
      if (peek() == '}') {
        ++pos_;
        return v;
      }
      for (;;) {
        skip_ws();
        if (peek() != '"') fail("expected a string key");
        std::string key = parse_string();
        for (const auto& m : v.members_)
          if (m.first == key) fail("duplicate key \"" + key + "\"");
        skip_ws();
        if (peek() != ':') fail("expected ':' after a key");
        ++pos_;
        skip_ws();
        json_value member = parse_value(depth + 1);
        v.members_.emplace_back(std::move(key), std::move(member));
        skip_ws();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        if (peek() == '}') {
          ++pos_;
          return v;
        }
        fail("expected ',' or '}' in an object");
      }
    }
    if (c == '[') {
      v.kind_ = json_value::kind::array;
      ++pos_;
      skip_ws();
      if (peek() == ']') {
        ++pos_;
        return v;
      }
      for (;;) {
        skip_ws();
        v.items_.push_back(parse_value(depth + 1));
        skip_ws();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        if (peek() == ']') {
          ++pos_;
          return v;
        }
        fail("expected ',' or ']' in an array");
      }
    }
    if (c == '"') {
      v.kind_ = json_value::kind::string;
      v.text_ = parse_string();
      return v;
    }
    if (c == 't') {
      expect_literal("true");
      v.kind_ = json_value::kind::boolean;
      v.bool_ = true;
      return v;
    }
    if (c == 'f') {
      expect_literal("false");
      v.kind_ = json_value::kind::boolean;
      return v;
    }
    if (c == 'n') {
      expect_literal("null");
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind_ = json_value::kind::number;
      v.text_ = parse_number();
      return v;
    }
    fail(std::string("unexpected character '") + c + "'");
  }

  std::string parse_number() {
    const std::size_t b = pos_;
    auto digits = [&] {
      const std::size_t d = pos_;
      while (!eof() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - d;
    };
    if (peek() == '-') ++pos_;
    if (peek() == '0') ++pos_;
    else if (digits() == 0) fail("invalid number");
    if (peek() == '.') {
      ++pos_;
      if (digits() == 0) fail("invalid number: no digits after '.'");
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (digits() == 0) fail("invalid number: no digits in the exponent");
    }
    return std::string(s_.substr(b, pos_ - b));
  }

  unsigned parse_hex4() {
    if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= unsigned(h - '0');
      else if (h >= 'a' && h <= 'f') v |= unsigned(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= unsigned(h - 'A' + 10);
      else fail("invalid hex digit in \\u escape");
    }
    return v;
  }
  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) out += char(cp);
    else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (eof()) fail("unterminated string");
      const char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) {
        --pos_;
        fail("control character in a string");
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (eof()) fail("unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = parse_hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {  // high surrogate: a low one must follow
            if (s_.substr(pos_, 2) != "\\u") fail("unpaired surrogate in \\u escape");
            pos_ += 2;
            const unsigned lo = parse_hex4();
            if (lo < 0xDC00 || lo >= 0xE000) fail("invalid low surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            fail("unpaired low surrogate in \\u escape");
          }
          append_utf8(out, cp);
          break;
        }
        default: --pos_; fail(std::string("invalid escape '\\") + e + "'");
      }
    }
  }

  std::string_view s_;
  std::string where_;
  std::size_t pos_ = 0;
};

// Parses a whole JSON document; `where` (a file name) prefixes error messages.
inline json_value parse_json(std::string_view text, const std::string& where = "json") {
  return json_parser(text, where).parse_document();
}

}  // namespace sysout::io

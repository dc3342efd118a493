// json_writer: a small, dependency-free, streaming JSON writer every sysout
// result uses for its to_json(json_writer&). It writes straight into a string;
// structure (object/array nesting, keys inside objects only) is checked and
// misuse throws sysout::error instead of producing broken JSON.
//
// Numbers: doubles are written with 17 significant digits (round-trip exact;
// "%.17g"), integers exactly. JSON has no NaN/Inf, so non-finite numbers follow
// json_writer::nonfinite:
//   as_null   (default) : NaN, +Inf and -Inf are written as null
//   as_string           : written as the strings "nan", "inf", "-inf"
// Strings: '"', '\\' and control characters are escaped (\n \t \r \b \f and
// \u00XX for the rest); other bytes (UTF-8) are passed through unchanged.
//
//   json_writer w;                 // or json_writer w(2) for 2-space indent
//   w.begin_object();
//   w.key("layer").value(3);
//   w.key("dims").begin_array(); w.value(447); w.end_array();
//   w.end_object();
//   std::string s = w.str();       // {"layer":3,"dims":[447]}
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "sysout/core/error.hpp"

namespace sysout {

class json_writer {
 public:
  enum class nonfinite : std::uint8_t { as_null, as_string };

  explicit json_writer(int indent = 0, nonfinite nf = nonfinite::as_null) : indent_(indent), nf_(nf) {}

  json_writer& begin_object() {
    before_value();
    out_ += '{';
    stack_.push_back({true, true});
    return *this;
  }
  json_writer& end_object() {
    if (stack_.empty() || !stack_.back().object) throw error("json_writer", "end_object without begin_object");
    if (key_pending_) throw error("json_writer", "end_object after a key with no value");
    close('}');
    return *this;
  }
  json_writer& begin_array() {
    before_value();
    out_ += '[';
    stack_.push_back({false, true});
    return *this;
  }
  json_writer& end_array() {
    if (stack_.empty() || stack_.back().object) throw error("json_writer", "end_array without begin_array");
    close(']');
    return *this;
  }
  json_writer& key(std::string_view k) {
    if (stack_.empty() || !stack_.back().object) throw error("json_writer", "key '" + std::string(k) + "' outside an object");
    if (key_pending_) throw error("json_writer", "key '" + std::string(k) + "' after a key with no value");
    separator();
    write_string(k);
    out_ += indent_ > 0 ? ": " : ":";
    key_pending_ = true;
    return *this;
  }

  json_writer& null() {
    before_value();
    out_ += "null";
    return *this;
  }
  json_writer& value(bool b) {
    before_value();
    out_ += b ? "true" : "false";
    return *this;
  }
  json_writer& value(std::string_view s) {
    before_value();
    write_string(s);
    return *this;
  }
  json_writer& value(const char* s) { return value(std::string_view(s)); }
  json_writer& value(const std::string& s) { return value(std::string_view(s)); }
  json_writer& value(double d) {
    before_value();
    write_double(d);
    return *this;
  }
  json_writer& value(float f) { return value(double(f)); }
  template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  json_writer& value(I i) {
    before_value();
    if constexpr (std::is_signed_v<I>)
      out_ += std::to_string(std::int64_t(i));
    else
      out_ += std::to_string(std::uint64_t(i));
    return *this;
  }
  // Any type with a member to_json(json_writer&) (every sysout result struct).
  template <class T, std::enable_if_t<std::is_invocable_v<decltype(&T::to_json), const T&, json_writer&>, int> = 0>
  json_writer& value(const T& obj) {
    obj.to_json(*this);
    return *this;
  }
  // Arrays of numbers, strings or results.
  template <class T>
  json_writer& array(const std::vector<T>& v) {
    begin_array();
    for (const auto& x : v) value(x);
    return end_array();
  }
  template <class T>
  json_writer& array(const T* p, std::size_t n) {
    begin_array();
    for (std::size_t i = 0; i < n; ++i) value(p[i]);
    return end_array();
  }
  // key(k).value(v) in one call.
  template <class T>
  json_writer& field(std::string_view k, const T& v) {
    key(k);
    if constexpr (requires { v.begin(); v.end(); } && !std::is_convertible_v<T, std::string_view>)
      return array(v);
    else
      return value(v);
  }

  // The document so far; complete() says whether every object/array is closed.
  const std::string& str() const noexcept { return out_; }
  bool complete() const noexcept { return stack_.empty() && has_root_; }

  // Writes the finished document to path atomically (temp file + rename).
  void save(const std::string& path) const {
    if (!complete()) throw error(path, "json_writer: document is not complete (unclosed object/array)");
    const std::string tmp = path + ".tmp";
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      if (!f) throw error(path, "cannot open '" + tmp + "' for writing");
      f.write(out_.data(), std::streamsize(out_.size()));
      f.put('\n');
      if (!f) throw error(path, "write failed");
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      std::remove(tmp.c_str());
      throw error(path, "cannot rename temporary file into place");
    }
  }

  // Escapes s as a JSON string literal (with quotes).
  static std::string quote(std::string_view s) {
    json_writer w;
    w.write_string(s);
    return w.out_;
  }

 private:
  struct level {
    bool object;
    bool first;
  };

  void newline() {
    if (indent_ <= 0) return;
    out_ += '\n';
    out_.append(std::size_t(indent_) * stack_.size(), ' ');
  }
  void separator() {
    auto& l = stack_.back();
    if (!l.first) out_ += ',';
    l.first = false;
    newline();
  }
  void before_value() {
    if (stack_.empty()) {
      if (has_root_) throw error("json_writer", "a second top-level value");
      has_root_ = true;
      return;
    }
    if (stack_.back().object) {
      if (!key_pending_) throw error("json_writer", "value inside an object without a key");
      key_pending_ = false;
      return;
    }
    separator();
  }
  void close(char c) {
    const bool empty = stack_.back().first;
    stack_.pop_back();
    if (!empty) newline();
    out_ += c;
  }
  void write_double(double d) {
    if (std::isnan(d) || std::isinf(d)) {
      if (nf_ == nonfinite::as_null)
        out_ += "null";
      else
        out_ += std::isnan(d) ? "\"nan\"" : (d > 0 ? "\"inf\"" : "\"-inf\"");
      return;
    }
    char buf[40];
    // Integral values within 2^53 print without exponent or fraction.
    if (d == std::floor(d) && std::fabs(d) < 9007199254740992.0) {
      std::snprintf(buf, sizeof buf, "%.0f", d);
      if (d == 0 && std::signbit(d)) std::snprintf(buf, sizeof buf, "-0.0");
    } else {
      std::snprintf(buf, sizeof buf, "%.17g", d);
    }
    out_ += buf;
  }
  void write_string(std::string_view s) {
    out_ += '"';
    for (char ch : s) {
      const unsigned char c = static_cast<unsigned char>(ch);
      switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\n': out_ += "\\n"; break;
        case '\t': out_ += "\\t"; break;
        case '\r': out_ += "\\r"; break;
        case '\b': out_ += "\\b"; break;
        case '\f': out_ += "\\f"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(c));
            out_ += buf;
          } else {
            out_ += ch;
          }
      }
    }
    out_ += '"';
  }

  std::string out_;
  std::vector<level> stack_;
  int indent_ = 0;
  nonfinite nf_ = nonfinite::as_null;
  bool key_pending_ = false;
  bool has_root_ = false;
};

// Serializes any result with to_json into a string.
template <class T>
std::string to_json_string(const T& result, int indent = 0,
                           json_writer::nonfinite nf = json_writer::nonfinite::as_null) {
  json_writer w(indent, nf);
  result.to_json(w);
  return w.str();
}

}  // namespace sysout

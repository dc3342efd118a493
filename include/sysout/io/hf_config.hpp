// Hugging Face config.json as a flat key -> value map: nested objects become
// dotted keys ("rope_scaling.factor", "text_config.hidden_size"); arrays and
// scalars stay JSON values. Typed getters throw sysout::error naming the file,
// the key and what it actually holds.
#pragma once
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "sysout/core/error.hpp"
#include "sysout/io/json_parse.hpp"
#include "sysout/io/mapped_file.hpp"

namespace sysout::io {

class hf_config {
 public:
  hf_config() = default;
  // Parses JSON text; `where` (the file name) prefixes error messages.
  hf_config(std::string_view json_text, std::string where) : where_(std::move(where)) {
    const json_value root = parse_json(json_text, where_);
    if (!root.is_object()) throw_error(where_, "config is a JSON ", root.kind_name(), ", expected an object");
    flatten(root, "");
  }
  static hf_config load(const std::filesystem::path& path) {
    const mapped_file f(path);
    return hf_config(std::string_view(reinterpret_cast<const char*>(f.data()), f.size()), f.path());
  }

  const std::map<std::string, json_value>& values() const noexcept { return values_; }
  bool has(std::string_view key) const { return values_.count(std::string(key)) != 0; }
  const json_value* find(std::string_view key) const {
    auto it = values_.find(std::string(key));
    return it == values_.end() ? nullptr : &it->second;
  }
  const json_value& get(std::string_view key) const {
    const json_value* v = find(key);
    if (!v) throw_error(where_, "config key '", key, "' is absent");
    return *v;
  }
  std::int64_t get_int(std::string_view key) const {
    const json_value& v = get(key);
    if (!v.is_number() || !v.is_integer()) mismatch(key, v, "an integer");
    return v.as_int64();
  }
  double get_double(std::string_view key) const {
    const json_value& v = get(key);
    if (!v.is_number()) mismatch(key, v, "a number");
    return v.as_double();
  }
  bool get_bool(std::string_view key) const {
    const json_value& v = get(key);
    if (!v.is_bool()) mismatch(key, v, "a bool");
    return v.as_bool();
  }
  std::string get_string(std::string_view key) const {
    const json_value& v = get(key);
    if (!v.is_string()) mismatch(key, v, "a string");
    return v.as_string();
  }
  std::optional<std::int64_t> find_int(std::string_view key) const {
    const json_value* v = find(key);
    if (!v || v->is_null()) return std::nullopt;
    return get_int(key);
  }
  std::optional<double> find_double(std::string_view key) const {
    const json_value* v = find(key);
    if (!v || v->is_null()) return std::nullopt;
    return get_double(key);
  }
  std::optional<bool> find_bool(std::string_view key) const {
    const json_value* v = find(key);
    if (!v || v->is_null()) return std::nullopt;
    return get_bool(key);
  }
  std::optional<std::string> find_string(std::string_view key) const {
    const json_value* v = find(key);
    if (!v || v->is_null()) return std::nullopt;
    return get_string(key);
  }

 private:
  [[noreturn]] void mismatch(std::string_view key, const json_value& v, std::string_view expected) const {
    throw_error(where_, "config key '", key, "' is ", v.dump(), " (", v.kind_name(), "), expected ", expected);
  }
  void flatten(const json_value& obj, const std::string& prefix) {
    for (const auto& [k, v] : obj.as_object()) {
      const std::string key = prefix.empty() ? k : prefix + "." + k;
      if (v.is_object() && v.size() > 0) flatten(v, key);
      else if (!values_.emplace(key, v).second) throw_error(where_, "config key '", key, "' appears twice");
    }
  }

  std::string where_ = "config.json";
  std::map<std::string, json_value> values_;
};

}  // namespace sysout::io

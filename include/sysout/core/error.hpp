// sysout::error: every user-facing failure is an exception that says what went
// wrong, where (file, tensor, site) and what was expected vs what was found.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace sysout {

class error : public std::runtime_error {
 public:
  explicit error(const std::string& what) : std::runtime_error(what) {}
  error(const std::string& where, const std::string& what)
      : std::runtime_error(where.empty() ? what : where + ": " + what), where_(where) {}
  const std::string& where() const noexcept { return where_; }

 private:
  std::string where_;
};

namespace detail {
template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

// Builds a message from streamable parts: throw_error("file.gguf", "tensor ", name, " truncated").
template <class... Args>
[[noreturn]] void throw_error(const std::string& where, Args&&... args) {
  throw error(where, detail::concat(std::forward<Args>(args)...));
}

}  // namespace sysout

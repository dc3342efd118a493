// Helpers shared by the tests: where the real data lives, and skipping cleanly
// when a model file is absent (we never fake a model).
#pragma once
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "sysout/core/error.hpp"

namespace sysout::testing {

inline std::filesystem::path shared_models() { return SYSOUT_SHARED_MODELS; }
inline std::filesystem::path models_dir() { return SYSOUT_MODELS_DIR; }
inline std::filesystem::path source_dir() { return SYSOUT_SOURCE_DIR; }

// Path to a shared or fetched model, or empty (with a message) when absent.
inline std::filesystem::path find_model(const std::string& file) {
  for (auto dir : {shared_models(), models_dir()}) {
    auto p = dir / file;
    if (std::filesystem::exists(p)) return p;
  }
  std::printf("SKIP: model file '%s' is absent (run tools/setup.sh or python3 tools/fetch_models.py)\n", file.c_str());
  return {};
}

// The message of the sysout::error that f() throws, or "<no error>".
std::string error_of(auto&& f) {
  try {
    f();
  } catch (const sysout::error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace sysout::testing

// Skips the rest of a test case when a model is absent, and says so.
#define SYSOUT_REQUIRE_MODEL(var, file)                                   \
  const auto var = ::sysout::testing::find_model(file);                   \
  if (var.empty()) {                                                      \
    MESSAGE("skipped: model '" << file << "' is absent");                 \
    return;                                                               \
  }

// sysout's version: the single source of truth. CMakeLists.txt and conanfile.py
// read these three numbers from here.
#pragma once
#define SYSOUT_VERSION_MAJOR 0
#define SYSOUT_VERSION_MINOR 1
#define SYSOUT_VERSION_PATCH 0
#define SYSOUT_VERSION_STRING "0.1.0"

namespace sysout {
struct version_info {
  int major, minor, patch;
  const char* string;
};
inline constexpr version_info version{SYSOUT_VERSION_MAJOR, SYSOUT_VERSION_MINOR, SYSOUT_VERSION_PATCH,
                                      SYSOUT_VERSION_STRING};
}  // namespace sysout

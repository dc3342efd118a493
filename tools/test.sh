#!/usr/bin/env bash
# The test command: configure, build everything (library tests, examples,
# benchmarks) and run every test with ctest. Extra arguments go to ctest,
# e.g. `bash tools/test.sh -L core` or `-LE packaging`.
# SYSOUT_BUILD_DIR (default build) and SYSOUT_JOBS (default: all cores) override.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${SYSOUT_BUILD_DIR:-build}
JOBS=${SYSOUT_JOBS:-$(nproc)}
export PATH="$HOME/.local/bin:$PATH"  # where pip puts conan for a system Python
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD" -j "$JOBS"
cd "$BUILD"
ctest --output-on-failure -j "$JOBS" "$@"

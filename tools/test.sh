#!/usr/bin/env bash
# The test command: configure, build and run every test with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${SYSOUT_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD" -j "$(nproc)"
cd "$BUILD"
ctest --output-on-failure -j "$(nproc)" "$@"

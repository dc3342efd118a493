#!/usr/bin/env bash
# `conan create` of this source tree in a scratch CONAN_HOME (a fresh machine's
# state): detect a profile, then build the package and its test_package with
# the project profile conan/profiles/sysout (no remote is contacted). Exits 77
# (ctest: skipped) when conan is not installed.
set -euo pipefail
SRC=$1
WORK=$2
if ! command -v conan >/dev/null 2>&1; then
  echo "SKIP: conan is not installed (pip install conan)"
  exit 77
fi
rm -rf "$WORK"
mkdir -p "$WORK"
export CONAN_HOME="$WORK/conan-home"
conan --version
conan profile detect --force
# test_package is built from a copy so that nothing is written into the source tree.
cp -r "$SRC/test_package" "$WORK/test_package"
conan create "$SRC" --test-folder "$WORK/test_package" --profile:all "$SRC/conan/profiles/sysout" -o "sysout/*:with_eigen=True" \
  -o "sysout/*:with_dlpack=True" --build=missing --no-remote 2>&1 | tee "$WORK/create.log"
grep -q "sysout conan test_package: ok" "$WORK/create.log"
rm -rf "$WORK"

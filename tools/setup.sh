#!/usr/bin/env bash
# Sets up a fresh Debian (bookworm or later) machine for sysout: the compiler,
# CMake/Ninja and the Debian packages of the optional dependencies (apt), the
# Python tools (pip: numpy and gguf for fixtures and cross-checks, conan for the
# packaging test), then the real models (tools/fetch_models.py).
# Re-running is cheap: apt and pip skip what is present, models are hash-checked.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive

echo "== apt: compiler, build tools, libraries"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential g++ cmake ninja-build git ca-certificates python3 python3-pip python3-venv \
  libeigen3-dev xtensor-dev xtl-dev doctest-dev libhwy-dev libdlpack-dev nlohmann-json3-dev \
  gnuplot-nox >/dev/null

echo "== pip: numpy, gguf, conan"
PY=${PYTHON:-python3}
PIP_PACKAGES=(numpy gguf "conan>=2.0")
# A distribution Python (PEP 668, "externally managed") refuses plain pip
# installs; pyenv/venv Pythons do not. Try the plain way first.
if ! $PY -m pip install -q "${PIP_PACKAGES[@]}" 2>/tmp/sysout_pip.err; then
  if grep -q "externally-managed-environment" /tmp/sysout_pip.err; then
    $PY -m pip install -q --break-system-packages "${PIP_PACKAGES[@]}"
  else
    cat /tmp/sysout_pip.err >&2
    exit 1
  fi
fi
# pip may put console scripts (conan) in ~/.local/bin.
if ! command -v conan >/dev/null 2>&1 && [ -x "$HOME/.local/bin/conan" ]; then
  echo "note: conan is in $HOME/.local/bin; add it to PATH"
fi

echo "== models"
$PY tools/fetch_models.py

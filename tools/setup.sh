#!/usr/bin/env bash
# Installs sysout's build and test dependencies on Debian (apt + pip).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build git python3 python3-pip \
  libeigen3-dev xtensor-dev xtl-dev doctest-dev libhwy-dev libdlpack-dev nlohmann-json3-dev \
  gnuplot-nox >/dev/null
python3 "$(dirname "$0")/fetch_models.py"

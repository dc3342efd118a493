#!/usr/bin/env bash
# The README's main example: set the machine up (tools/setup.sh: apt, pip, real
# models), build the `sysout` CLI and run every experiment on SmolLM2-135M
# (existence, positions, lifecycle, interventions on WikiText-2). Writes a human
# summary to stdout and JSON, NPY and PNG files to results/smollm2/.
#
#   bash tools/run_example.sh                       # SmolLM2-135M, defaults
#   MODEL=models/gemma-3-270m-q4_k_m.gguf OUT=results/gemma3 bash tools/run_example.sh
#   SKIP_SETUP=1 bash tools/run_example.sh --max-tokens 512   # extra args go to `sysout all`
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SKIP_SETUP:-}" ]; then bash tools/setup.sh; fi
BUILD=${SYSOUT_BUILD_DIR:-build}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
OUT=${OUT:-results/smollm2}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" --target sysout_cli -j "$(nproc)"
mkdir -p "$OUT"
"$BUILD/examples/sysout/sysout" all --model "$MODEL" --out "$OUT" --threads "$(nproc)" "$@"
echo "outputs in $OUT:"
ls "$OUT"

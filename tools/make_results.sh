#!/usr/bin/env bash
# Regenerates docs/results.md and its figures (docs/img/) by running the `sysout`
# example on stories260K, SmolLM2-135M and Gemma 3 270M. Nothing in the page is
# typed by hand: the summaries are the program's stdout, the tables are read
# from its JSON, the figures are its PNGs.
#
#   tools/make_results.sh                 # all three models
#   MAX_TOKENS=512 tools/make_results.sh  # smaller perplexity budget (faster)
#
# Raw outputs (JSON, NPY, gnuplot data/scripts) stay in $BUILD/results/<model>/.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${SYSOUT_BUILD_DIR:-build}
THREADS=${THREADS:-2}
MAX_TOKENS=${MAX_TOKENS:-1024}
CTX=${CTX:-256}
SAMPLES=${SAMPLES:-16}
LAYER_TOKENS=${LAYER_TOKENS:-256}   # perplexity budget of each per-layer intervention
if [ ! -x "$BUILD/examples/sysout/sysout" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD" --target sysout_cli -j "$THREADS" >/dev/null
SYSOUT=$BUILD/examples/sysout/sysout
RES=$BUILD/results
mkdir -p "$RES" docs/img

models=()
[ -f ../shared/models/stories260K.bin ] && models+=("stories260K:../shared/models/stories260K.bin")
[ -f models/SmolLM2-135M-Instruct.Q4_1.gguf ] && models+=("smollm2:models/SmolLM2-135M-Instruct.Q4_1.gguf")
[ -f models/gemma-3-270m-q4_k_m.gguf ] && models+=("gemma3:models/gemma-3-270m-q4_k_m.gguf")

for entry in "${models[@]}"; do
  key=${entry%%:*}
  path=${entry#*:}
  out=$RES/$key
  rm -rf "$out"
  mkdir -p "$out"
  echo "== $key ($path)" >&2
  common=(--model "$path" --out "$out" --threads "$THREADS")
  { time "$SYSOUT" all "${common[@]}" --ctx "$CTX" --max-tokens "$MAX_TOKENS" > "$out/all.txt"; } 2> "$out/all.time"
  "$SYSOUT" self_attention "${common[@]}" > "$out/self_attention.txt"
  "$SYSOUT" top_activation_magnitude "${common[@]}" --samples "$SAMPLES" > "$out/top_activation_magnitude.txt"
  "$SYSOUT" existence_validation "${common[@]}" --samples "$SAMPLES" --ctx 128 > "$out/existence_validation.txt"
  "$SYSOUT" tokens_analysis "${common[@]}" --samples "$SAMPLES" --ctx 128 > "$out/tokens_analysis.txt"
  "$SYSOUT" intervention_analysis "${common[@]}" --ctx "$CTX" --max-tokens "$LAYER_TOKENS" > "$out/intervention_analysis.txt"
  # figures for the page
  for f in existence_top3 lifecycle_magnitude lifecycle_contributions lifecycle_sinks lifecycle_value_norms intervene \
           top_activation_magnitude existence_validation weight_outliers intervention_analysis; do
    [ -f "$out/$f.png" ] && cp "$out/$f.png" "docs/img/${key}_$f.png"
  done
  for f in "$out"/landscape_layer_out_L*.png "$out"/attention_L*.png; do
    [ -f "$f" ] && cp "$f" "docs/img/${key}_$(basename "$f")"
  done
done

# cost of tracing (bench/trace), on the main model
if [ -f models/SmolLM2-135M-Instruct.Q4_1.gguf ]; then
  cmake --build "$BUILD" --target bench_trace -j "$THREADS" >/dev/null
  { "$BUILD/bench/trace/bench_trace" models/SmolLM2-135M-Instruct.Q4_1.gguf 64 1
    "$BUILD/bench/trace/bench_trace" models/SmolLM2-135M-Instruct.Q4_1.gguf 64 "$THREADS"; } > "$RES/bench_trace.txt"
fi

python3 tools/make_results_page.py "$RES" docs/results.md "${models[@]}"
echo "wrote docs/results.md and docs/img/" >&2

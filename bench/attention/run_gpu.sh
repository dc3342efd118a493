#!/usr/bin/env bash
# Builds and runs the CUDA attention test and GPU benchmark on a GPU machine
# without CMake: nvcc directly (sm_90 by default). Output goes to ${OUT:-.}.
#   bench/attention/run_gpu.sh [DOCTEST_INCLUDE_DIR]
set -uo pipefail
cd "$(dirname "$0")/../.."
DOCTEST=${1:-/usr/include}
ARCH=${SYSOUT_CUDA_ARCH:-sm_90}
B=build-gpu
mkdir -p $B/bench/attention
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv
FLAGS="-std=c++20 -O3 -arch=$ARCH -Iinclude -Itests -I$DOCTEST"
DEFS="-DSYSOUT_SOURCE_DIR=\"$PWD\" -DSYSOUT_SHARED_MODELS=\"$PWD/../shared/models\" -DSYSOUT_MODELS_DIR=\"$PWD/models\""
( eval nvcc $FLAGS $DEFS tests/main.cpp tests/attention/test_cuda.cu -o $B/test_attention_cuda ) > $B/build_test.log 2>&1 &
( nvcc $FLAGS bench/attention/cuda_bench.cu -o $B/bench/attention/bench_attention_cuda ) > $B/build_bench.log 2>&1 &
wait
cat $B/build_test.log $B/build_bench.log | grep -v "^$" | tail -20
echo "== test"
time $B/test_attention_cuda
echo "test rc=$?"
echo "== bench"
shift || true
python3 bench/attention/gpu_bench.py $B "$@"

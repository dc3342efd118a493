#!/usr/bin/env bash
# Builds llama.cpp (through llama-cpp-python, from source with pip) as the
# independent reference for fixtures and side-by-side benchmarks. Not needed by
# CI or the tests: they use the recorded fixtures.
#
# Why these flags: on CPUs that report AMX (Sapphire Rapids), GGML_NATIVE=ON
# compiles ggml's AMX matmul, which segfaults in VMs that do not enable AMX
# tiles. We build the AVX-512/VNNI kernels explicitly and leave AMX out.
set -euo pipefail
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
 -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=ON \
 -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_BF16=OFF ${EXTRA_CMAKE_ARGS:-}"
python3 -m pip install --no-deps --no-cache-dir ${PIP_EXTRA:-} "llama-cpp-python==0.3.36" "$@"
# --no-deps keeps pip from touching numpy etc.; these are llama_cpp's import-time
# requirements (a fresh machine lacks diskcache, and `import llama_cpp` fails without it).
python3 -m pip install ${PIP_EXTRA:-} "diskcache>=5.6.1" "jinja2>=2.11.3" "numpy>=1.20.0" "typing-extensions>=4.5.0"

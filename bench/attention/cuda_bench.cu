// GPU timing of the CUDA attention kernels, the C++ half of gpu_bench.py.
// Prints one line per (variant, T, d): RESULT variant T d heads ms ms_with_column_sums,
// and per (T, d) for decode (one query against T cached keys, the keys split
// over blocks): DECODE variant T d heads ms ms_with_column_sums
//   bench_attention_cuda [heads] [T list...]
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "sysout/attention/cuda.cuh"

using namespace sysout;
using namespace sysout::attention;

static void ck(cudaError_t e) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "CUDA error: %s\n", cudaGetErrorString(e));
    std::exit(1);
  }
}

int main(int argc, char** argv) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::printf("SKIP: no CUDA device\n");
    return 0;
  }
  const int H = argc > 1 ? std::atoi(argv[1]) : 16;
  std::vector<int> Ts;
  for (int i = 2; i < argc; ++i) Ts.push_back(std::atoi(argv[i]));
  if (Ts.empty()) Ts = {512, 1024, 2048, 4096, 8192};
  cudaDeviceProp prop{};
  ck(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s\n", prop.name);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (int D : {64, 128}) {
    for (int T : Ts) {
      const std::size_t ne = std::size_t(H) * T * D;
      std::vector<std::uint16_t> hq(ne), hk(ne), hv(ne);
      for (auto* b : {&hq, &hk, &hv})
        for (auto& x : *b) x = f32_to_bf16(nd(rng));
      void *q, *k, *v, *o, *cols, *nullm, *params;
      ck(cudaMalloc(&q, ne * 2)), ck(cudaMalloc(&k, ne * 2)), ck(cudaMalloc(&v, ne * 2)), ck(cudaMalloc(&o, ne * 2));
      ck(cudaMalloc(&cols, sizeof(float) * H * T)), ck(cudaMalloc(&nullm, sizeof(float) * H));
      const std::size_t np = std::size_t(H) * (2 * D + 2 + D + 2 * T);
      std::vector<float> hp(np);
      for (auto& x : hp) x = 0.5f * nd(rng);
      ck(cudaMalloc(&params, np * sizeof(float)));
      ck(cudaMemcpy(params, hp.data(), np * sizeof(float), cudaMemcpyHostToDevice));
      ck(cudaMemcpy(q, hq.data(), ne * 2, cudaMemcpyHostToDevice));
      ck(cudaMemcpy(k, hk.data(), ne * 2, cudaMemcpyHostToDevice));
      ck(cudaMemcpy(v, hv.data(), ne * 2, cudaMemcpyHostToDevice));
      float* pf = static_cast<float*>(params);
      config c;
      c.extra_key = tensor_view(pf, dtype::f32, {H, D});
      c.extra_value = tensor_view(pf + H * D, dtype::f32, {H, D});
      c.sink_logit = tensor_view(pf + 2 * H * D, dtype::f32, {H});
      c.value_bias = tensor_view(pf + 2 * H * D + H, dtype::f32, {H, D});
      c.scaling_factor = tensor_view(pf + 3 * H * D + H, dtype::f32, {H, T});
      c.gate_logit = tensor_view(pf + 3 * H * D + H + H * T, dtype::f32, {H, T});
      problem p;
      p.q = tensor_view(q, dtype::bf16, {H, T, D});
      p.k = tensor_view(k, dtype::bf16, {H, T, D});
      p.v = tensor_view(v, dtype::bf16, {H, T, D});
      p.out = tensor_view(o, dtype::bf16, {H, T, D});
      const stats st{tensor_view(cols, dtype::f32, {H, T}), tensor_view(nullm, dtype::f32, {H})};
      cudaEvent_t e0, e1;
      ck(cudaEventCreate(&e0)), ck(cudaEventCreate(&e1));
      auto time_ms = [&](const stats& s) {
        for (int i = 0; i < 3; ++i) attend_cuda(p, c, s);
        ck(cudaDeviceSynchronize());
        const int iters = T >= 4096 ? 10 : 30;
        ck(cudaEventRecord(e0));
        for (int i = 0; i < iters; ++i) attend_cuda(p, c, s);
        ck(cudaEventRecord(e1));
        ck(cudaEventSynchronize(e1));
        float ms = 0;
        ck(cudaEventElapsedTime(&ms, e0, e1));
        return ms / float(iters);
      };
      for (variant var : all_variants) {
        c.variant = var;
        const float ms = time_ms({}), mss = time_ms(st);
        std::printf("RESULT %s %d %d %d %.5f %.5f\n", std::string(variant_name(var)).c_str(), T, D, H, ms, mss);
        std::fflush(stdout);
      }
      // Decode: the last query of each head against all T keys.
      const problem full = p;
      p.q = tensor_view(static_cast<std::uint16_t*>(q) + std::size_t(T - 1) * D, dtype::bf16, {H, 1, D},
                        {std::int64_t(T) * D, D, 1});
      p.out = tensor_view(o, dtype::bf16, {H, 1, D}, {std::int64_t(T) * D, D, 1});
      p.q_pos0 = T - 1;
      const stats st1{st.column_sums, st.null_mass};
      for (variant var : {variant::softmax, variant::sink_logit}) {
        c.variant = var;
        const float ms = time_ms({}), mss = time_ms(st1);
        std::printf("DECODE %s %d %d %d %.5f %.5f\n", std::string(variant_name(var)).c_str(), T, D, H, ms, mss);
        std::fflush(stdout);
      }
      p = full;
      for (void* x : {q, k, v, o, cols, nullm, params}) cudaFree(x);
      cudaEventDestroy(e0), cudaEventDestroy(e1);
    }
  }
  return 0;
}

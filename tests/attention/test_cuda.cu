// CUDA backend against the scalar reference over the sweep, every variant,
// bf16 and f16 inputs. Exits 77 (ctest: skipped) when no GPU is present.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "attention_cases.hpp"
#include "sysout/attention/cuda.cuh"  // the CUDA runtime, or its emulation

using namespace sysout;
using namespace sysout::attention;
using namespace sysout::attention::testing;

namespace {
void skip_without_gpu() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::printf("SKIP: no CUDA device; test_attention_cuda needs a GPU\n");
    std::fflush(stdout);
    std::exit(77);
  }
}
struct device_memory {
  std::vector<void*> ptrs;
  ~device_memory() {
    for (void* p : ptrs) cudaFree(p);
  }
  // Device copy of a (possibly strided) host view: the whole span it covers.
  tensor_view copy(const tensor_view& h) {
    if (!is_set(h)) return {};
    std::int64_t span = 1;
    for (int i = 0; i < h.rank(); ++i) span += (h.shape()[i] - 1) * h.strides()[i];
    const std::size_t bytes = std::size_t(span) * h.element_size();
    void* d = nullptr;
    REQUIRE(cudaMalloc(&d, bytes) == cudaSuccess);
    ptrs.push_back(d);
    REQUIRE(cudaMemcpy(d, h.data(), bytes, cudaMemcpyHostToDevice) == cudaSuccess);
    return tensor_view(d, h.type(), h.shape(), h.strides(), h.name());
  }
  void back(const tensor_view& d, tensor<float>& h) {
    REQUIRE(cudaMemcpy(h.data(), d.data(), std::size_t(h.size()) * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
  }
};
// The reference output with |v| (and |v'|, |value bias|) in place of v: per
// element, the sum of the magnitudes of the terms whose rounding the backend
// may carry.
tensor<float> terms_of(const case_data& cd, const config& c0) {
  config c = c0;
  tensor<float> ev = cd.ev, vbias = cd.vbias;
  for (auto* t : {&ev, &vbias})
    for (auto& x : t->vec()) x = std::abs(x);
  c.extra_value = ev.view(), c.value_bias = vbias.view();
  std::vector<unsigned char> vabs = cd.vb;
  const tensor_view va(vabs.data(), cd.v.type(), cd.v.shape(), cd.v.strides(), "|v|");
  for_each_offset(va, [&](std::int64_t off) {
    store_from_double(va.ptr_at(off), va.type(), std::abs(load_as_double(va.ptr_at(off), va.type())));
  });
  problem p = cd.p;
  p.v = va;
  tensor<float> out(cd.out_ref.shape());
  p.out = out.view();
  attend_reference<double>(p, c);
  return out;
}
}  // namespace

TEST_CASE("cuda: every variant over the shape sweep matches the reference (bf16 and f16 inputs)") {
  skip_without_gpu();
  int checked = 0;
  for (case_spec cs : sweep(true)) {
    if (cs.d != cs.dv) continue;  // the CUDA kernels need dv == d (checked below)
    for (dtype in : {dtype::bf16, dtype::f16}) {
      cs.in = in;
      for (variant var : all_variants) {
        CAPTURE(cs.str());
        CAPTURE(variant_name(var));
        case_data cd(cs);
        config hc = cd.make_config(var);
        cd.run_reference(hc);
        device_memory dm;
        config c = hc;
        c.extra_key = dm.copy(hc.extra_key), c.extra_value = dm.copy(hc.extra_value);
        c.sink_logit = dm.copy(hc.sink_logit), c.value_bias = dm.copy(hc.value_bias);
        c.scaling_factor = dm.copy(hc.scaling_factor), c.gate_logit = dm.copy(hc.gate_logit);
        problem p;
        p.q = dm.copy(cd.q), p.k = dm.copy(cd.k), p.v = dm.copy(cd.v), p.q_pos0 = cd.p.q_pos0;
        p.mask = dm.copy(cd.p.mask), p.mask_add = dm.copy(cd.p.mask_add);
        p.out = dm.copy(cd.out.view());
        const tensor_view cols = dm.copy(cd.cols.view()), nullm = dm.copy(cd.null_mass.view());
        attend_cuda(p, c, stats{cols, nullm});
        REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
        dm.back(p.out, cd.out);
        dm.back(cols, cd.cols);
        dm.back(nullm, cd.null_mass);
        // bf16: P is rounded to 8 significant bits before P V (as in FlashAttention), so
        // each term p_j v_j carries ~2^-9 relative error: |out - ref| <= 1e-2 (|ref| + A),
        // A = the same attention of |v| (the size of the terms, which cancel in ref).
        // f16 keeps 11 bits: 3e-3. Column sums and null mass use the fp32 probabilities:
        // 1e-3 (|ref| + rms(ref)), the rms because sums over long key ranges are small.
        const double tol = in == dtype::bf16 ? 1e-2 : 3e-3;
        const tensor<float> terms = terms_of(cd, hc);
        expect_within(cd.out, cd.out_ref, [&](std::int64_t i, double b) {
          return tol * (std::abs(b) + std::abs(double(terms.data()[i]))) + 1e-6;
        }, "out");
        auto scale_of = [](const tensor<float>& t) { return std::max(rms(t), 1e-6); };
        expect_close(cd.cols, cd.cols_ref, 1e-3 * scale_of(cd.cols_ref), 1e-3, "column sums");
        expect_close(cd.null_mass, cd.null_ref, 1e-3 * scale_of(cd.null_ref), 1e-3, "null mass");
        ++checked;
      }
    }
  }
  CHECK(checked >= 100);
}

TEST_CASE("cuda: f16 and bf16 outputs are the f32 output rounded once (prefill and split-key decode)") {
  skip_without_gpu();
  for (const case_spec& cs : {case_spec{37, 37, 64, 64, 2, 1, true, 0, 0, mask_kind::none, false, dtype::bf16},
                              case_spec{1, 700, 64, 64, 4, 2, true, 0, 699, mask_kind::none, false, dtype::f16}}) {
    for (variant var : {variant::softmax1, variant::value_bias_context, variant::gated}) {
      CAPTURE(cs.str());
      CAPTURE(variant_name(var));
      case_data cd(cs);
      config c = cd.make_config(var);
      device_memory dm;
      c.extra_key = dm.copy(c.extra_key), c.extra_value = dm.copy(c.extra_value);
      c.gate_logit = dm.copy(c.gate_logit);
      problem p;
      p.q = dm.copy(cd.q), p.k = dm.copy(cd.k), p.v = dm.copy(cd.v), p.q_pos0 = cd.p.q_pos0;
      p.out = dm.copy(cd.out.view());
      attend_cuda(p, c);
      REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
      dm.back(p.out, cd.out);
      for (dtype ot : {dtype::f16, dtype::bf16}) {
        CAPTURE(dtype_name(ot));
        std::vector<std::uint16_t> host(std::size_t(cd.out.size()));
        const tensor_view hv(host.data(), ot, cd.out.shape());
        problem p16 = p;
        p16.out = dm.copy(hv);
        attend_cuda(p16, c);
        REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
        REQUIRE(cudaMemcpy(host.data(), p16.out.data(), host.size() * 2, cudaMemcpyDeviceToHost) == cudaSuccess);
        int wrong = 0;
        for (std::int64_t i = 0; i < cd.out.size(); ++i) {
          const float x = cd.out.data()[i];  // the f32 result rounded to nearest even
          const std::uint16_t rounded = ot == dtype::f16 ? f32_to_f16(x) : f32_to_bf16(x);
          wrong += host[std::size_t(i)] != rounded;
        }
        CHECK(wrong == 0);
      }
    }
  }
}

TEST_CASE("cuda: unsupported inputs throw before launching") {
  skip_without_gpu();
  case_data cd({8, 8, 32, 48, 2, 1, true, 0, 0, mask_kind::none, false, dtype::bf16});
  device_memory dm;
  problem p;
  p.q = dm.copy(cd.q), p.k = dm.copy(cd.k), p.v = dm.copy(cd.v), p.out = dm.copy(cd.out.view());
  CHECK_THROWS_WITH_AS(attend_cuda(p, config{}), doctest::Contains("dv == d"), sysout::error);
  case_data cf({8, 8, 32, 32, 2, 1, true, 0, 0, mask_kind::none, false, dtype::f32});
  p.q = dm.copy(cf.q), p.k = dm.copy(cf.k), p.v = dm.copy(cf.v), p.out = dm.copy(cf.out.view());
  CHECK_THROWS_WITH_AS(attend_cuda(p, config{}), doctest::Contains("f16"), sysout::error);
}

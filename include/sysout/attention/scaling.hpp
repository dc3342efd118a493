// The context-aware scaling factor of An et al. (ICLR 2025, table 2 (e)):
//   f[h, t] = 2 * sigmoid( (Linear(LayerNorm(x_t)))_h )
// computed once per call from the attention input x and handed to every
// backend as config.scaling_factor. (The authors' GPT-2 code feeds the already
// layer-normed block input to the Linear; pass empty ln views to skip the norm.)
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "sysout/attention/problem.hpp"
#include "sysout/core/tensor.hpp"

namespace sysout::attention {

// x [T, C]; ln_weight, ln_bias [C] (either may be unset; both unset = no LayerNorm);
// w [Hq, C]; b [Hq] (may be unset). Returns f [Hq, T] in f32.
inline tensor<float> context_scaling_factors(const tensor_view& x, const tensor_view& w, const tensor_view& b = {},
                                             const tensor_view& ln_weight = {}, const tensor_view& ln_bias = {},
                                             double ln_eps = 1e-5) {
  x.expect_rank(2, "x [T, C]");
  w.expect_rank(2, "w [Hq, C]");
  const std::int64_t t = x.dim(0), cdim = x.dim(1), hq = w.dim(0);
  if (w.dim(1) != cdim) throw_error(w.where(), "w has shape ", w.shape().str(), ", expected [Hq, ", cdim, "]");
  if (is_set(b) && (b.rank() != 1 || b.dim(0) != hq))
    throw_error(b.where(), "b has shape ", b.shape().str(), ", expected [", hq, "]");
  for (const tensor_view* lv : {&ln_weight, &ln_bias})
    if (is_set(*lv) && (lv->rank() != 1 || lv->dim(0) != cdim))
      throw_error(lv->where(), "LayerNorm parameter has shape ", lv->shape().str(), ", expected [", cdim, "]");
  const bool norm = is_set(ln_weight) || is_set(ln_bias);
  tensor<float> f({hq, t});
  std::vector<double> row(static_cast<std::size_t>(cdim));
  for (std::int64_t i = 0; i < t; ++i) {
    for (std::int64_t e = 0; e < cdim; ++e) row[std::size_t(e)] = x.get(i, e);
    if (norm) {
      double mean = 0, var = 0;
      for (double z : row) mean += z;
      mean /= double(cdim);
      for (double z : row) var += (z - mean) * (z - mean);
      var /= double(cdim);
      const double inv = 1.0 / std::sqrt(var + ln_eps);
      for (std::int64_t e = 0; e < cdim; ++e) {
        double z = (row[std::size_t(e)] - mean) * inv;
        if (is_set(ln_weight)) z *= ln_weight.get(e);
        if (is_set(ln_bias)) z += ln_bias.get(e);
        row[std::size_t(e)] = z;
      }
    }
    for (std::int64_t h = 0; h < hq; ++h) {
      double z = is_set(b) ? b.get(h) : 0.0;
      for (std::int64_t e = 0; e < cdim; ++e) z += w.get(h, e) * row[std::size_t(e)];
      f(h, i) = float(2.0 / (1.0 + std::exp(-z)));
    }
  }
  return f;
}

}  // namespace sysout::attention

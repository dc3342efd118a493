// Runs one backend against the double-precision reference over the sweep and
// every variant.
#pragma once
#include "attention_cases.hpp"

namespace sysout::attention::testing {

// Tolerances for fp32-accumulating backends with exactly converted inputs
// (f16/bf16 widen to f32 without error) and an f32 output:
//   out: |err| <= 1e-4 + 1e-4 |ref| (outputs are weighted sums of |v| ~ 1-4
//        over up to 1100 keys; fp32 rounding of the running sums stays ~1e-5)
//   column sums: 1e-4 + 1e-4 |ref| (sums of up to 1100 probabilities in fp32)
//   null mass:  1e-4 + 1e-4 |ref|
template <class Backend>
void sweep_backend(Backend&& run, bool include_long) {
  for (const case_spec& cs : sweep(include_long)) {
    for (variant var : all_variants) {
      CAPTURE(cs.str());
      CAPTURE(variant_name(var));
      case_data cd(cs);
      config c = cd.make_config(var);
      problem p = cd.run_reference(c);
      run(p, c, cd.backend_stats());
      expect_close(cd.out, cd.out_ref, 1e-4, 1e-4, "out");
      expect_close(cd.cols, cd.cols_ref, 1e-4, 1e-4, "column sums");
      expect_close(cd.null_mass, cd.null_ref, 1e-4, 1e-4, "null mass");
      // Without stats views the output must not change.
      case_data cd2(cs);
      problem p2 = cd2.p;
      p2.out = cd2.out.view();
      run(p2, cd2.make_config(var), stats{});
      expect_close(cd2.out, cd.out_ref, 1e-4, 1e-4, "out without stats");
    }
  }
}

}  // namespace sysout::attention::testing

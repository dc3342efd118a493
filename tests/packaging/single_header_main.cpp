// Compiled with -I single_include only: the generated single header must stand
// alone (no include/, no optional dependency) and behave like include/.
#include <sysout/sysout.hpp>

#include <cstdio>
#include <vector>

int main() {
  std::vector<float> x = {1.0f, -2.0f, 300.0f, 4.0f, 5.0f, 6.0f};
  auto v = sysout::view(x.data(), {2, 3}, sysout::layout::col_major, "x");
  if (v.get(0, 1) != 300.0) return 1;
  sysout::tensor<float> copy = sysout::tensor<float>::from(v);
  if (copy(0, 1) != 300.0f) return 2;
  if (sysout::f16_to_f32(sysout::f32_to_f16(0.5f)) != 0.5f) return 3;
  try {
    (void)v.select(0, 7);
    return 4;
  } catch (const sysout::error& e) {
    std::printf("single header %s ok; error as expected: %s\n", sysout::version.string, e.what());
  }
  return 0;
}

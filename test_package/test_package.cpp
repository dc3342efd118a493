// Conan test_package: the packaged headers compile and work from a consumer.
#include <sysout/sysout.hpp>

#include <cstdio>
#include <vector>

int main() {
  std::vector<float> h(4 * 16, 0.5f);
  h[2 * 16 + 7] = 300.0f;
  auto v = sysout::view(h.data(), {4, 16}, sysout::layout::row_major, "hidden");
  if (v.select(0, 2).get(7) != 300.0) return 1;
  try {
    (void)v.slice(1, 0, 17);
    return 1;
  } catch (const sysout::error&) {
  }
  std::printf("sysout conan test_package: ok (sysout %s)\n", sysout::version.string);
  return 0;
}

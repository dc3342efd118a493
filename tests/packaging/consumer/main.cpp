// Uses sysout only through the umbrella header, as a host engine would.
#include <sysout/sysout.hpp>

#include <cstdio>
#include <cstring>
#include <vector>

int main() {
  std::vector<float> hidden(2 * 8, 1.0f);
  hidden[3] = 512.0f;  // one massive dimension at token 0
  auto h = sysout::view(hidden.data(), {2, 8}, sysout::layout::row_major, "hidden");
  double max_abs = 0;
  sysout::for_each_offset(h, [&](std::int64_t off) {
    const double x = sysout::load_as_double(h.ptr_at(off), h.type());
    if (x > max_abs) max_abs = x;
  });
  std::printf("sysout %s: max |h| = %g over %s\n", sysout::version.string, max_abs, h.shape().str().c_str());
#ifdef EXPECT_VERSION
  if (std::strcmp(sysout::version.string, EXPECT_VERSION) != 0) {
    std::printf("version mismatch: header %s, package %s\n", sysout::version.string, EXPECT_VERSION);
    return 1;
  }
#endif
  try {
    (void)h.reshape({3, 5});
    return 1;  // must not be reached: 16 elements cannot become [3, 5]
  } catch (const sysout::error& e) {
    std::printf("error as expected: %s\n", e.what());
  }
  return max_abs == 512.0 ? 0 : 1;
}

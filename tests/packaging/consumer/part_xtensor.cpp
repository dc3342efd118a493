#if __has_include(<xtensor/containers/xtensor.hpp>)
#include <xtensor/containers/xtensor.hpp>
#else
#include <xtensor/xtensor.hpp>
#endif
#include <sysout/core/xtensor.hpp>
int main() {
  xt::xtensor<double, 2> a = xt::zeros<double>({2, 3});
  auto v = sysout::view(a);
  v.set(4.0, 1, 2);
  return (v.data() == a.data() && a(1, 2) == 4.0) ? 0 : 1;
}

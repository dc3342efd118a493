#include <sysout/core/dlpack.hpp>
int main() {
  float buf[6] = {0, 1, 2, 3, 4, 5};
  sysout::tensor_view v = sysout::view(buf, {2, 3});
  auto ex = sysout::to_dlpack(v);
  auto back = sysout::view(*ex);
  return (back.data() == buf && back.get(1, 2) == 5.0) ? 0 : 1;
}

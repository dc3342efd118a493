#include <Eigen/Core>
#include <sysout/core/eigen.hpp>
int main() {
  Eigen::MatrixXf m = Eigen::MatrixXf::Zero(3, 4);
  auto v = sysout::view(m);
  v.set(2.0, 2, 3);
  return (v.data() == m.data() && m(2, 3) == 2.0f) ? 0 : 1;
}

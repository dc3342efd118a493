#include <hwy/highway.h>
#include <sysout/sysout.hpp>

#include <algorithm>
namespace hn = hwy::HWY_NAMESPACE;
int main() {
  const hn::ScalableTag<float> d;
  HWY_ALIGN float x[64] = {};
  x[5] = 3.0f;
  float m = 0;
  for (size_t i = 0; i < 64; i += hn::Lanes(d)) m = std::max(m, hn::GetLane(hn::MaxOfLanes(d, hn::Load(d, x + i))));
  return m == 3.0f ? 0 : 1;
}

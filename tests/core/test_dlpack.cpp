// DLPack adapter: DLTensor / DLManagedTensor descriptors as a PyTorch, JAX or
// NumPy host fills them in, imported with no copy; every rule the adapter
// enforces (device, dtype, lanes, strides, alignment) has a failing case.
#include <doctest/doctest.h>

#include <cstring>
#include <numeric>
#include <vector>

#include "sysout/core.hpp"
#include "sysout/core/dlpack.hpp"

using namespace sysout;

namespace {
DLTensor make(void* data, DLDataType dt, std::vector<std::int64_t>& shape, std::int64_t* strides = nullptr) {
  DLTensor t{};
  t.data = data;
  t.device.device_type = kDLCPU;
  t.device.device_id = 0;
  t.ndim = int(shape.size());
  t.dtype = dt;
  t.shape = shape.data();
  t.strides = strides;
  t.byte_offset = 0;
  return t;
}
DLDataType dl(std::uint8_t code, std::uint8_t bits, std::uint16_t lanes = 1) {
  DLDataType d{};
  d.code = code;
  d.bits = bits;
  d.lanes = lanes;
  return d;
}
}  // namespace

TEST_CASE("DLTensor with null strides is compact row-major; memory is shared") {
  std::vector<float> buf(12);
  std::iota(buf.begin(), buf.end(), 0.0f);
  std::vector<std::int64_t> shape = {3, 4};
  DLTensor t = make(buf.data(), dl(kDLFloat, 32), shape);
  auto v = view(t, "x");
  CHECK(v.type() == dtype::f32);
  CHECK(v.data() == buf.data());
  CHECK(v.shape() == extents{3, 4});
  CHECK(v.strides() == extents{4, 1});
  CHECK(v.get(2, 3) == 11.0);
  v.set(-3.0, 1, 1);
  CHECK(buf[5] == -3.0f);
  CHECK(v.name() == "x");
}

TEST_CASE("DLTensor strides are in elements and byte_offset moves the origin") {
  std::vector<double> buf(40);
  std::iota(buf.begin(), buf.end(), 0.0);
  // A column-major 4x5 block starting at element 8, as torch's .t() exports.
  std::vector<std::int64_t> shape = {4, 5};
  std::int64_t strides[] = {1, 6};
  DLTensor t = make(buf.data(), dl(kDLFloat, 64), shape, strides);
  t.byte_offset = 8 * sizeof(double);
  auto v = view(t);
  CHECK(v.data() == buf.data() + 8);
  CHECK(v.strides() == extents{1, 6});
  CHECK(v.get(3, 4) == 8 + 3 + 24);
  CHECK(v.ptr(3, 4) == &buf[35]);
}

TEST_CASE("DLPack dtypes map to sysout dtypes and read exactly") {
  std::vector<std::int64_t> shape = {2};
  std::uint16_t h[2] = {0x3e00, 0xfbff};  // f16 1.5, -65504
  CHECK(view(make(h, dl(kDLFloat, 16), shape)).type() == dtype::f16);
  CHECK(view(make(h, dl(kDLFloat, 16), shape)).get(1) == -65504.0);
  std::uint16_t b[2] = {0x3fc0, 0xc020};  // bf16 1.5, -2.5
  CHECK(view(make(b, dl(kDLBfloat, 16), shape)).type() == dtype::bf16);
  CHECK(view(make(b, dl(kDLBfloat, 16), shape)).get(1) == -2.5);
  std::int8_t i8[2] = {-128, 127};
  CHECK(view(make(i8, dl(kDLInt, 8), shape)).get(0) == -128.0);
  std::int32_t i32[2] = {-7, 1 << 30};
  CHECK(view(make(i32, dl(kDLInt, 32), shape)).get(1) == double(1 << 30));
  std::int64_t i64[2] = {3, -(std::int64_t(1) << 40)};
  CHECK(view(make(i64, dl(kDLInt, 64), shape)).get(1) == -double(std::int64_t(1) << 40));
  float f[2] = {0.25f, 8.0f};
  CHECK(view(make(f, dl(kDLFloat, 32), shape)).type() == dtype::f32);
  double d[2] = {1e300, -0.0};
  CHECK(view(make(d, dl(kDLFloat, 64), shape)).get(0) == 1e300);
  for (dtype t : {dtype::f32, dtype::f64, dtype::f16, dtype::bf16, dtype::i8, dtype::i32, dtype::i64})
    CHECK(dlpack::from_dl(dlpack::to_dl(t), "round trip") == t);
}

TEST_CASE("DLPack: unsupported dtypes, vector lanes, GPU memory and bad layouts are clear errors") {
  std::vector<float> buf(16);
  std::vector<std::int64_t> shape = {4, 4};
  CHECK_THROWS_WITH_AS(view(make(buf.data(), dl(kDLUInt, 8), shape), "u"),
                       doctest::Contains("unsupported DLPack dtype uint8"), error);
  CHECK_THROWS_WITH_AS(view(make(buf.data(), dl(kDLInt, 16), shape)),
                       doctest::Contains("unsupported DLPack dtype int16"), error);
  CHECK_THROWS_WITH_AS(view(make(buf.data(), dl(kDLComplex, 64), shape)),
                       doctest::Contains("complex64"), error);
  CHECK_THROWS_WITH_AS(view(make(buf.data(), dl(kDLFloat, 32, 4), shape)), doctest::Contains("4 lanes"), error);

  DLTensor gpu = make(buf.data(), dl(kDLFloat, 32), shape);
  gpu.device.device_type = kDLCUDA;
  gpu.device.device_id = 1;
  CHECK_THROWS_WITH_AS(view(gpu, "logits"), doctest::Contains("DLPack tensor 'logits': lives on kDLCUDA (device id 1)"),
                       error);
  gpu.device.device_type = kDLROCM;
  CHECK_THROWS_WITH_AS(view(gpu), doctest::Contains("kDLROCM"), error);
  gpu.device.device_type = kDLCUDAHost;  // pinned host memory is readable
  CHECK(view(gpu).data() == buf.data());

  std::int64_t neg[] = {-4, 1};
  DLTensor rev = make(buf.data() + 12, dl(kDLFloat, 32), shape, neg);
  CHECK_THROWS_WITH_AS(view(rev), doctest::Contains("negative stride in strides [-4, 1]"), error);

  DLTensor mis = make(buf.data(), dl(kDLFloat, 32), shape);
  mis.byte_offset = 2;
  CHECK_THROWS_WITH_AS(view(mis), doctest::Contains("not aligned"), error);

  std::vector<std::int64_t> shape7 = {1, 1, 1, 1, 1, 1, 16};
  CHECK_THROWS_WITH_AS(view(make(buf.data(), dl(kDLFloat, 32), shape7)), doctest::Contains("ndim 7"), error);
  DLTensor noshape = make(buf.data(), dl(kDLFloat, 32), shape);
  noshape.shape = nullptr;
  CHECK_THROWS_WITH_AS(view(noshape), doctest::Contains("shape is null"), error);
  DLTensor nodata = make(nullptr, dl(kDLFloat, 32), shape);
  CHECK_THROWS_WITH_AS(view(nodata), doctest::Contains("null data pointer"), error);
  std::vector<std::int64_t> empty = {0, 4};
  CHECK(view(make(nullptr, dl(kDLFloat, 32), empty)).empty());  // DLPack: size 0 may have null data
}

TEST_CASE("DLManagedTensor: a view borrows, dlpack::managed calls the producer's deleter once") {
  struct producer {
    std::vector<float> data = std::vector<float>(6, 2.0f);
    std::vector<std::int64_t> shape = {2, 3};
    DLManagedTensor m{};
    int* deleted = nullptr;
  };
  int deleted = 0;
  auto* p = new producer;
  p->deleted = &deleted;
  p->m.dl_tensor = make(p->data.data(), dl(kDLFloat, 32), p->shape);
  p->m.manager_ctx = p;
  p->m.deleter = [](DLManagedTensor* self) {
    auto* pr = static_cast<producer*>(self->manager_ctx);
    ++*pr->deleted;
    delete pr;
  };
  {
    dlpack::managed owner(&p->m);
    auto v = view(*owner);
    CHECK(v.data() == p->data.data());
    CHECK(v.get(1, 2) == 2.0);
    CHECK(deleted == 0);
  }
  CHECK(deleted == 1);
}

TEST_CASE("to_dlpack exports a view; importing it gives back the same view") {
  tensor<float> t({4, 6});
  std::iota(t.vec().begin(), t.vec().end(), 0.0f);
  auto sl = t.view().slice(1, 2, 5).set_name("sl");  // [4, 3] strides {6, 1}
  auto ex = to_dlpack(sl);
  CHECK(ex->data == &t(0, 2));
  CHECK(ex->ndim == 2);
  CHECK(ex->shape[1] == 3);
  CHECK(ex->strides[0] == 6);
  CHECK(ex->device.device_type == kDLCPU);
  CHECK(ex->dtype.code == kDLFloat);
  CHECK(ex->dtype.bits == 32);
  auto copy = ex;  // the copy's shape/strides point into the copy
  CHECK(copy->shape != ex->shape);
  CHECK(copy->shape[0] == 4);
  auto back = view(*copy.get());
  CHECK(back.data() == sl.data());
  CHECK(back.shape() == sl.shape());
  CHECK(back.strides() == sl.strides());
  CHECK(back.get(3, 2) == t(3, 4));

  DLManagedTensor* m = to_dlpack_managed(sl);
  CHECK(m->dl_tensor.data == sl.data());
  CHECK(view(*m).get(2, 1) == t(2, 3));
  m->deleter(m);  // frees the descriptor only
  CHECK(t(2, 3) == 15.0f);
}

#ifdef DLPACK_MAJOR_VERSION
TEST_CASE("DLManagedTensorVersioned: flags and version are honoured") {
  tensor<float> t({2, 2}, 1.0f);
  DLManagedTensorVersioned* m = to_dlpack_versioned(t.view().as_const());
  CHECK(m->version.major == DLPACK_MAJOR_VERSION);
  CHECK((m->flags & DLPACK_FLAG_BITMASK_READ_ONLY) != 0);
  auto v = view(*m);
  CHECK_FALSE(v.writable());
  CHECK(v.data() == t.data());
  m->version.major += 1;
  CHECK_THROWS_WITH_AS(view(*m), doctest::Contains("major version"), error);
  m->deleter(m);
}
#endif

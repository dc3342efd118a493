// NPY writer/reader and JSON writer (io/npy.hpp, io/json_writer.hpp).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

#include "sysout/core.hpp"
#include "sysout/io/json_writer.hpp"
#include "sysout/io/npy.hpp"
#include "test_support.hpp"

using namespace sysout;
namespace fs = std::filesystem;

namespace {
fs::path tmp_dir() {
  auto d = fs::temp_directory_path() / ("sysout_detect_io_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}
std::string fixture(const char* name) {
  return (sysout::testing::source_dir() / "tests" / "fixtures" / "detect" / name).string();
}
double formula(std::int64_t i) { return double(i) * 0.5 - 3; }
bool have_numpy() { return std::system("python3 -c \"import numpy\" > /dev/null 2>&1") == 0; }
}  // namespace

TEST_CASE("npy: round trip for every dtype, C order from any layout") {
  const auto d = tmp_dir();
  std::vector<float> f(12);
  for (std::size_t i = 0; i < f.size(); ++i) f[i] = float(formula(std::int64_t(i)));
  // col-major view: written in C order (logical order), so element (i, j) survives
  auto cm = view(f.data(), {3, 4}, layout::col_major);
  write_npy((d / "cm.npy").string(), cm);
  auto a = read_npy((d / "cm.npy").string());
  CHECK(a.type == npy_dtype::f32);
  CHECK(a.shape == std::vector<std::int64_t>{3, 4});
  CHECK_FALSE(a.fortran_order);
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t j = 0; j < 4; ++j) CHECK(a.view().get(i, j) == cm.get(i, j));

  std::vector<double> dd = {1e300, -0.0, std::numeric_limits<double>::quiet_NaN(), 3.25};
  write_npy((d / "f64.npy").string(), dd.data(), {2, 2});
  auto b = read_npy((d / "f64.npy").string());
  CHECK(b.data<double>()[0] == 1e300);
  CHECK(std::isnan(b.data<double>()[2]));
  std::vector<f16> h = {to_f16(1.5f), to_f16(-65504.0f)};
  write_npy((d / "f16.npy").string(), h.data(), {2});
  CHECK(read_npy((d / "f16.npy").string()).to_double() == std::vector<double>{1.5, -65504.0});
  std::vector<std::int32_t> i32 = {-7, 1 << 30};
  write_npy((d / "i32.npy").string(), i32.data(), {2, 1});
  CHECK(read_npy((d / "i32.npy").string()).to_double() == std::vector<double>{-7, double(1 << 30)});
  std::vector<std::int64_t> i64 = {std::int64_t(1) << 40};
  write_npy((d / "i64.npy").string(), i64.data(), {1});
  CHECK(read_npy((d / "i64.npy").string()).data<std::int64_t>()[0] == (std::int64_t(1) << 40));
  std::vector<std::uint8_t> u8 = {0, 200, 255};
  write_npy((d / "u8.npy").string(), u8.data(), {3});
  auto u = read_npy((d / "u8.npy").string());
  CHECK(u.to_double() == std::vector<double>{0, 200, 255});
  CHECK_THROWS_AS(u.view(), sysout::error);  // no u8 tensor_view dtype: says so
  // bf16 views are widened to f32 exactly
  std::vector<bf16> bb = {to_bf16(3.0f), to_bf16(-0.5f)};
  write_npy((d / "bf16.npy").string(), view(bb.data(), {2}));
  auto bw = read_npy((d / "bf16.npy").string());
  CHECK(bw.type == npy_dtype::f32);
  CHECK(bw.to_double() == std::vector<double>{3.0, -0.5});
  // empty and rank 0
  write_npy((d / "empty.npy").string(), static_cast<const float*>(nullptr), {0, 5});
  CHECK(read_npy((d / "empty.npy").string()).shape == std::vector<std::int64_t>{0, 5});
  float s = 4.0f;
  write_npy((d / "scalar.npy").string(), &s, {});
  CHECK(read_npy((d / "scalar.npy").string()).to_double() == std::vector<double>{4.0});
  // no temporary left behind
  CHECK_FALSE(fs::exists(d / "scalar.npy.tmp"));
  fs::remove_all(d);
}

TEST_CASE("npy: numpy-written fixtures are read correctly (tools/fixtures/detect_npy.py)") {
  auto f32 = read_npy(fixture("np_f32_2x3.npy"));
  CHECK(f32.shape == std::vector<std::int64_t>{2, 3});
  auto v = f32.to_double();
  for (std::int64_t i = 0; i < 6; ++i) CHECK(v[std::size_t(i)] == formula(i));
  auto f64 = read_npy(fixture("np_f64_2x3x4.npy"));
  CHECK(f64.view().get(1, 2, 3) == formula(23));
  auto f16a = read_npy(fixture("np_f16_5.npy"));
  CHECK(f16a.to_double() == std::vector<double>{-3, -2.5, -2, -1.5, -1});
  auto i32 = read_npy(fixture("np_i32_3x2.npy"));
  CHECK(i32.to_double() == std::vector<double>{-3, -2, -2, -1, -1, 0});  // numpy casts toward zero
  CHECK(read_npy(fixture("np_i64_4.npy")).to_double() == std::vector<double>{-3, -2, -2, -1});
  CHECK(read_npy(fixture("np_u8_2x2.npy")).to_double() == std::vector<double>{0, 1, 254, 255});
  auto sc = read_npy(fixture("np_scalar_f32.npy"));
  CHECK(sc.shape.empty());
  CHECK(sc.to_double() == std::vector<double>{2.5});
  CHECK(read_npy(fixture("np_empty_0x4.npy")).size() == 0);
  auto fo = read_npy(fixture("np_f64_fortran_3x4.npy"));
  CHECK(fo.fortran_order);
  auto fov = fo.to_double();  // reordered to C order
  for (std::int64_t i = 0; i < 12; ++i) CHECK(fov[std::size_t(i)] == formula(i));
  CHECK(fo.view().get(2, 1) == formula(9));
  auto v2 = read_npy(fixture("np_v2_f32_2x2.npy"));
  CHECK(v2.to_double() == std::vector<double>{-3, -2.5, -2, -1.5});
}

TEST_CASE("npy: malformed files give errors naming the file and the problem") {
  const auto d = tmp_dir();
  auto put = [&](const char* name, const std::string& bytes) {
    std::ofstream o(d / name, std::ios::binary);
    o.write(bytes.data(), std::streamsize(bytes.size()));
    return (d / name).string();
  };
  CHECK_THROWS_WITH_AS(read_npy(put("magic.npy", "NOTNUMPYxxxxxxxxxxxxxxxxx")), doctest::Contains("bad magic"),
                       sysout::error);
  CHECK_THROWS_WITH_AS(read_npy((d / "missing.npy").string()), doctest::Contains("missing.npy"), sysout::error);
  std::vector<float> f(6, 1.0f);
  write_npy((d / "ok.npy").string(), f.data(), {2, 3});
  std::string good;
  {
    std::ifstream i(d / "ok.npy", std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(i), {});
  }
  CHECK_THROWS_WITH_AS(read_npy(put("trunc.npy", good.substr(0, good.size() - 4))),
                       doctest::Contains("needs 24 bytes, file holds 20"), sysout::error);
  std::string big = good;
  big.replace(big.find("(2, 3)"), 6, "(9, 3)");
  CHECK_THROWS_WITH_AS(read_npy(put("shape.npy", big)), doctest::Contains("(9, 3)"), sysout::error);
  std::string be = good;
  be.replace(be.find("<f4"), 3, ">f4");
  CHECK_THROWS_WITH_AS(read_npy(put("be.npy", be)), doctest::Contains("'>f4'"), sysout::error);
  std::string hl = good;
  hl[8] = char(0xff);
  hl[9] = char(0x7f);
  CHECK_THROWS_WITH_AS(read_npy(put("hlen.npy", hl)), doctest::Contains("runs past the end"), sysout::error);
  CHECK_THROWS_WITH_AS(read_npy(fixture("np_f32_2x3.npy")).data<double>(), doctest::Contains("<f4"), sysout::error);
  fs::remove_all(d);
}

TEST_CASE("npy: files written by sysout are read by numpy") {
  if (!have_numpy()) {
    MESSAGE("skipped: python3 with numpy is not available");
    return;
  }
  const auto d = tmp_dir();
  std::vector<float> f(24);
  for (std::size_t i = 0; i < f.size(); ++i) f[i] = float(formula(std::int64_t(i)));
  write_npy((d / "a.npy").string(), view(f.data(), {2, 3, 4}, layout::col_major));  // written in C order
  std::vector<f16> h = {to_f16(-1.0f), to_f16(0.25f), to_f16(65504.0f)};
  write_npy((d / "h.npy").string(), h.data(), {3});
  std::vector<std::uint8_t> u = {1, 2, 3, 250};
  write_npy((d / "u.npy").string(), u.data(), {2, 2});
  float s = 7.0f;
  write_npy((d / "s.npy").string(), &s, {});
  const std::string py =
      "import numpy as np, sys\n"
      "d = sys.argv[1]\n"
      "a = np.load(d + '/a.npy')\n"
      "ref = (np.arange(24) * 0.5 - 3).astype(np.float32).reshape((4, 3, 2), order='C').transpose(2, 1, 0)\n"
      "assert a.dtype == np.float32 and a.shape == (2, 3, 4), (a.dtype, a.shape)\n"
      "assert (a == ref).all(), (a, ref)\n"
      "h = np.load(d + '/h.npy'); assert h.dtype == np.float16 and list(h) == [-1.0, 0.25, 65504.0], h\n"
      "u = np.load(d + '/u.npy'); assert u.dtype == np.uint8 and u.tolist() == [[1, 2], [3, 250]], u\n"
      "s = np.load(d + '/s.npy'); assert s.shape == () and s == 7.0, s\n";
  {
    std::ofstream o(d / "check.py");
    o << py;
  }
  const std::string cmd = "python3 " + (d / "check.py").string() + " " + d.string();
  CHECK(std::system(cmd.c_str()) == 0);
  fs::remove_all(d);
}

TEST_CASE("json_writer: structure, escaping, numbers, NaN/Inf policy") {
  json_writer w;
  w.begin_object();
  w.key("s").value("a\"b\\c\nd\te\x01" "f\xC3\xA9");
  w.key("i").value(-42);
  w.key("u").value(std::uint64_t(18446744073709551615ull));
  w.key("x").value(0.1);
  w.key("big").value(1e300);
  w.key("whole").value(3.0);
  w.key("nan").value(std::nan(""));
  w.key("inf").value(-INFINITY);
  w.key("b").value(true);
  w.key("n").null();
  w.key("arr").array(std::vector<int>{1, 2, 3});
  w.key("empty").begin_array().end_array();
  w.key("obj").begin_object().end_object();
  w.end_object();
  CHECK(w.complete());
  CHECK(w.str() ==
        "{\"s\":\"a\\\"b\\\\c\\nd\\te\\u0001f\xC3\xA9\",\"i\":-42,\"u\":18446744073709551615,"
        "\"x\":0.10000000000000001,\"big\":1.0000000000000001e+300,\"whole\":3,\"nan\":null,\"inf\":null,"
        "\"b\":true,\"n\":null,\"arr\":[1,2,3],\"empty\":[],\"obj\":{}}");
  json_writer ws(0, json_writer::nonfinite::as_string);
  ws.begin_array().value(NAN).value(INFINITY).value(-INFINITY).end_array();
  CHECK(ws.str() == "[\"nan\",\"inf\",\"-inf\"]");
  json_writer p(2);
  p.begin_object().key("a").begin_array().value(1).end_array().end_object();
  CHECK(p.str() == "{\n  \"a\": [\n    1\n  ]\n}");
  // misuse throws instead of writing broken JSON
  json_writer m;
  m.begin_object();
  CHECK_THROWS_AS(m.value(1), sysout::error);
  CHECK_THROWS_AS(m.end_array(), sysout::error);
  m.key("k");
  CHECK_THROWS_AS(m.key("k2"), sysout::error);
  CHECK_THROWS_AS(m.save("/tmp/never.json"), sysout::error);
  json_writer m2;
  m2.value(1);
  CHECK_THROWS_AS(m2.value(2), sysout::error);
}

TEST_CASE("json_writer: output parses back with python's json module") {
  if (std::system("python3 -c \"import json\" > /dev/null 2>&1") != 0) {
    MESSAGE("skipped: python3 is not available");
    return;
  }
  const auto d = tmp_dir();
  json_writer w(1);
  w.begin_object().key("x\n\"y").value(0.1).key("v").array(std::vector<double>{1e-310, -2.5, 1.0 / 3}).end_object();
  w.save((d / "o.json").string());
  const std::string cmd = "python3 -c \"import json,sys; o=json.load(open(sys.argv[1])); "
                          "assert o['x\\n\\\"y']==0.1 and o['v']==[1e-310,-2.5,1.0/3], o\" " +
                          (d / "o.json").string();
  CHECK(std::system(cmd.c_str()) == 0);
  fs::remove_all(d);
}

#include "sysout/detect.hpp"

TEST_CASE("json: every detector report serializes to JSON that python parses, Inf/NaN as null") {
  using namespace sysout::detect;
  std::vector<float> h(64 * 32, 0.5f);
  h[3] = 5000.0f;
  h[70] = INFINITY;
  h[71] = NAN;
  const auto mr = find_massive_activations(view(h.data(), {64, 32}), 2, "layer_out");
  std::vector<float> p(2 * 4 * 4, 0.25f);
  const auto ar = find_attention_sinks(view(p.data(), {2, 4, 4}), 2);
  const auto wr = find_weight_outliers(view(h.data(), {32, 64}));
  const auto cr = attention_activation_consistency(ar, mr);
  json_writer w(2);
  w.begin_object();
  w.key("massive").value(mr);
  w.key("attention").value(ar);
  w.key("weights").value(wr);
  w.key("consistency").value(cr);
  token_category_counts tc;
  tc.add(classify_token(".", 3));
  w.key("categories").value(tc);
  w.end_object();
  REQUIRE(w.complete());
  CHECK(w.str().find("\"massive_dims\"") != std::string::npos);
  if (std::system("python3 -c \"import json\" > /dev/null 2>&1") != 0) {
    MESSAGE("skipped the python parse: python3 is not available");
    return;
  }
  const auto d = tmp_dir();
  w.save((d / "r.json").string());
  const std::string cmd =
      "python3 -c \"import json,sys; o=json.load(open(sys.argv[1])); m=o['massive']; "
      "assert m['massive_tokens']==[0,2] and m['stats']['inf_count']==1 and m['stats']['nan_count']==1, m; "
      "assert any(x['value'] is None for x in m['outliers']); assert o['categories']['delimiter']==1\" " +
      (d / "r.json").string();
  CHECK(std::system(cmd.c_str()) == 0);
  fs::remove_all(d);
}

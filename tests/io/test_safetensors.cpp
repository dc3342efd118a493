// safetensors, the JSON parser under it, and Hugging Face config.json.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "st_builder.hpp"
#include "sysout/io/hf_config.hpp"
#include "sysout/io/json_parse.hpp"
#include "sysout/io/safetensors.hpp"
#include "test_support.hpp"

using namespace sysout;
using namespace sysout::io;
using namespace sysout::testing;

using sysout::testing::error_of;

TEST_CASE("json: values, escapes, exact 64-bit integers") {
  const auto v = parse_json(R"( {"a": [1, -2.5e3, true, false, null], "s": "x\"\\\/\b\f\n\r\tA\u00e9\ud83d\ude00",
                               "big": 18446744073709551615, "neg": -9223372036854775808, "o": {}} )");
  REQUIRE(v.is_object());
  CHECK(v.size() == 5);
  const auto& a = v.find("a")->as_array();
  CHECK(a[0].as_int64() == 1);
  CHECK(a[1].as_double() == -2500.0);
  CHECK_FALSE(a[1].is_integer());
  CHECK(a[2].as_bool());
  CHECK(a[4].is_null());
  CHECK(v.find("s")->as_string() == "x\"\\/\b\f\n\r\tA\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(v.find("big")->as_uint64() == 18446744073709551615ull);
  CHECK(v.find("neg")->as_int64() == std::numeric_limits<std::int64_t>::min());
  CHECK(v.find("o")->is_object());
  CHECK(v.find("zz") == nullptr);
  CHECK(parse_json("[1,{\"k\":\"v\"}]").dump() == "[1,{\"k\":\"v\"}]");
}

TEST_CASE("json: malformed input is an error with a position, never a crash") {
  const char* bad[] = {"",        "{",          "[1,]",          "{\"a\" 1}",    "{\"a\":1,}",  "01",
                       "1.",      "-",          "1e",            "\"abc",        "\"\\x\"",     "\"\\u12\"",
                       "\"\\ud800\"", "tru",    "[1] 2",         "{\"a\":1,\"a\":2}", "\"a\nb\"", "{1:2}"};
  for (const char* s : bad) {
    CAPTURE(s);
    const auto e = error_of([&] { parse_json(s, "cfg.json"); });
    CHECK(e.rfind("cfg.json: JSON error at byte ", 0) == 0);
  }
  // Deep nesting is refused before the stack runs out.
  const std::string deep(100000, '[');
  CHECK(error_of([&] { parse_json(deep, "deep.json"); }).find("nesting deeper than 128") != std::string::npos);
  CHECK(error_of([&] { parse_json("{\"a\":1}").find("a")->as_string(); }).find("value is number, expected string") !=
        std::string::npos);
}

TEST_CASE("safetensors: a file written by Hugging Face's safetensors package") {
  const auto path = source_dir() / "tests/fixtures/io/small.safetensors";
  const safetensors_file f(path);
  CHECK(f.tensors().size() == 9);
  CHECK(f.find_metadata("format") == "np");
  CHECK(f.find_metadata("source") == "sysout test");
  CHECK(f.metadata().size() == 2);
  const auto w = f.tensor("weight");
  CHECK(w.shape() == extents{2, 3});
  CHECK(w.type() == dtype::f32);
  for (int i = 0; i < 6; ++i) CHECK(w.get(i / 3, i % 3) == 0.5 * i - 1);
  const auto h = f.tensor("half");
  CHECK(h.type() == dtype::f16);
  CHECK(h.get(1) == -2.0);
  CHECK(h.get(3) == 65504.0);
  const auto d = f.tensor("dbl");
  for (int i = 0; i < 3; ++i) CHECK(d.get(i) == double(i) / 3);
  CHECK(f.tensor("idx32").get(1, 1) == 1.0);
  CHECK(f.tensor("idx64").get(0) == -1099511627776.0);
  CHECK(f.tensor("small").get(4) == 60.0);
  CHECK(f.tensor("empty").shape() == extents{0, 4});
  const auto& u8 = f.info("bytes");
  CHECK(u8.type == st_dtype::u8);
  CHECK(std::to_integer<int>(u8.data[2]) == 255);
  CHECK(f.info("mask").type == st_dtype::boolean);
  CHECK(std::to_integer<int>(f.info("mask").data[0]) == 1);
  CHECK(error_of([&] { f.tensor("bytes"); }).find("has dtype U8, which sysout views do not carry") !=
        std::string::npos);
  CHECK(error_of([&] { f.tensor("nope"); }).find("small.safetensors: tensor 'nope' is absent") != std::string::npos);
}

TEST_CASE("safetensors: BF16 written byte by byte") {
  const std::vector<std::uint16_t> v = {f32_to_bf16(1.5f), f32_to_bf16(-3.0f)};
  const auto f = st_open(st_bytes(R"({"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[0,4]}})", as_bytes_of(v)));
  CHECK(f.tensor("b").get(0, 1) == -3.0);
  CHECK(f.tensor("b").type() == dtype::bf16);
}

TEST_CASE("safetensors: lying headers are errors naming the file and tensor") {
  const std::vector<float> four = {1, 2, 3, 4};
  const auto data = as_bytes_of(four);
  auto err = [&](const std::string& header, const std::vector<std::byte>& d) {
    return error_of([&] { st_open(st_bytes(header, d), "bad.safetensors"); });
  };
  CHECK(err(R"({"t":{"dtype":"F32","shape":[5],"data_offsets":[0,20]}})", data)
            .find("bad.safetensors: tensor 't': data_offsets [0,20] extend past the end") == 0);
  CHECK(err(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", data)
            .find("F32 [3] needs 12 bytes but data_offsets [0,16] span 16") != std::string::npos);
  CHECK(err(R"({"t":{"dtype":"F17","shape":[4],"data_offsets":[0,16]}})", data).find("unknown dtype \"F17\"") !=
        std::string::npos);
  CHECK(err(R"({"t":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", data).find("not a non-negative") !=
        std::string::npos);
  CHECK(err(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,16]}})", data)
            .find("overflows") != std::string::npos);
  CHECK(err(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}})", data).find("end before they begin") !=
        std::string::npos);
  CHECK(err(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", data).find("(a hole)") !=
        std::string::npos);
  CHECK(err(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
            data)
            .find("overlaps") != std::string::npos);
  CHECK(err(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data)
            .find("tensors cover 8 data bytes but the file has 16") != std::string::npos);
  CHECK(err(R"({"t":{"dtype":"F32","shape":[4]}})", data).find("\"data_offsets\" must be") != std::string::npos);
  CHECK(err(R"({"__metadata__":{"k":1}})", {}).find("__metadata__ value 'k'") != std::string::npos);
  CHECK(err(R"([1,2])", {}).find("does not start with '{'") != std::string::npos);
  // Header length beyond the file, and beyond the 100 MB cap.
  auto b = st_bytes(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data);
  std::uint64_t n = b.size();
  std::memcpy(b.data(), &n, 8);
  CHECK(error_of([&] { st_open(b, "len.safetensors"); }).find("len.safetensors: header length") == 0);
  n = 1ull << 40;
  std::memcpy(b.data(), &n, 8);
  CHECK(error_of([&] { st_open(b, "len.safetensors"); }).find("exceeds the format's limit") != std::string::npos);
  CHECK(error_of([&] { st_open({}, "empty.safetensors"); }).find("empty.safetensors: not a safetensors file") == 0);
}

TEST_CASE("hf_config: nested keys flatten to dotted names, typed getters name the key") {
  const hf_config c(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 576, "rms_norm_eps": 1e-05,
                        "tie_word_embeddings": true, "rope_scaling": {"type": "linear", "factor": 2.0},
                        "torch_dtype": "bfloat16", "pad_token_id": null, "empty": {}})",
                    "config.json");
  CHECK(c.get_int("hidden_size") == 576);
  CHECK(c.get_double("rms_norm_eps") == 1e-5);
  CHECK(c.get_bool("tie_word_embeddings"));
  CHECK(c.get_string("rope_scaling.type") == "linear");
  CHECK(c.get_double("rope_scaling.factor") == 2.0);
  CHECK(c.get("architectures").as_array()[0].as_string() == "LlamaForCausalLM");
  CHECK(c.find_int("pad_token_id") == std::nullopt);
  CHECK(c.find_int("absent") == std::nullopt);
  CHECK(c.get("empty").is_object());
  CHECK(error_of([&] { c.get_int("rms_norm_eps"); }) ==
        "config.json: config key 'rms_norm_eps' is 1e-05 (number), expected an integer");
  CHECK(error_of([&] { c.get_string("nope"); }) == "config.json: config key 'nope' is absent");
}

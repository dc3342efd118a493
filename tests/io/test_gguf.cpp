// GGUF reader: every value type, typed getters and their errors, tensor infos,
// alignment, views; then the real files (stories260K, SmolLM2, Gemma 3, vocab-only).
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "gguf_builder.hpp"
#include "sysout/io/gguf.hpp"
#include "test_support.hpp"

using namespace sysout;
using namespace sysout::io;
using sysout::testing::gguf_builder;

using sysout::testing::error_of;

TEST_CASE("gguf: every metadata value type round-trips through the typed getters") {
  gguf_builder b;
  b.scalar<std::uint8_t>("k.u8", gguf_type::u8, 200)
      .scalar<std::int8_t>("k.i8", gguf_type::i8, -100)
      .scalar<std::uint16_t>("k.u16", gguf_type::u16, 60000)
      .scalar<std::int16_t>("k.i16", gguf_type::i16, -30000)
      .scalar<std::uint32_t>("k.u32", gguf_type::u32, 4000000000u)
      .scalar<std::int32_t>("k.i32", gguf_type::i32, -2000000000)
      .scalar<std::uint64_t>("k.u64", gguf_type::u64, 1ull << 40)
      .scalar<std::int64_t>("k.i64", gguf_type::i64, -(1ll << 40))
      .scalar<float>("k.f32", gguf_type::f32, 1.5f)
      .scalar<double>("k.f64", gguf_type::f64, 0.1)
      .scalar<std::uint8_t>("k.bool", gguf_type::boolean, 1)
      .str("k.str", "héllo")
      .str_array("k.strs", {"a", "", "ccc"})
      .array<float>("k.f32s", gguf_type::f32, {1.f, -2.f, 3.5f})
      .array<std::int32_t>("k.i32s", gguf_type::i32, {-1, 0, 7})
      .array<std::uint8_t>("k.u8s", gguf_type::u8, {1, 2, 255});
  // array of 2 arrays of u16: [[1,2],[3]]
  std::vector<std::byte> nested;
  gguf_builder::put<std::uint32_t>(nested, std::uint32_t(gguf_type::array));
  gguf_builder::put<std::uint64_t>(nested, 2);
  for (std::vector<std::uint16_t> inner : {std::vector<std::uint16_t>{1, 2}, std::vector<std::uint16_t>{3}}) {
    gguf_builder::put<std::uint32_t>(nested, std::uint32_t(gguf_type::u16));
    gguf_builder::put<std::uint64_t>(nested, inner.size());
    for (auto x : inner) gguf_builder::put<std::uint16_t>(nested, x);
  }
  b.raw("k.nested", gguf_type::array, nested);
  const auto g = b.open();

  CHECK(g.version() == 3);
  CHECK(g.metadata().size() == 17);
  CHECK(g.metadata()[0].key == "k.u8");
  CHECK(g.get_u32("k.u8") == 200);
  CHECK(g.get_i32("k.i8") == -100);
  CHECK(g.get_u32("k.u16") == 60000);
  CHECK(g.get_i32("k.i16") == -30000);
  CHECK(g.get_u32("k.u32") == 4000000000u);
  CHECK(g.get_i32("k.i32") == -2000000000);
  CHECK(g.get_u64("k.u64") == (1ull << 40));
  CHECK(g.get_i64("k.i64") == -(1ll << 40));
  CHECK(g.get_f32("k.f32") == 1.5f);
  CHECK(g.get_f64("k.f64") == 0.1);
  CHECK(g.get_bool("k.bool"));
  CHECK(g.get_string("k.str") == "héllo");
  CHECK(g.get_str_array("k.strs") == std::vector<std::string>{"a", "", "ccc"});
  CHECK(g.get_f32_array("k.f32s") == std::vector<float>{1.f, -2.f, 3.5f});
  CHECK(g.get_i32_array("k.i32s") == std::vector<std::int32_t>{-1, 0, 7});
  CHECK(g.get_i32_array("k.u8s") == std::vector<std::int32_t>{1, 2, 255});
  const auto& n = g.get("k.nested");
  REQUIRE(n.is_array());
  CHECK(n.elem_type == gguf_type::array);
  REQUIRE(n.items.size() == 2);
  CHECK(n.items[0].elem_type == gguf_type::u16);
  CHECK(n.items[0].count == 2);
  CHECK(n.items[0].elem_as_int64(1) == 2);
  CHECK(n.items[1].elem_as_int64(0) == 3);
  CHECK(n.to_string() == "[[1, 2], [3]]");

  // Optional variants.
  CHECK(g.find_u32("absent") == std::nullopt);
  CHECK(g.find_u32("k.u32") == 4000000000u);
  CHECK(g.find_string("k.str") == "héllo");

  // Errors name the file, the key and the actual type.
  CHECK(error_of([&] { g.get_u32("nope"); }) == "mem.gguf: metadata key 'nope' is absent");
  const auto e1 = error_of([&] { g.get_u32("k.str"); });
  CHECK(e1.find("mem.gguf") != std::string::npos);
  CHECK(e1.find("'k.str' is string") != std::string::npos);
  CHECK(e1.find("expected u32") != std::string::npos);
  CHECK(error_of([&] { g.get_u32("k.i8"); }).find("'k.i8' is i8 = -100, expected u32") != std::string::npos);
  CHECK(error_of([&] { g.get_i32("k.u32"); }).find("expected i32") != std::string::npos);
  CHECK(error_of([&] { g.get_f32("k.u32"); }).find("expected f32 or f64") != std::string::npos);
  CHECK(error_of([&] { g.get_str_array("k.f32s"); }).find("is array[f32; 3], expected array[string]") !=
        std::string::npos);
  CHECK(error_of([&] { g.find_bool("k.u8"); }).find("expected bool") != std::string::npos);
}

TEST_CASE("gguf: tensor infos, alignment, views and dequantization of plain types") {
  std::vector<float> a(6);
  for (int i = 0; i < 6; ++i) a[std::size_t(i)] = float(i) + 0.25f;
  std::vector<std::uint16_t> h = {f32_to_f16(1.f), f32_to_f16(-2.f), f32_to_f16(0.5f), f32_to_f16(65504.f)};
  gguf_builder b;
  b.alignment = 64;
  b.scalar<std::uint32_t>("general.alignment", gguf_type::u32, 64);
  b.tensor_of("a", {3, 2}, ggml_type::f32, a);  // ne0 = 3 columns, 2 rows
  b.tensor_of("h", {4}, ggml_type::f16, h);
  const auto g = b.open();
  CHECK(g.alignment() == 64);
  CHECK(g.data_offset() % 64 == 0);
  REQUIRE(g.tensors().size() == 2);
  const auto& ta = g.tensor("a");
  CHECK(ta.n_dims == 2);
  CHECK(ta.ne[0] == 3);
  CHECK(ta.ne[1] == 2);
  CHECK(ta.nbytes == 24);
  CHECK(ta.n_rows() == 2);
  CHECK(ta.shape() == extents{2, 3});
  CHECK(g.tensor("h").offset == 64);
  const auto v = g.view("a");
  CHECK(v.shape() == extents{2, 3});
  CHECK(v.get(1, 0) == 3.25);
  CHECK(v.name() == "a");
  CHECK_FALSE(v.writable());
  CHECK(g.view("h").get(3) == 65504.0);
  const auto d = dequantize_ref(g.tensor("h"));
  CHECK(d.vec() == std::vector<float>{1.f, -2.f, 0.5f, 65504.f});
  CHECK(g.find_tensor("zzz") == nullptr);
  CHECK(error_of([&] { g.tensor("zzz"); }) == "mem.gguf: tensor 'zzz' is absent (the file has 2 tensors)");
}

TEST_CASE("gguf: quantized tensors have no element view, and say so") {
  std::vector<std::byte> blk(18, std::byte{0});
  gguf_builder b;
  b.tensor("q", {32}, ggml_type::q4_0, blk);
  const auto g = b.open("q.gguf");
  CHECK(error_of([&] { g.view("q"); }).find("q.gguf: tensor 'q' is q4_0, which has no element view") == 0);
  CHECK(g.tensor("q").nbytes == 18);
}

TEST_CASE("gguf: stories260K.gguf loads with its metadata and 48 f32 tensors") {
  SYSOUT_REQUIRE_MODEL(path, "stories260K.gguf");
  const gguf_file g(path);
  CHECK(g.version() == 3);
  CHECK(g.architecture() == "llama");
  CHECK(g.get_u32("llama.embedding_length") == 64);
  CHECK(g.get_u32(g.arch_key("block_count")) == 5);
  CHECK(g.get_u32("llama.attention.head_count_kv") == 4);
  CHECK(g.get_u32("tokenizer.ggml.seperator_token_id") == 4294967295u);
  CHECK(std::abs(g.get_f32("llama.attention.layer_norm_rms_epsilon") - 1e-5f) < 1e-10f);
  CHECK(g.get_str_array("tokenizer.ggml.tokens").size() == 512);
  CHECK(g.get_f32_array("tokenizer.ggml.scores").size() == 512);
  CHECK(g.get_i32_array("tokenizer.ggml.token_type").size() == 512);
  CHECK(g.tensors().size() == 48);
  const auto& emb = g.tensor("token_embd.weight");
  CHECK(emb.type == ggml_type::f32);
  CHECK(emb.shape() == extents{512, 64});
  CHECK(emb.nbytes == 512 * 64 * 4);
  const auto v = g.view("token_embd.weight");
  double sum = 0;
  for (std::int64_t i = 0; i < 64; ++i) sum += std::abs(v.get(1, i));
  CHECK(sum > 0);  // real weights, not zeros
}

TEST_CASE("gguf: the vocabulary-only GGUFs load (no tensors)") {
  for (const char* f : {"ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf"}) {
    SYSOUT_REQUIRE_MODEL(path, f);
    const gguf_file g(path);
    CHECK(g.tensors().empty());
    CHECK(g.get_str_array_view("tokenizer.ggml.tokens").size() >= 32000);
  }
  SYSOUT_REQUIRE_MODEL(p2, "ggml-vocab-gpt-2.gguf");
  const gguf_file g(p2);
  CHECK(g.get_str_array_view("tokenizer.ggml.tokens").size() == 50257);
  CHECK(g.get_str_array_view("tokenizer.ggml.merges").size() == 50000);
  CHECK(g.get_u32("tokenizer.ggml.bos_token_id") == 50256);
}

TEST_CASE("gguf: SmolLM2 and Gemma 3 load; every tensor lies inside the file") {
  SYSOUT_REQUIRE_MODEL(smol, "SmolLM2-135M-Instruct.Q4_1.gguf");
  const gguf_file s(smol);
  CHECK(s.tensors().size() == 272);
  CHECK(s.get_u32("llama.block_count") == 30);
  CHECK(s.get_string("tokenizer.ggml.model") == "gpt2");
  CHECK(s.get_bool("tokenizer.ggml.add_bos_token") == false);
  const auto& emb = s.tensor("token_embd.weight");
  CHECK(emb.type == ggml_type::q8_0);
  CHECK(emb.shape() == extents{49152, 576});
  CHECK(s.tensor("blk.0.ffn_down.weight").type == ggml_type::q4_1);
  CHECK(s.tensor("blk.0.ffn_down.weight").shape() == extents{576, 1536});

  SYSOUT_REQUIRE_MODEL(gem, "gemma-3-270m-q4_k_m.gguf");
  const gguf_file g(gem);
  CHECK(g.architecture() == "gemma3");
  CHECK(g.tensors().size() == 236);
  CHECK(g.get_u32("gemma3.attention.key_length") == 256);
  for (const auto* f : {&s, &g})
    for (const auto& t : f->tensors()) {
      CHECK(t.data >= f->file().data() + f->data_offset());
      CHECK(t.data + t.nbytes <= f->file().data() + f->file().size());
      CHECK(std::int64_t(t.nbytes) == t.row_bytes() * t.n_rows());
    }
}

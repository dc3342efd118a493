// Tokenizers against independent implementations:
//  - llama.cpp's own test vectors (ggml-vocab-*.gguf.inp/.out): every case;
//  - sentencepiece (tokenizer.model, tok512.model) for llama2.c's .bin files;
//  - llama-cpp-python for the GGUF tokenizers (SmolLM2, Gemma 3, ...);
// recorded by tools/fixtures/tok_make_fixtures.py into tests/fixtures/tokenizer/.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <tuple>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "sysout/model/tokenizer.hpp"
#include "sysout/model/tokenizer_gguf.hpp"
#include "sysout/model/unicode.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using sysout::tokenizer;
using ids_t = std::vector<std::int32_t>;

namespace {

fs::path fixtures() { return sysout::testing::source_dir() / "tests" / "fixtures" / "tokenizer"; }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// llama.cpp's test-tokenizer-0 format: each input followed by "\n__ggml_vocab_test__\n".
std::vector<std::string> read_inputs(const fs::path& p) {
  const std::string raw = slurp(p);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  for (std::size_t pos = 0; pos < raw.size();) {
    const std::size_t next = raw.find(sep, pos);
    REQUIRE_MESSAGE(next != std::string::npos, p << ": input without a trailing separator");
    out.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  return out;
}

const ids_t skip_row{-1};  // a "skip" line: the reference has no comparable answer

// One line of space-separated ids per input, or "skip".
std::vector<ids_t> read_ids(const fs::path& p) {
  std::istringstream in(slurp(p));
  std::vector<ids_t> out;
  for (std::string line; std::getline(in, line);) {
    if (line == "skip") {
      out.push_back(skip_row);
      continue;
    }
    std::istringstream ls(line);
    ids_t ids;
    for (long long v; ls >> v;) ids.push_back(std::int32_t(v));
    out.push_back(std::move(ids));
  }
  return out;
}

// The real-text samples of the fixture script: the first bytes of each file
// ('\r' removed from WikiText), cut after the last '\n' before byte `limit`.
std::vector<std::string> real_texts(std::size_t limit = 8192) {
  std::vector<std::string> out;
  for (auto [name, strip_cr] : {std::pair{"tinyshakespeare.txt", false}, std::pair{"wikitext2-test.raw", true}}) {
    std::string s = slurp(sysout::testing::shared_models() / name);
    if (strip_cr) std::erase(s, '\r');
    const std::size_t cut = s.rfind('\n', limit - 1);
    REQUIRE(cut != std::string::npos);
    out.push_back(s.substr(0, cut + 1));
  }
  return out;
}

std::string show(const ids_t& v, std::size_t max = 40) {
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < max; ++i) {
    if (i) s += ' ';
    s += std::to_string(v[i]);
  }
  if (v.size() > max) s += " ... (" + std::to_string(v.size()) + " ids)";
  return s;
}

// Index of the first difference (or the shorter length), for failure messages.
std::size_t first_diff(const ids_t& a, const ids_t& b) {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

// Every input must give exactly the expected ids; reports each failing case.
int check_all(const tokenizer& tok, const std::vector<std::string>& inputs, const std::vector<ids_t>& expected,
              bool add_special, bool parse_special, const std::string& what) {
  REQUIRE_MESSAGE(inputs.size() == expected.size(), what << ": " << inputs.size() << " inputs but "
                                                          << expected.size() << " expected rows");
  int failures = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (expected[i] == skip_row) continue;
    const ids_t got = tok.encode(inputs[i], add_special, parse_special);
    if (got != expected[i]) {
      ++failures;
      const std::size_t d = first_diff(got, expected[i]);
      ids_t g(got.begin() + std::ptrdiff_t(std::min(d, got.size())), got.end());
      ids_t e(expected[i].begin() + std::ptrdiff_t(std::min(d, expected[i].size())), expected[i].end());
      MESSAGE(what << " case " << i << " '" << inputs[i].substr(0, 80) << "': differs at id " << d << "\n  got:      "
                   << show(g, 12) << "\n  expected: " << show(e, 12));
    }
  }
  return failures;
}

ids_t with_bos(std::int32_t bos, ids_t v) {
  v.insert(v.begin(), bos);
  return v;
}

// decode(encode(t)) == t, reporting where the first difference is (not the whole text).
bool round_trips(const tokenizer& tok, const std::string& t, bool add_special = true) {
  const std::string back = tok.decode(tok.encode(t, add_special));
  if (back == t) return true;
  std::size_t d = 0;
  while (d < back.size() && d < t.size() && back[d] == t[d]) ++d;
  MESSAGE("round trip differs at byte " << d << " of " << t.size() << ": got '" << back.substr(d > 10 ? d - 10 : 0, 40)
                                        << "' expected '" << t.substr(d > 10 ? d - 10 : 0, 40) << "'");
  return false;
}

}  // namespace

// ---------------------------------------------------------------------------

TEST_CASE("unicode: category flags, UTF-8 and the GPT-2 byte alphabet") {
  namespace u = sysout::unicode;
  CHECK(u::is_letter('a'));
  CHECK(u::is_letter(0xE9));    // é
  CHECK(u::is_letter(0x436));   // ж
  CHECK(u::is_letter(0x4E2D));  // 中
  CHECK_FALSE(u::is_letter('1'));
  CHECK(u::is_number('7'));
  CHECK(u::is_number(0xBD));    // ½ (No)
  CHECK(u::is_number(0x663));   // Arabic-Indic three (Nd)
  CHECK(u::is_number(0x2163));  // Roman numeral four (Nl)
  CHECK(u::is_whitespace(' '));
  CHECK(u::is_whitespace('\n'));
  CHECK(u::is_whitespace(0x85));
  CHECK(u::is_whitespace(0x3000));
  CHECK_FALSE(u::is_whitespace(0x1C));  // str.isspace() says yes; White_Space says no
  CHECK_FALSE(u::is_whitespace(0x200B));
  CHECK(u::is_punctuation(','));
  CHECK_FALSE(u::is_punctuation('$'));  // Sc, a symbol
  CHECK(u::flags(0x378) == u::undefined);  // unassigned
  CHECK(u::flags(0x110000) == u::undefined);

  // Round trip of every code point through UTF-8.
  for (std::uint32_t cp = 0; cp <= u::max_codepoint; cp += (cp < 0x800 ? 1 : 97)) {
    const std::string s = u::to_utf8(cp);
    std::size_t off = 0;
    CHECK_MESSAGE(u::decode_utf8(s, off) == cp, cp);
    CHECK(off == s.size());
  }
  // Malformed bytes: U+FFFD for one byte, then go on (llama.cpp's rule).
  CHECK(u::to_codepoints("a\x80" "b") == std::vector<std::uint32_t>{'a', 0xFFFD, 'b'});
  CHECK(u::to_codepoints("\xE4\xB8") == std::vector<std::uint32_t>{0xFFFD, 0xFFFD});
  CHECK(u::to_codepoints("\xF8x") == std::vector<std::uint32_t>{0xFFFD, 'x'});

  // bytes_to_unicode: a bijection onto printable code points; ' ' -> 'Ġ', '\n' -> 'Ċ'.
  const auto& b2c = u::byte_to_codepoint();
  CHECK(b2c[' '] == 0x120);
  CHECK(b2c['\n'] == 0x10A);
  CHECK(b2c['A'] == 'A');
  for (int b = 0; b < 256; ++b) CHECK(u::codepoint_to_byte(b2c[b]) == b);
  CHECK(u::codepoint_to_byte(' ') == -1);
}

TEST_CASE("unicode: GPT-2 pre-tokenizer splits") {
  using P = sysout::unicode::pretokenizer;
  const auto split = [](const char* s, P p = P::gpt2) { return sysout::unicode::pretokenize(s, p); };
  using V = std::vector<std::string>;
  CHECK(split("Hello world") == V{"Hello", " world"});
  CHECK(split("it's we'll") == V{"it", "'s", " we", "'ll"});
  CHECK(split("a  b") == V{"a", " ", " b"});      // \s+(?!\S) leaves one space to the word
  CHECK(split("a  ") == V{"a", "  "});            // trailing spaces stay together
  CHECK(split("x \n\ny") == V{"x", " \n", "\n", "y"});
  CHECK(split("abc123!!? ok") == V{"abc", "123", "!!?", " ok"});
  CHECK(split("naïve café") == V{"naïve", " café"});
  // SmolLM2 ("smollm"): every digit alone first, and the GPT-2 look-ahead stops at those cuts.
  CHECK(split("in 2024  x", P::digits_gpt2) == V{"in", " ", "2", "0", "2", "4", " ", " x"});
  CHECK(split("a  1", P::digits_gpt2) == V{"a", "  ", "1"});
  CHECK(split("a  1", P::gpt2) == V{"a", " ", " 1"});
  // llama.cpp's "default" BPE pre-tokenizer: punctuation runs, numbers, ASCII digit triples.
  CHECK(split("hello, world... 1234567", P::bpe_default) == V{"hello", ",", " world", "...", " ", "123", "456", "7"});
  CHECK(split("").empty());
}

TEST_CASE("llama.cpp test vectors: ggml-vocab-gpt-2 (every case)") {
  SYSOUT_REQUIRE_MODEL(path, "ggml-vocab-gpt-2.gguf");
  const tokenizer tok = sysout::tokenizer_from_gguf(path);
  CHECK(tok.kind == sysout::tokenizer_kind::bpe);
  CHECK(tok.size() == 50257);
  const auto inputs = read_inputs(path.string() + ".inp");
  const auto expected = read_ids(path.string() + ".out");
  CHECK(inputs.size() == 46);
  // test-tokenizer-0: common_tokenize(ctx, text, add_special = false, parse_special = false).
  CHECK(check_all(tok, inputs, expected, false, false, "gpt-2") == 0);
}

TEST_CASE("llama.cpp test vectors: ggml-vocab-llama-spm (every case)") {
  SYSOUT_REQUIRE_MODEL(path, "ggml-vocab-llama-spm.gguf");
  const tokenizer tok = sysout::tokenizer_from_gguf(path);
  CHECK(tok.kind == sysout::tokenizer_kind::spm);
  CHECK(tok.size() == 32000);
  CHECK(tok.add_space_prefix);
  CHECK(tok.bos() == 1);
  CHECK(tok.eos() == 2);
  const auto inputs = read_inputs(path.string() + ".inp");
  const auto expected = read_ids(path.string() + ".out");
  CHECK(inputs.size() == 46);
  CHECK(check_all(tok, inputs, expected, false, false, "llama-spm") == 0);
}

TEST_CASE("llama2.c tok512.bin: 'Once upon a time' as run.c encodes it") {
  SYSOUT_REQUIRE_MODEL(path, "tok512.bin");
  const tokenizer tok = sysout::load_llama2c_tokenizer(path, 512);
  CHECK(tok.kind == sysout::tokenizer_kind::llama2c);
  CHECK(tok.size() == 512);
  CHECK(tok.bos() == 1);
  CHECK(tok.eos() == 2);
  const ids_t ids = tok.encode("Once upon a time", true);
  // sentencepiece on tok512.model gives the same pieces after BOS (fixture).
  const auto sp = read_ids(fixtures() / "sentences.tok512_sp.out");
  REQUIRE(!sp.empty());
  CHECK(ids == with_bos(1, sp[0]));
  MESSAGE("tok512 'Once upon a time' -> " << show(ids));
  CHECK(tok.decode(ids) == "Once upon a time");
  std::string pieces;
  for (std::int32_t id : ids) pieces += "[" + tok.piece(id) + "]";
  MESSAGE("pieces: " << pieces);
  CHECK(tok.encode("", true) == ids_t{1});  // run.c: no dummy prefix for empty text
  CHECK(tok.encode("", false).empty());
}

TEST_CASE("llama2.c tokenizers equal sentencepiece on sentences and real text") {
  const auto sentences = read_inputs(fixtures() / "sentences.inp");
  const auto real = real_texts();
  for (auto [file, vocab, tag] : {std::tuple{"tok512.bin", 512, "tok512_sp"}, std::tuple{"tokenizer.bin", 32000, "llama32k_sp"}}) {
    SUBCASE(file) {
      SYSOUT_REQUIRE_MODEL(path, file);
      const tokenizer tok = sysout::load_llama2c_tokenizer(path, vocab);
      CHECK(check_all(tok, sentences, read_ids(fixtures() / ("sentences." + std::string(tag) + ".out")), false, false,
                      file) == 0);
      CHECK(check_all(tok, real, read_ids(fixtures() / ("realtext." + std::string(tag) + ".out")), false, false,
                      std::string(file) + " real text") == 0);
      for (const auto& t : real) CHECK(round_trips(tok, t));
      for (const auto& t : sentences) CHECK(round_trips(tok, t));
    }
  }
}

TEST_CASE("llama2.c run.c encoding of tok512.bin equals llama.cpp's spm on stories260K.gguf (same vocabulary)") {
  SYSOUT_REQUIRE_MODEL(bin, "tok512.bin");
  SYSOUT_REQUIRE_MODEL(gguf, "stories260K.gguf");
  const tokenizer a = sysout::load_llama2c_tokenizer(bin, 512);
  const tokenizer b = sysout::tokenizer_from_gguf(gguf);
  CHECK(b.kind == sysout::tokenizer_kind::spm);
  CHECK(a.size() == b.size());
  std::vector<std::string> texts = read_inputs(fixtures() / "sentences.inp");
  for (const auto& t : real_texts()) texts.push_back(t);
  for (const auto& t : texts) {
    CHECK(a.encode(t, true) == b.encode(t, true));
    CHECK(a.encode(t, false) == b.encode(t, false));
  }
}

TEST_CASE("llama2.c: the priority-queue merge picks the same pairs as run.c's literal loop") {
  SYSOUT_REQUIRE_MODEL(path, "tokenizer.bin");
  const tokenizer tok = sysout::load_llama2c_tokenizer(path, 32000);
  std::vector<std::string> texts = read_inputs(fixtures() / "sentences.inp");
  const std::string shakespeare = real_texts(2048)[0];
  for (std::size_t at = 0; at + 300 <= shakespeare.size(); at += 300) texts.push_back(shakespeare.substr(at, 300));
  std::mt19937 rng(7);  // random byte strings: byte fallback, broken UTF-8, ties
  for (int k = 0; k < 50; ++k) {
    std::string s;
    const int n = int(rng() % 40);
    for (int i = 0; i < n; ++i) s.push_back(char("ab  \xE2\x96\x81\xC3\xA9\n."[rng() % 12] ^ (rng() % 16 == 0 ? 0x80 : 0)));
    texts.push_back(s);
  }
  for (const auto& t : texts) {
    ids_t ref = tok.llama2c_initial_tokens(t, true);
    tok.llama2c_merge_reference(ref);
    CHECK(tok.encode(t, true) == ref);
  }
}

TEST_CASE("GPT-2: OpenAI's encoder.json + vocab.bpe equal the GGUF vocabulary, and llama.cpp") {
  SYSOUT_REQUIRE_MODEL(enc, "gpt2_encoder.json");
  SYSOUT_REQUIRE_MODEL(bpe, "gpt2_vocab.bpe");
  SYSOUT_REQUIRE_MODEL(gguf, "ggml-vocab-gpt-2.gguf");
  const tokenizer a = sysout::load_gpt2_tokenizer(enc, bpe);
  const tokenizer b = sysout::tokenizer_from_gguf(gguf);
  CHECK(a.size() == 50257);
  CHECK(a.vocab == b.vocab);
  CHECK(a.merges == b.merges);
  CHECK(a.bos() == 50256);
  const auto real = real_texts(20480);  // ~20 KB of each text
  std::size_t n_ids = 0;
  for (const auto& t : real) {
    const ids_t ia = a.encode(t, false);
    CHECK(ia == b.encode(t, false));
    CHECK(round_trips(a, t, false));
    n_ids += ia.size();
  }
  MESSAGE("GPT-2 on " << real[0].size() + real[1].size() << " bytes of real text: " << n_ids << " ids, equal");
  // And against llama.cpp (llama-cpp-python) on the fixture texts.
  CHECK(check_all(b, real_texts(), read_ids(fixtures() / "realtext.gpt2.out"), false, false, "gpt2 real") == 0);
  CHECK(check_all(a, read_inputs(fixtures() / "sentences.inp"), read_ids(fixtures() / "sentences.gpt2.out"), false,
                  false, "gpt2 sentences") == 0);
}

TEST_CASE("GGUF tokenizers equal llama.cpp (llama-cpp-python fixtures)") {
  const auto sentences = read_inputs(fixtures() / "sentences.inp");
  const auto special = read_inputs(fixtures() / "special.inp");
  const auto real = real_texts();
  struct model {
    const char* file;
    const char* tag;
  };
  for (const model m : {model{"ggml-vocab-gpt-2.gguf", "gpt2"}, model{"ggml-vocab-llama-spm.gguf", "llama_spm"},
                        model{"stories260K.gguf", "stories260k"}, model{"SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2"},
                        model{"gemma-3-270m-q4_k_m.gguf", "gemma3"}}) {
    SUBCASE(m.tag) {
      SYSOUT_REQUIRE_MODEL(path, m.file);
      const tokenizer tok = sysout::tokenizer_from_gguf(path);
      const std::string tag = m.tag;
      const auto ids = [&](const char* set) { return read_ids(fixtures() / (std::string(set) + "." + tag + ".out")); };
      CHECK(check_all(tok, sentences, ids("sentences"), false, false, tag) == 0);
      CHECK(check_all(tok, sentences, ids("sentences_bos"), true, false, tag + " add_special") == 0);
      CHECK(check_all(tok, real, ids("realtext"), false, false, tag + " real text") == 0);
      CHECK(check_all(tok, special, ids("special"), true, true, tag + " parse_special") == 0);
      // Lossless round trip (sentencepiece's dummy space prefix is removed by decode).
      for (const auto& t : real) CHECK(round_trips(tok, t));
      for (const auto& t : sentences) CHECK(round_trips(tok, t));
    }
  }
}

TEST_CASE("SmolLM2 and Gemma 3 tokenizer settings from their GGUF metadata") {
  SUBCASE("SmolLM2") {
    SYSOUT_REQUIRE_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
    const tokenizer tok = sysout::tokenizer_from_gguf(path);
    CHECK(tok.kind == sysout::tokenizer_kind::bpe);
    CHECK(tok.pre == sysout::unicode::pretokenizer::digits_gpt2);
    CHECK(tok.size() == 49152);
    CHECK(tok.bos() == 1);
    CHECK(tok.eos() == 2);
    CHECK_FALSE(tok.add_bos);
    CHECK(tok.piece(1) == "<|im_start|>");
    CHECK(tok.encode("<|im_start|>", false, true) == ids_t{1});
    CHECK(tok.encode("<|im_start|>", false, false).size() > 1);  // not parsed as a control token
  }
  SUBCASE("Gemma 3") {
    SYSOUT_REQUIRE_MODEL(path, "gemma-3-270m-q4_k_m.gguf");
    const tokenizer tok = sysout::tokenizer_from_gguf(path);
    CHECK(tok.kind == sysout::tokenizer_kind::spm);
    CHECK_FALSE(tok.add_space_prefix);
    CHECK(tok.add_bos);
    CHECK(tok.bos() == 2);
    CHECK(tok.eos() == 1);
    CHECK(tok.size() == 262144);
    CHECK(tok.encode("Hi", true).front() == 2);
    CHECK(tok.piece(tok.encode("\n\n", false).at(0)) == "\n\n");  // user-defined token, matched before merging
  }
}

TEST_CASE("tokenizer: pieces, decode and ids outside the vocabulary") {
  SYSOUT_REQUIRE_MODEL(path, "ggml-vocab-llama-spm.gguf");
  const tokenizer tok = sysout::tokenizer_from_gguf(path);
  CHECK(tok.piece(13) == "\n");             // <0x0A>
  CHECK(tok.piece(1) == "<s>");
  CHECK(tok.piece(tok.find("\xE2\x96\x81Hello")) == " Hello");
  const ids_t ids = tok.encode("Hello\nworld", true);
  CHECK(ids.front() == 1);
  CHECK(tok.decode(ids) == "Hello\nworld");
  CHECK_THROWS_AS(tok.piece(-1), sysout::error);
  CHECK_THROWS_AS(tok.piece(32000), sysout::error);
  const ids_t bad{1, 40000};
  CHECK_THROWS_AS(tok.decode(bad), sysout::error);
  sysout::tokenizer empty;
  CHECK_THROWS_AS(empty.encode("x", false), sysout::error);
}

TEST_CASE("tokenizer loaders reject truncated and malformed files with the file named") {
  const fs::path dir = fs::temp_directory_path() / ("sysout_tok_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto write = [&](const char* name, const std::string& bytes) {
    const fs::path p = dir / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  };
  const auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const sysout::error& e) {
      return e.what();
    }
    return "(no error)";
  };
  SUBCASE("llama2.c tokenizer.bin") {
    SYSOUT_REQUIRE_MODEL(path, "tok512.bin");
    const std::string good = slurp(path);
    const fs::path cut = write("tok_cut.bin", good.substr(0, good.size() / 2));
    const std::string m = message([&] { sysout::load_llama2c_tokenizer(cut, 512); });
    CHECK(m.find("tok_cut.bin") != std::string::npos);
    CHECK(m.find("truncated") != std::string::npos);
    std::string lying = good;
    const std::int32_t huge = 1 << 30;
    std::memcpy(lying.data() + 4 + 4, &huge, 4);  // token 0's length
    const fs::path lp = write("tok_len.bin", lying);
    CHECK(message([&] { sysout::load_llama2c_tokenizer(lp, 512); }).find("length") != std::string::npos);
    CHECK(message([&] { sysout::load_llama2c_tokenizer(write("tok_short.bin", "ab"), 512); }).find("too short") !=
          std::string::npos);
    CHECK(sysout::load_llama2c_tokenizer(path, 0).size() == 512);  // 0: read to the end of the file
  }
  SUBCASE("GPT-2 encoder.json / vocab.bpe") {
    const fs::path merges = write("v.bpe", "#version: 0.2\na b\n");
    CHECK(message([&] { sysout::load_gpt2_tokenizer(write("e1.json", "{\"a\": 0, \"b\": 1"), merges); })
              .find("e1.json") != std::string::npos);
    CHECK(message([&] { sysout::load_gpt2_tokenizer(write("e2.json", "{\"a\": 0, \"b\": 5}"), merges); })
              .find("outside") != std::string::npos);
    CHECK(message([&] { sysout::load_gpt2_tokenizer(write("e3.json", "[1, 2]"), merges); }).find("expected '{'") !=
          std::string::npos);
    CHECK(message([&] {
            sysout::load_gpt2_tokenizer(write("e4.json", "{\"a\": 0, \"b\": 1, \"ab\": 2}"), write("bad.bpe", "a b c\n"));
          }).find("line 1") != std::string::npos);
    // A tiny valid pair: escapes, one merge, encode and decode.
    const tokenizer t = sysout::load_gpt2_tokenizer(
        write("ok.json", "{\"a\": 0, \"b\": 1, \"ab\": 2, \"\\u0120\": 3, \"\\u0120a\": 4}"),
        write("ok.bpe", "#version: 0.2\na b\n\xC4\xA0 a\n"));
    CHECK(t.encode("ab a", false) == ids_t{2, 4});
    CHECK(t.decode(ids_t{2, 4}) == "ab a");
    CHECK(t.encode("abc", false) == ids_t{2});  // 'c' has no token: dropped, as llama.cpp does
  }
  fs::remove_all(dir);
}

namespace {

// A GGUF v3 file with metadata only, built in memory (no tensors).
struct gguf_builder {
  std::string bytes;
  std::uint64_t n_kv = 0;
  template <class T>
  void raw(T v) {
    bytes.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void str(std::string_view s) {
    raw(std::uint64_t(s.size()));
    bytes.append(s);
  }
  void key(std::string_view k, std::uint32_t type) {
    str(k);
    raw(type);
    ++n_kv;
  }
  void kv_str(std::string_view k, std::string_view v) {
    key(k, 8);
    str(v);
  }
  void kv_u32(std::string_view k, std::uint32_t v) {
    key(k, 4);
    raw(v);
  }
  void kv_bool(std::string_view k, bool v) {
    key(k, 7);
    raw(std::uint8_t(v));
  }
  void kv_strs(std::string_view k, const std::vector<std::string>& v) {
    key(k, 9);
    raw(std::uint32_t(8));
    raw(std::uint64_t(v.size()));
    for (const auto& s : v) str(s);
  }
  template <class T>
  void kv_arr(std::string_view k, std::uint32_t elem_type, const std::vector<T>& v) {
    key(k, 9);
    raw(elem_type);
    raw(std::uint64_t(v.size()));
    for (T x : v) raw(x);
  }
  sysout::io::gguf_file file(const std::string& name) const {
    std::string out = "GGUF";
    const auto put = [&](auto v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
    put(std::uint32_t(3));
    put(std::uint64_t(0));
    put(n_kv);
    out += bytes;
    std::vector<std::byte> b(out.size());
    std::memcpy(b.data(), out.data(), out.size());
    return sysout::io::gguf_file(sysout::io::mapped_file::from_bytes(std::move(b), name));
  }
};

// A tiny sentencepiece-style vocabulary: <unk> <s> </s>, 256 byte tokens, then pieces.
gguf_builder tiny_spm(const std::vector<std::string>& pieces, const std::vector<float>& piece_scores) {
  std::vector<std::string> toks{"<unk>", "<s>", "</s>"};
  std::vector<float> scores{0, 0, 0};
  std::vector<std::int32_t> types{2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    toks.emplace_back(buf);
    scores.push_back(0);
    types.push_back(6);
  }
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    toks.push_back(pieces[i]);
    scores.push_back(piece_scores[i]);
    types.push_back(1);
  }
  gguf_builder g;
  g.kv_str("tokenizer.ggml.model", "llama");
  g.kv_strs("tokenizer.ggml.tokens", toks);
  g.kv_arr("tokenizer.ggml.scores", 6, scores);
  g.kv_arr("tokenizer.ggml.token_type", 5, types);
  return g;
}

}  // namespace

TEST_CASE("tokenizer_from_gguf: synthetic vocabularies and bad metadata") {
  const std::vector<std::string> pieces{"\xE2\x96\x81", "a", "b", "ab", "\xE2\x96\x81" "ab", "c"};
  const std::vector<float> scores{-1, -2, -2, -1, -0.5f, -3};
  SUBCASE("spm merges by score, byte fallback, space prefix") {
    const tokenizer tok = sysout::tokenizer_from_gguf(tiny_spm(pieces, scores).file("tiny.gguf"));
    const std::int32_t base = 3 + 256;
    // "ab c!" -> "▁ab▁c!": ▁ab (merged), ▁, c, then '!' as its byte token.
    CHECK(tok.encode("ab c!", true) == ids_t{1, base + 4, base + 0, base + 5, 3 + '!'});
    CHECK(tok.decode(tok.encode("ab c!", true)) == "ab c!");
    CHECK(tok.encode("", true) == ids_t{1});
    CHECK(tok.encode("<s>a", false, true) == ids_t{1, base + 0, base + 1});  // prefix space after a special token
    CHECK(tok.encode("<s>", false, false).size() == 4);                      // '<' 's' '>' as bytes + ▁
  }
  SUBCASE("add_space_prefix and ids from the file") {
    gguf_builder g = tiny_spm(pieces, scores);
    g.kv_bool("tokenizer.ggml.add_space_prefix", false);
    g.kv_u32("tokenizer.ggml.bos_token_id", 2);
    g.kv_u32("tokenizer.ggml.eos_token_id", 999999);  // outside the vocabulary: ignored, default kept
    g.kv_bool("tokenizer.ggml.add_eos_token", true);
    const tokenizer tok = sysout::tokenizer_from_gguf(g.file("tiny2.gguf"));
    CHECK(tok.bos() == 2);
    CHECK(tok.eos() == 2);
    CHECK(tok.encode("ab", true) == ids_t{2, 3 + 256 + 3, 2});
  }
  const auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const sysout::error& e) {
      return e.what();
    }
    return "(no error)";
  };
  SUBCASE("unsupported model and pre-tokenizer, short arrays, missing keys") {
    gguf_builder g;
    g.kv_str("tokenizer.ggml.model", "bert");
    g.kv_strs("tokenizer.ggml.tokens", {"a"});
    std::string m = message([&] { sysout::tokenizer_from_gguf(g.file("bert.gguf")); });
    CHECK(m.find("bert.gguf") != std::string::npos);
    CHECK(m.find("'bert'") != std::string::npos);

    gguf_builder h;
    h.kv_str("tokenizer.ggml.model", "gpt2");
    h.kv_str("tokenizer.ggml.pre", "llama-bpe");
    h.kv_strs("tokenizer.ggml.tokens", {"a", "b", "ab"});
    h.kv_strs("tokenizer.ggml.merges", {"a b"});
    m = message([&] { sysout::tokenizer_from_gguf(h.file("l3.gguf")); });
    CHECK(m.find("'llama-bpe'") != std::string::npos);

    gguf_builder k;
    k.kv_str("tokenizer.ggml.model", "gpt2");
    k.kv_str("tokenizer.ggml.pre", "gpt-2");
    k.kv_strs("tokenizer.ggml.tokens", {"a", "b", "ab"});
    m = message([&] { sysout::tokenizer_from_gguf(k.file("nomerges.gguf")); });
    CHECK(m.find("tokenizer.ggml.merges") != std::string::npos);
    k.kv_strs("tokenizer.ggml.merges", {"a b"});
    const tokenizer ok = sysout::tokenizer_from_gguf(k.file("ok.gguf"));
    CHECK(ok.encode("ab", false) == ids_t{2});
    CHECK(ok.bos() == -1);  // llama.cpp's default BOS 11 is outside a 3-token vocabulary

    gguf_builder s = tiny_spm(pieces, scores);
    s.kv_arr("tokenizer.ggml.scores", 6, std::vector<float>{0.0f});  // duplicate key
    CHECK(message([&] { s.file("dup.gguf"); }).find("twice") != std::string::npos);

    gguf_builder t;
    t.kv_str("tokenizer.ggml.model", "llama");
    t.kv_strs("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "x"});
    t.kv_arr("tokenizer.ggml.scores", 6, std::vector<float>{0.0f, 0.0f});
    m = message([&] { sysout::tokenizer_from_gguf(t.file("short.gguf")); });
    CHECK(m.find("short.gguf") != std::string::npos);
    CHECK(m.find("scores") != std::string::npos);

    gguf_builder u;
    u.kv_str("general.architecture", "llama");
    CHECK(message([&] { sysout::tokenizer_from_gguf(u.file("novocab.gguf")); }).find("tokenizer.ggml.model") !=
          std::string::npos);
  }
}

TEST_CASE("byte-level BPE replaces malformed UTF-8 by U+FFFD (as llama.cpp); llama2.c keeps every byte") {
  SYSOUT_REQUIRE_MODEL(gpt2, "ggml-vocab-gpt-2.gguf");
  SYSOUT_REQUIRE_MODEL(bin, "tokenizer.bin");
  const tokenizer g = sysout::tokenizer_from_gguf(gpt2);
  CHECK(g.decode(g.encode("a\xFF" "b", false)) == "a\xEF\xBF\xBD" "b");
  const tokenizer l = sysout::load_llama2c_tokenizer(bin, 32000);
  CHECK(l.decode(l.encode("a\xFF" "b", true)) == "a\xFF" "b");
}

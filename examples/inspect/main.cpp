// sysout-inspect FILE: prints a model file's metadata and tensor table, like
// llama.cpp's gguf-dump. Reads GGUF (v2/v3), safetensors and llama2.c .bin
// checkpoints; the format is recognized from the file's first bytes.
//
//   sysout-inspect models/SmolLM2-135M-Instruct.Q4_1.gguf
//   sysout-inspect --full --no-tensors ../shared/models/stories260K.gguf
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "sysout/io/gguf.hpp"
#include "sysout/io/llama2c.hpp"
#include "sysout/io/safetensors.hpp"

using namespace sysout;
using namespace sysout::io;

namespace {

struct options {
  std::string file;
  std::size_t max_items = 8;  // array elements shown
  bool metadata = true, tensors = true;
};

void usage(FILE* out) {
  std::fprintf(out,
               "usage: sysout-inspect [options] FILE\n"
               "Prints the metadata and tensor table of a GGUF, safetensors or llama2.c .bin file.\n"
               "  --full           print arrays in full (default: first 8 elements)\n"
               "  --items N        print the first N elements of arrays\n"
               "  --no-metadata    tensor table only\n"
               "  --no-tensors     metadata only\n"
               "  -h, --help       this help\n");
}

std::string human_bytes(std::uint64_t n) {
  char buf[32];
  if (n >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", double(n) / double(1ull << 30));
  else if (n >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", double(n) / double(1ull << 20));
  else if (n >= (1ull << 10)) std::snprintf(buf, sizeof buf, "%.2f KiB", double(n) / double(1ull << 10));
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  return buf;
}

std::string shape_str(const extents& e) { return e.str(); }

void inspect_gguf(const options& o) {
  const gguf_file g(o.file);
  std::printf("%s: GGUF v%u, %s, %zu metadata entries, %zu tensors, alignment %u, data at byte %llu\n",
              o.file.c_str(), g.version(), human_bytes(g.file().size()).c_str(), g.metadata().size(),
              g.tensors().size(), g.alignment(), static_cast<unsigned long long>(g.data_offset()));
  if (o.metadata) {
    std::printf("\n* metadata\n");
    std::size_t k = 0;
    for (const auto& kv : g.metadata())
      std::printf("%5zu: %-18s %-44s = %s\n", ++k, kv.value.type_str().c_str(), kv.key.c_str(),
                  kv.value.to_string(o.max_items).c_str());
  }
  if (o.tensors) {
    std::printf("\n* tensors (ne in ggml order: ne[0] is the contiguous dimension)\n");
    std::printf("%5s  %-6s %-22s %-22s %12s  %s\n", "#", "type", "ne", "row-major shape", "bytes", "name");
    std::uint64_t total = 0;
    std::int64_t params = 0;
    std::size_t k = 0;
    for (const auto& t : g.tensors()) {
      std::printf("%5zu  %-6s %-22s %-22s %12llu  %s\n", ++k, type_name(t.type).c_str(), t.ne_str().c_str(),
                  shape_str(t.shape()).c_str(), static_cast<unsigned long long>(t.nbytes), t.name.c_str());
      total += t.nbytes;
      params += t.n_elements();
    }
    std::printf("total: %lld parameters in %s\n", static_cast<long long>(params), human_bytes(total).c_str());
  }
}

void inspect_safetensors(const options& o) {
  const safetensors_file f(o.file);
  std::printf("%s: safetensors, %s, header of %llu bytes, %zu metadata entries, %zu tensors\n", o.file.c_str(),
              human_bytes(f.file().size()).c_str(), static_cast<unsigned long long>(f.data_offset() - 8),
              f.metadata().size(), f.tensors().size());
  if (o.metadata) {
    std::printf("\n* __metadata__\n");
    std::size_t k = 0;
    for (const auto& [key, v] : f.metadata())
      std::printf("%5zu: %-44s = \"%s\"\n", ++k, key.c_str(), gguf_value::escape(v, 200).c_str());
  }
  if (o.tensors) {
    std::printf("\n* tensors (row-major shapes)\n");
    std::printf("%5s  %-8s %-22s %12s  %s\n", "#", "dtype", "shape", "bytes", "name");
    std::uint64_t total = 0;
    std::int64_t params = 0;
    std::size_t k = 0;
    for (const auto& t : f.tensors()) {
      std::printf("%5zu  %-8s %-22s %12llu  %s\n", ++k, std::string(st_dtype_name(t.type)).c_str(),
                  t.shape_str().c_str(), static_cast<unsigned long long>(t.nbytes()), t.name.c_str());
      total += t.nbytes();
      params += t.n_elements();
    }
    std::printf("total: %lld parameters in %s\n", static_cast<long long>(params), human_bytes(total).c_str());
  }
}

void inspect_llama2c(const options& o) {
  const auto ck = read_llama2c(o.file);
  const auto& c = ck.config;
  std::printf("%s: llama2.c checkpoint, %s\n", o.file.c_str(),
              human_bytes(std::filesystem::file_size(o.file)).c_str());
  if (o.metadata) {
    std::printf("\n* config\n");
    std::printf("  dim %d, hidden_dim %d, n_layers %d, n_heads %d, n_kv_heads %d, vocab_size %d, seq_len %d, %s\n",
                c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len,
                c.shared_classifier ? "shared classifier" : "separate classifier");
  }
  if (o.tensors) {
    const std::int64_t L = c.n_layers, D = c.dim, H = c.hidden_dim, V = c.vocab_size, KV = c.kv_dim(),
                       S = c.seq_len, HS2 = c.head_size() / 2;
    struct row {
      const char* name;
      std::size_t off;
      extents shape;
    };
    std::vector<row> rows = {{"token_embedding", ck.token_embedding, {V, D}}, {"rms_att", ck.rms_att, {L, D}},
                             {"wq", ck.wq, {L, D, D}},       {"wk", ck.wk, {L, KV, D}},
                             {"wv", ck.wv, {L, KV, D}},      {"wo", ck.wo, {L, D, D}},
                             {"rms_ffn", ck.rms_ffn, {L, D}}, {"w1", ck.w1, {L, H, D}},
                             {"w2", ck.w2, {L, D, H}},       {"w3", ck.w3, {L, H, D}},
                             {"rms_final", ck.rms_final, {D}}};
    if (ck.freq_cis_real != llama2c_checkpoint::absent) {
      rows.push_back({"freq_cis_real", ck.freq_cis_real, {S, HS2}});
      rows.push_back({"freq_cis_imag", ck.freq_cis_imag, {S, HS2}});
    }
    if (!c.shared_classifier) rows.push_back({"wcls", ck.wcls, {V, D}});
    std::printf("\n* tensors (f32, row-major [out, in]; offsets in bytes from the start of the file)\n");
    std::printf("%5s  %-22s %12s %12s  %s\n", "#", "shape", "offset", "bytes", "name");
    std::size_t k = 0;
    for (const auto& r : rows)
      std::printf("%5zu  %-22s %12llu %12llu  %s\n", ++k, r.shape.str().c_str(),
                  static_cast<unsigned long long>(28 + 4 * r.off),
                  static_cast<unsigned long long>(4 * r.shape.product()), r.name);
    if (c.shared_classifier) std::printf("(classifier shared with token_embedding)\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else if (a == "--full") {
      o.max_items = std::size_t(-1);
    } else if (a == "--items" && i + 1 < argc) {
      o.max_items = std::size_t(std::stoull(argv[++i]));
    } else if (a == "--no-metadata") {
      o.metadata = false;
    } else if (a == "--no-tensors") {
      o.tensors = false;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "sysout-inspect: unknown option '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    } else if (o.file.empty()) {
      o.file = a;
    } else {
      std::fprintf(stderr, "sysout-inspect: one FILE only ('%s' and '%s')\n", o.file.c_str(), a.c_str());
      return 2;
    }
  }
  if (o.file.empty()) {
    usage(stderr);
    return 2;
  }
  try {
    // Recognize the format from the first bytes.
    const mapped_file head(o.file);
    const auto* b = reinterpret_cast<const unsigned char*>(head.data());
    if (head.size() >= 4 && std::memcmp(b, "GGUF", 4) == 0) {
      inspect_gguf(o);
    } else if (head.size() >= 9 && b[8] == '{') {
      inspect_safetensors(o);
    } else if (o.file.size() > 4 && o.file.substr(o.file.size() - 4) == ".bin") {
      inspect_llama2c(o);
    } else {
      throw_error(o.file, "not a GGUF, safetensors or llama2.c (.bin) file");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sysout-inspect: %s\n", e.what());
    return 1;
  }
  return 0;
}

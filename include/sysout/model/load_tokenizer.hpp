// The tokenizer that goes with a model file: GGUF metadata; for llama2.c .bin a
// tok<vocab>.bin / tokenizer.bin next to it (or an explicit path); for a Hugging
// Face folder vocab.json + merges.txt (or encoder.json + vocab.bpe).
#pragma once
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "sysout/model/tokenizer.hpp"
#include "sysout/model/tokenizer_gguf.hpp"
#include "sysout/model/weights.hpp"

namespace sysout::model {

inline tokenizer load_tokenizer_for(const transformer& m, const std::filesystem::path& model_path,
                                    const std::filesystem::path& explicit_path = {}) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::is_directory(model_path) ? model_path : model_path.parent_path();
  if (!explicit_path.empty()) {
    if (explicit_path.extension() == ".gguf") return tokenizer_from_gguf(explicit_path);
    return load_llama2c_tokenizer(explicit_path, m.cfg.vocab_size);
  }
  if (!fs::is_directory(model_path)) {
    char magic[4] = {};
    std::ifstream(model_path, std::ios::binary).read(magic, 4);
    if (std::memcmp(magic, "GGUF", 4) == 0) return tokenizer_from_gguf(model_path);
    if (model_path.extension() == ".bin") {
      for (const fs::path& p : {dir / ("tok" + std::to_string(m.cfg.vocab_size) + ".bin"), dir / "tokenizer.bin"})
        if (fs::exists(p)) return load_llama2c_tokenizer(p, m.cfg.vocab_size);
      throw_error(model_path.string(), "no llama2.c tokenizer (tok", m.cfg.vocab_size, ".bin or tokenizer.bin) next to it");
    }
  }
  for (auto [enc, bpe] : {std::pair{"vocab.json", "merges.txt"}, std::pair{"encoder.json", "vocab.bpe"}})
    if (fs::exists(dir / enc) && fs::exists(dir / bpe)) return load_gpt2_tokenizer(dir / enc, dir / bpe);
  throw_error(model_path.string(), "no tokenizer found next to the model");
}

}  // namespace sysout::model

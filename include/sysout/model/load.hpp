// load_model(path): picks the loader from the file: llama2.c .bin, GGUF
// (magic "GGUF"), or a Hugging Face directory / .safetensors file with
// config.json beside it.
#pragma once
#include <cstring>
#include <filesystem>
#include <fstream>

#include "sysout/model/load_gguf.hpp"
#include "sysout/model/load_llama2c.hpp"
#include "sysout/model/load_safetensors.hpp"

namespace sysout::model {

inline transformer load_model(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  if (fs::is_directory(path)) return load_hf_safetensors(path);
  if (!fs::exists(path)) throw_error(path.string(), "model file does not exist");
  if (path.extension() == ".safetensors") return load_hf_safetensors(path);
  char magic[4] = {};
  std::ifstream(path, std::ios::binary).read(magic, 4);
  if (std::memcmp(magic, "GGUF", 4) == 0) return load_gguf(path);
  if (path.extension() == ".bin") return load_llama2c(path);
  throw_error(path.string(), "unrecognised model file (expected GGUF, llama2.c .bin, or HF safetensors + config.json)");
}

}  // namespace sysout::model

// generate: text continuation with the reference transformer.
//   generate --model models/SmolLM2-135M-Instruct.Q4_1.gguf --prompt "Summer is warm." --steps 32
//   generate --model ../shared/models/stories260K.bin --prompt "Once upon a time" --temp 0.8 --top-p 0.9 --seed 7
// Prints the prompt and the continuation as it is generated, then tokens/s.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "sysout/model/generate.hpp"
#include "sysout/model/load.hpp"
#include "sysout/model/load_tokenizer.hpp"

namespace {
const char* usage =
    "usage: generate --model PATH [--prompt TEXT | --tokens ID,ID,...] [options]\n"
    "  --model PATH      GGUF (llama, gemma3), llama2.c .bin, or Hugging Face folder (safetensors + config.json)\n"
    "  --tokenizer PATH  tokenizer for llama2.c models (default: tok<vocab>.bin or tokenizer.bin next to the model)\n"
    "  --prompt TEXT     prompt text (default \"Once upon a time\")\n"
    "  --tokens IDS      prompt as comma-separated token ids instead of text\n"
    "  --steps N         new tokens to generate (default 64)\n"
    "  --temp T          temperature; 0 = greedy (default 0)\n"
    "  --top-p P         nucleus sampling mass (default 1.0)\n"
    "  --seed S          sampling seed (default 0)\n"
    "  --no-bos          do not prepend BOS (default: as the model's tokenizer says)\n"
    "  --bos             prepend BOS even if the tokenizer would not\n"
    "  --threads N       worker threads (default 1)\n"
    "  --help            this text\n";
}  // namespace

int main(int argc, char** argv) try {
  std::string model_path, tok_path, prompt = "Once upon a time", tokens_arg;
  int steps = 64, threads = 1, bos = -1;
  sysout::model::sampler_params sp;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw sysout::error("generate", "option " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") { std::fputs(usage, stdout); return 0; }
    else if (a == "--model") model_path = next();
    else if (a == "--tokenizer") tok_path = next();
    else if (a == "--prompt") prompt = next();
    else if (a == "--tokens") tokens_arg = next();
    else if (a == "--steps") steps = std::stoi(next());
    else if (a == "--temp") sp.temperature = std::stof(next());
    else if (a == "--top-p") sp.top_p = std::stof(next());
    else if (a == "--seed") sp.seed = std::stoull(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--no-bos") bos = 0;
    else if (a == "--bos") bos = 1;
    else { std::fprintf(stderr, "unknown option %s\n%s", a.c_str(), usage); return 2; }
  }
  if (model_path.empty()) { std::fprintf(stderr, "--model is required\n%s", usage); return 2; }
  const auto m = sysout::model::load_model(model_path);
  std::vector<int> ids;
  sysout::tokenizer tok;
  bool have_tok = false;
  if (!tokens_arg.empty()) {
    std::stringstream ss(tokens_arg);
    for (std::string t; std::getline(ss, t, ',');) ids.push_back(std::stoi(t));
    if (bos == 1) ids.insert(ids.begin(), m.cfg.bos_id);
  } else {
    tok = sysout::model::load_tokenizer_for(m, model_path, tok_path);
    have_tok = true;
    const bool add = bos == 1 || (bos == -1 && (tok.kind == sysout::tokenizer_kind::llama2c || tok.add_bos));
    for (int t : tok.encode(prompt, false)) ids.push_back(t);
    if (tok.kind == sysout::tokenizer_kind::llama2c) {  // run.c's encoder handles BOS itself
      ids.clear();
      for (int t : tok.encode(prompt, add)) ids.push_back(t);
    } else if (add) {
      ids.insert(ids.begin(), m.cfg.bos_id);
    }
  }
  if (ids.empty()) throw sysout::error("generate", "empty prompt");
  std::fprintf(stderr, "%s: %s, %d layers, dim %d, vocab %d; prompt %zu tokens\n", model_path.c_str(),
               std::string(sysout::model::arch_name(m.cfg.architecture)).c_str(), m.cfg.n_layers, m.cfg.dim,
               m.cfg.vocab_size, ids.size());
  auto piece = [&](int id) { return have_tok ? tok.piece(id) : std::to_string(id) + " "; };
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (!(i == 0 && ids[0] == m.cfg.bos_id)) std::fputs(piece(ids[i]).c_str(), stdout);
  std::fflush(stdout);
  sysout::model::session s(m, std::min<int>(int(ids.size()) + steps, m.cfg.max_seq_len > 0 ? m.cfg.max_seq_len : 1 << 20),
                           threads);
  sysout::model::generate_options o;
  o.max_new_tokens = steps;
  o.sampling = sp;
  o.on_token = [&](int id) {
    std::fputs(piece(id).c_str(), stdout);
    std::fflush(stdout);
    return true;
  };
  const auto t0 = std::chrono::steady_clock::now();
  const auto out = sysout::model::generate(s, ids, o);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("\n");
  std::fflush(stdout);  // the text before the stderr summary, also when both go to one pipe
  std::fprintf(stderr, "%zu tokens in %.2f s (%.1f tok/s incl. prompt)\n", out.size(), sec, double(out.size()) / sec);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}

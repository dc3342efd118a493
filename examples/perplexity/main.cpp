// perplexity: sliding-window perplexity of a text file.
//   perplexity --model models/SmolLM2-135M-Instruct.Q4_1.gguf --file ../shared/models/wikitext2-test.raw
//     --ctx 512 --max-tokens 4096  (one command line)
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "sysout/model/load.hpp"
#include "sysout/model/load_tokenizer.hpp"
#include "sysout/model/perplexity.hpp"

namespace {
const char* usage =
    "usage: perplexity --model PATH --file TEXT [options]\n"
    "  --model PATH       GGUF, llama2.c .bin, or Hugging Face folder\n"
    "  --tokenizer PATH   tokenizer for llama2.c models (default: next to the model)\n"
    "  --file PATH        text file (\\r is stripped)\n"
    "  --ctx N            window length in positions, BOS included (default 512)\n"
    "  --stride N         text tokens between window starts (default: ctx minus BOS, no overlap)\n"
    "  --max-tokens N     score at most the first N tokens of the file (default: all)\n"
    "  --no-bos           windows without BOS (their first token is then not scored)\n"
    "  --threads N        worker threads (default 1)\n"
    "  --help             this text\n";
}  // namespace

int main(int argc, char** argv) try {
  std::string model_path, tok_path, file;
  sysout::model::perplexity_options o;
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw sysout::error("perplexity", "option " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") { std::fputs(usage, stdout); return 0; }
    else if (a == "--model") model_path = next();
    else if (a == "--tokenizer") tok_path = next();
    else if (a == "--file") file = next();
    else if (a == "--ctx") o.ctx = std::stoi(next());
    else if (a == "--stride") o.stride = std::stoi(next());
    else if (a == "--max-tokens") o.max_tokens = std::stoll(next());
    else if (a == "--no-bos") o.add_bos = false;
    else if (a == "--threads") threads = std::stoi(next());
    else { std::fprintf(stderr, "unknown option %s\n%s", a.c_str(), usage); return 2; }
  }
  if (model_path.empty() || file.empty()) { std::fprintf(stderr, "--model and --file are required\n%s", usage); return 2; }
  const auto m = sysout::model::load_model(model_path);
  const auto tok = sysout::model::load_tokenizer_for(m, model_path, tok_path);
  std::string text = sysout::detail::read_whole_file(file);
  std::erase(text, '\r');
  std::vector<int> ids;
  for (int t : tok.encode(text, false)) ids.push_back(t);
  if (!ids.empty() && ids[0] == m.cfg.bos_id) ids.erase(ids.begin());  // llama2.c encoder's BOS; windows add their own
  std::fprintf(stderr, "%s: %zu tokens in %s; ctx %d, %s BOS\n", model_path.c_str(), ids.size(), file.c_str(), o.ctx,
               o.add_bos ? "with" : "without");
  sysout::model::session s(m, o.ctx, threads);
  o.progress = [](std::int64_t done, std::int64_t total) {
    std::fprintf(stderr, "\r  %lld / %lld tokens", (long long)done, (long long)total);
  };
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = sysout::model::perplexity(s, ids, o);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "\n");
  std::printf("perplexity %.4f  (mean NLL %.4f nats over %lld tokens, %d windows, %.1f s)\n", r.perplexity, r.mean_nll,
              (long long)r.n_scored, r.n_windows, sec);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}

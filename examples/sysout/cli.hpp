// Command-line plumbing of the `sysout` example: options, per-command help,
// and an output folder that only ever receives complete results.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include "sysout/core/error.hpp"

namespace sysout_cli {

namespace fs = std::filesystem;

// Thrown for bad command lines: main prints it and exits with status 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct options {
  std::string command;
  std::string model;                  // --model PATH: .gguf, llama2.c .bin, or a safetensors folder
  std::string tokenizer;              // --tokenizer PATH (llama2.c .bin models)
  std::string sentence = "Summer is warm. Winter is cold.";
  std::string out = "sysout_out";
  std::string dtype = "f32";          // f32 | f16 | bf16 (activations rounded at every site)
  std::string text;                   // corpus for perplexity / sampling sentences
  std::string site = "layer_out";     // intervention site: layer_out | down_proj_in
  int ctx = 256;                      // perplexity window (tokens)
  int bos = -1;                       // -1: the model's default; 0: --no-bos; 1: --bos
  std::uint64_t seed = 0;
  std::vector<int> layers;            // --layers 2,3,8-10 (figures / interventions)
  int threads = 2;
  int max_tokens = 2048;              // perplexity budget (tokens of the corpus)
  int samples = 16;                   // sentences for the multi-sentence experiments
  bool plots = true;
  bool help = false;
};

struct command_info {
  const char* name;
  const char* summary;
  const char* details;
  std::vector<std::string> flags;  // flags it reads besides --model/--out/--threads/--help
};

inline const std::vector<command_info>& commands() {
  static const std::vector<command_info> c = {
      {"existence", "activation outliers (down_proj input, layer output), attention outliers, weight outliers",
       "Runs the sentence once, detects massive activations at down_proj_in and layer_out of every layer\n"
       "(|h| > 100 and > 1000 x median), attention sinks of every layer (keys receiving >= 0.1 x queries)\n"
       "with value norms, weight outliers of every down_proj (max/mean per channel), and their consistency.\n"
       "Writes existence.json, top_magnitudes.npy, figures (top-3 per layer, 3D landscape of the peak layer,\n"
       "attention per head of --layers or the first layers with sinks).",
       {"--sentence", "--bos", "--no-bos", "--dtype", "--layers", "--seed"}},
      {"positions", "where each outlier sits: (layer, token, dim), sink (layer, token, heads), weight (row, col)",
       "Lists every massive activation with its token text and category (start / delimiter / weak semantic /\n"
       "other), every attention sink with the heads that use it, and the largest down_proj weights.\n"
       "Writes positions.json.",
       {"--sentence", "--bos", "--no-bos", "--dtype"}},
      {"lifecycle", "emergence, spread and disappearance of the outliers across layers",
       "Locates the first layer with massive activations, the down_proj input dims and weight-outlier\n"
       "channels that produce them, the attention sinks from that layer on and their value norms, and the\n"
       "layers where the outliers are cancelled (attention vs MLP contribution along the massive dims).\n"
       "Writes lifecycle.json, lifecycle_*.npy and lifecycle curves.",
       {"--sentence", "--bos", "--no-bos", "--dtype"}},
      {"intervene", "perplexity with massive activations zeroed / set to mean / clamped, and sinks removed",
       "Finds the massive dims on the sentence, then measures WikiText-2 perplexity (--text, first\n"
       "--max-tokens tokens in windows of --ctx) for: baseline; zero, mean (corpus mean from a first pass)\n"
       "and clamp of the massive activations at --site of --layers (default: the emergence layer);\n"
       "zeroing as many random non-massive dims (control, --seed); attention to sink keys removed in every\n"
       "layer with and without renormalization. Writes intervene.json and a bar chart.",
       {"--sentence", "--bos", "--no-bos", "--text", "--ctx", "--max-tokens", "--site", "--layers", "--seed"}},
      {"existence_validation", "how often massive activations appear over many corpus sentences",
       "Runs --samples sentences drawn (--seed) from --text and reports, per layer, the share of sentences\n"
       "with massive activations at layer_out and down_proj_in, and the median top-1 magnitude.\n"
       "Writes existence_validation.json/.npy and a figure.",
       {"--text", "--samples", "--seed", "--bos", "--no-bos", "--ctx"}},
      {"tokens_analysis", "which tokens carry the massive activations",
       "Over --samples corpus sentences: counts of massive-activation tokens by category and by text,\n"
       "their positions, and the share of sequences whose first token carries them.\n"
       "Writes tokens_analysis.json.",
       {"--text", "--samples", "--seed", "--bos", "--no-bos", "--ctx"}},
      {"intervention_analysis", "per-layer intervention: perplexity when massive activations of one layer are removed",
       "For each layer of --layers (default: every layer with massive activations on the sentence), zero\n"
       "and mean-replace the massive activations at --site of that layer only, and measure perplexity.\n"
       "Writes intervention_analysis.json and a figure.",
       {"--sentence", "--text", "--ctx", "--max-tokens", "--site", "--layers", "--bos", "--no-bos"}},
      {"top_activation_magnitude", "top-1/2/3 and median |h| per layer (the papers' bar chart)",
       "Per layer, top-1, top-2, top-3 and median |h| of layer_out for the sentence and, with --samples > 0,\n"
       "averaged over corpus sentences. Writes top_activation_magnitude.json/.npy and a figure.",
       {"--sentence", "--samples", "--text", "--seed", "--bos", "--no-bos", "--dtype"}},
      {"self_attention", "attention maps per head, sink ratios and value norms",
       "For --layers (default: first, emergence, last), writes the attention of every head as heatmaps,\n"
       "per-head sink ratio and first-token mass, and value norms of each token. Writes\n"
       "self_attention.json, attn_L*.npy and figures.",
       {"--sentence", "--layers", "--bos", "--no-bos"}},
      {"all", "existence + positions + lifecycle + intervene, into one folder (the README's command)",
       "Runs the four main experiments on one model. Same options as each.", {}},
  };
  return c;
}

inline const command_info* find_command(std::string_view n) {
  for (const auto& c : commands())
    if (n == c.name) return &c;
  return nullptr;
}

inline std::string common_usage() {
  return "Common options:\n"
         "  --model PATH        model: GGUF file, llama2.c .bin (tokenizer next to it or --tokenizer), or a\n"
         "                      folder with model.safetensors + config.json (GPT-2); default\n"
         "                      models/SmolLM2-135M-Instruct.Q4_1.gguf\n"
         "  --tokenizer PATH    tokenizer for llama2.c models (tok512.bin / tokenizer.bin)\n"
         "  --sentence TEXT     input sentence (default \"Summer is warm. Winter is cold.\")\n"
         "  --bos / --no-bos    force a BOS token at the start, or none (default: the model's own setting)\n"
         "  --dtype f32|f16|bf16  round activations at every site to this type (default f32)\n"
         "  --ctx N             perplexity window / max sentence tokens (default 256)\n"
         "  --text PATH         corpus (default ../shared/models/wikitext2-test.raw)\n"
         "  --max-tokens N      perplexity budget in corpus tokens (default 2048)\n"
         "  --samples N         corpus sentences for multi-sentence experiments (default 16)\n"
         "  --layers LIST       layers, e.g. 2,3,8-10\n"
         "  --site S            intervention site: layer_out or down_proj_in (default layer_out)\n"
         "  --seed N            random seed (default 0)\n"
         "  --threads N         threads (default 2)\n"
         "  --out DIR           output folder (default sysout_out); files appear only when complete\n"
         "  --no-plots          write data only, no gnuplot figures\n"
         "  --help              this help\n";
}

inline std::string usage(const command_info* c) {
  std::ostringstream os;
  if (!c) {
    os << "sysout: find, trace and remove systematic outliers in transformer LMs\n\n"
       << "usage: sysout <command> [options]\n\nCommands:\n";
    for (const auto& k : commands()) {
      os << "  " << k.name;
      for (std::size_t i = std::string_view(k.name).size(); i < 26; ++i) os << ' ';
      os << k.summary << "\n";
    }
    os << "\nRun `sysout <command> --help` for details.\n\n" << common_usage();
    return os.str();
  }
  os << "usage: sysout " << c->name << " [options]\n\n" << c->summary << ".\n\n" << c->details << "\n\n";
  if (!c->flags.empty()) {
    os << "Options this command reads (besides --model, --out, --threads, --no-plots):";
    for (const auto& f : c->flags) os << ' ' << f;
    os << "\n\n";
  }
  os << common_usage();
  return os.str();
}

inline int parse_int(const std::string& flag, const std::string& v, int lo, int hi) {
  try {
    std::size_t n = 0;
    const long long x = std::stoll(v, &n);
    if (n != v.size() || x < lo || x > hi) throw std::out_of_range("");
    return int(x);
  } catch (...) {
    throw usage_error(flag + " expects an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                      "], got '" + v + "'");
  }
}

inline std::vector<int> parse_layers(const std::string& v) {
  std::vector<int> r;
  std::stringstream ss(v);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.empty()) continue;
    const auto dash = part.find('-');
    if (dash == std::string::npos) {
      r.push_back(parse_int("--layers", part, 0, 100000));
    } else {
      const int a = parse_int("--layers", part.substr(0, dash), 0, 100000);
      const int b = parse_int("--layers", part.substr(dash + 1), 0, 100000);
      if (b < a) throw usage_error("--layers: range '" + part + "' is reversed");
      for (int i = a; i <= b; ++i) r.push_back(i);
    }
  }
  if (r.empty()) throw usage_error("--layers: no layer in '" + v + "'");
  std::sort(r.begin(), r.end());
  r.erase(std::unique(r.begin(), r.end()), r.end());
  return r;
}

inline options parse_args(int argc, char** argv) {
  options o;
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.empty()) {
    o.help = true;
    return o;
  }
  std::size_t i = 0;
  if (a[0] == "--help" || a[0] == "-h" || a[0] == "help") {
    o.help = true;
    if (a.size() > 1) o.command = a[1];
    return o;
  }
  o.command = a[i++];
  if (!find_command(o.command)) throw usage_error("unknown command '" + o.command + "' (run `sysout --help`)");
  for (; i < a.size(); ++i) {
    std::string flag = a[i], val;
    bool has_val = false;
    if (const auto eq = flag.find('='); eq != std::string::npos && flag.rfind("--", 0) == 0) {
      val = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_val = true;
    }
    auto need = [&]() -> std::string {
      if (has_val) return val;
      if (i + 1 >= a.size()) throw usage_error(flag + " needs a value");
      return a[++i];
    };
    if (flag == "--help" || flag == "-h") o.help = true;
    else if (flag == "--model") o.model = need();
    else if (flag == "--tokenizer") o.tokenizer = need();
    else if (flag == "--sentence") o.sentence = need();
    else if (flag == "--out") o.out = need();
    else if (flag == "--text") o.text = need();
    else if (flag == "--dtype") {
      o.dtype = need();
      if (o.dtype != "f32" && o.dtype != "f16" && o.dtype != "bf16")
        throw usage_error("--dtype expects f32, f16 or bf16, got '" + o.dtype + "'");
    } else if (flag == "--site") {
      o.site = need();
      if (o.site != "layer_out" && o.site != "down_proj_in")
        throw usage_error("--site expects layer_out or down_proj_in, got '" + o.site + "'");
    } else if (flag == "--ctx") o.ctx = parse_int(flag, need(), 2, 1 << 20);
    else if (flag == "--seed") o.seed = std::uint64_t(parse_int(flag, need(), 0, 2147483647));
    else if (flag == "--threads") o.threads = parse_int(flag, need(), 1, 256);
    else if (flag == "--max-tokens") o.max_tokens = parse_int(flag, need(), 2, 1 << 26);
    else if (flag == "--samples") o.samples = parse_int(flag, need(), 0, 100000);
    else if (flag == "--layers") o.layers = parse_layers(need());
    else if (flag == "--bos") o.bos = 1;
    else if (flag == "--no-bos") o.bos = 0;
    else if (flag == "--no-plots") o.plots = false;
    else throw usage_error("unknown option '" + flag + "' for `sysout " + o.command + "` (see --help)");
  }
  return o;
}

// The output folder: everything is written into a hidden staging folder inside
// it and moved into place by commit(); if the run fails, the staging folder is
// removed and the output folder is left as it was.
class output_dir {
 public:
  explicit output_dir(const std::string& dir) : final_(dir) {
    std::error_code ec;
    fs::create_directories(final_, ec);
    if (ec || !fs::is_directory(final_)) sysout::throw_error(dir, "cannot create the output folder");
    stage_ = final_ / (".sysout-staging-" + std::to_string(::getpid()));
    fs::remove_all(stage_, ec);
    fs::create_directories(stage_);
  }
  output_dir(const output_dir&) = delete;
  output_dir& operator=(const output_dir&) = delete;
  ~output_dir() {
    std::error_code ec;
    if (!committed_) fs::remove_all(stage_, ec);
  }
  // Path of a file to write (inside the staging folder).
  std::string file(const std::string& name) const { return (stage_ / name).string(); }
  // Moves every staged file into the output folder; returns their final paths.
  std::vector<std::string> commit() {
    std::vector<std::string> moved;
    std::vector<fs::path> entries;
    for (const auto& e : fs::directory_iterator(stage_)) entries.push_back(e.path());
    std::sort(entries.begin(), entries.end());
    for (const auto& p : entries) {
      const auto dst = final_ / p.filename();
      std::error_code ec;
      fs::remove_all(dst, ec);
      fs::rename(p, dst);
      moved.push_back(dst.string());
    }
    fs::remove_all(stage_);
    committed_ = true;
    return moved;
  }
  const fs::path& final_path() const noexcept { return final_; }

 private:
  fs::path final_, stage_;
  bool committed_ = false;
};

}  // namespace sysout_cli

// Reader for the llama.cpp reference fixtures written by
// tools/fixtures/model_llama_cpp_logits.py (plain whitespace format).
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sysout/core/error.hpp"

namespace sysout::testing {

struct logit_fixture_pos {
  int pos = 0;
  std::vector<int> top_ids;
  std::vector<double> top_logits;
  double max = 0, mean = 0, std = 0, logsumexp = 0;
  std::vector<int> probe_ids;
  std::vector<double> probe_logits;
};

struct logit_fixture_case {
  std::string name;
  std::vector<int> tokens;
  std::vector<logit_fixture_pos> positions;
  std::vector<int> greedy;
  std::vector<double> margin;  // reference's top-1 minus top-2 logit at each greedy step
};

// "<n> <id> ..." (what follows a line's key).
inline std::vector<int> read_ids(std::istream& is) {
  int n = 0;
  is >> n;
  std::vector<int> v(static_cast<std::size_t>(n));
  for (auto& x : v) is >> x;
  return v;
}

inline std::vector<logit_fixture_case> read_logit_fixture(const std::filesystem::path& p) {
  std::ifstream f(p);
  if (!f) throw_error(p.string(), "cannot open fixture");
  std::vector<logit_fixture_case> cases;
  std::string line;
  auto pos_entry = [&](int pos) -> logit_fixture_pos& {
    auto& c = cases.back();
    for (auto& e : c.positions)
      if (e.pos == pos) return e;
    c.positions.push_back({});
    c.positions.back().pos = pos;
    return c.positions.back();
  };
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream is(line);
    std::string key;
    is >> key;
    if (key == "case") {
      cases.push_back({});
      is >> cases.back().name;
      continue;
    }
    if (cases.empty()) cases.push_back({});  // files with a single unnamed case
    auto& c = cases.back();
    if (key == "tokens") {
      c.tokens = read_ids(is);
    } else if (key == "greedy") {
      c.greedy = read_ids(is);
    } else if (key == "margin") {
      int n = 0;
      is >> n;
      c.margin.resize(static_cast<std::size_t>(n));
      for (auto& x : c.margin) is >> x;
    } else if (key == "pos") {
      int pos = 0;
      std::string what;
      is >> pos >> what;
      auto& e = pos_entry(pos);
      if (what == "top" || what == "probe") {
        int n = 0;
        is >> n;
        for (int i = 0; i < n; ++i) {
          int id;
          double v;
          is >> id >> v;
          (what == "top" ? e.top_ids : e.probe_ids).push_back(id);
          (what == "top" ? e.top_logits : e.probe_logits).push_back(v);
        }
      } else if (what == "stats") {
        is >> e.max >> e.mean >> e.std >> e.logsumexp;
      }
    }
    if (!is && !is.eof()) throw_error(p.string(), "malformed line: ", line);
  }
  return cases;
}

// tools/fixtures/model_llama_cpp_perplexity.py's output: llama.cpp's token ids
// for the first text_bytes bytes of WikiText-2 and its perplexity over them.
struct perplexity_fixture {
  std::size_t text_bytes = 0;
  int ctx = 0;
  bool add_bos = false;
  std::vector<int> tokens;
  std::int64_t scored = 0;
  double mean_nll = 0, perplexity = 0;
};

inline perplexity_fixture read_perplexity_fixture(const std::filesystem::path& p) {
  std::ifstream f(p);
  if (!f) throw_error(p.string(), "cannot open fixture");
  perplexity_fixture r;
  for (std::string line; std::getline(f, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream is(line);
    std::string key;
    is >> key;
    if (key == "tokens") r.tokens = read_ids(is);
    else if (key == "text_bytes") is >> r.text_bytes;
    else if (key == "ctx") is >> r.ctx;
    else if (key == "add_bos") is >> r.add_bos;
    else if (key == "scored") is >> r.scored;
    else if (key == "mean_nll") is >> r.mean_nll;
    else if (key == "perplexity") is >> r.perplexity;
  }
  if (r.tokens.empty() || r.text_bytes == 0 || r.ctx < 2) throw_error(p.string(), "incomplete perplexity fixture");
  return r;
}

}  // namespace sysout::testing

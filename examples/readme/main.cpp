// The README's example: a host engine hands its own buffers to sysout's
// detectors through non-owning views (no copy) and prints what they find.
#include <sysout/sysout.hpp>

#include <cstdio>
#include <vector>

int main() {
  const int tokens = 8, dims = 64, heads = 4;
  // The host's hidden states after layer 2, row-major [tokens, dims]: small
  // values, plus one massive entry (dim 23) at the first token.
  std::vector<float> hidden(tokens * dims);
  for (int i = 0; i < tokens * dims; ++i) hidden[i] = 0.01f * float((i * 37) % 17 - 8);
  hidden[0 * dims + 23] = -2500.0f;
  // Its attention probabilities [heads, queries, keys]: causal, most mass on key 0.
  std::vector<float> probs(heads * tokens * tokens, 0.0f);
  for (int h = 0; h < heads; ++h)
    for (int q = 0; q < tokens; ++q)
      for (int k = 0; k <= q; ++k) probs[(h * tokens + q) * tokens + k] = q == 0 ? 1.0f : (k == 0 ? 0.9f : 0.1f / q);

  auto h = sysout::view(hidden.data(), {tokens, dims}, sysout::layout::row_major, "layer2.out");
  auto p = sysout::view(probs.data(), {heads, tokens, tokens}, sysout::layout::row_major, "layer2.attn");
  auto acts = sysout::detect::find_massive_activations(h, /*layer=*/2, "layer_out");
  auto sinks = sysout::detect::find_attention_sinks(p, /*layer=*/2);

  for (const auto& o : acts.outliers)
    std::printf("massive activation: token %lld, dim %lld, value %.1f (threshold %.2f)\n", (long long)o.token,
                (long long)o.dim, o.value, acts.threshold);
  for (auto t : sinks.outlier_tokens)
    std::printf("attention sink: key %lld receives %.2f of %lld queries\n", (long long)t, sinks.received[t],
                (long long)sinks.queries);
  return acts.found() && !sinks.outlier_tokens.empty() ? 0 : 1;
}

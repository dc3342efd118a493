// Umbrella for sysout/model/: the reference transformer (config, weights,
// loaders for llama2.c / GGUF / HF safetensors, forward pass with hook sites,
// KV cache, sampling, generation, perplexity) and the tokenizers. Compiles with
// a bare C++20 compiler; the matmul kernels pick up Google Highway when
// <hwy/highway.h> is available (define SYSOUT_NO_HIGHWAY to force the scalar ones).
#pragma once
#include "sysout/core.hpp"
#include "sysout/model/config.hpp"
#include "sysout/model/forward.hpp"
#include "sysout/model/generate.hpp"
#include "sysout/model/kv_cache.hpp"
#include "sysout/model/load.hpp"
#include "sysout/model/load_gguf.hpp"
#include "sysout/model/load_llama2c.hpp"
#include "sysout/model/load_safetensors.hpp"
#include "sysout/model/matmul.hpp"
#include "sysout/model/perplexity.hpp"
#include "sysout/model/quant_dot.hpp"
#include "sysout/model/sampling.hpp"
#include "sysout/model/thread_pool.hpp"
#include "sysout/model/tokenizer.hpp"
#include "sysout/model/tokenizer_gguf.hpp"
#include "sysout/model/weights.hpp"

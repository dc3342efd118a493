// Umbrella for sysout/io/: includes the dependency-free headers of this area.
// (io/ggml_quants_highway.hpp needs Highway and is included on its own.)
#pragma once
#include "sysout/core.hpp"
#include "sysout/io/ggml_quants.hpp"
#include "sysout/io/ggml_types.hpp"
#include "sysout/io/gguf.hpp"
#include "sysout/io/hf_config.hpp"
#include "sysout/io/json_parse.hpp"
#include "sysout/io/mapped_file.hpp"
#include "sysout/io/safetensors.hpp"

// Umbrella for sysout/trace/: hook sites and registry, the recorder (bounded
// per-site summaries, thread-safe), the llama.cpp cb_eval adapter, lifecycle
// analysis and interventions. Compiles with a bare C++20 compiler (the detectors
// it uses pick up Google Highway when <hwy/highway.h> is available).
#pragma once
#include "sysout/core.hpp"
#include "sysout/trace/ggml_adapter.hpp"
#include "sysout/trace/hooks.hpp"
#include "sysout/trace/interventions.hpp"
#include "sysout/trace/lifecycle.hpp"
#include "sysout/trace/recorder.hpp"
#include "sysout/trace/sites.hpp"

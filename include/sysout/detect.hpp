// Umbrella for sysout/detect/: the detectors (massive activations, attention
// sinks, weight outliers, their consistency, token categories). They compile
// with a bare C++20 compiler; when <hwy/highway.h> is available (and
// SYSOUT_NO_HIGHWAY is not defined) the hot loops use Google Highway.
#pragma once
#include "sysout/core.hpp"
#include "sysout/detect/attention_sinks.hpp"
#include "sysout/detect/consistency.hpp"
#include "sysout/detect/massive_activations.hpp"
#include "sysout/detect/stats.hpp"
#include "sysout/detect/token_categories.hpp"
#include "sysout/detect/weight_outliers.hpp"

// The core: errors, dtypes, views and owning tensors. No dependencies.
#pragma once
#include "sysout/core/dtype.hpp"
#include "sysout/core/error.hpp"
#include "sysout/core/half.hpp"
#include "sysout/core/raw.hpp"
#include "sysout/core/tensor.hpp"
#include "sysout/core/tensor_view.hpp"

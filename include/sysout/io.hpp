// Umbrella for sysout/io/: includes the dependency-free headers of this area.
#pragma once
#include "sysout/core.hpp"

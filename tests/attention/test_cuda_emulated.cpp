// The CUDA test program compiled as plain C++: the kernels of cuda.cuh run on
// the CPU through cuda_emulation.hpp, so their logic is checked where no GPU is.
#define SYSOUT_CUDA_EMULATION 1
#include "test_cuda.cu"

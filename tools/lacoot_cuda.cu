// The one CUDA translation unit of this project's programs: it compiles lacoot's kernels
// (include/lacoot/backend/cuda/kernels.cuh). A program of your own built with CUDA needs one
// file like it; everything else stays plain C++.
#define LACOOT_CUDA_IMPLEMENTATION
#include "lacoot/backend/cuda/kernels.cuh"

// lacoot/core/host_device.hpp — LACOOT_HD, the mark of a function that the CPU code and the
// CUDA kernels both call (backend/formulas.hpp's functors, Generator's draws).
//
// Holds: LACOOT_HD: __host__ __device__ under nvcc, nothing for a plain C++ compiler.
#pragma once

#if defined(__CUDACC__)
#define LACOOT_HD __host__ __device__
#else
#define LACOOT_HD
#endif

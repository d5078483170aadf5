// lacoot/core/parallel.hpp — the one place lacoot starts threads on the CPU.
//
// Holds: parallel_for(n, grain, fn), which splits [0, n) into contiguous chunks over OpenMP
// threads, and set_num_threads / get_num_threads.
// Needs: OpenMP when the build has it (meson adds -fopenmp); without it every loop runs on one
// thread and the results are the same: lacoot's kernels never depend on how work is split,
// because each chunk writes its own outputs and reductions combine in a fixed order.
#pragma once

#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace lacoot {

inline int get_num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Sets the threads used by lacoot's kernels (and Eigen's GEMM, which shares OpenMP's pool).
inline void set_num_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(std::max(1, n));
#else
  (void)n;
#endif
}

// Calls fn(begin, end) on disjoint chunks covering [0, n). Work below `grain` iterations, or
// already inside a parallel region, runs on the calling thread.
template <class Fn>
void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
#ifdef _OPENMP
  int threads = omp_get_max_threads();
  if (n > grain && threads > 1 && !omp_in_parallel()) {
    int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / std::max<int64_t>(grain, 1));
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
      if (begin < end) fn(begin, end);
    }
    return;
  }
#endif
  (void)grain;
  fn(int64_t{0}, n);
}

}  // namespace lacoot

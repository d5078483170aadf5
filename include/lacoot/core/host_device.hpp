// lacoot/core/host_device.hpp — LACOOT_HD, the mark of a function that the CPU code and the
// CUDA kernels both call (backend/formulas.hpp's functors, Generator's draws).
//
// Holds: LACOOT_HD: __host__ __device__ under nvcc, nothing for a plain C++ compiler; convert,
// the element conversion of Tensor::to and full on both devices.
#pragma once

#include <cstdint>
#include <type_traits>

#if defined(__CUDACC__)
#define LACOOT_HD __host__ __device__
#else
#define LACOOT_HD
#endif

namespace lacoot {

// static_cast<D>(s), with a floating value made an integer in the same way on every device: C++
// leaves NaN and values out of the integer's range undefined (x86 gives INT64_MIN, a GPU 0 or
// the nearest end), so NaN becomes 0 and the rest saturate at the range's ends.
template <class D, class S>
LACOOT_HD D convert(S s) {
  if constexpr (std::is_integral_v<D> && std::is_floating_point_v<S>) {
    static_assert(sizeof(D) == 8, "convert: int64 is the integer dtype");
    if (s != s) return D(0);
    if (s >= S(9223372036854775808.0)) return D(INT64_MAX);  // 2^63
    if (s < S(-9223372036854775808.0)) return D(INT64_MIN);
  }
  return static_cast<D>(s);
}

}  // namespace lacoot

// lacoot/backend/cpu/activation.hpp — CPU loops for activation functions and dropout.
//
// Holds: pointwise_kernel (out[i] = f(x[i])), pointwise_backward_kernel
// (grad_input[i] = f(grad_output[i], saved[i]), the one fused loop of every activation's
// backward) and dropout_kernel (draws the mask and applies it in one pass).
// Needs: core/ (parallel_for, Generator).
// Leaves out: the formulas themselves: ops/activation.hpp passes them in as the functors of
// backend/formulas.hpp, which the CUDA kernels instantiate too.
//
// The loops are flat over contiguous memory. Those whose formula is piecewise linear or plain
// arithmetic (Cost::Cheap: relu, relu6, leaky_relu, every backward that needs no exp) carry
// `#pragma omp simd` and become vector code; those that call exp / erf / tanh
// (Cost::Transcendental) stay scalar libm calls, which compilers vectorise only under
// -ffast-math, and are split over threads with a finer grain instead.
// Measured (16M floats, one thread, -O2 -march=native): relu forward 27 ms, about a memory
// copy; without the pragma GCC kept it scalar and took twice that.
#pragma once

#include <cstdint>

#include "../../core/parallel.hpp"
#include "../../core/rng.hpp"

// `#pragma omp simd` tells the compiler a loop's iterations are independent and asks for vector
// code: GCC's -O2 cost model ("very-cheap") otherwise declines any loop whose length is not a
// known multiple of the vector width, or whose pointers it would have to check for overlap at
// run time. Empty without OpenMP (the pragma would only draw a warning).
#ifdef _OPENMP
#define LACOOT_PRAGMA_SIMD _Pragma("omp simd")
#else
#define LACOOT_PRAGMA_SIMD
#endif

namespace lacoot::backend::cpu {

// What one element of a pointwise formula costs; it picks the parallel grain and whether the
// loop asks for vector code (Clang warns when a requested vectorisation fails, as it does for
// a loop calling exp).
enum class Cost {
  Cheap,          // arithmetic, comparisons: well under a nanosecond an element, vectorised
  Transcendental  // exp / erf / tanh: some 5-20 ns an element, scalar
};

template <Cost cost>
inline constexpr int64_t kPointwiseGrain = cost == Cost::Cheap ? int64_t{1} << 15 : int64_t{1} << 12;

// out[i] = f(x[i]) for i in [0, n).
template <Cost cost, class T, class F>
void pointwise_kernel(const T* x, T* out, int64_t n, F f) {
  parallel_for(n, kPointwiseGrain<cost>, [&](int64_t begin, int64_t end) {
    const F fn = f;  // a local copy: its captures (a slope) provably do not change with out[]
    if constexpr (cost == Cost::Cheap) {
      LACOOT_PRAGMA_SIMD
      for (int64_t i = begin; i < end; ++i) out[i] = fn(x[i]);
    } else {
      for (int64_t i = begin; i < end; ++i) out[i] = fn(x[i]);
    }
  });
}

// grad_input[i] = f(grad_output[i], saved[i]): the chain rule g · f'(.) of an elementwise op,
// where `saved` is the forward's input or output (whichever the derivative is cheaper from).
template <Cost cost, class T, class F>
void pointwise_backward_kernel(const T* grad_output, const T* saved, T* grad_input, int64_t n,
                               F f) {
  parallel_for(n, kPointwiseGrain<cost>, [&](int64_t begin, int64_t end) {
    const F fn = f;
    if constexpr (cost == Cost::Cheap) {
      LACOOT_PRAGMA_SIMD
      for (int64_t i = begin; i < end; ++i) grad_input[i] = fn(grad_output[i], saved[i]);
    } else {
      for (int64_t i = begin; i < end; ++i) grad_input[i] = fn(grad_output[i], saved[i]);
    }
  });
}

inline constexpr int64_t kDropoutGrain = 1 << 14;

// Inverted dropout of n elements: noise[i] = scale if element i is kept, else 0, and
// out[i] = x[i] * noise[i]. Element i is kept when the uniform draw at counter first + i is
// below keep_prob; the draw depends only on (generator seed, first + i), never on which thread
// computes it, so the mask is the same for any thread count.
template <class T>
void dropout_kernel(const T* x, T* out, T* noise, int64_t n, T keep_prob, T scale,
                    const Generator& gen, uint64_t first) {
  // Captured by value (the Generator too: 16 bytes): read through references, keep_prob and
  // scale could, for all the compiler knows, change with each store to out[] (same type T), and
  // the loop would stay scalar (2x slower, measured).
  parallel_for(n, kDropoutGrain, [=](int64_t begin, int64_t end) {
    LACOOT_PRAGMA_SIMD
    for (int64_t i = begin; i < end; ++i) {
      const bool keep = gen.uniform<T>(first + static_cast<uint64_t>(i)) < keep_prob;
      noise[i] = keep ? scale : T(0);
      out[i] = x[i] * noise[i];
    }
  });
}

}  // namespace lacoot::backend::cpu

// lacoot/backend/cpu/softmax.hpp — CPU loops for softmax and log_softmax, forward and backward.
//
// Holds: softmax_kernel<kLog> and softmax_backward_kernel<kLog>, on a tensor seen as
// [outer, n, inner] around the softmax dim (DimSplit, backend/cpu/reduce.hpp).
// Needs: core/ (parallel_for), backend/cpu/reduce.hpp (DimSplit, the SIMD pragmas).
// Leaves out: the formulas' derivation (ops/softmax.hpp) and vectorised exp (std::exp stays a
// scalar libm call without -ffast-math).
//
// Each line of n values along the dim is independent: for inner = 1 (softmax over the last
// dim, the common case) a line is a contiguous row (softmax_row); otherwise a task takes a block of up to
// kReduceBlock neighbouring lines of one outer index and walks their n rows of contiguous
// inner values together, keeping one running max and sum per line. Sums are in double; each
// line is computed by one task in a fixed order, so results do not depend on the thread count.
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "reduce.hpp"

namespace lacoot::backend::cpu {

// One contiguous row of n values (inner = 1); the formulas are softmax_kernel's.
template <bool kLog, class T>
void softmax_row(const T* x, int64_t n, T* y) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < n; ++j) m = std::max(m, x[j]);
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    const T e = std::exp(x[j] - m);
    sum += static_cast<double>(e);
    if constexpr (!kLog) y[j] = e;
  }
  if constexpr (kLog) {
    const T shift = static_cast<T>(static_cast<double>(m) + std::log(sum));
    LACOOT_REDUCE_SIMD
    for (int64_t j = 0; j < n; ++j) y[j] = x[j] - shift;
  } else {
    const T inv = static_cast<T>(1.0 / sum);
    LACOOT_REDUCE_SIMD
    for (int64_t j = 0; j < n; ++j) y[j] *= inv;
  }
}

// For every line x[o, :, i]: m = max_j x_j, s = Σ_j exp(x_j − m); then
//   softmax:     y_j = exp(x_j − m) / s
//   log_softmax: y_j = x_j − m − log s          (kLog)
// Subtracting m changes nothing mathematically and keeps exp from overflowing.
template <bool kLog, class T>
void softmax_kernel(const T* x, DimSplit s, T* y) {
  if (s.outer * s.size * s.inner == 0) return;
  if (s.inner == 1) {
    parallel_for(s.outer, reduce_task_grain(s.size), [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) softmax_row<kLog>(x + o * s.size, s.size, y + o * s.size);
    });
    return;
  }
  const int64_t block = std::min(s.inner, kReduceBlock), blocks = count_chunks(s.inner, block);
  parallel_for(s.outer * blocks, reduce_task_grain(s.size * block), [&](int64_t t0, int64_t t1) {
    std::vector<T> m(static_cast<std::size_t>(block));
    std::vector<double> sum(static_cast<std::size_t>(block));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / blocks, i0 = t % blocks * block, w = std::min(s.inner - i0, block);
      const T* xo = x + o * s.size * s.inner + i0;  // row j of this block: xo + j * inner
      T* yo = y + o * s.size * s.inner + i0;
      std::fill(m.begin(), m.end(), -std::numeric_limits<T>::infinity());
      std::fill(sum.begin(), sum.end(), 0.0);
      for (int64_t j = 0; j < s.size; ++j) {
        for (int64_t i = 0; i < w; ++i) {
          const auto u = static_cast<std::size_t>(i);
          m[u] = std::max(m[u], xo[j * s.inner + i]);
        }
      }
      for (int64_t j = 0; j < s.size; ++j) {
        for (int64_t i = 0; i < w; ++i) {
          const auto u = static_cast<std::size_t>(i);
          const T e = std::exp(xo[j * s.inner + i] - m[u]);
          sum[u] += static_cast<double>(e);
          if constexpr (!kLog) yo[j * s.inner + i] = e;  // kept, so exp runs once per element
        }
      }
      for (int64_t i = 0; i < w; ++i) {
        const auto u = static_cast<std::size_t>(i);
        if constexpr (kLog) {
          const T shift = static_cast<T>(static_cast<double>(m[u]) + std::log(sum[u]));
          for (int64_t j = 0; j < s.size; ++j) yo[j * s.inner + i] = xo[j * s.inner + i] - shift;
        } else {
          const T inv = static_cast<T>(1.0 / sum[u]);
          for (int64_t j = 0; j < s.size; ++j) yo[j * s.inner + i] *= inv;
        }
      }
    }
  });
}

// One contiguous row of n values (inner = 1); the formulas are softmax_backward_kernel's.
template <bool kLog, class T>
void softmax_backward_row(const T* y, const T* g, int64_t n, T* dx) {
  double acc = 0;
  if constexpr (kLog) {
    LACOOT_REDUCE_SIMD_SUM
    for (int64_t j = 0; j < n; ++j) acc += static_cast<double>(g[j]);
  } else {
    LACOOT_REDUCE_SIMD_SUM
    for (int64_t j = 0; j < n; ++j) acc += static_cast<double>(g[j]) * static_cast<double>(y[j]);
  }
  const T d = static_cast<T>(acc);
  for (int64_t j = 0; j < n; ++j) {
    if constexpr (kLog) dx[j] = g[j] - std::exp(y[j]) * d;
    else dx[j] = y[j] * (g[j] - d);
  }
}

// The gradient dx from the output y and its gradient g, line by line:
//   softmax:     dx_j = y_j (g_j − Σ_k g_k y_k)
//   log_softmax: dx_j = g_j − exp(y_j) Σ_k g_k        (kLog; exp(y) is the softmax)
template <bool kLog, class T>
void softmax_backward_kernel(const T* y, const T* g, DimSplit s, T* dx) {
  if (s.outer * s.size * s.inner == 0) return;
  if (s.inner == 1) {
    parallel_for(s.outer, reduce_task_grain(s.size), [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o)
        softmax_backward_row<kLog>(y + o * s.size, g + o * s.size, s.size, dx + o * s.size);
    });
    return;
  }
  const int64_t block = std::min(s.inner, kReduceBlock), blocks = count_chunks(s.inner, block);
  parallel_for(s.outer * blocks, reduce_task_grain(s.size * block), [&](int64_t t0, int64_t t1) {
    std::vector<double> dot(static_cast<std::size_t>(block));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / blocks, i0 = t % blocks * block, w = std::min(s.inner - i0, block);
      const int64_t off = o * s.size * s.inner + i0;
      std::fill(dot.begin(), dot.end(), 0.0);
      for (int64_t j = 0; j < s.size; ++j) {
        for (int64_t i = 0; i < w; ++i) {
          const int64_t k = off + j * s.inner + i;
          dot[static_cast<std::size_t>(i)] += kLog ? static_cast<double>(g[k]) : static_cast<double>(g[k]) * y[k];
        }
      }
      for (int64_t j = 0; j < s.size; ++j) {
        for (int64_t i = 0; i < w; ++i) {
          const int64_t k = off + j * s.inner + i;
          const T d = static_cast<T>(dot[static_cast<std::size_t>(i)]);
          if constexpr (kLog) dx[k] = g[k] - std::exp(y[k]) * d;
          else dx[k] = y[k] * (g[k] - d);
        }
      }
    }
  });
}

}  // namespace lacoot::backend::cpu

// lacoot/backend/cpu/loss.hpp — CPU loops for the losses: the per-sample terms of nll_loss and
// cross_entropy, their fused backward passes, and mse_loss's elementwise parts.
//
// Holds: nll_terms, class_loss_backward, squared_error_kernel, squared_error_backward_kernel.
// Needs: core/ (parallel_for).
// Leaves out: the reductions over samples and the weights they imply (ops/loss.hpp works them
// out and passes them in as scales), and log_softmax itself (backend/cpu/softmax.hpp).
//
// Samples are rows of a [N, C] matrix of log-probabilities; each row is handled by one task,
// so nothing depends on the thread count. Targets equal to ignore_index contribute nothing.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "../../core/parallel.hpp"

namespace lacoot::backend::cpu {

inline constexpr int64_t kLossGrain = 1 << 14;  // elements below which a loop stays on one thread

// For each sample n of logp [N, C] with class target[n]:
//   nll[n] = −logp[n, target[n]]          (the negative log-likelihood of the true class)
//   smooth[n] = −Σ_c logp[n, c]           (the label-smoothing term; skipped when smooth is null)
// both 0 when target[n] == ignore_index. Targets must already be checked to lie in [0, C).
template <class T>
void nll_terms(const T* logp, const int64_t* target, int64_t N, int64_t C, int64_t ignore_index,
               double* nll, double* smooth) {
  parallel_for(N, std::max<int64_t>(1, kLossGrain / std::max<int64_t>(C, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const bool ignored = target[n] == ignore_index;
      const T* row = logp + n * C;
      nll[n] = ignored ? 0.0 : -static_cast<double>(row[target[n]]);
      if (!smooth) continue;
      double s = 0;
      if (!ignored)
        for (int64_t c = 0; c < C; ++c) s -= static_cast<double>(row[c]);
      smooth[n] = s;
    }
  });
}

// The gradient of Σ_n g_n (a · nll[n] + b · smooth[n]) with respect to the logits x behind
// logp = log_softmax(x), p = exp(logp):
//   d nll[n] / dx[n, c]    = p[n, c] − [c = target[n]]       (the softmax minus the one-hot)
//   d smooth[n] / dx[n, c] = Σ_k (p[n, c] − [c = k]) = C p[n, c] − 1
// so dx[n, c] = g_n (a (p − onehot) + b (C p − 1)), and 0 for ignored samples. g_n is
// g[n] when per_sample, else g[0]. With logits = false, logp is the input itself (nll_loss):
// d(−logp[n, t]) / dlogp[n, c] = −[c = t], and b must be 0.
template <class T>
void class_loss_backward(const T* logp, const int64_t* target, int64_t N, int64_t C, int64_t ignore_index,
                         const T* g, bool per_sample, double a, double b, bool logits, T* dx) {
  parallel_for(N, std::max<int64_t>(1, kLossGrain / std::max<int64_t>(C, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      T* d = dx + n * C;
      const int64_t t = target[n];
      if (t == ignore_index) {
        for (int64_t c = 0; c < C; ++c) d[c] = T(0);
        continue;
      }
      const double gn = static_cast<double>(per_sample ? g[n] : g[0]);
      if (!logits) {
        for (int64_t c = 0; c < C; ++c) d[c] = T(0);
        d[t] = static_cast<T>(-gn * a);
        continue;
      }
      const T ga = static_cast<T>(gn * a), gb = static_cast<T>(gn * b), classes = static_cast<T>(C);
      const T* row = logp + n * C;
      for (int64_t c = 0; c < C; ++c) {
        const T p = std::exp(row[c]);
        d[c] = ga * p + gb * (classes * p - T(1));
      }
      d[t] -= ga;
    }
  });
}

// out[i] = (x[i] − y[i])².
template <class T>
void squared_error_kernel(const T* x, const T* y, int64_t n, T* out) {
  parallel_for(n, kLossGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = (x[i] - y[i]) * (x[i] - y[i]);
  });
}

// d(scale · g · (x − y)²)/dx = 2 · scale · g · (x − y); g is g[i] when per_element, else g[0].
// The gradient for y is its negative; either output may be null when not needed.
template <class T>
void squared_error_backward_kernel(const T* x, const T* y, const T* g, bool per_element, double scale,
                                   int64_t n, T* dx, T* dy) {
  const T k = static_cast<T>(2.0 * scale);
  parallel_for(n, kLossGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T d = k * (per_element ? g[i] : g[0]) * (x[i] - y[i]);
      if (dx) dx[i] = d;
      if (dy) dy[i] = -d;
    }
  });
}

}  // namespace lacoot::backend::cpu

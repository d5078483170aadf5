// lacoot/backend/cpu/norm.hpp — CPU kernels for batch_norm and layer_norm.
//
// Holds: the fused per-channel kernels of batch normalisation (statistics + normalisation in
// one pass over a channel's values; both gradient sums + the input gradient in one more) and
// the fused per-row kernels of layer normalisation, with the column sums that give its weight
// and bias gradients.
// Needs: core/.
// Leaves out: argument checks and autograd (ops/norm.hpp), running statistics (the op updates
// them from what these kernels return).
//
// Both normalise a group of values by their own mean and biased variance:
//     x̂ = (x − mean) · invstd,   invstd = 1 / √(var + eps),   y = x̂ · weight + bias.
// batch_norm's group is one channel across the batch and spatial positions; layer_norm's is
// one row of the trailing `normalized_shape` elements. Sums run in double (PyTorch's
// accumulation type on the CPU), and in a fixed order per group: a group is handled by one
// thread, so the results do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "../../core/parallel.hpp"

namespace lacoot::backend::cpu {

// batch_norm's input [N, C, *] seen as [N, C, S]: channel c's M = N·S values sit in N blocks
// of S contiguous values, block n starting at (n·C + c)·S.
struct BatchNormShape {
  int64_t N = 0, C = 0, S = 1;
  int64_t per_channel() const { return N * S; }  // M, the values one channel averages over
};

// Work per task: a channel with fewer values than this is grouped with its neighbours.
inline constexpr int64_t kNormGrain = 1 << 14;

// Σ_{i < n} f(i) in double, as 8 interleaved partial sums (element i goes to partial i mod 8)
// added up at the end. The order is fixed, so the result is the same on every run, but unlike
// one running sum the 8 partials are independent: the compiler keeps them in SIMD lanes
// without -ffast-math's licence to reorder (4-5x faster on AVX2, measured).
template <class F>
double lane_sum(int64_t n, F f) {
  constexpr int64_t kLanes = 8;
  double partial[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) partial[l] += f(i + l);
  double sum = 0;
  for (int64_t l = 0; l < kLanes; ++l) sum += partial[l];
  for (; i < n; ++i) sum += f(i);
  return sum;
}

// Calls fn(n, first) for the N blocks of channel c, `first` the offset of the block's S values.
template <class Fn>
void for_each_block(const BatchNormShape& s, int64_t c, Fn&& fn) {
  for (int64_t n = 0; n < s.N; ++n) fn(n, (n * s.C + c) * s.S);
}

// y = x · scale[c] + shift[c] for every value of channel c, with scale = weight · invstd and
// shift = bias − mean · scale: the normalisation and the affine map folded into one
// multiply-add (as PyTorch's batch_norm_cpu_transform_input does).
template <class T>
void batch_norm_transform_channel(const T* x, const BatchNormShape& s, int64_t c, double scale,
                                  double shift, T* y) {
  const T a = static_cast<T>(scale), b = static_cast<T>(shift);
  for_each_block(s, c, [&](int64_t, int64_t first) {
    for (int64_t i = first; i < first + s.S; ++i) y[i] = x[i] * a + b;
  });
}

// Training-mode forward. For every channel: the batch mean, the biased variance (two passes:
// Σ(x − mean)² does not cancel as Σx² − M·mean² can), then y. Returns per channel the mean
// and invstd (saved for backward) and the unbiased variance Σ(x − mean)² / (M − 1), which the
// running variance tracks. weight, bias may be null (1 and 0). Needs M ≥ 2.
template <class T>
void batch_norm_forward_training(const T* x, const BatchNormShape& s, const T* weight,
                                 const T* bias, double eps, T* y, T* mean, T* invstd,
                                 double* unbiased_var) {
  const int64_t M = s.per_channel();
  parallel_for(s.C, std::max<int64_t>(1, kNormGrain / std::max<int64_t>(M, 1)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double sum = 0;
      for_each_block(s, c, [&](int64_t, int64_t first) {
        sum += lane_sum(s.S, [&](int64_t i) { return static_cast<double>(x[first + i]); });
      });
      const double mu = sum / static_cast<double>(M);
      double sq = 0;
      for_each_block(s, c, [&](int64_t, int64_t first) {
        sq += lane_sum(s.S, [&](int64_t i) {
          const double d = static_cast<double>(x[first + i]) - mu;
          return d * d;
        });
      });
      const double istd = 1.0 / std::sqrt(sq / static_cast<double>(M) + eps);
      mean[c] = static_cast<T>(mu);
      invstd[c] = static_cast<T>(istd);
      unbiased_var[c] = sq / static_cast<double>(M - 1);
      const double w = weight ? static_cast<double>(weight[c]) : 1.0;
      const double b = bias ? static_cast<double>(bias[c]) : 0.0;
      batch_norm_transform_channel(x, s, c, w * istd, b - mu * w * istd, y);
    }
  });
}

// Evaluation-mode forward: y from given per-channel mean and invstd (the running statistics).
template <class T>
void batch_norm_forward_eval(const T* x, const BatchNormShape& s, const T* weight, const T* bias,
                             const T* mean, const T* invstd, T* y) {
  parallel_for(s.C, std::max<int64_t>(1, kNormGrain / std::max<int64_t>(s.per_channel(), 1)),
               [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const double w = weight ? static_cast<double>(weight[c]) : 1.0;
      const double b = bias ? static_cast<double>(bias[c]) : 0.0;
      const double scale = w * static_cast<double>(invstd[c]);
      batch_norm_transform_channel(x, s, c, scale, b - static_cast<double>(mean[c]) * scale, y);
    }
  });
}

// Backward of y = x̂ · w + b, x̂ = (x − mean) · invstd, per channel. With the sums
//     Σg = Σ_i g_i = dL/db,   Σgx̂ = Σ_i g_i · x̂_i = dL/dw,
// the input gradient is, in training mode (mean and invstd depend on x),
//     dx_i = (w · invstd / M) · (M · g_i − Σg − x̂_i · Σgx̂)
// (Ioffe & Szegedy 2015, arXiv:1502.03167, §3, rewritten in closed form), and in evaluation
// mode (mean and invstd are constants) dx_i = g_i · w · invstd. Any of dx, dweight, dbias may
// be null (not wanted); weight may be null (1).
template <class T>
void batch_norm_backward(const T* g, const T* x, const BatchNormShape& s, const T* weight,
                         const T* mean, const T* invstd, bool training, T* dx, T* dweight,
                         T* dbias) {
  const int64_t M = s.per_channel();
  parallel_for(s.C, std::max<int64_t>(1, kNormGrain / std::max<int64_t>(M, 1)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const double mu = static_cast<double>(mean[c]), istd = static_cast<double>(invstd[c]);
      const double w = weight ? static_cast<double>(weight[c]) : 1.0;
      double sum_g = 0, sum_gxhat = 0;
      if (dweight || dbias || (dx && training)) {
        for_each_block(s, c, [&](int64_t, int64_t first) {
          const T* gb = g + first;
          const T* xb = x + first;
          sum_g += lane_sum(s.S, [&](int64_t i) { return static_cast<double>(gb[i]); });
          sum_gxhat += lane_sum(s.S, [&](int64_t i) {
            return static_cast<double>(gb[i]) * (static_cast<double>(xb[i]) - mu) * istd;
          });
        });
      }
      if (dweight) dweight[c] = static_cast<T>(sum_gxhat);
      if (dbias) dbias[c] = static_cast<T>(sum_g);
      if (!dx) continue;
      if (training) {
        // dx_i = k · (g_i − Σg/M − x̂_i · Σgx̂/M) with k = w · invstd.
        const double k = w * istd, mean_g = sum_g / static_cast<double>(M),
                     mean_gxhat = sum_gxhat / static_cast<double>(M);
        for_each_block(s, c, [&](int64_t, int64_t first) {
          for (int64_t i = first; i < first + s.S; ++i) {
            const double xhat = (static_cast<double>(x[i]) - mu) * istd;
            dx[i] = static_cast<T>(k * (static_cast<double>(g[i]) - mean_g - xhat * mean_gxhat));
          }
        });
      } else {
        const T k = static_cast<T>(w * istd);
        for_each_block(s, c, [&](int64_t, int64_t first) {
          for (int64_t i = first; i < first + s.S; ++i) dx[i] = g[i] * k;
        });
      }
    }
  });
}

// ---- layer_norm: `rows` groups of `cols` contiguous values (cols = numel(normalized_shape)) ----

// y[r, j] = (x[r, j] − mean[r]) · invstd[r] · weight[j] + bias[j]; returns mean and invstd per
// row. Two passes for the variance, as in batch_norm. weight, bias may be null.
template <class T>
void layer_norm_forward(const T* x, int64_t rows, int64_t cols, const T* weight, const T* bias,
                        double eps, T* y, T* mean, T* invstd) {
  parallel_for(rows, std::max<int64_t>(1, kNormGrain / std::max<int64_t>(cols, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      const double mu = lane_sum(cols, [&](int64_t j) { return static_cast<double>(xr[j]); }) /
                        static_cast<double>(cols);
      const double sq = lane_sum(cols, [&](int64_t j) {
        const double d = static_cast<double>(xr[j]) - mu;
        return d * d;
      });
      const double istd = 1.0 / std::sqrt(sq / static_cast<double>(cols) + eps);
      mean[r] = static_cast<T>(mu);
      invstd[r] = static_cast<T>(istd);
      const T m = static_cast<T>(mu), k = static_cast<T>(istd);
      for (int64_t j = 0; j < cols; ++j) {
        const T xhat = (xr[j] - m) * k;
        yr[j] = xhat * (weight ? weight[j] : T(1)) + (bias ? bias[j] : T(0));
      }
    }
  });
}

// dL/dx of one layer_norm row, given dxhat(j), the gradient reaching x̂_j (g_j · weight_j):
//     dx_j = invstd · (dxhat_j − mean_j(dxhat) − x̂_j · mean_j(dxhat · x̂)),
// the batch_norm formula with the row in place of the channel.
template <class T, class DXhat>
void layer_norm_backward_row(const T* xr, int64_t cols, double mu, double istd, DXhat dxhat, T* dxr) {
  const double n = static_cast<double>(cols);
  const double mean_dxhat = lane_sum(cols, dxhat) / n;
  const double mean_dxhat_xhat = lane_sum(cols, [&](int64_t j) {
    return dxhat(j) * (static_cast<double>(xr[j]) - mu) * istd;
  }) / n;
  for (int64_t j = 0; j < cols; ++j) {
    const double xhat = (static_cast<double>(xr[j]) - mu) * istd;
    dxr[j] = static_cast<T>(istd * (dxhat(j) - mean_dxhat - xhat * mean_dxhat_xhat));
  }
}

// dL/dx of layer_norm, row by row. weight may be null (1); the two cases get their own dxhat
// so that no branch is left in the loops (which keeps them vectorised).
template <class T>
void layer_norm_backward_input(const T* g, const T* x, int64_t rows, int64_t cols,
                               const T* weight, const T* mean, const T* invstd, T* dx) {
  parallel_for(rows, std::max<int64_t>(1, kNormGrain / std::max<int64_t>(cols, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* gr = g + r * cols;
      const double mu = static_cast<double>(mean[r]), istd = static_cast<double>(invstd[r]);
      if (weight)
        layer_norm_backward_row(x + r * cols, cols, mu, istd, [&](int64_t j) {
          return static_cast<double>(gr[j]) * static_cast<double>(weight[j]);
        }, dx + r * cols);
      else
        layer_norm_backward_row(x + r * cols, cols, mu, istd, [&](int64_t j) {
          return static_cast<double>(gr[j]);
        }, dx + r * cols);
    }
  });
}

// dL/dweight[j] = Σ_r g[r, j] · x̂[r, j] and dL/dbias[j] = Σ_r g[r, j]: column sums. Threads
// split the columns; each walks the rows in order (row-contiguous reads, fixed sum order).
// Either output may be null.
template <class T>
void layer_norm_backward_params(const T* g, const T* x, int64_t rows, int64_t cols,
                                const T* mean, const T* invstd, T* dweight, T* dbias) {
  parallel_for(cols, std::max<int64_t>(1, kNormGrain / std::max<int64_t>(rows, 1)), [&](int64_t j0, int64_t j1) {
    std::vector<double> sw(static_cast<std::size_t>(j1 - j0), 0.0), sb(sw.size(), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const double mu = static_cast<double>(mean[r]), istd = static_cast<double>(invstd[r]);
      for (int64_t j = j0; j < j1; ++j) {
        const double gj = static_cast<double>(g[r * cols + j]);
        const auto k = static_cast<std::size_t>(j - j0);
        sw[k] += gj * (static_cast<double>(x[r * cols + j]) - mu) * istd;
        sb[k] += gj;
      }
    }
    for (int64_t j = j0; j < j1; ++j) {
      const auto k = static_cast<std::size_t>(j - j0);
      if (dweight) dweight[j] = static_cast<T>(sw[k]);
      if (dbias) dbias[j] = static_cast<T>(sb[k]);
    }
  });
}

}  // namespace lacoot::backend::cpu

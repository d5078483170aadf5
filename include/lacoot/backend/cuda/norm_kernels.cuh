// lacoot/backend/cuda/norm_kernels.cuh — the CUDA kernels of batch and layer normalisation
// (part of kernels.cuh's implementation; compiled with it, in one CUDA unit, after
// reduce_kernels.cuh, whose block_sum they use).
//
// Holds: the kernels and host functions behind kernels.hpp's "normalisation" section.
// Needs: reduce_kernels.cuh (block_sum, kThreads), nvcc.
// Leaves out: cuDNN's batch norm (its saved statistics and running-variance update are not
// PyTorch's formulas to the rounding; these kernels are backend/cpu/norm.hpp's, in double).
//
// Each channel (batch norm) or row (layer norm) is one block: its threads sum their share of
// the values in double and block_sum adds the shares in a fixed order, so results do not
// change from run to run; they match the CPU's to float rounding, not to the bit (the CPU adds
// in another order). Layer norm's weight and bias gradients are column sums: one thread per
// column walks the rows in order, as the CPU does.
#pragma once

#ifdef LACOOT_CUDA_IMPLEMENTATION

namespace lacoot::cuda::kernels {

namespace detail {

// The offset of the t-th value of channel c in [N, C, S].
__device__ inline int64_t channel_offset(int64_t t, int64_t c, int64_t C, int64_t S) {
  return ((t / S) * C + c) * S + t % S;
}

template <class T>
__device__ double value_or(const T* p, int64_t i, double otherwise) {
  return p ? static_cast<double>(p[i]) : otherwise;
}

template <class T>
__global__ void batch_norm_train_kernel(const T* x, const T* weight, const T* bias, double eps, double momentum,
                                        T* running_mean, T* running_var, T* y, T* mean, T* invstd, int64_t N,
                                        int64_t C, int64_t S) {
  __shared__ double part[kThreads];
  const int64_t M = N * S;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double sum = 0;
    for (int64_t t = threadIdx.x; t < M; t += kThreads) sum += static_cast<double>(x[channel_offset(t, c, C, S)]);
    const double mu = block_sum(sum, part) / static_cast<double>(M);
    double sq = 0;
    for (int64_t t = threadIdx.x; t < M; t += kThreads) {
      const double d = static_cast<double>(x[channel_offset(t, c, C, S)]) - mu;
      sq += d * d;
    }
    sq = block_sum(sq, part);
    const double istd = 1.0 / sqrt(sq / static_cast<double>(M) + eps);
    if (threadIdx.x == 0) {
      mean[c] = static_cast<T>(mu);
      invstd[c] = static_cast<T>(istd);
      if (running_mean) {  // as ops/norm.hpp: the rounded batch mean, the unbiased variance
        running_mean[c] = static_cast<T>((1 - momentum) * static_cast<double>(running_mean[c]) +
                                         momentum * static_cast<double>(static_cast<T>(mu)));
        running_var[c] = static_cast<T>((1 - momentum) * static_cast<double>(running_var[c]) +
                                        momentum * (sq / static_cast<double>(M - 1)));
      }
    }
    const double w = value_or(weight, c, 1.0), b = value_or(bias, c, 0.0);
    const T a = static_cast<T>(w * istd), shift = static_cast<T>(b - mu * w * istd);
    for (int64_t t = threadIdx.x; t < M; t += kThreads) {
      const int64_t i = channel_offset(t, c, C, S);
      y[i] = x[i] * a + shift;
    }
  }
}

// Evaluation: mean = running_mean, invstd = 1 / √(running_var + eps), per channel.
template <class T>
__global__ void batch_norm_stats_kernel(const T* running_mean, const T* running_var, double eps, T* mean, T* invstd,
                                        int64_t C) {
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < C; c += int64_t{gridDim.x} * blockDim.x) {
    mean[c] = running_mean[c];
    invstd[c] = static_cast<T>(1.0 / sqrt(static_cast<double>(running_var[c]) + eps));
  }
}

template <class T>
__global__ void batch_norm_eval_kernel(const T* x, const T* weight, const T* bias, const T* mean, const T* invstd,
                                       T* y, int64_t n, int64_t C, int64_t S) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t c = i / S % C;
    const double scale = value_or(weight, c, 1.0) * static_cast<double>(invstd[c]);
    const double shift = value_or(bias, c, 0.0) - static_cast<double>(mean[c]) * scale;
    y[i] = x[i] * static_cast<T>(scale) + static_cast<T>(shift);
  }
}

template <class T>
__global__ void batch_norm_backward_kernel(const T* g, const T* x, const T* weight, const T* mean, const T* invstd,
                                           bool training, T* dx, T* dweight, T* dbias, int64_t N, int64_t C,
                                           int64_t S) {
  __shared__ double part[kThreads];
  const int64_t M = N * S;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const double mu = static_cast<double>(mean[c]), istd = static_cast<double>(invstd[c]);
    const double w = value_or(weight, c, 1.0);
    double sum_g = 0, sum_gxhat = 0;
    if (dweight || dbias || (dx && training)) {
      for (int64_t t = threadIdx.x; t < M; t += kThreads) {
        const int64_t i = channel_offset(t, c, C, S);
        sum_g += static_cast<double>(g[i]);
        sum_gxhat += static_cast<double>(g[i]) * (static_cast<double>(x[i]) - mu) * istd;
      }
      sum_g = block_sum(sum_g, part);
      sum_gxhat = block_sum(sum_gxhat, part);
    }
    if (threadIdx.x == 0) {
      if (dweight) dweight[c] = static_cast<T>(sum_gxhat);
      if (dbias) dbias[c] = static_cast<T>(sum_g);
    }
    if (!dx) continue;
    const double k = w * istd, mean_g = sum_g / static_cast<double>(M), mean_gxhat = sum_gxhat / static_cast<double>(M);
    for (int64_t t = threadIdx.x; t < M; t += kThreads) {
      const int64_t i = channel_offset(t, c, C, S);
      if (training) {
        const double xhat = (static_cast<double>(x[i]) - mu) * istd;
        dx[i] = static_cast<T>(k * (static_cast<double>(g[i]) - mean_g - xhat * mean_gxhat));
      } else {
        dx[i] = g[i] * static_cast<T>(k);
      }
    }
  }
}

template <class T>
__global__ void layer_norm_forward_kernel(const T* x, int64_t rows, int64_t cols, const T* weight, const T* bias,
                                          double eps, T* y, T* mean, T* invstd) {
  __shared__ double part[kThreads];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * cols;
    double sum = 0;
    for (int64_t j = threadIdx.x; j < cols; j += kThreads) sum += static_cast<double>(xr[j]);
    const double mu = block_sum(sum, part) / static_cast<double>(cols);
    double sq = 0;
    for (int64_t j = threadIdx.x; j < cols; j += kThreads) {
      const double d = static_cast<double>(xr[j]) - mu;
      sq += d * d;
    }
    const double istd = 1.0 / sqrt(block_sum(sq, part) / static_cast<double>(cols) + eps);
    if (threadIdx.x == 0) {
      mean[r] = static_cast<T>(mu);
      invstd[r] = static_cast<T>(istd);
    }
    const T m = static_cast<T>(mu), k = static_cast<T>(istd);
    for (int64_t j = threadIdx.x; j < cols; j += kThreads) {
      const T xhat = (xr[j] - m) * k;
      y[r * cols + j] = xhat * (weight ? weight[j] : T(1)) + (bias ? bias[j] : T(0));
    }
  }
}

template <class T>
__global__ void layer_norm_backward_input_kernel(const T* g, const T* x, int64_t rows, int64_t cols, const T* weight,
                                                 const T* mean, const T* invstd, T* dx) {
  __shared__ double part[kThreads];
  const double n = static_cast<double>(cols);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* gr = g + r * cols;
    const T* xr = x + r * cols;
    const double mu = static_cast<double>(mean[r]), istd = static_cast<double>(invstd[r]);
    double s1 = 0, s2 = 0;
    for (int64_t j = threadIdx.x; j < cols; j += kThreads) {
      const double dxhat = static_cast<double>(gr[j]) * value_or(weight, j, 1.0);
      s1 += dxhat;
      s2 += dxhat * (static_cast<double>(xr[j]) - mu) * istd;
    }
    const double mean_dxhat = block_sum(s1, part) / n, mean_dxhat_xhat = block_sum(s2, part) / n;
    for (int64_t j = threadIdx.x; j < cols; j += kThreads) {
      const double dxhat = static_cast<double>(gr[j]) * value_or(weight, j, 1.0);
      const double xhat = (static_cast<double>(xr[j]) - mu) * istd;
      dx[r * cols + j] = static_cast<T>(istd * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat));
    }
  }
}

template <class T>
__global__ void layer_norm_backward_params_kernel(const T* g, const T* x, int64_t rows, int64_t cols, const T* mean,
                                                  const T* invstd, T* dweight, T* dbias) {
  for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < cols; j += int64_t{gridDim.x} * blockDim.x) {
    double sw = 0, sb = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const double gj = static_cast<double>(g[r * cols + j]);
      sw += gj * (static_cast<double>(x[r * cols + j]) - static_cast<double>(mean[r])) * static_cast<double>(invstd[r]);
      sb += gj;
    }
    if (dweight) dweight[j] = static_cast<T>(sw);
    if (dbias) dbias[j] = static_cast<T>(sb);
  }
}

}  // namespace detail

void batch_norm_forward_training(const void* x, const void* weight, const void* bias, double eps, double momentum,
                                 void* running_mean, void* running_var, void* y, void* mean, void* invstd,
                                 DType dtype, int64_t N, int64_t C, int64_t S, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (C == 0) return;
  detail::launch_floating(dtype, "cuda batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::batch_norm_train_kernel<<<detail::blocks_per_output(C), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(x), static_cast<const T*>(weight), static_cast<const T*>(bias), eps, momentum,
        static_cast<T*>(running_mean), static_cast<T*>(running_var), static_cast<T*>(y), static_cast<T*>(mean),
        static_cast<T*>(invstd), N, C, S);
  });
}

void batch_norm_forward_eval(const void* x, const void* weight, const void* bias, const void* running_mean,
                             const void* running_var, double eps, void* y, void* mean, void* invstd, DType dtype,
                             int64_t N, int64_t C, int64_t S, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (C == 0) return;
  const int64_t n = N * C * S;
  detail::launch_floating(dtype, "cuda batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::batch_norm_stats_kernel<<<detail::blocks_for(C), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(running_mean), static_cast<const T*>(running_var), eps, static_cast<T*>(mean),
        static_cast<T*>(invstd), C);
    if (n > 0)
      detail::batch_norm_eval_kernel<<<detail::blocks_for(n), detail::kThreads, 0, stream>>>(
          static_cast<const T*>(x), static_cast<const T*>(weight), static_cast<const T*>(bias),
          static_cast<const T*>(mean), static_cast<const T*>(invstd), static_cast<T*>(y), n, C, S);
  });
}

void batch_norm_backward(const void* g, const void* x, const void* weight, const void* mean, const void* invstd,
                         bool training, void* dx, void* dweight, void* dbias, DType dtype, int64_t N, int64_t C,
                         int64_t S, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (C == 0) return;
  detail::launch_floating(dtype, "cuda batch_norm backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::batch_norm_backward_kernel<<<detail::blocks_per_output(C), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(g), static_cast<const T*>(x), static_cast<const T*>(weight),
        static_cast<const T*>(mean), static_cast<const T*>(invstd), training, static_cast<T*>(dx),
        static_cast<T*>(dweight), static_cast<T*>(dbias), N, C, S);
  });
}

void layer_norm_forward(const void* x, int64_t rows, int64_t cols, const void* weight, const void* bias, double eps,
                        void* y, void* mean, void* invstd, DType dtype, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (rows == 0) return;
  detail::launch_floating(dtype, "cuda layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::layer_norm_forward_kernel<<<detail::blocks_per_output(rows), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(x), rows, cols, static_cast<const T*>(weight), static_cast<const T*>(bias), eps,
        static_cast<T*>(y), static_cast<T*>(mean), static_cast<T*>(invstd));
  });
}

void layer_norm_backward_input(const void* g, const void* x, int64_t rows, int64_t cols, const void* weight,
                               const void* mean, const void* invstd, void* dx, DType dtype, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (rows == 0) return;
  detail::launch_floating(dtype, "cuda layer_norm backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::layer_norm_backward_input_kernel<<<detail::blocks_per_output(rows), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(g), static_cast<const T*>(x), rows, cols, static_cast<const T*>(weight),
        static_cast<const T*>(mean), static_cast<const T*>(invstd), static_cast<T*>(dx));
  });
}

void layer_norm_backward_params(const void* g, const void* x, int64_t rows, int64_t cols, const void* mean,
                                const void* invstd, void* dweight, void* dbias, DType dtype, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (cols == 0) return;
  detail::launch_floating(dtype, "cuda layer_norm backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::layer_norm_backward_params_kernel<<<detail::blocks_for(cols), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(g), static_cast<const T*>(x), rows, cols, static_cast<const T*>(mean),
        static_cast<const T*>(invstd), static_cast<T*>(dweight), static_cast<T*>(dbias));
  });
}

}  // namespace lacoot::cuda::kernels

#endif  // LACOOT_CUDA_IMPLEMENTATION

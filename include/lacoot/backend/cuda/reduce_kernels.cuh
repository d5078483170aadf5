// lacoot/backend/cuda/reduce_kernels.cuh — the CUDA kernels of reductions, softmax and the class
// losses (part of kernels.cuh's implementation; compiled with it, in one CUDA unit).
//
// Holds: the kernels and host functions behind kernels.hpp's "reductions" section.
// Needs: kernels.cuh (blocks_for, kThreads, the Broadcast/SumTo layouts), nvcc.
// Leaves out: multi-block reductions of one output: an output's elements are summed by one
// block (or one thread, when they are few), so a sum over all of a very large tensor uses one
// multiprocessor; warp-level softmax for short rows.
//
// Two shapes of work, chosen per call by how many elements go into each output:
//   few (under kBlockWork): one thread per output walks its elements in order;
//   many: one block of kThreads threads per output; thread t takes elements t, t + kThreads,
//     ..., then a tree in shared memory combines the threads' partial results in a fixed order.
// Either way an output's result depends only on the shapes, never on scheduling.
#pragma once

#ifdef LACOOT_CUDA_IMPLEMENTATION

#include <cmath>

namespace lacoot::cuda::kernels {

namespace detail {

inline constexpr int64_t kBlockWork = 256;  // elements per output from which a block takes it

// Blocks for one block per output.
inline unsigned blocks_per_output(int64_t n_out) {
  return static_cast<unsigned>(std::clamp<int64_t>(n_out, 1, int64_t{1} << 16));
}

// The sum of v over the block's threads, in a fixed tree order; every thread gets it. `part`
// is kThreads doubles of shared memory.
__device__ inline double block_sum(double v, double* part) {
  part[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  const double total = part[0];
  __syncthreads();  // part may be reused at once
  return total;
}

// The largest v over the block's threads, as std::max keeps it (a NaN never replaces a number).
template <class T>
__device__ T block_max(T v, T* part) {
  part[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s && part[threadIdx.x] < part[threadIdx.x + s])
      part[threadIdx.x] = part[threadIdx.x + s];
    __syncthreads();
  }
  const T m = part[0];
  __syncthreads();
  return m;
}

// ---- sums ----

// The offset in x of the first element output j sums (its index in the kept dims).
__device__ inline int64_t sum_base(const SumTo& L, int64_t j) { return strided_offset(j, L.nd, L.out_shape, L.g_stride); }

// The offset from that base of the t-th element it sums (t counts the reduced dims row-major).
__device__ inline int64_t sum_step(const SumTo& L, int64_t t) {
  return strided_offset(t, L.nr, L.reduced_size, L.reduced_stride);
}

__host__ __device__ inline int64_t sum_count(const SumTo& L) {
  int64_t count = 1;
  for (int r = 0; r < L.nr; ++r) count *= L.reduced_size[r];
  return count;
}

template <class T>
__device__ double term(T x, const double* center, int64_t j) {
  const double v = static_cast<double>(x);
  return center ? (v - center[j]) * (v - center[j]) : v;
}

template <class T, class O>
__global__ void sum_thread_kernel(const T* x, const double* center, double scale, O* out, SumTo L) {
  const int64_t count = sum_count(L);
  for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < L.n_out; j += int64_t{gridDim.x} * blockDim.x) {
    const int64_t base = sum_base(L, j);
    double acc = 0;
    for (int64_t t = 0; t < count; ++t) acc += term(x[base + sum_step(L, t)], center, j);
    out[j] = static_cast<O>(acc * scale);
  }
}

template <class T, class O>
__global__ void sum_block_kernel(const T* x, const double* center, double scale, O* out, SumTo L) {
  __shared__ double part[kThreads];
  const int64_t count = sum_count(L);
  for (int64_t j = blockIdx.x; j < L.n_out; j += gridDim.x) {
    const int64_t base = sum_base(L, j);
    double acc = 0;
    for (int64_t t = threadIdx.x; t < count; t += kThreads) acc += term(x[base + sum_step(L, t)], center, j);
    const double total = block_sum(acc, part);
    if (threadIdx.x == 0) out[j] = static_cast<O>(total * scale);
  }
}

// ---- max and min ----

// Whether a beats the best so far: the larger (or smaller), a NaN beating any number; strict,
// so on ties the first stays (ops/reduce.hpp's Larger and Smaller).
template <class T>
__device__ bool beats(bool largest, T a, T best) {
  if (a != a) return best == best;
  return largest ? a > best : a < best;
}

template <class T>
__global__ void arg_reduce_thread_kernel(bool largest, const T* x, T* values, int64_t* indices, int64_t outer,
                                         int64_t size, int64_t inner) {
  const int64_t n_out = outer * inner;
  for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < n_out; j += int64_t{gridDim.x} * blockDim.x) {
    const T* line = x + (j / inner) * size * inner + j % inner;
    T best = line[0];
    int64_t at = 0;
    for (int64_t r = 1; r < size; ++r) {
      if (beats(largest, line[r * inner], best)) {
        best = line[r * inner];
        at = r;
      }
    }
    values[j] = best;
    indices[j] = at;
  }
}

template <class T>
__global__ void arg_reduce_block_kernel(bool largest, const T* x, T* values, int64_t* indices, int64_t outer,
                                        int64_t size, int64_t inner) {
  __shared__ T part_v[kThreads];
  __shared__ int64_t part_i[kThreads];
  const int64_t n_out = outer * inner;
  for (int64_t j = blockIdx.x; j < n_out; j += gridDim.x) {
    const T* line = x + (j / inner) * size * inner + j % inner;
    T best = line[0];  // every thread starts from element 0, the first, so ties resolve to it
    int64_t at = 0;
    for (int64_t r = threadIdx.x; r < size; r += kThreads) {
      if (beats(largest, line[r * inner], best)) {
        best = line[r * inner];
        at = r;
      }
    }
    part_v[threadIdx.x] = best;
    part_i[threadIdx.x] = at;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s >>= 1) {
      const int me = static_cast<int>(threadIdx.x);
      if (me < s) {
        const T v = part_v[me + s];
        const int64_t i = part_i[me + s];
        // The other candidate wins if it beats this one, or if neither beats the other (equal,
        // or both NaN) and it comes first.
        if (beats(largest, v, part_v[me]) || (!beats(largest, part_v[me], v) && i < part_i[me])) {
          part_v[me] = v;
          part_i[me] = i;
        }
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      values[j] = part_v[0];
      indices[j] = part_i[0];
    }
    __syncthreads();
  }
}

template <class T>
__global__ void scatter_picked_kernel(const T* g, const int64_t* indices, T* grad_input, int64_t outer, int64_t size,
                                      int64_t inner) {
  const int64_t n_out = outer * inner;
  for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < n_out; j += int64_t{gridDim.x} * blockDim.x) {
    const int64_t o = j / inner, i = j % inner;
    grad_input[(o * size + indices[j]) * inner + i] = g[j];
  }
}

template <class T>
__device__ bool hits(T x, T v) {
  return v != v ? x != x : x == v;
}

// One block counts the elements equal to v into *count.
template <class T>
__global__ void count_hits_kernel(const T* x, int64_t n, const T* v, double* count) {
  __shared__ double part[kThreads];
  double k = 0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) k += hits(x[i], *v) ? 1.0 : 0.0;
  const double total = block_sum(k, part);
  if (threadIdx.x == 0) *count = total;
}

template <class T>
__global__ void distribute_kernel(const T* x, int64_t n, const T* v, const T* g, const double* count, T* grad_input) {
  const T share = *g / static_cast<T>(*count);
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    grad_input[i] = hits(x[i], *v) ? share : T(0);
}

// ---- softmax ----

// Line j's first element and its step.
__device__ inline int64_t line_start(int64_t j, int64_t size, int64_t inner) {
  return (j / inner) * size * inner + j % inner;
}

template <class T>
__global__ void softmax_thread_kernel(bool log, const T* x, T* y, int64_t outer, int64_t size, int64_t inner) {
  const int64_t lines = outer * inner;
  for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < lines; j += int64_t{gridDim.x} * blockDim.x) {
    const T* xl = x + line_start(j, size, inner);
    T* yl = y + line_start(j, size, inner);
    T m = -INFINITY;
    for (int64_t r = 0; r < size; ++r) m = m < xl[r * inner] ? xl[r * inner] : m;
    double sum = 0;
    for (int64_t r = 0; r < size; ++r) sum += static_cast<double>(exp(xl[r * inner] - m));
    if (log) {
      const T shift = static_cast<T>(static_cast<double>(m) + ::log(sum));
      for (int64_t r = 0; r < size; ++r) yl[r * inner] = xl[r * inner] - shift;
    } else {
      const T inv = static_cast<T>(1.0 / sum);
      for (int64_t r = 0; r < size; ++r) yl[r * inner] = exp(xl[r * inner] - m) * inv;
    }
  }
}

template <class T>
__global__ void softmax_block_kernel(bool log, const T* x, T* y, int64_t outer, int64_t size, int64_t inner) {
  __shared__ T part_t[kThreads];
  __shared__ double part_d[kThreads];
  const int64_t lines = outer * inner;
  for (int64_t j = blockIdx.x; j < lines; j += gridDim.x) {
    const T* xl = x + line_start(j, size, inner);
    T* yl = y + line_start(j, size, inner);
    T m = -INFINITY;
    for (int64_t r = threadIdx.x; r < size; r += kThreads) m = m < xl[r * inner] ? xl[r * inner] : m;
    m = block_max(m, part_t);
    double sum = 0;
    for (int64_t r = threadIdx.x; r < size; r += kThreads) sum += static_cast<double>(exp(xl[r * inner] - m));
    sum = block_sum(sum, part_d);
    if (log) {
      const T shift = static_cast<T>(static_cast<double>(m) + ::log(sum));
      for (int64_t r = threadIdx.x; r < size; r += kThreads) yl[r * inner] = xl[r * inner] - shift;
    } else {
      const T inv = static_cast<T>(1.0 / sum);
      for (int64_t r = threadIdx.x; r < size; r += kThreads) yl[r * inner] = exp(xl[r * inner] - m) * inv;
    }
  }
}

// dx from y and g: log_softmax dx = g − exp(y) Σ g, softmax dx = y (g − Σ g y).
template <class T>
__device__ double backward_term(bool log, T y, T g) {
  return log ? static_cast<double>(g) : static_cast<double>(g) * static_cast<double>(y);
}
template <class T>
__device__ T backward_value(bool log, T y, T g, T d) {
  return log ? g - exp(y) * d : y * (g - d);
}

template <class T>
__global__ void softmax_backward_thread_kernel(bool log, const T* y, const T* g, T* dx, int64_t outer, int64_t size,
                                               int64_t inner) {
  const int64_t lines = outer * inner;
  for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < lines; j += int64_t{gridDim.x} * blockDim.x) {
    const int64_t s = line_start(j, size, inner);
    double acc = 0;
    for (int64_t r = 0; r < size; ++r) acc += backward_term(log, y[s + r * inner], g[s + r * inner]);
    const T d = static_cast<T>(acc);
    for (int64_t r = 0; r < size; ++r) dx[s + r * inner] = backward_value(log, y[s + r * inner], g[s + r * inner], d);
  }
}

template <class T>
__global__ void softmax_backward_block_kernel(bool log, const T* y, const T* g, T* dx, int64_t outer, int64_t size,
                                              int64_t inner) {
  __shared__ double part[kThreads];
  const int64_t lines = outer * inner;
  for (int64_t j = blockIdx.x; j < lines; j += gridDim.x) {
    const int64_t s = line_start(j, size, inner);
    double acc = 0;
    for (int64_t r = threadIdx.x; r < size; r += kThreads) acc += backward_term(log, y[s + r * inner], g[s + r * inner]);
    const T d = static_cast<T>(block_sum(acc, part));
    for (int64_t r = threadIdx.x; r < size; r += kThreads)
      dx[s + r * inner] = backward_value(log, y[s + r * inner], g[s + r * inner], d);
  }
}

// ---- class losses ----

template <class T>
__global__ void class_loss_terms_kernel(const T* logp, const int64_t* target, int64_t N, int64_t C,
                                        int64_t ignore_index, double a, double b, T* loss) {
  for (int64_t n = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; n < N; n += int64_t{gridDim.x} * blockDim.x) {
    const int64_t t = target[n];
    if (t == ignore_index) {
      loss[n] = T(0);
      continue;
    }
    const T* row = logp + n * C;
    double smooth = 0;
    if (b != 0)
      for (int64_t c = 0; c < C; ++c) smooth -= static_cast<double>(row[c]);
    loss[n] = static_cast<T>(a * -static_cast<double>(row[t]) + b * smooth);
  }
}

template <class T>
__global__ void class_loss_backward_kernel(const T* logp, const int64_t* target, int64_t N, int64_t C,
                                           int64_t ignore_index, const T* g, bool per_sample, double a, double b,
                                           bool logits, T* dx) {
  const int64_t total = N * C;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t n = i / C, c = i % C, t = target[n];
    if (t == ignore_index) {
      dx[i] = T(0);
      continue;
    }
    const double gn = static_cast<double>(per_sample ? g[n] : g[0]);
    if (!logits) {
      dx[i] = c == t ? static_cast<T>(-gn * a) : T(0);
      continue;
    }
    const T ga = static_cast<T>(gn * a), gb = static_cast<T>(gn * b), p = exp(logp[i]);
    const T d = ga * p + gb * (static_cast<T>(C) * p - T(1));
    dx[i] = c == t ? d - ga : d;
  }
}

}  // namespace detail

void sum(const void* x, const double* center, double scale, void* out, DType dtype, DType out_dtype,
         const SumTo& layout, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (layout.n_out == 0) return;
  const bool by_block = detail::sum_count(layout) >= detail::kBlockWork;
  dispatch_floating(dtype, "cuda sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto go = [&](auto* o) {
      if (by_block)
        detail::sum_block_kernel<<<detail::blocks_per_output(layout.n_out), detail::kThreads, 0, stream>>>(
            static_cast<const T*>(x), center, scale, o, layout);
      else
        detail::sum_thread_kernel<<<detail::blocks_for(layout.n_out), detail::kThreads, 0, stream>>>(
            static_cast<const T*>(x), center, scale, o, layout);
    };
    if (out_dtype == kFloat64) go(static_cast<double*>(out));
    else if (out_dtype == dtype) go(static_cast<T*>(out));
    else throw Error(lacoot::detail::concat("cuda sum: output dtype ", dtype_name(out_dtype), " for a ",
                                            dtype_name(dtype), " input"));
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void sum_to(const void* g, void* out, DType dtype, const SumTo& layout, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  sum(g, nullptr, 1.0, out, dtype, dtype, layout, stream);
}

void arg_reduce(bool largest, const void* x, void* values, int64_t* indices, DType dtype, int64_t outer,
                int64_t size, int64_t inner, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  const int64_t n_out = outer * inner;
  if (n_out == 0) return;
  dispatch_floating(dtype, "cuda arg_reduce", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (size >= detail::kBlockWork)
      detail::arg_reduce_block_kernel<<<detail::blocks_per_output(n_out), detail::kThreads, 0, stream>>>(
          largest, static_cast<const T*>(x), static_cast<T*>(values), indices, outer, size, inner);
    else
      detail::arg_reduce_thread_kernel<<<detail::blocks_for(n_out), detail::kThreads, 0, stream>>>(
          largest, static_cast<const T*>(x), static_cast<T*>(values), indices, outer, size, inner);
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void scatter_picked(const void* g, const int64_t* indices, void* grad_input, DType dtype, int64_t outer,
                    int64_t size, int64_t inner, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  fill(grad_input, dtype, outer * size * inner, 0.0, stream);
  const int64_t n_out = outer * inner;
  if (n_out == 0) return;
  dispatch_floating(dtype, "cuda scatter_picked", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::scatter_picked_kernel<<<detail::blocks_for(n_out), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(g), indices, static_cast<T*>(grad_input), outer, size, inner);
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void distribute_evenly(const void* x, int64_t n, const void* v, const void* g, double* count, void* grad_input,
                       DType dtype, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (n == 0) return;
  dispatch_floating(dtype, "cuda distribute_evenly", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xt = static_cast<const T*>(x);
    const T* vt = static_cast<const T*>(v);
    detail::count_hits_kernel<<<1, detail::kThreads, 0, stream>>>(xt, n, vt, count);
    detail::distribute_kernel<<<detail::blocks_for(n), detail::kThreads, 0, stream>>>(
        xt, n, vt, static_cast<const T*>(g), count, static_cast<T*>(grad_input));
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void softmax(bool log, const void* x, void* y, DType dtype, int64_t outer, int64_t size, int64_t inner,
             cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  const int64_t lines = outer * inner;
  if (lines == 0 || size == 0) return;
  dispatch_floating(dtype, "cuda softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (size >= detail::kBlockWork)
      detail::softmax_block_kernel<<<detail::blocks_per_output(lines), detail::kThreads, 0, stream>>>(
          log, static_cast<const T*>(x), static_cast<T*>(y), outer, size, inner);
    else
      detail::softmax_thread_kernel<<<detail::blocks_for(lines), detail::kThreads, 0, stream>>>(
          log, static_cast<const T*>(x), static_cast<T*>(y), outer, size, inner);
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void softmax_backward(bool log, const void* y, const void* g, void* dx, DType dtype, int64_t outer, int64_t size,
                      int64_t inner, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  const int64_t lines = outer * inner;
  if (lines == 0 || size == 0) return;
  dispatch_floating(dtype, "cuda softmax_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* yt = static_cast<const T*>(y);
    const T* gt = static_cast<const T*>(g);
    if (size >= detail::kBlockWork)
      detail::softmax_backward_block_kernel<<<detail::blocks_per_output(lines), detail::kThreads, 0, stream>>>(
          log, yt, gt, static_cast<T*>(dx), outer, size, inner);
    else
      detail::softmax_backward_thread_kernel<<<detail::blocks_for(lines), detail::kThreads, 0, stream>>>(
          log, yt, gt, static_cast<T*>(dx), outer, size, inner);
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void class_loss_terms(const void* logp, const int64_t* target, int64_t N, int64_t C, int64_t ignore_index,
                      double a, double b, void* loss, DType dtype, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (N == 0) return;
  dispatch_floating(dtype, "cuda class_loss_terms", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::class_loss_terms_kernel<<<detail::blocks_for(N), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(logp), target, N, C, ignore_index, a, b, static_cast<T*>(loss));
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void class_loss_backward(const void* logp, const int64_t* target, int64_t N, int64_t C, int64_t ignore_index,
                         const void* g, bool per_sample, double a, double b, bool logits, void* dx, DType dtype,
                         cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (N * C == 0) return;
  dispatch_floating(dtype, "cuda class_loss_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::class_loss_backward_kernel<<<detail::blocks_for(N * C), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(logp), target, N, C, ignore_index, static_cast<const T*>(g), per_sample, a, b, logits,
        static_cast<T*>(dx));
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace lacoot::cuda::kernels

#endif  // LACOOT_CUDA_IMPLEMENTATION

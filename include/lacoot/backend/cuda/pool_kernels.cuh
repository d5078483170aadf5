// lacoot/backend/cuda/pool_kernels.cuh — the CUDA kernels of 2-D max, average and adaptive
// average pooling (part of kernels.cuh's implementation; compiled with it, in one CUDA unit).
//
// Holds: the kernels and host functions behind kernels.hpp's "pooling" section.
// Needs: kernels.cuh (blocks_for, kThreads, launch_floating), nvcc.
// Leaves out: channels-last layouts and cuDNN's pooling, whose windows (no dilation, no
// ceil_mode, ties) are not PyTorch's in every case; these kernels are backend/cpu/pooling.hpp's
// loops, one output (forward) or one input element (backward) per thread.
#pragma once

#ifdef LACOOT_CUDA_IMPLEMENTATION

namespace lacoot::cuda::kernels {

namespace detail {

// The first tap of a window starting at `start` (stepping by `step` past negative positions)
// and the end of its taps inside [0, size).
__device__ inline void taps(int64_t start, int64_t k, int64_t step, int64_t size, int64_t* first, int64_t* end) {
  int64_t a = start;
  while (a < 0) a += step;
  *first = a;
  const int64_t e = start + (k - 1) * step + 1;
  *end = e < size ? e : size;
}

// The outputs along one axis whose windows (stride s, padding p, k taps spaced by d) can hold
// input position x: [lo, hi), within [0, n).
__device__ inline void covering(int64_t x, int64_t n, int64_t s, int64_t p, int64_t k, int64_t d, int64_t* lo,
                                int64_t* hi) {
  const int64_t reach = x + p - (k - 1) * d;  // i·s ≥ reach
  int64_t a = reach <= 0 ? 0 : (reach + s - 1) / s;
  int64_t b = (x + p) / s + 1;  // i·s ≤ x + p
  *lo = a;
  *hi = b < n ? b : n;
}

template <class T>
__global__ void max_pool_forward_kernel(const T* x, T* out, int64_t* indices, PoolGeometry s) {
  const int64_t n = s.planes * s.Ho * s.Wo;
  for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < n; o += int64_t{gridDim.x} * blockDim.x) {
    const int64_t j = o % s.Wo, i = o / s.Wo % s.Ho, p = o / (s.Wo * s.Ho);
    const T* xp = x + p * s.H * s.W;
    int64_t h0, h1, w0, w1;
    taps(i * s.sh - s.ph, s.kh, s.dh, s.H, &h0, &h1);
    taps(j * s.sw - s.pw, s.kw, s.dw, s.W, &w0, &w1);
    T best = -INFINITY;
    int64_t at = -1;
    if (h0 < h1 && w0 < w1) {
      best = xp[h0 * s.W + w0];
      at = h0 * s.W + w0;
      for (int64_t h = h0; h < h1; h += s.dh)
        for (int64_t w = w0; w < w1; w += s.dw) {
          const T v = xp[h * s.W + w];
          if (v > best || v != v) best = v, at = h * s.W + w;
        }
    }
    out[o] = best;
    if (indices) indices[o] = at;
  }
}

template <class T>
__global__ void max_pool_backward_kernel(const T* g, const int64_t* indices, T* dx, PoolGeometry s) {
  const int64_t n = s.planes * s.H * s.W;
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n; e += int64_t{gridDim.x} * blockDim.x) {
    const int64_t w = e % s.W, h = e / s.W % s.H, p = e / (s.W * s.H), here = h * s.W + w;
    int64_t i0, i1, j0, j1;
    covering(h, s.Ho, s.sh, s.ph, s.kh, s.dh, &i0, &i1);
    covering(w, s.Wo, s.sw, s.pw, s.kw, s.dw, &j0, &j1);
    T acc = T(0);
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t o = (p * s.Ho + i) * s.Wo + j;
        if (indices[o] == here) acc += g[o];
      }
    dx[e] = acc;
  }
}

// backend/cpu/pooling.hpp's avg_pool_window: the window clipped to the padded plane (whose
// size is the divisor with count_include_pad), then to the plane.
struct Window {
  int64_t h0, h1, w0, w1, divisor;
};

__device__ inline Window avg_window(int64_t i, int64_t j, const PoolGeometry& s, bool include_pad,
                                    int64_t divisor_override) {
  int64_t h0 = i * s.sh - s.ph, w0 = j * s.sw - s.pw;
  int64_t h1 = h0 + s.kh < s.H + s.ph ? h0 + s.kh : s.H + s.ph;
  int64_t w1 = w0 + s.kw < s.W + s.pw ? w0 + s.kw : s.W + s.pw;
  const int64_t padded = (h1 - h0) * (w1 - w0);
  h0 = h0 < 0 ? 0 : h0, w0 = w0 < 0 ? 0 : w0;
  h1 = h1 < s.H ? h1 : s.H, w1 = w1 < s.W ? w1 : s.W;
  const int64_t divisor = divisor_override != 0 ? divisor_override : include_pad ? padded : (h1 - h0) * (w1 - w0);
  return {h0, h1, w0, w1, divisor};
}

template <class T>
__global__ void avg_pool_forward_kernel(const T* x, T* out, PoolGeometry s, bool include_pad, int64_t divisor) {
  const int64_t n = s.planes * s.Ho * s.Wo;
  for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < n; o += int64_t{gridDim.x} * blockDim.x) {
    const int64_t j = o % s.Wo, i = o / s.Wo % s.Ho, p = o / (s.Wo * s.Ho);
    const T* xp = x + p * s.H * s.W;
    const Window a = avg_window(i, j, s, include_pad, divisor);
    T sum = 0;
    for (int64_t h = a.h0; h < a.h1; ++h)
      for (int64_t w = a.w0; w < a.w1; ++w) sum += xp[h * s.W + w];
    out[o] = a.h0 < a.h1 && a.w0 < a.w1 ? sum / static_cast<T>(a.divisor) : T(0);
  }
}

template <class T>
__global__ void avg_pool_backward_kernel(const T* g, T* dx, PoolGeometry s, bool include_pad, int64_t divisor) {
  const int64_t n = s.planes * s.H * s.W;
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n; e += int64_t{gridDim.x} * blockDim.x) {
    const int64_t w = e % s.W, h = e / s.W % s.H, p = e / (s.W * s.H);
    int64_t i0, i1, j0, j1;
    covering(h, s.Ho, s.sh, s.ph, s.kh, 1, &i0, &i1);
    covering(w, s.Wo, s.sw, s.pw, s.kw, 1, &j0, &j1);
    T acc = T(0);
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = j0; j < j1; ++j) {
        const Window a = avg_window(i, j, s, include_pad, divisor);
        if (h >= a.h0 && h < a.h1 && w >= a.w0 && w < a.w1) acc += g[(p * s.Ho + i) * s.Wo + j] / static_cast<T>(a.divisor);
      }
    dx[e] = acc;
  }
}

// backend/cpu/pooling.hpp's adaptive windows: [floor(i·in/out), ceil((i+1)·in/out)).
__device__ inline int64_t adaptive_start(int64_t i, int64_t out, int64_t in) { return (i * in) / out; }
__device__ inline int64_t adaptive_end(int64_t i, int64_t out, int64_t in) { return ((i + 1) * in + out - 1) / out; }

template <class T>
__global__ void adaptive_forward_kernel(const T* x, T* out, PoolGeometry s) {
  const int64_t n = s.planes * s.Ho * s.Wo;
  for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < n; o += int64_t{gridDim.x} * blockDim.x) {
    const int64_t j = o % s.Wo, i = o / s.Wo % s.Ho, p = o / (s.Wo * s.Ho);
    const T* xp = x + p * s.H * s.W;
    const int64_t h0 = adaptive_start(i, s.Ho, s.H), h1 = adaptive_end(i, s.Ho, s.H);
    const int64_t w0 = adaptive_start(j, s.Wo, s.W), w1 = adaptive_end(j, s.Wo, s.W);
    T sum = 0;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) sum += xp[h * s.W + w];
    out[o] = sum / static_cast<T>((h1 - h0) * (w1 - w0));
  }
}

template <class T>
__global__ void adaptive_backward_kernel(const T* g, T* dx, PoolGeometry s) {
  const int64_t n = s.planes * s.H * s.W;
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n; e += int64_t{gridDim.x} * blockDim.x) {
    const int64_t w = e % s.W, h = e / s.W % s.H, p = e / (s.W * s.H);
    T acc = T(0);
    for (int64_t i = 0; i < s.Ho && adaptive_start(i, s.Ho, s.H) <= h; ++i) {
      const int64_t h0 = adaptive_start(i, s.Ho, s.H), h1 = adaptive_end(i, s.Ho, s.H);
      if (h >= h1) continue;
      for (int64_t j = 0; j < s.Wo && adaptive_start(j, s.Wo, s.W) <= w; ++j) {
        const int64_t w0 = adaptive_start(j, s.Wo, s.W), w1 = adaptive_end(j, s.Wo, s.W);
        if (w >= w1) continue;
        acc += g[(p * s.Ho + i) * s.Wo + j] / static_cast<T>((h1 - h0) * (w1 - w0));
      }
    }
    dx[e] = acc;
  }
}

}  // namespace detail

void max_pool2d_forward(const void* x, void* out, int64_t* indices, DType dtype, const PoolGeometry& s,
                        cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  const int64_t n = s.planes * s.Ho * s.Wo;
  if (n == 0) return;
  detail::launch_floating(dtype, "cuda max_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::max_pool_forward_kernel<<<detail::blocks_for(n), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(x), static_cast<T*>(out), indices, s);
  });
}

void max_pool2d_backward(const void* g, const int64_t* indices, void* dx, DType dtype, const PoolGeometry& s,
                         cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  const int64_t n = s.planes * s.H * s.W;
  if (n == 0) return;
  detail::launch_floating(dtype, "cuda max_pool2d backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::max_pool_backward_kernel<<<detail::blocks_for(n), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(g), indices, static_cast<T*>(dx), s);
  });
}

void avg_pool2d_forward(const void* x, void* out, DType dtype, const PoolGeometry& s, bool count_include_pad,
                        int64_t divisor_override, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  const int64_t n = s.planes * s.Ho * s.Wo;
  if (n == 0) return;
  detail::launch_floating(dtype, "cuda avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::avg_pool_forward_kernel<<<detail::blocks_for(n), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(x), static_cast<T*>(out), s, count_include_pad, divisor_override);
  });
}

void avg_pool2d_backward(const void* g, void* dx, DType dtype, const PoolGeometry& s, bool count_include_pad,
                         int64_t divisor_override, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  const int64_t n = s.planes * s.H * s.W;
  if (n == 0) return;
  detail::launch_floating(dtype, "cuda avg_pool2d backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::avg_pool_backward_kernel<<<detail::blocks_for(n), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(g), static_cast<T*>(dx), s, count_include_pad, divisor_override);
  });
}

void adaptive_avg_pool2d_forward(const void* x, void* out, DType dtype, const PoolGeometry& s, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  const int64_t n = s.planes * s.Ho * s.Wo;
  if (n == 0) return;
  detail::launch_floating(dtype, "cuda adaptive_avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::adaptive_forward_kernel<<<detail::blocks_for(n), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(x), static_cast<T*>(out), s);
  });
}

void adaptive_avg_pool2d_backward(const void* g, void* dx, DType dtype, const PoolGeometry& s, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  const int64_t n = s.planes * s.H * s.W;
  if (n == 0) return;
  detail::launch_floating(dtype, "cuda adaptive_avg_pool2d backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::adaptive_backward_kernel<<<detail::blocks_for(n), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(g), static_cast<T*>(dx), s);
  });
}

}  // namespace lacoot::cuda::kernels

#endif  // LACOOT_CUDA_IMPLEMENTATION

// lacoot/backend/cuda/kernels.cuh — lacoot's CUDA kernels (single-header convention).
//
// Holds: with LACOOT_CUDA_IMPLEMENTATION defined, the kernels and the definitions of the host
// functions kernels.hpp declares; without it, only those declarations. Compile it with nvcc in
// exactly one translation unit of a program (see kernels.hpp).
// Needs: kernels.hpp, runtime.hpp; nvcc.
#pragma once

#include "kernels.hpp"

#ifdef LACOOT_CUDA_IMPLEMENTATION

#include <cuda_runtime.h>

#include <algorithm>
#include <type_traits>

#include "runtime.hpp"

namespace lacoot::cuda::kernels {

namespace detail {

inline constexpr int kThreads = 256;

// Enough blocks of kThreads for n elements, at most 65,536: the kernels loop over the grid, so
// larger tensors take several rounds.
inline unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, int64_t{1} << 16));
}

template <class T>
__global__ void fill_kernel(T* dst, int64_t n, T value) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    dst[i] = value;
}

template <class D, class S>
__global__ void cast_kernel(D* dst, const S* src, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    dst[i] = static_cast<D>(src[i]);
}

// The offset in input k of output element i.
__device__ inline int64_t input_offset(const Broadcast& L, int k, int64_t i) {
  int64_t off = 0;
  for (int d = L.nd - 1; d >= 0; --d) {
    const int64_t idx = i % L.shape[d];
    i /= L.shape[d];
    off += idx * L.stride[k][d];
  }
  return off;
}

template <class F, class T>
__global__ void unary_kernel(F f, const T* x, T* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    out[i] = f(x[i]);
}

template <class F, class T>
__global__ void binary_kernel(F f, const T* a, const T* b, T* out, Broadcast L) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < L.n; i += int64_t{gridDim.x} * blockDim.x)
    out[i] = L.same ? f(a[i], b[i]) : f(a[input_offset(L, 0, i)], b[input_offset(L, 1, i)]);
}

template <class T>
__global__ void where_kernel(const T* c, const T* a, const T* b, T* out, Broadcast L) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < L.n; i += int64_t{gridDim.x} * blockDim.x) {
    const bool take_a = (L.same ? c[i] : c[input_offset(L, 0, i)]) != T(0);
    out[i] = take_a ? (L.same ? a[i] : a[input_offset(L, 1, i)]) : (L.same ? b[i] : b[input_offset(L, 2, i)]);
  }
}

// One thread per output element; it walks the reduced dimensions like an odometer.
template <class T>
__global__ void sum_to_kernel(const T* g, T* out, SumTo L) {
  for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < L.n_out; j += int64_t{gridDim.x} * blockDim.x) {
    int64_t base = 0, rem = j;
    for (int d = L.nd - 1; d >= 0; --d) {
      base += (rem % L.out_shape[d]) * L.g_stride[d];
      rem /= L.out_shape[d];
    }
    int64_t count = 1;
    for (int r = 0; r < L.nr; ++r) count *= L.reduced_size[r];
    double acc = 0;
    for (int64_t t = 0; t < count; ++t) {
      int64_t off = base, q = t;
      for (int r = L.nr - 1; r >= 0; --r) {
        off += (q % L.reduced_size[r]) * L.reduced_stride[r];
        q /= L.reduced_size[r];
      }
      acc += static_cast<double>(g[off]);
    }
    out[j] = static_cast<T>(acc);
  }
}

// Calls go(functor) with the functor `op` names, rebuilt with p0 and p1.
template <class Go>
void with_unary(fn::Op op, double p0, double p1, Go&& go) {
  switch (op) {
#define LACOOT_CASE(Name) \
  case fn::Op::Name:      \
    return go(fn::with_params<fn::Name>(p0, p1));
    LACOOT_CASE(Neg) LACOOT_CASE(Pow) LACOOT_CASE(Exp) LACOOT_CASE(Log) LACOOT_CASE(Sqrt) LACOOT_CASE(Abs)
    LACOOT_CASE(Sign) LACOOT_CASE(Clamp) LACOOT_CASE(InRange) LACOOT_CASE(Relu) LACOOT_CASE(Relu6)
    LACOOT_CASE(LeakyRelu) LACOOT_CASE(Gelu) LACOOT_CASE(GeluTanh) LACOOT_CASE(Silu) LACOOT_CASE(Sigmoid)
    LACOOT_CASE(Tanh)
    default:
      throw Error(lacoot::detail::concat("cuda unary kernel: formula ", static_cast<int>(op), " is not unary"));
  }
}
template <class T, class Go>
void with_binary(fn::Op op, double p0, double p1, Go&& go) {
  switch (op) {
    LACOOT_CASE(Add) LACOOT_CASE(Sub) LACOOT_CASE(Mul) LACOOT_CASE(Div) LACOOT_CASE(Eq) LACOOT_CASE(Ne)
    LACOOT_CASE(Lt) LACOOT_CASE(Le) LACOOT_CASE(Gt) LACOOT_CASE(Ge)
    default:
      break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      LACOOT_CASE(ReluBackward) LACOOT_CASE(Relu6Backward) LACOOT_CASE(LeakyReluBackward)
      LACOOT_CASE(GeluBackward) LACOOT_CASE(GeluTanhBackward) LACOOT_CASE(SiluBackward)
      LACOOT_CASE(SigmoidBackward) LACOOT_CASE(TanhBackward)
#undef LACOOT_CASE
      default:
        break;
    }
  }
  throw Error(lacoot::detail::concat("cuda binary kernel: formula ", static_cast<int>(op), " is not binary for ",
                                     dtype_name(dtype_of<T>())));
}

}  // namespace detail

void fill(void* dst, DType dtype, int64_t n, double value, cudaStream_t stream) {
  if (n == 0) return;
  dispatch_all(dtype, "fill", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::fill_kernel<T><<<detail::blocks_for(n), detail::kThreads, 0, stream>>>(
        static_cast<T*>(dst), n, static_cast<T>(value));
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void cast(void* dst, DType dst_dtype, const void* src, DType src_dtype, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  dispatch_all(dst_dtype, "cast", [&](auto dst_tag) {
    using D = typename decltype(dst_tag)::type;
    dispatch_all(src_dtype, "cast", [&](auto src_tag) {
      using S = typename decltype(src_tag)::type;
      detail::cast_kernel<D, S><<<detail::blocks_for(n), detail::kThreads, 0, stream>>>(
          static_cast<D*>(dst), static_cast<const S*>(src), n);
    });
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void unary(fn::Op op, double p0, double p1, const void* x, void* out, DType dtype, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  dispatch_floating(dtype, "cuda unary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::with_unary(op, p0, p1, [&](auto f) {
      detail::unary_kernel<<<detail::blocks_for(n), detail::kThreads, 0, stream>>>(
          f, static_cast<const T*>(x), static_cast<T*>(out), n);
    });
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void binary(fn::Op op, double p0, double p1, const void* a, const void* b, void* out, DType dtype,
            const Broadcast& layout, cudaStream_t stream) {
  if (layout.n == 0) return;
  dispatch_all(dtype, "cuda binary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::with_binary<T>(op, p0, p1, [&](auto f) {
      detail::binary_kernel<<<detail::blocks_for(layout.n), detail::kThreads, 0, stream>>>(
          f, static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(out), layout);
    });
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void where(const void* c, const void* a, const void* b, void* out, DType dtype, const Broadcast& layout,
           cudaStream_t stream) {
  if (layout.n == 0) return;
  dispatch_all(dtype, "cuda where", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::where_kernel<<<detail::blocks_for(layout.n), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(c), static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(out), layout);
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void sum_to(const void* g, void* out, DType dtype, const SumTo& layout, cudaStream_t stream) {
  if (layout.n_out == 0) return;
  dispatch_floating(dtype, "cuda sum_to", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::sum_to_kernel<<<detail::blocks_for(layout.n_out), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(g), static_cast<T*>(out), layout);
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace lacoot::cuda::kernels

#endif  // LACOOT_CUDA_IMPLEMENTATION

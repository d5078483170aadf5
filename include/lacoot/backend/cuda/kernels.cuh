// lacoot/backend/cuda/kernels.cuh — lacoot's CUDA kernels (single-header convention).
//
// Holds: with LACOOT_CUDA_IMPLEMENTATION defined, the kernels and the definitions of the host
// functions kernels.hpp declares (those of reductions, pooling, normalisation, 1-D optimal
// transport, indexing and sorting in reduce_kernels.cuh, pool_kernels.cuh, norm_kernels.cuh,
// ot_kernels.cuh, index_kernels.cuh and sort_kernels.cuh, which it includes);
// without it, only those declarations. Compile it with nvcc in
// exactly one translation unit of a program (see kernels.hpp). Every host function that launches
// into the stream it is given starts with a StreamDeviceGuard (runtime.hpp), which makes that
// stream's device current: CUDA launches only into the current device's streams.
// Needs: kernels.hpp, runtime.hpp; nvcc (and the CUB headers of its toolkit).
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

template <class T>
__global__ void copy_strided_kernel(const T* src, T* dst, Strided L) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < L.n; i += int64_t{gridDim.x} * blockDim.x) {
    int64_t s = L.src_base, d = L.dst_base, rem = i;
    for (int k = L.nd - 1; k >= 0; --k) {
      const int64_t idx = rem % L.extent[k];
      rem /= L.extent[k];
      s += idx * L.src_stride[k];
      d += idx * L.dst_stride[k];
    }
    dst[d] = src[s];
  }
}

template <class D, class S>
__global__ void cast_kernel(D* dst, const S* src, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    dst[i] = convert<D>(src[i]);
}

// Runs go(tag) for a float32 or float64 dtype (tag's ::type is the element type) and checks
// the kernel launches it made.
template <class Go>
void launch_floating(DType dtype, const char* what, Go&& go) {
  dispatch_floating(dtype, what, [&](auto tag) { go(tag); });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

// The offset of element i (row-major over `sizes`, n dims) in memory laid out with `strides`.
__device__ inline int64_t strided_offset(int64_t i, int n, const int64_t* sizes, const int64_t* strides) {
  int64_t off = 0;
  for (int d = n - 1; d >= 0; --d) {
    off += (i % sizes[d]) * strides[d];
    i /= sizes[d];
  }
  return off;
}

// The offset in input k of output element i.
__device__ inline int64_t input_offset(const Broadcast& L, int k, int64_t i) {
  return strided_offset(i, L.nd, L.shape, L.stride[k]);
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

template <class T>
__global__ void dropout_kernel(const T* x, T* out, T* noise, int64_t n, T keep_prob, T scale, Generator gen,
                               uint64_t first) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const bool keep = gen.uniform<T>(first + static_cast<uint64_t>(i)) < keep_prob;
    noise[i] = keep ? scale : T(0);
    out[i] = x[i] * noise[i];
  }
}

template <class T>
__global__ void sgd_kernel(fn::SgdStep<T> step, T* p, const T* grad, T* buf, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    step(p[i], grad[i], buf ? buf + i : nullptr);
}

template <class T>
__global__ void adam_kernel(fn::AdamStep<T> step, T* p, const T* grad, T* m, T* v, T* vmax, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    step(p[i], grad[i], m[i], v[i], vmax ? vmax + i : nullptr);
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
    LACOOT_CASE(Tanh) LACOOT_CASE(Sin) LACOOT_CASE(Cos)
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
  const StreamDeviceGuard on_device(stream);
  if (n == 0) return;
  dispatch_all(dtype, "fill", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::fill_kernel<T><<<detail::blocks_for(n), detail::kThreads, 0, stream>>>(
        static_cast<T*>(dst), n, convert<T>(value));
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void copy_strided(const void* src, void* dst, DType dtype, const Strided& layout, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (layout.n == 0) return;
  dispatch_all(dtype, "copy_strided", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::copy_strided_kernel<<<detail::blocks_for(layout.n), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(src), static_cast<T*>(dst), layout);
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void cast(void* dst, DType dst_dtype, const void* src, DType src_dtype, int64_t n, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
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
  const StreamDeviceGuard on_device(stream);
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
  const StreamDeviceGuard on_device(stream);
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
  const StreamDeviceGuard on_device(stream);
  if (layout.n == 0) return;
  dispatch_all(dtype, "cuda where", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::where_kernel<<<detail::blocks_for(layout.n), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(c), static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(out), layout);
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void dropout(const void* x, void* out, void* noise, int64_t n, double keep_prob, double scale, const Generator& gen,
             uint64_t first, DType dtype, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (n == 0) return;
  detail::launch_floating(dtype, "cuda dropout", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::dropout_kernel<<<detail::blocks_for(n), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(x), static_cast<T*>(out), static_cast<T*>(noise), n, static_cast<T>(keep_prob),
        static_cast<T>(scale), gen, first);
  });
}

void sgd_update(void* p, const void* grad, void* buf, bool first, int64_t n, DType dtype, const fn::SgdParams& o,
                cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (n == 0) return;
  dispatch_floating(dtype, "cuda SGD.step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::sgd_kernel<<<detail::blocks_for(n), detail::kThreads, 0, stream>>>(
        fn::SgdStep<T>(o, first, buf != nullptr), static_cast<T*>(p), static_cast<const T*>(grad),
        static_cast<T*>(buf), n);
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void adam_update(void* p, const void* grad, void* m, void* v, void* vmax, int64_t n, DType dtype,
                 const fn::AdamParams& c, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (n == 0) return;
  dispatch_floating(dtype, "cuda Adam.step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::adam_kernel<<<detail::blocks_for(n), detail::kThreads, 0, stream>>>(
        fn::AdamStep<T>(c), static_cast<T*>(p), static_cast<const T*>(grad), static_cast<T*>(m), static_cast<T*>(v),
        static_cast<T*>(vmax), n);
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace lacoot::cuda::kernels

#include "pool_kernels.cuh"
#include "reduce_kernels.cuh"
#include "norm_kernels.cuh"  // after reduce_kernels.cuh: it uses block_sum
#include "ot_kernels.cuh"
#include "index_kernels.cuh"
#include "sort_kernels.cuh"

#endif  // LACOOT_CUDA_IMPLEMENTATION

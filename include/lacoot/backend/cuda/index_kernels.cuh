// lacoot/backend/cuda/index_kernels.cuh — reading and adding through an index tensor on the GPU
// (part of kernels.cuh's implementation; compiled with it, in one CUDA unit).
//
// Holds: the kernels and host functions behind kernels.hpp's "indexing" section: index_select,
// index_add, gather and scatter_add.
// Needs: kernels.cuh (kThreads, blocks_for), nvcc.
//
// backend/cpu/index.hpp's loops, one thread per output element. The reads are one load each.
// The adds are where a GPU loop would usually reach for atomicAdd, and where the order of the
// additions would then change the rounding from run to run; here each thread instead walks
// the list of what its element receives, in increasing source position, starting from the
// element's value: exactly the CPU's sequence of additions, so the sums are the CPU's to the
// bit. The lists come from the host (backend/cuda/index.hpp).
#pragma once

#ifdef LACOOT_CUDA_IMPLEMENTATION

namespace lacoot::cuda::kernels {

namespace detail {

template <class T>
__global__ void index_select_kernel(const T* x, int64_t outer, int64_t size, int64_t inner, const int64_t* index,
                                    int64_t k, T* out) {
  const int64_t n = outer * k * inner;
  for (int64_t r = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; r < n; r += int64_t{gridDim.x} * blockDim.x) {
    const int64_t i = r % inner, j = (r / inner) % k, o = r / (inner * k);  // out[o, j, i]
    out[r] = x[(o * size + index[j]) * inner + i];
  }
}

template <class T>
__global__ void index_add_kernel(T* out, int64_t outer, int64_t size, int64_t inner, const int64_t* begin,
                                 const int64_t* sources, int64_t k, const T* src) {
  const int64_t n = outer * size * inner;
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n; e += int64_t{gridDim.x} * blockDim.x) {
    const int64_t i = e % inner, t = (e / inner) % size, o = e / (inner * size);  // out[o, t, i]
    T acc = out[e];
    for (int64_t q = begin[t]; q < begin[t + 1]; ++q) acc += src[(o * k + sources[q]) * inner + i];
    out[e] = acc;
  }
}

template <class T>
__global__ void gather_kernel(const T* x, IndexedAlong L, const int64_t* index, T* out) {
  for (int64_t p = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; p < L.n; p += int64_t{gridDim.x} * blockDim.x)
    out[p] = x[L.target(p, index[p])];
}

template <class T>
__global__ void add_listed_kernel(T* out, int64_t n, const int64_t* begin, const int64_t* sources, const T* src) {
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < n; e += int64_t{gridDim.x} * blockDim.x) {
    T acc = out[e];
    for (int64_t q = begin[e]; q < begin[e + 1]; ++q) acc += src[sources[q]];
    out[e] = acc;
  }
}

}  // namespace detail

void index_select(const void* x, int64_t outer, int64_t size, int64_t inner, const int64_t* index, int64_t k,
                  void* out, DType dtype, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  const int64_t n = outer * k * inner;
  if (n == 0) return;
  dispatch_all(dtype, "cuda index_select", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::index_select_kernel<<<detail::blocks_for(n), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(x), outer, size, inner, index, k, static_cast<T*>(out));
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void index_add(void* out, int64_t outer, int64_t size, int64_t inner, const int64_t* begin, const int64_t* sources,
               int64_t k, const void* src, DType dtype, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  const int64_t n = outer * size * inner;
  if (n == 0 || k == 0) return;
  dispatch_all(dtype, "cuda index_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::index_add_kernel<<<detail::blocks_for(n), detail::kThreads, 0, stream>>>(
        static_cast<T*>(out), outer, size, inner, begin, sources, k, static_cast<const T*>(src));
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void gather(const void* x, const IndexedAlong& layout, const int64_t* index, void* out, DType dtype,
            cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (layout.n == 0) return;
  dispatch_all(dtype, "cuda gather", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::gather_kernel<<<detail::blocks_for(layout.n), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(x), layout, index, static_cast<T*>(out));
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

void scatter_add(void* out, int64_t n_out, const int64_t* begin, const int64_t* sources, const void* src,
                 DType dtype, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (n_out == 0) return;
  dispatch_all(dtype, "cuda scatter_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::add_listed_kernel<<<detail::blocks_for(n_out), detail::kThreads, 0, stream>>>(
        static_cast<T*>(out), n_out, begin, sources, static_cast<const T*>(src));
  });
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace lacoot::cuda::kernels

#endif  // LACOOT_CUDA_IMPLEMENTATION

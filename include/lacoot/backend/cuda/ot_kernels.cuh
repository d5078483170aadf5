// lacoot/backend/cuda/ot_kernels.cuh — 1-D optimal transport column by column on the GPU
// (part of kernels.cuh's implementation; compiled with it, in one CUDA unit).
//
// Holds: the kernel and host functions behind kernels.hpp's "1-D optimal transport" section.
// Needs: kernels.cuh (kThreads, launch_floating), CUB (cub::BlockRadixSort, in the toolkit), nvcc.
// Leaves out: samples of more than kMaxOtPoints points (a segmented device-wide sort would take
// them); LaCoOT's samples are batches, 128 to 512 points.
//
// backend/cpu/wasserstein.hpp's algorithm, one block per column k: the block sorts the column
// of U (and then of V) with CUB's block radix sort (stable, keys with their row numbers), one
// thread walks the merged quantile levels exactly as the CPU loop does (n + m steps), and the
// block scatters the gradient back through the permutation. Sorted values, row numbers,
// cumulative weights and per-position gradients live in a scratch buffer the caller passes.
#pragma once

#ifdef LACOOT_CUDA_IMPLEMENTATION

#include <cub/block/block_radix_sort.cuh>

namespace lacoot::cuda::kernels {

namespace detail {

inline constexpr int kOtItems = static_cast<int>(kMaxOtPoints / kThreads);  // keys per thread

// One column's slices of the scratch buffer.
template <class T>
struct OtScratch {
  T *us, *vs, *cu, *cv, *du, *dv;
  int *iu, *iv;
  __device__ OtScratch(void* base, int64_t n, int64_t m, int64_t K, int64_t k) {
    T* t = static_cast<T*>(base);
    const int64_t nm = n + m;
    us = t + k * nm, vs = us + n;
    cu = t + (K + k) * nm, cv = cu + n;
    du = t + (2 * K + k) * nm, dv = du + n;
    int* i = reinterpret_cast<int*>(t + 3 * K * nm);
    iu = i + k * nm, iv = iu + n;
  }
};

// The key after every value in CUB's radix order, NaN included: the largest positive NaN, whose
// bits are all ones but the sign's (CUB orders floats by their bits, positive NaNs above +inf).
template <class T>
__device__ T ot_padding_key() {
  if constexpr (sizeof(T) == 4) return __int_as_float(0x7fffffff);
  else return __longlong_as_double(0x7fffffffffffffffLL);
}

// Sorts column k of X [rows, K] into sorted (values) and at (their row numbers): the CPU's order
// (backend/cpu/sort.hpp's sort_key: NaN last, −0.0 tied with +0.0, ties in row order). Every NaN
// becomes the canonical +NaN, so that it sorts after +inf (a −NaN would sort first) but before
// the padding of the unused slots, which must stay behind every real row.
template <class T, class Sort>
__device__ void sort_column(const T* X, int64_t rows, int64_t K, int64_t k, typename Sort::TempStorage& temp,
                            T* sorted, int* at) {
  T keys[kOtItems];
  int rows_of[kOtItems];
  for (int i = 0; i < kOtItems; ++i) {  // blocked: thread t holds slots t·items .. t·items + items − 1
    const int64_t slot = static_cast<int64_t>(threadIdx.x) * kOtItems + i;
    const T v = slot < rows ? X[slot * K + k] : ot_padding_key<T>();
    keys[i] = slot < rows && isnan(v) ? static_cast<T>(NAN) : v;
    rows_of[i] = static_cast<int>(slot);
  }
  Sort(temp).Sort(keys, rows_of);
  for (int i = 0; i < kOtItems; ++i) {
    const int64_t slot = static_cast<int64_t>(threadIdx.x) * kOtItems + i;
    if (slot < rows) sorted[slot] = keys[i], at[slot] = rows_of[i];
  }
  __syncthreads();  // temp is reused by the next sort
}

template <class T>
__global__ void wasserstein_kernel(const T* U, const T* V, int64_t n, int64_t m, int64_t K, const T* a, const T* b,
                                   double p, T* W, const T* g, T* gU, T* gV, void* scratch) {
  using Sort = cub::BlockRadixSort<T, kThreads, kOtItems, int>;
  __shared__ typename Sort::TempStorage temp;
  for (int64_t k = blockIdx.x; k < K; k += gridDim.x) {
    OtScratch<T> s(scratch, n, m, K, k);
    sort_column<T, Sort>(U, n, K, k, temp, s.us, s.iu);
    sort_column<T, Sort>(V, m, K, k, temp, s.vs, s.iv);
    if (threadIdx.x == 0) {  // the CPU loop, line for line
      T acc = 0;
      for (int64_t i = 0; i < n; ++i) s.cu[i] = acc += a ? a[s.iu[i]] : T(1) / static_cast<T>(n);
      acc = 0;
      for (int64_t j = 0; j < m; ++j) s.cv[j] = acc += b ? b[s.iv[j]] : T(1) / static_cast<T>(m);
      for (int64_t i = 0; i < n; ++i) s.du[i] = T(0);
      for (int64_t j = 0; j < m; ++j) s.dv[j] = T(0);
      T total = 0, prev = 0;
      int64_t next_u = 0, next_v = 0, x = 0, y = 0;
      for (int64_t step = 0; step < n + m; ++step) {
        const bool from_u = next_v >= m || (next_u < n && s.cu[next_u] <= s.cv[next_v]);
        const T q = from_u ? s.cu[next_u++] : s.cv[next_v++];
        while (x < n - 1 && s.cu[x] < q) ++x;
        while (y < m - 1 && s.cv[y] < q) ++y;
        const T delta = q - prev;
        prev = q;
        const T diff = s.us[x] - s.vs[y];
        const T mag = diff < 0 ? -diff : diff;
        total += delta * (p == 1 ? mag : p == 2 ? mag * mag : static_cast<T>(pow(static_cast<double>(mag), p)));
        if (gU) {
          const T sign = diff > 0 ? T(1) : diff < 0 ? T(-1) : T(0);
          const T slope = p == 1   ? sign
                          : p == 2 ? 2 * diff
                                   : static_cast<T>(p * pow(static_cast<double>(mag), p - 1)) * sign;
          s.du[x] += delta * slope;
          s.dv[y] -= delta * slope;
        }
      }
      W[k] = total;
    }
    __syncthreads();  // thread 0's du, dv are read by all
    if (gU) {
      for (int64_t i = threadIdx.x; i < n; i += kThreads) gU[s.iu[i] * K + k] = g[k] * s.du[i];
      for (int64_t j = threadIdx.x; j < m; j += kThreads) gV[s.iv[j] * K + k] = g[k] * s.dv[j];
    }
    __syncthreads();
  }
}

}  // namespace detail

std::size_t wasserstein_scratch_bytes(int64_t n, int64_t m, int64_t K, DType dtype) {
  const auto nm = static_cast<std::size_t>((n + m) * K);
  return nm * (3 * dtype_size(dtype) + sizeof(int));
}

void wasserstein_1d_columns(const void* U, const void* V, int64_t n, int64_t m, int64_t K, const void* a,
                            const void* b, double p, void* W, const void* g, void* gU, void* gV, void* scratch,
                            DType dtype, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (K == 0) return;
  LACOOT_CHECK(n <= kMaxOtPoints && m <= kMaxOtPoints, "cuda wasserstein_1d: at most ", kMaxOtPoints,
               " points per sample on the GPU, got ", n, " and ", m, " (move the samples to the CPU)");
  detail::launch_floating(dtype, "cuda wasserstein_1d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::wasserstein_kernel<<<detail::blocks_per_output(K), detail::kThreads, 0, stream>>>(
        static_cast<const T*>(U), static_cast<const T*>(V), n, m, K, static_cast<const T*>(a),
        static_cast<const T*>(b), p, static_cast<T*>(W), static_cast<const T*>(g), static_cast<T*>(gU),
        static_cast<T*>(gV), scratch);
  });
}

}  // namespace lacoot::cuda::kernels

#endif  // LACOOT_CUDA_IMPLEMENTATION

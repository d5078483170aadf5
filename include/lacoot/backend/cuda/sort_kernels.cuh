// lacoot/backend/cuda/sort_kernels.cuh — sorting rows, and the k best of each, on the GPU (part
// of kernels.cuh's implementation; compiled with it, in one CUDA unit).
//
// Holds: the kernels and host functions behind kernels.hpp's "sorting" section:
// sort_scratch_bytes and topk_rows (which is also the sort).
// Needs: kernels.cuh (kThreads, blocks_for), CUB (cub::DeviceSegmentedRadixSort, in the
// toolkit), nvcc.
// Leaves out: a device-wide sort for a few very long rows (CUB's segmented sort gives each row
// one thread block, so one row of millions sorts on one multiprocessor), and more than 2^31 - 1
// elements per call.
//
// Each row is a segment of CUB's segmented radix sort of (key, position) pairs, positions
// 0..n-1. That sort is stable (ties keep their input order, as on the CPU) and maps keys to
// unsigned integers with the bit trick backend/cpu/sort.hpp describes, -0.0 and +0.0 made equal
// (CUB's DeviceRadixSort documentation, "Floating-Point Special Cases"); a descending sort
// sorts the complemented keys, which is also what the CPU does. CUB orders NaNs by their bits,
// so a NaN with its sign bit set would sort before -inf: every NaN key is first replaced by
// +NaN, which sorts after +inf ascending and first descending, as torch.sort and the CPU do.
// The values written are the input's own elements at the sorted positions (-0.0 and NaN
// payloads survive). topk sorts whole rows and keeps the first k positions; unsorted, it sorts
// those k positions (a second segmented sort) so that they come in input order.
#pragma once

#ifdef LACOOT_CUDA_IMPLEMENTATION

#include <cub/device/device_segmented_radix_sort.cuh>

#include <climits>

namespace lacoot::cuda::kernels {

namespace detail {

// Carves 256-byte aligned pieces out of one scratch buffer in a fixed order; with a null base
// it only adds up their sizes (CUB's convention for its temporary storage), so that one
// function both sizes the buffer and uses it.
struct Carve {
  char* base = nullptr;
  std::size_t used = 0;
  template <class U>
  U* take(std::size_t count) {
    U* piece = base ? reinterpret_cast<U*>(base + used) : nullptr;
    used += (count * sizeof(U) + 255) / 256 * 256;
    return piece;
  }
};

template <class T>
__global__ void canonical_nan_kernel(const T* x, T* keys, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    keys[i] = isnan(x[i]) ? static_cast<T>(NAN) : x[i];  // NAN: the quiet NaN with the sign bit clear
}

__global__ void row_positions_kernel(int64_t* pos, int64_t n_total, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n_total; i += int64_t{gridDim.x} * blockDim.x)
    pos[i] = i % n;
}

// begin[r] = r · len for r ≤ rows: row r is the segment [begin[r], begin[r + 1]).
__global__ void segment_begin_kernel(int* begin, int64_t rows, int64_t len) {
  for (int64_t r = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; r <= rows; r += int64_t{gridDim.x} * blockDim.x)
    begin[r] = static_cast<int>(r * len);
}

// kept [rows, k] = the first k of each row of pos [rows, n].
__global__ void first_k_kernel(const int64_t* pos, int64_t rows, int64_t n, int64_t k, int64_t* kept) {
  for (int64_t p = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; p < rows * k; p += int64_t{gridDim.x} * blockDim.x)
    kept[p] = pos[(p / k) * n + p % k];
}

// values [rows, k] = the elements of x [rows, n] at the positions `indices` [rows, k] name.
template <class T>
__global__ void pick_kernel(const T* x, int64_t rows, int64_t n, int64_t k, const int64_t* indices, T* values) {
  for (int64_t p = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; p < rows * k; p += int64_t{gridDim.x} * blockDim.x)
    values[p] = x[(p / k) * n + indices[p]];
}

// topk_rows for element type T. With scratch.base null it only adds up the scratch it needs
// (values, indices and x unused); the pieces are taken in the same order either way.
template <class T>
void topk_rows_typed(const T* x, int64_t rows, int64_t n, int64_t k, bool largest, bool sorted, T* values,
                     int64_t* indices, Carve& scratch, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  const bool run = scratch.base != nullptr;
  const bool whole = sorted && k == n;  // a sort: the sorted positions are the result
  const int items = static_cast<int>(rows * n), segments = static_cast<int>(rows);
  // Keys: NaN made +NaN for the floating types; int64 keys are x itself.
  T* keys_in = std::is_floating_point_v<T> ? scratch.take<T>(rows * n) : nullptr;
  T* keys_out = scratch.take<T>(rows * n);
  int64_t* pos_in = scratch.take<int64_t>(rows * n);
  int64_t* pos_out = whole ? indices : scratch.take<int64_t>(rows * n);
  int* row_begin = scratch.take<int>(rows + 1);
  const T* keys = std::is_floating_point_v<T> ? keys_in : x;
  auto sort_rows = [&](void* temp, std::size_t& bytes) {
    return largest ? cub::DeviceSegmentedRadixSort::SortPairsDescending(
                         temp, bytes, keys, keys_out, pos_in, pos_out, items, segments, row_begin, row_begin + 1,
                         0, static_cast<int>(8 * sizeof(T)), stream)
                   : cub::DeviceSegmentedRadixSort::SortPairs(temp, bytes, keys, keys_out, pos_in, pos_out, items,
                                                              segments, row_begin, row_begin + 1, 0,
                                                              static_cast<int>(8 * sizeof(T)), stream);
  };
  std::size_t rows_bytes = 0;
  LACOOT_CUDA_CHECK(sort_rows(nullptr, rows_bytes));  // the size of CUB's temporary storage
  void* rows_temp = scratch.take<char>(rows_bytes);
  // Unsorted topk: the kept positions, sorted again as keys, in segments of k.
  int64_t* kept = whole || sorted ? nullptr : scratch.take<int64_t>(rows * k);
  int* kept_begin = whole || sorted ? nullptr : scratch.take<int>(rows + 1);
  auto sort_kept = [&](void* temp, std::size_t& bytes) {
    return cub::DeviceSegmentedRadixSort::SortKeys(temp, bytes, kept, indices, static_cast<int>(rows * k), segments,
                                                   kept_begin, kept_begin + 1, 0, 64, stream);
  };
  std::size_t kept_bytes = 0;
  if (!sorted) LACOOT_CUDA_CHECK(sort_kept(nullptr, kept_bytes));
  void* kept_temp = sorted ? nullptr : scratch.take<char>(kept_bytes);
  if (!run) return;

  const unsigned grid = blocks_for(rows * n);
  if constexpr (std::is_floating_point_v<T>)
    canonical_nan_kernel<<<grid, kThreads, 0, stream>>>(x, keys_in, rows * n);
  row_positions_kernel<<<grid, kThreads, 0, stream>>>(pos_in, rows * n, n);
  segment_begin_kernel<<<blocks_for(rows + 1), kThreads, 0, stream>>>(row_begin, rows, n);
  LACOOT_CUDA_CHECK(cudaGetLastError());
  LACOOT_CUDA_CHECK(sort_rows(rows_temp, rows_bytes));
  if (!whole) {
    int64_t* first = sorted ? indices : kept;
    first_k_kernel<<<blocks_for(rows * k), kThreads, 0, stream>>>(pos_out, rows, n, k, first);
    if (!sorted) {  // back to input order: the k positions of each row sorted ascending
      segment_begin_kernel<<<blocks_for(rows + 1), kThreads, 0, stream>>>(kept_begin, rows, k);
      LACOOT_CUDA_CHECK(cudaGetLastError());
      LACOOT_CUDA_CHECK(sort_kept(kept_temp, kept_bytes));
    }
  }
  pick_kernel<<<blocks_for(rows * k), kThreads, 0, stream>>>(x, rows, n, k, indices, values);
  LACOOT_CUDA_CHECK(cudaGetLastError());
}

inline void check_sort_size(int64_t rows, int64_t n) {
  LACOOT_CHECK(rows * n <= INT_MAX, "cuda sort: at most ", INT_MAX, " elements per call (CUB's segmented sort "
               "counts them in int), got ", rows, " rows of ", n, " (hint: sort in chunks of rows)");
}

}  // namespace detail

std::size_t sort_scratch_bytes(int64_t rows, int64_t n, int64_t k, bool largest, bool sorted, DType dtype) {
  if (rows == 0 || k == 0) return 0;
  detail::check_sort_size(rows, n);
  detail::Carve scratch;
  dispatch_all(dtype, "cuda sort", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::topk_rows_typed<T>(nullptr, rows, n, k, largest, sorted, nullptr, nullptr, scratch, cudaStream_t{});
  });
  return scratch.used;
}

void topk_rows(const void* x, int64_t rows, int64_t n, int64_t k, bool largest, bool sorted, void* values,
               int64_t* indices, void* scratch, DType dtype, cudaStream_t stream) {
  const StreamDeviceGuard on_device(stream);
  if (rows == 0 || k == 0) return;
  detail::check_sort_size(rows, n);
  detail::Carve carve{static_cast<char*>(scratch)};
  dispatch_all(dtype, "cuda sort", [&](auto tag) {
    using T = typename decltype(tag)::type;
    detail::topk_rows_typed<T>(static_cast<const T*>(x), rows, n, k, largest, sorted, static_cast<T*>(values),
                               indices, carve, stream);
  });
}

}  // namespace lacoot::cuda::kernels

#endif  // LACOOT_CUDA_IMPLEMENTATION

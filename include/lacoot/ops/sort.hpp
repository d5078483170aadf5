// lacoot/ops/sort.hpp — sorting along a dimension, and the k largest or smallest elements.
//
// Holds: Sorted {values, indices}, sort, argsort and topk, with PyTorch's names, arguments and
// defaults (torch.sort, torch.argsort, torch.topk), for float32, float64 and int64.
// Needs: ops/common.hpp, ops/index.hpp (scatter_add, for the backward), ops/shape.hpp,
// backend/cpu/sort.hpp, backend/cpu/permute.hpp; with CUDA, backend/cuda/kernels.hpp (CUB's
// segmented radix sort, giving the CPU's results: the same order, ties included).
// Leaves out: an unstable mode (every sort here is stable: equal elements keep their input
// order, as torch.sort(stable=True); topk breaks ties the same way, lower index first) and
// kthvalue / median.
//
// Sorting works on rows; a dimension other than the last is made into rows by moving it last
// (a batched, cache-blocked transpose [outer, n, inner] -> [outer, inner, n]; on a GPU, the
// permute op's strided copy), and the results are moved back. The independent rows are sorted
// in parallel. So sorting a [N, K] projection matrix along dim 0, as the sliced Wasserstein
// distances do, sorts K columns in parallel. NaN sorts as the largest value (after +inf), as
// in PyTorch, whatever its sign bit.
//
// Backward follows autograd/node.hpp: values[..., j, ...] = input[..., indices[j], ...] along
// dim is a gather, so the gradient of values is scattered back to the positions indices name
// (scatter_add into zeros); the indices are integers and have no gradient. Between tied values
// the choice of index is arbitrary, and so is which of them gets the gradient.
#pragma once

#include <vector>

#include "../backend/cpu/permute.hpp"
#include "../backend/cpu/sort.hpp"
#include "common.hpp"
#include "index.hpp"
#include "shape.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/kernels.hpp"
#include "../backend/cuda/runtime.hpp"
#endif

namespace lacoot {

// What sort and topk return: the values and, as int64, their positions along dim in the input.
struct Sorted {
  Tensor values;
  Tensor indices;
};

namespace detail {

#if LACOOT_WITH_CUDA
// kernels.hpp's topk_rows on `rows` contiguous rows of length n of x, on x's GPU, with its
// scratch from the caching allocator; a sort is k = n, sorted, largest = descending.
inline void cuda_topk_rows(const Tensor& x, int64_t rows, int64_t n, int64_t k, bool largest, bool sorted,
                           const Tensor& values, const Tensor& indices) {
  const std::size_t bytes = cuda::kernels::sort_scratch_bytes(rows, n, k, largest, sorted, x.dtype());
  Tensor scratch = Tensor::empty({static_cast<int64_t>((bytes + 7) / 8)}, kInt64, x.device());
  cuda::kernels::topk_rows(x.raw_data(), rows, n, k, largest, sorted, values.raw_data(), indices.data<int64_t>(),
                           scratch.raw_data(), x.dtype(), cuda::stream(x.device().index));
}

// sort_along_dim on a GPU: the rows come from permute (a strided copy) and go back through it.
template <class RowKernel>
Sorted cuda_sort_along_dim(const Tensor& x, const AroundDim& v, int64_t m, const Shape& out_shape,
                           RowKernel row_kernel) {
  NoGradGuard no_grad;  // the moves are part of the op, not of the graph
  Tensor rows = permute(alias_with_shape(x, {v.outer, v.size, v.inner}), {0, 2, 1});
  Tensor values = Tensor::empty({v.outer, v.inner, m}, x.dtype(), x.device());
  Tensor indices = Tensor::empty({v.outer, v.inner, m}, kInt64, x.device());
  row_kernel(rows, v.outer * v.inner, v.size, values, indices);
  return {alias_with_shape(permute(values, {0, 2, 1}), out_shape),
          alias_with_shape(permute(indices, {0, 2, 1}), out_shape)};
}
#endif

// Runs row_kernel(x, rows, n, values, indices) over the lines of x along dimension d (length
// n), which writes m values and indices per line (tensors holding rows · n and rows · m
// elements, on x's device). Lines along the last dimension are rows already; any other
// dimension is moved last first, and the outputs moved back.
template <class RowKernel>
Sorted sort_along_dim(const char* op, const Tensor& x, int64_t d, int64_t m, RowKernel row_kernel) {
  const AroundDim v(x.shape(), d);
  Shape out_shape = x.shape();
  out_shape[static_cast<std::size_t>(d)] = m;
#if LACOOT_WITH_CUDA
  if (x.device().is_cuda() && v.inner != 1) return cuda_sort_along_dim(x, v, m, out_shape, row_kernel);
#endif
  Sorted out{Tensor::empty(out_shape, x.dtype(), x.device()), Tensor::empty(out_shape, kInt64, x.device())};
  if (v.inner == 1) {
    row_kernel(x, v.outer, v.size, out.values, out.indices);
    return out;
  }
  // [outer, n, inner] -> [outer, inner, n]: each line along d becomes a contiguous row.
  Tensor rows = Tensor::empty({v.outer, v.inner, v.size}, x.dtype(), x.device());
  Tensor values = Tensor::empty({v.outer, v.inner, m}, x.dtype(), x.device());
  Tensor indices = Tensor::empty({v.outer, v.inner, m}, kInt64, x.device());
  dispatch_all(x.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    backend::cpu::permute_kernel(x.data<T>(), {v.outer, v.size, v.inner}, {0, 2, 1}, rows.data<T>());
  });
  row_kernel(rows, v.outer * v.inner, v.size, values, indices);
  // ... and back: [outer, inner, m] -> [outer, m, inner].
  dispatch_all(x.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    backend::cpu::permute_kernel(values.data<T>(), {v.outer, v.inner, m}, {0, 2, 1}, out.values.data<T>());
    backend::cpu::permute_kernel(indices.data<int64_t>(), {v.outer, v.inner, m}, {0, 2, 1},
                                 out.indices.data<int64_t>());
  });
  return out;
}

// The backward of sort and topk: out.values = gather(input, d, out.indices).
inline void record_gather_backward(const char* op, Sorted& out, const Tensor& input, int64_t d) {
  const Shape in = input.shape();
  const Tensor indices = out.indices;  // an int64 tensor without grad_fn: no reference cycle
  autograd::record(out.values, op, {input}, [in, d, indices](const Tensor& g, const std::vector<bool>&) {
    // dL/dinput[.., indices[j], ..] = dL/dvalues[.., j, ..]; positions not kept get 0.
    return std::vector<Tensor>{scatter_add(zeros(in, g.dtype(), g.device()), d, indices, g)};
  });
}

}  // namespace detail

Sorted sort(const Tensor& input, int64_t dim = -1, bool descending = false);
Sorted topk(const Tensor& input, int64_t k, int64_t dim = -1, bool largest = true, bool sorted = true);

// The elements of input sorted along dim, ascending unless `descending`, with the positions
// they came from (torch.sort, stable). sort of [3, 1, 2] gives values [1, 2, 3], indices [1, 2, 0].
inline Sorted sort(const Tensor& input, int64_t dim, bool descending) {
  detail::check_same("sort", {input}, detail::Cuda::kernel);
  const int64_t d = wrap_dim(dim, input.dim(), "sort");
  if (input.dim() == 0) {  // a 0-d tensor is its own sort: go through a 1-element vector
    Sorted s = sort(reshape(input, {1}), 0, descending);
    return {reshape(s.values, {}), reshape(s.indices, {})};
  }
  auto rows_kernel = [&](const Tensor& x, int64_t rows, int64_t n, const Tensor& values, const Tensor& indices) {
#if LACOOT_WITH_CUDA
    if (x.device().is_cuda()) return detail::cuda_topk_rows(x, rows, n, n, descending, true, values, indices);
#endif
    dispatch_all(x.dtype(), "sort", [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::sort_rows(x.data<T>(), rows, n, descending, values.data<T>(), indices.data<int64_t>());
    });
  };
  Sorted out = detail::sort_along_dim("sort", input, d, input.size(d), rows_kernel);
  detail::record_gather_backward("sort", out, input, d);
  return out;
}

// The permutation that sorts input along dim: sort(input, dim, descending).indices.
inline Tensor argsort(const Tensor& input, int64_t dim = -1, bool descending = false) {
  NoGradGuard no_grad;  // only the indices are wanted: record no backward
  return sort(input, dim, descending).indices;
}

// The k largest (or, with largest = false, smallest) elements along dim and their positions
// (torch.topk). With `sorted` they come best first; otherwise in their order in the input.
// topk of [1, 5, 2, 4] with k = 2 gives values [5, 4], indices [1, 3].
inline Sorted topk(const Tensor& input, int64_t k, int64_t dim, bool largest, bool sorted) {
  detail::check_same("topk", {input}, detail::Cuda::kernel);
  const int64_t d = wrap_dim(dim, input.dim(), "topk");
  if (input.dim() == 0) {
    Sorted s = topk(reshape(input, {1}), k, 0, largest, sorted);
    return {reshape(s.values, {}), reshape(s.indices, {})};
  }
  const int64_t n = input.size(d);
  LACOOT_CHECK(k >= 0 && k <= n, "topk: k = ", k, " is out of range for dimension ", d, " of size ", n,
               " (shape ", shape_str(input.shape()), "; expected k in [0, ", n, "])");
  auto rows_kernel = [&](const Tensor& x, int64_t rows, int64_t len, const Tensor& values, const Tensor& indices) {
#if LACOOT_WITH_CUDA
    if (x.device().is_cuda()) return detail::cuda_topk_rows(x, rows, len, k, largest, sorted, values, indices);
#endif
    dispatch_all(x.dtype(), "topk", [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::topk_rows(x.data<T>(), rows, len, k, largest, sorted, values.data<T>(), indices.data<int64_t>());
    });
  };
  Sorted out = detail::sort_along_dim("topk", input, d, k, rows_kernel);
  detail::record_gather_backward("topk", out, input, d);
  return out;
}

}  // namespace lacoot

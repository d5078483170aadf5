// lacoot/backend/cuda/index.hpp — reading and adding through an index tensor, on CUDA tensors,
// from plain C++.
//
// Holds: index_select, index_add, gather and scatter_add on Tensors, each launching its kernel
// of index_kernels.cuh on the device's stream; ops/index.hpp calls them for cuda tensors.
// Needs: kernels.hpp, runtime.hpp, core/tensor.hpp, core/factories.hpp.
//
// The adds need, for each output element, the list of the source positions added into it, in
// increasing order (kernels.hpp's begin / sources): one thread per element then adds them in
// the CPU's order, without atomics. The lists are made here, on the host, from the index values
// ops/index.hpp has already copied there to check them: a stable counting sort of the source
// positions by the slot they go to, one pass over the index, then two copies to the device.
// index_add lists per slot of the indexed dim (size + 1 and k numbers, shared by every outer
// and inner position); scatter_add, whose index differs from position to position, lists per
// element of the output.
#pragma once

#include <utility>
#include <vector>

#include "../../core/factories.hpp"
#include "../../core/tensor.hpp"
#include "kernels.hpp"
#include "runtime.hpp"

namespace lacoot::cuda {

namespace detail {

// The sources j < n_sources grouped by slot_of(j) < n_slots, each group in increasing j:
// group t is sources[begin[t] .. begin[t + 1]). Both int64 tensors, sent to `device`.
template <class SlotOf>
std::pair<Tensor, Tensor> lists_by_slot(int64_t n_slots, int64_t n_sources, SlotOf slot_of, Device device) {
  Tensor begin = zeros({n_slots + 1}, kInt64), sources = Tensor::empty({n_sources}, kInt64);
  int64_t* b = begin.data<int64_t>();
  int64_t* s = sources.data<int64_t>();
  for (int64_t j = 0; j < n_sources; ++j) ++b[slot_of(j) + 1];  // group sizes ...
  for (int64_t t = 0; t < n_slots; ++t) b[t + 1] += b[t];       // ... and where each group starts
  std::vector<int64_t> next(b, b + n_slots);
  for (int64_t j = 0; j < n_sources; ++j) s[next[static_cast<std::size_t>(slot_of(j))]++] = j;
  return {begin.to(device), sources.to(device)};
}

// kernels::IndexedAlong for an index of shape `index` into a target of shape `target` along dim.
inline kernels::IndexedAlong indexed_along(const char* op, const Shape& target, int64_t dim, const Shape& index) {
  LACOOT_CHECK(target.size() <= static_cast<std::size_t>(kernels::kMaxDims), op, ": the CUDA kernels take at most ",
               kernels::kMaxDims, " dimensions, got shape ", shape_str(target));
  kernels::IndexedAlong L;
  L.nd = static_cast<int>(target.size());
  L.dim = static_cast<int>(dim);
  L.n = numel(index);
  const std::vector<int64_t> strides = contiguous_strides(target);
  for (std::size_t e = 0; e < target.size(); ++e) {
    L.index_shape[e] = index[e];
    L.target_stride[e] = strides[e];
  }
  return L;
}

}  // namespace detail

// out [outer, k, inner] = x [outer, size, inner] at the k positions of index (on x's device).
inline void index_select(const Tensor& x, int64_t outer, int64_t size, int64_t inner, const Tensor& index,
                         const Tensor& out) {
  kernels::index_select(x.raw_data(), outer, size, inner, index.data<int64_t>(), index.numel(), out.raw_data(),
                        x.dtype(), stream(x.device().index));
}

// out [outer, size, inner] += src [outer, k, inner] at the slots host_index (the index's k
// values, on the host) names.
inline void index_add(const Tensor& out, int64_t outer, int64_t size, int64_t inner, const Tensor& host_index,
                      const Tensor& src) {
  const int64_t* index = host_index.data<int64_t>();
  auto [begin, sources] =
      detail::lists_by_slot(size, host_index.numel(), [index](int64_t j) { return index[j]; }, out.device());
  kernels::index_add(out.raw_data(), outer, size, inner, begin.data<int64_t>(), sources.data<int64_t>(),
                     host_index.numel(), src.raw_data(), out.dtype(), stream(out.device().index));
}

// out (index's shape) = x at the positions index names along dim (index on x's device).
inline void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  kernels::gather(x.raw_data(), detail::indexed_along("gather", x.shape(), dim, index.shape()),
                  index.data<int64_t>(), out.raw_data(), x.dtype(), stream(x.device().index));
}

// out += src (host_index's shape) added at the positions host_index (on the host) names along dim.
inline void scatter_add(const Tensor& out, int64_t dim, const Tensor& host_index, const Tensor& src) {
  const kernels::IndexedAlong L = detail::indexed_along("scatter_add", out.shape(), dim, host_index.shape());
  const int64_t* index = host_index.data<int64_t>();
  auto [begin, sources] =
      detail::lists_by_slot(out.numel(), L.n, [&](int64_t p) { return L.target(p, index[p]); }, out.device());
  kernels::scatter_add(out.raw_data(), out.numel(), begin.data<int64_t>(), sources.data<int64_t>(), src.raw_data(),
                       out.dtype(), stream(out.device().index));
}

}  // namespace lacoot::cuda

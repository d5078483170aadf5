// lacoot/backend/cpu/index.hpp — reading and adding through an index tensor.
//
// Holds: index_select_kernel and index_add_kernel (whole slices picked by a 1-D index), and
// gather_kernel and scatter_add_kernel (one element per index entry). Each pair is the other's
// backward: what a read picked, the gradient adds back to.
// Needs: core/. Index values must already be checked to lie in range (ops/index.hpp does it).
//
// Layout: around dimension `dim` a tensor is seen as [outer, size, inner], outer the product of
// the sizes before dim and inner of those after.
// Determinism: the adds of index_add and scatter_add collide only along dim (two index entries
// naming the same slot), so the work is split over the outer and inner positions, never over
// the index: every output element is summed on one thread, in index order, whatever the
// number of threads.
#pragma once

#include <algorithm>
#include <vector>

#include "../../core/parallel.hpp"
#include "../../core/shape.hpp"

namespace lacoot::backend::cpu {

inline constexpr int64_t kIndexGrain = 1 << 15;  // elements per thread at least

// out[o, j, :] = x[o, index[j], :]; x is [outer, size, inner], out [outer, k, inner].
template <class T>
void index_select_kernel(const T* x, int64_t outer, int64_t size, int64_t inner,
                         const int64_t* index, int64_t k, T* out) {
  parallel_for(outer * k, std::max<int64_t>(1, kIndexGrain / std::max<int64_t>(inner, 1)),
               [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t o = r / k, j = r % k;
      std::copy_n(x + (o * size + index[j]) * inner, inner, out + r * inner);
    }
  });
}

// Calls fn(o, i0, i1) for runs [i0, i1) of inner positions covering the columns (o, i) in
// [c0, c1) of an [outer, *, inner] layout; the splitting unit of the adding kernels.
template <class Fn>
void for_columns(int64_t c0, int64_t c1, int64_t inner, Fn&& fn) {
  for (int64_t o = c0 / inner; o * inner < c1; ++o)
    fn(o, std::max(c0, o * inner) - o * inner, std::min(c1, (o + 1) * inner) - o * inner);
}

// out[o, index[j], :] += src[o, j, :]; out is [outer, size, inner], src [outer, k, inner].
template <class T>
void index_add_kernel(T* out, int64_t outer, int64_t size, int64_t inner, const int64_t* index,
                      int64_t k, const T* src) {
  if (inner == 0) return;
  parallel_for(outer * inner, std::max<int64_t>(1, kIndexGrain / std::max<int64_t>(k, 1)),
               [&](int64_t c0, int64_t c1) {
    for_columns(c0, c1, inner, [&](int64_t o, int64_t i0, int64_t i1) {
      for (int64_t j = 0; j < k; ++j) {  // serial over the index: a fixed order of the adds
        T* dst = out + (o * size + index[j]) * inner;
        const T* s = src + (o * k + j) * inner;
        for (int64_t i = i0; i < i1; ++i) dst[i] += s[i];
      }
    });
  });
}

// Where the positions of an index tensor land in a target tensor of the same number of
// dimensions (gather's input, scatter_add's output): position (o, j, i) of the index, seen
// as [outer, k, inner] around dim, is target element outer_offset(o) + index * stride_dim +
// inner_offset[i]. The index may be smaller than the target in every dimension but dim.
struct IndexWalk {
  int64_t outer = 1, k = 1, inner = 1;
  int64_t stride_dim = 1;
  std::vector<int64_t> inner_offset;
  Shape outer_sizes;                   // the index's sizes before dim
  std::vector<int64_t> outer_strides;  // the target's strides there

  IndexWalk(const Shape& target, int64_t dim, const Shape& index) {
    const auto d = static_cast<std::size_t>(dim);
    const std::vector<int64_t> st = contiguous_strides(target);
    outer_sizes.assign(index.begin(), index.begin() + dim);
    outer_strides.assign(st.begin(), st.begin() + dim);
    outer = numel(outer_sizes);
    k = index[d];
    stride_dim = st[d];
    for (std::size_t e = d + 1; e < index.size(); ++e) inner *= index[e];
    inner_offset.resize(static_cast<std::size_t>(inner));
    for (int64_t i = 0; i < inner; ++i) {  // decompose i over the index's dims after dim
      int64_t rem = i, off = 0;
      for (std::size_t e = index.size(); e-- > d + 1;) {
        off += (rem % index[e]) * st[e];
        rem /= index[e];
      }
      inner_offset[static_cast<std::size_t>(i)] = off;
    }
  }

  int64_t outer_offset(int64_t o) const {
    int64_t off = 0;
    for (std::size_t e = outer_sizes.size(); e-- > 0;) {
      off += (o % outer_sizes[e]) * outer_strides[e];
      o /= outer_sizes[e];
    }
    return off;
  }
};

// out[p] = x[p with its coordinate along dim replaced by index[p]], for every position p of
// index (out has index's shape).
template <class T>
void gather_kernel(const T* x, const Shape& x_shape, int64_t dim, const int64_t* index,
                   const Shape& index_shape, T* out) {
  const IndexWalk w(x_shape, dim, index_shape);
  parallel_for(w.outer * w.k, std::max<int64_t>(1, kIndexGrain / std::max<int64_t>(w.inner, 1)),
               [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* base = x + w.outer_offset(r / w.k);
      const int64_t* idx = index + r * w.inner;
      T* o = out + r * w.inner;
      for (int64_t i = 0; i < w.inner; ++i)
        o[i] = base[idx[i] * w.stride_dim + w.inner_offset[static_cast<std::size_t>(i)]];
    }
  });
}

// out[p with its coordinate along dim replaced by index[p]] += src[p], for every position p of
// index (src has index's shape). Repeated targets accumulate, in index order.
template <class T>
void scatter_add_kernel(T* out, const Shape& out_shape, int64_t dim, const int64_t* index,
                        const Shape& index_shape, const T* src) {
  const IndexWalk w(out_shape, dim, index_shape);
  if (w.inner == 0) return;
  parallel_for(w.outer * w.inner, std::max<int64_t>(1, kIndexGrain / std::max<int64_t>(w.k, 1)),
               [&](int64_t c0, int64_t c1) {
    for_columns(c0, c1, w.inner, [&](int64_t o, int64_t i0, int64_t i1) {
      T* base = out + w.outer_offset(o);
      for (int64_t j = 0; j < w.k; ++j) {  // serial over dim: a fixed order of the adds
        const int64_t r = (o * w.k + j) * w.inner;
        for (int64_t i = i0; i < i1; ++i)
          base[index[r + i] * w.stride_dim + w.inner_offset[static_cast<std::size_t>(i)]] += src[r + i];
      }
    });
  });
}

}  // namespace lacoot::backend::cpu

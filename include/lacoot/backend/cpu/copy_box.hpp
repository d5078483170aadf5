// lacoot/backend/cpu/copy_box.hpp — copying a strided box of one tensor into a box of another.
//
// Holds: StridedBox (a box inside a contiguous tensor: a start and a step per dimension) and
// copy_box(src, from, dst, to, extent), the one loop behind cat, narrow, slice, pad and
// roll, forward and backward: each of them is "copy this box of the input to that box of the
// output" (cat: each input to its block of the output; pad: the whole input, cropped where the
// padding is negative, to the inside of the output; slice with a step: every step-th element).
// Needs: core/.
#pragma once

#include <algorithm>
#include <vector>

#include "../../core/parallel.hpp"
#include "../../core/shape.hpp"

namespace lacoot::backend::cpu {

inline constexpr int64_t kCopyBoxGrain = 1 << 15;  // elements per thread at least

// The elements start[d] + k * step[d] (k = 0, 1, ...) along each dimension d of a contiguous
// tensor of shape `shape`; how many k there are is the extent given to copy_box.
struct StridedBox {
  Shape shape;                 // the whole tensor's shape
  std::vector<int64_t> start;  // first element, per dimension
  std::vector<int64_t> step;   // distance between elements, per dimension (1: a plain box)
};

// The whole of a tensor, as a box.
inline StridedBox whole_box(const Shape& shape) {
  return {shape, std::vector<int64_t>(shape.size(), 0), std::vector<int64_t>(shape.size(), 1)};
}

// The box of a tensor that starts at `start` along dimension `dim`, with `step` there, and
// takes every element of the other dimensions (cat's blocks, narrow, slice).
inline StridedBox box_along(const Shape& shape, int64_t dim, int64_t start, int64_t step = 1) {
  StridedBox b = whole_box(shape);
  b.start[static_cast<std::size_t>(dim)] = start;
  b.step[static_cast<std::size_t>(dim)] = step;
  return b;
}

// dst[to.start + k * to.step] = src[from.start + k * from.step] for every multi-index k with
// 0 <= k[d] < extent[d]. The caller keeps both boxes inside their tensors.
template <class T>
void copy_box(const T* src, const StridedBox& from, T* dst, const StridedBox& to, const Shape& extent) {
  const std::size_t nd = extent.size();
  const int64_t n = numel(extent);
  if (n == 0) return;
  if (nd == 0) {  // 0-d: one element
    dst[0] = src[0];
    return;
  }
  // Per dimension: the element distance in src and dst of one step of k.
  std::vector<int64_t> ss = contiguous_strides(from.shape), ds = contiguous_strides(to.shape);
  int64_t src0 = 0, dst0 = 0;
  for (std::size_t d = 0; d < nd; ++d) {
    src0 += from.start[d] * ss[d];
    dst0 += to.start[d] * ds[d];
    ss[d] *= from.step[d];
    ds[d] *= to.step[d];
  }
  const int64_t row = extent[nd - 1], rows = n / row;
  const int64_t s_in = ss[nd - 1], s_out = ds[nd - 1];
  parallel_for(rows, std::max<int64_t>(1, kCopyBoxGrain / row), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      // Offsets of row r: decompose r over the outer dimensions of the extent.
      int64_t rem = r, so = src0, doff = dst0;
      for (std::size_t d = nd - 1; d-- > 0;) {
        int64_t k = rem % extent[d];
        rem /= extent[d];
        so += k * ss[d];
        doff += k * ds[d];
      }
      if (s_in == 1 && s_out == 1) {
        std::copy_n(src + so, row, dst + doff);
      } else {
        for (int64_t j = 0; j < row; ++j) dst[doff + j * s_out] = src[so + j * s_in];
      }
    }
  });
}

}  // namespace lacoot::backend::cpu

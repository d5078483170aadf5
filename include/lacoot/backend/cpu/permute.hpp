// lacoot/backend/cpu/permute.hpp — reordering the dimensions of a contiguous tensor.
//
// Holds: permute_kernel(in, shape, dims, out), which writes the contiguous tensor
// out = in.permute(dims); transpose, the sort's "move a dimension last", NCHW <-> NHWC all
// go through it.
// Needs: core/.
// Leaves out: vector (SIMD) in-register transposes; the tiles below keep the loops scalar and
// let the cache do the work.
//
// How: output dimension k walks input dimension dims[k], i.e. steps in_stride[dims[k]] through
// the input. First the problem is simplified: dimensions of size 1 are dropped, and output
// dimensions that are also neighbours, in the same order, in the input are merged into one
// (so permuting [B, C, H, W] by (0, 2, 3, 1) becomes a batched transpose [B, C, HW] ->
// [B, HW, C]). Then one of two loops runs:
//   - the output's last dimension is the input's last one (stride 1): every output row is a
//     contiguous input run, copied with std::copy_n;
//   - otherwise the input's contiguous dimension p lands somewhere before the output's
//     contiguous last dimension L. Reading along p and writing along L are both contiguous,
//     so the (p, L) plane is copied in square tiles of kPermuteTile: a tile's input and output
//     rows both stay in L1 cache, instead of one side striding through memory a cache line per
//     element.
#pragma once

#include <algorithm>
#include <vector>

#include "../../core/parallel.hpp"
#include "../../core/shape.hpp"

namespace lacoot::backend::cpu {

inline constexpr int64_t kPermuteTile = 32;         // 32 x 32 doubles = 8 KB per side: fits L1
inline constexpr int64_t kPermuteGrain = 1 << 15;  // elements per thread at least

// One dimension of the output as the input sees it: its size and its stride in the input.
struct PermutedDim {
  int64_t size;
  int64_t in_stride;
};

// The output's dimensions with size-1 ones dropped and mergeable neighbours merged.
inline std::vector<PermutedDim> coalesce_permuted(const Shape& shape, const std::vector<int64_t>& dims) {
  std::vector<int64_t> in_strides = contiguous_strides(shape);
  std::vector<PermutedDim> out;
  for (int64_t d : dims) {
    auto ud = static_cast<std::size_t>(d);
    if (shape[ud] == 1) continue;
    PermutedDim next{shape[ud], in_strides[ud]};
    // Output dims k, k+1 are one dim when k steps over exactly one full run of k+1.
    if (!out.empty() && out.back().in_stride == next.in_stride * next.size) {
      out.back() = {out.back().size * next.size, next.in_stride};
    } else {
      out.push_back(next);
    }
  }
  return out;
}

// out = in.permute(dims), both contiguous; shape is in's shape, dims a permutation of its dims.
template <class T>
void permute_kernel(const T* in, const Shape& shape, const std::vector<int64_t>& dims, T* out) {
  const int64_t n = numel(shape);
  if (n == 0) return;
  std::vector<PermutedDim> pd = coalesce_permuted(shape, dims);
  if (pd.size() <= 1) {  // nothing moves: a plain copy
    std::copy_n(in, n, out);
    return;
  }
  const std::size_t m = pd.size(), last = m - 1;
  Shape out_shape(m);
  for (std::size_t k = 0; k < m; ++k) out_shape[k] = pd[k].size;
  const std::vector<int64_t> out_strides = contiguous_strides(out_shape);

  if (pd[last].in_stride == 1) {
    // Case 1: rows of the output are contiguous runs of the input.
    const int64_t row = pd[last].size, rows = n / row;
    parallel_for(rows, std::max<int64_t>(1, kPermuteGrain / row), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t rem = r, src = 0;
        for (std::size_t k = last; k-- > 0;) {  // decompose r over the outer output dims
          src += (rem % pd[k].size) * pd[k].in_stride;
          rem /= pd[k].size;
        }
        std::copy_n(in + src, row, out + r * row);
      }
    });
    return;
  }

  // Case 2: tiled copy of the (p, L) plane, for every index of the other dimensions.
  std::size_t p = 0;
  while (pd[p].in_stride != 1) ++p;  // exists: the input's last non-1 dim has stride 1
  std::vector<std::size_t> others;
  int64_t outer = 1;
  for (std::size_t k = 0; k < last; ++k)
    if (k != p) {
      others.push_back(k);
      outer *= pd[k].size;
    }
  const int64_t P = pd[p].size, L = pd[last].size;
  const int64_t in_step_L = pd[last].in_stride, out_step_p = out_strides[p];
  const int64_t p_tiles = (P + kPermuteTile - 1) / kPermuteTile;
  // One work unit = one tile row: kPermuteTile indices along p, all of L.
  parallel_for(outer * p_tiles, std::max<int64_t>(1, kPermuteGrain / (kPermuteTile * L)), [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      int64_t rem = u / p_tiles, src = 0, dst = 0;
      for (std::size_t i = others.size(); i-- > 0;) {
        std::size_t k = others[i];
        int64_t idx = rem % pd[k].size;
        rem /= pd[k].size;
        src += idx * pd[k].in_stride;
        dst += idx * out_strides[k];
      }
      const int64_t a0 = (u % p_tiles) * kPermuteTile, a1 = std::min(P, a0 + kPermuteTile);
      for (int64_t b0 = 0; b0 < L; b0 += kPermuteTile) {
        const int64_t b1 = std::min(L, b0 + kPermuteTile);
        for (int64_t a = a0; a < a1; ++a) {
          T* o = out + dst + a * out_step_p;        // output row a: contiguous along L
          const T* i = in + src + a;                // input column a: steps in_step_L along L
          for (int64_t b = b0; b < b1; ++b) o[b] = i[b * in_step_L];
        }
      }
    }
  });
}

}  // namespace lacoot::backend::cpu

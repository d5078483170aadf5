// lacoot/backend/cpu/reduce.hpp — CPU loops for reductions: sums (behind sum, mean, var) and
// arg-reductions (behind max, min, argmax, argmin).
//
// Holds: DimSplit (a shape seen as [outer, size, inner] around one dim), ReduceLayout (a
// reduction's input with adjacent dims of the same kind merged), sum_kernel (per output, the
// sum of its elements, or of their squared deviations from a centre, in double),
// arg_reduce_kernel (the best value along a dim and its first index), and the two scatters
// the backward passes of max and min need.
// Needs: core/ (parallel_for, Shape).
// Leaves out: argument checks, output shapes and gradients (ops/reduce.hpp), and the
// broadcast that sends a gradient back over reduced dims (backend/cpu/elementwise.hpp's
// broadcast_kernel does it).
//
// The layout. Reducing dims {0, 2, 3} of [N, C, H, W] is reducing [N, C, H·W] over dims 0 and
// 2: adjacent dims of the same kind (kept or reduced) merge into one and size-1 dims drop out.
// What is left takes one of two forms, and neither is copied or permuted:
//   [outer, R, inner], one reduced group: all elements ([1, n, 1]), the last dim ([rows, n, 1]),
//     the first dim of a matrix ([1, rows, cols]). sum_3d sums a contiguous run for inner = 1
//     and otherwise adds whole rows of `inner` contiguous values into a vector of sums.
//   anything else, e.g. [R, K, R] for per-channel statistics of NCHW: sum_general walks, for
//     each output, its elements run by run along the innermost reduced group (H·W contiguous
//     values per (n, c) in the example).
//
// Determinism and accuracy. Sums are accumulated in double for float32 too (double is
// PyTorch's accumulation type for float on the CPU, at::acc_type<float, false>; its sum gets
// there with a cascade of float partial sums instead): the mean of 10^6 float32 values comes
// out right to the last float bit, where one float accumulator is off in the fourth digit
// (6e-4 relative for the values tests/ops/test_reduce.cpp uses). The elements of each output are cut into chunks of a fixed kReduceChunk
// elements whose partial sums are added in chunk order. Threads share out the chunks, so a
// result depends on the shape alone, never on the thread count; the two levels (within a chunk,
// then across chunks) also bound the error growth of very long sums.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../../core/parallel.hpp"
#include "../../core/shape.hpp"

// `#pragma omp simd` asserts that a loop's iterations are independent (GCC's -O2 cost model
// otherwise keeps these loops scalar); the reduction clause lets the sum into `acc` be split
// into vector lanes, an order fixed at compile time. Empty without OpenMP.
#ifdef _OPENMP
#define LACOOT_REDUCE_SIMD _Pragma("omp simd")
#define LACOOT_REDUCE_SIMD_SUM _Pragma("omp simd reduction(+ : acc)")
#else
#define LACOOT_REDUCE_SIMD
#define LACOOT_REDUCE_SIMD_SUM
#endif

namespace lacoot::backend::cpu {

inline constexpr int64_t kReduceChunk = int64_t{1} << 15;  // elements summed by one task
inline constexpr int64_t kReduceBlock = 256;                // inner values one task keeps sums for
inline constexpr int64_t kReduceGrain = int64_t{1} << 15;   // below this many elements: one thread

// How many chunks of `chunk` elements cover n elements (the last may be shorter).
inline int64_t count_chunks(int64_t n, int64_t chunk) { return (n + chunk - 1) / chunk; }

// parallel_for's grain, in tasks, for tasks of `work` elements each.
inline int64_t reduce_task_grain(int64_t work) { return std::max<int64_t>(1, kReduceGrain / std::max<int64_t>(work, 1)); }

// A shape seen around dim d as [outer, size, inner]: outer = the product of the sizes before
// d, inner = after. For a 0-d shape all three are 1.
struct DimSplit {
  int64_t outer = 1, size = 1, inner = 1;
  DimSplit() = default;
  DimSplit(const Shape& s, int64_t d) {
    for (std::size_t e = 0; e < s.size(); ++e) {
      const auto ie = static_cast<int64_t>(e);
      if (ie < d) outer *= s[e];
      else if (ie == d) size = s[e];
      else inner *= s[e];
    }
  }
};

// ---- the layout of a reduction over several dims ----

struct ReduceLayout {
  Shape sizes;                   // merged dims, outermost first, none of size 1
  std::vector<int64_t> strides;  // the stride of each in the (contiguous) input
  std::vector<bool> reduced;     // whether each merged dim is reduced
  int64_t n_out = 1;             // outputs: the product of the kept sizes
  int64_t n_reduced = 1;         // elements per output: the product of the reduced sizes

  // At most one reduced group: the input is [outer, size, inner] (size = 1 when nothing is
  // reduced), filled into `split`.
  bool is_3d(DimSplit& split) const {
    int64_t groups = 0;
    split = DimSplit{};
    for (std::size_t g = 0; g < sizes.size(); ++g) {
      if (reduced[g]) {
        ++groups;
        split.size = sizes[g];
      } else if (groups == 0) {
        split.outer *= sizes[g];
      } else {
        split.inner *= sizes[g];
      }
    }
    return groups <= 1;
  }
};

// `reduce[d]` says whether input dim d is reduced. A merged group's stride is that of its
// innermost dim: element j of the group sits j · stride further on.
inline ReduceLayout make_reduce_layout(const Shape& shape, const std::vector<bool>& reduce) {
  ReduceLayout L;
  const std::vector<int64_t> st = contiguous_strides(shape);
  for (std::size_t d = 0; d < shape.size(); ++d) {
    (reduce[d] ? L.n_reduced : L.n_out) *= shape[d];
    if (shape[d] == 1) continue;
    if (!L.sizes.empty() && L.reduced.back() == reduce[d]) {
      L.sizes.back() *= shape[d];
      L.strides.back() = st[d];
    } else {
      L.sizes.push_back(shape[d]);
      L.strides.push_back(st[d]);
      L.reduced.push_back(reduce[d]);
    }
  }
  return L;
}

// ---- sums ----

// One term of a sum: x, or (x − c)² for var's second pass (kCentered).
template <bool kCentered, class T>
inline double sum_term(T x, double c) {
  if constexpr (kCentered) {
    const double d = static_cast<double>(x) - c;
    return d * d;
  } else {
    (void)c;
    return static_cast<double>(x);
  }
}

// Σ of n terms p[0], p[stride], ..., p[(n−1)·stride].
template <bool kCentered, class T>
double sum_run(const T* p, int64_t n, int64_t stride, double c) {
  double acc = 0;
  if (stride == 1) {
    LACOOT_REDUCE_SIMD_SUM
    for (int64_t i = 0; i < n; ++i) acc += sum_term<kCentered>(p[i], c);
  } else {
    for (int64_t i = 0; i < n; ++i) acc += sum_term<kCentered>(p[i * stride], c);
  }
  return acc;
}

// out[o · inner + i] = Σ_c partial[(o · chunks + c) · inner + i], chunks in order.
inline void add_chunks(const double* partial, int64_t outer, int64_t chunks, int64_t inner, double* out) {
  parallel_for(outer * inner, kReduceGrain, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const int64_t o = j / inner, i = j % inner;
      double s = 0;
      for (int64_t c = 0; c < chunks; ++c) s += partial[(o * chunks + c) * inner + i];
      out[j] = s;
    }
  });
}

// out[o, i] = Σ_r term(x[o, r, i]) for x of shape [outer, size, inner]; centre[o · inner + i].
// A task sums rows [r0, r1) of one chunk for one block of at most kReduceBlock inner values.
template <bool kCentered, class T>
void sum_3d(const T* x, DimSplit s, const double* center, double* out) {
  const int64_t block = std::min(s.inner, kReduceBlock), blocks = count_chunks(s.inner, block);
  const int64_t rows = std::max<int64_t>(1, kReduceChunk / block);  // rows in one chunk
  const int64_t chunks = std::max<int64_t>(1, count_chunks(s.size, rows));
  std::vector<double> partial(chunks > 1 ? static_cast<std::size_t>(s.outer * chunks * s.inner) : 0);
  double* part = chunks > 1 ? partial.data() : out;
  const int64_t work = std::min(s.size, rows) * block;
  parallel_for(s.outer * chunks * blocks, reduce_task_grain(work), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t % blocks, c = t / blocks % chunks, o = t / blocks / chunks;
      const int64_t r0 = c * rows, r1 = std::min(s.size, r0 + rows);
      double* acc_row = part + (o * chunks + c) * s.inner;
      if (s.inner == 1) {  // a contiguous run: one scalar sum
        acc_row[0] = sum_run<kCentered>(x + o * s.size + r0, r1 - r0, 1, kCentered ? center[o] : 0.0);
        continue;
      }
      const int64_t i0 = b * block, i1 = std::min(s.inner, i0 + block);
      const double* ctr = kCentered ? center + o * s.inner : nullptr;
      std::fill(acc_row + i0, acc_row + i1, 0.0);
      for (int64_t r = r0; r < r1; ++r) {
        const T* row = x + (o * s.size + r) * s.inner;
        LACOOT_REDUCE_SIMD
        for (int64_t i = i0; i < i1; ++i) acc_row[i] += sum_term<kCentered>(row[i], kCentered ? ctr[i] : 0.0);
      }
    }
  });
  if (chunks > 1) add_chunks(partial.data(), s.outer, chunks, s.inner, out);
}

// out[o] = Σ term over output o's elements, for any layout. A task covers elements
// [r0, r1) of one output, counted row-major over the reduced groups; it walks them as runs
// along the innermost reduced group (contiguous when that group is the input's last dim).
template <bool kCentered, class T>
void sum_general(const T* x, const ReduceLayout& L, const double* center, double* out) {
  std::vector<int64_t> ks, kt, rs, rt;  // sizes and strides of the kept and reduced groups
  for (std::size_t g = 0; g < L.sizes.size(); ++g) {
    (L.reduced[g] ? rs : ks).push_back(L.sizes[g]);
    (L.reduced[g] ? rt : kt).push_back(L.strides[g]);
  }
  const int64_t run = rs.back(), run_stride = rt.back();
  const auto m = static_cast<int64_t>(rs.size()) - 1;  // reduced groups outside the runs
  const int64_t chunks = count_chunks(L.n_reduced, kReduceChunk);
  std::vector<double> partial(chunks > 1 ? static_cast<std::size_t>(L.n_out * chunks) : 0);
  double* part = chunks > 1 ? partial.data() : out;
  parallel_for(L.n_out * chunks, reduce_task_grain(std::min(L.n_reduced, kReduceChunk)), [&](int64_t t0, int64_t t1) {
    std::vector<int64_t> idx(rs.size());
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / chunks, c = t % chunks;
      int64_t base = 0;  // offset of output o's first element: o decoded over the kept groups
      for (int64_t g = static_cast<int64_t>(ks.size()) - 1, rem = o; g >= 0; --g) {
        const auto ug = static_cast<std::size_t>(g);
        base += rem % ks[ug] * kt[ug];
        rem /= ks[ug];
      }
      const int64_t r0 = c * kReduceChunk, r1 = std::min(L.n_reduced, r0 + kReduceChunk);
      int64_t k = r0 % run;  // r0 = (run j, offset k in it); j decoded over the outer groups
      for (int64_t g = m - 1, j = r0 / run; g >= 0; --g) {
        const auto ug = static_cast<std::size_t>(g);
        idx[ug] = j % rs[ug];
        base += idx[ug] * rt[ug];
        j /= rs[ug];
      }
      const double ctr = kCentered ? center[o] : 0.0;
      double acc = 0;
      for (int64_t pos = r0; pos < r1;) {
        const int64_t seg = std::min(run - k, r1 - pos);
        acc += sum_run<kCentered>(x + base + k * run_stride, seg, run_stride, ctr);
        pos += seg;
        k = 0;
        for (int64_t g = m - 1; g >= 0; --g) {  // odometer: the next run
          const auto ug = static_cast<std::size_t>(g);
          base += rt[ug];
          if (++idx[ug] < rs[ug]) break;
          base -= rs[ug] * rt[ug];
          idx[ug] = 0;
        }
      }
      part[t] = acc;
    }
  });
  if (chunks > 1) add_chunks(partial.data(), L.n_out, chunks, 1, out);
}

// out[o] (o over the kept elements, row-major) = Σ of output o's elements, or with
// `center` (one value per output) Σ (x − center[o])². Empty reductions give 0.
template <class T>
void sum_kernel(const T* x, const ReduceLayout& L, const double* center, double* out) {
  if (L.n_out == 0) return;
  if (L.n_reduced == 0) {
    std::fill_n(out, L.n_out, 0.0);
    return;
  }
  DimSplit s;
  const bool three_d = L.is_3d(s);
  if (center) {
    if (three_d) sum_3d<true>(x, s, center, out);
    else sum_general<true>(x, L, center, out);
  } else {
    if (three_d) sum_3d<false>(x, s, nullptr, out);
    else sum_general<false>(x, L, nullptr, out);
  }
}

// ---- arg-reductions ----

// For x of shape [outer, size ≥ 1, inner]: values[o, i] = the best x[o, r, i] over r, and
// indices[o, i] = the first r that holds it. better(a, b) says whether a beats the best so far
// b; it must be strict, so that on ties the earlier index stays (PyTorch's first occurrence).
// Tasks split r into fixed chunks as the sums do; the chunks' winners are compared in order.
template <class T, class Better>
void arg_reduce_kernel(const T* x, DimSplit s, T* values, int64_t* indices, Better better) {
  if (s.outer * s.inner == 0) return;  // no outputs
  const int64_t block = std::min(s.inner, kReduceBlock), blocks = count_chunks(s.inner, block);
  const int64_t rows = std::max<int64_t>(1, kReduceChunk / block);
  const int64_t chunks = std::max<int64_t>(1, count_chunks(s.size, rows));
  const auto n_part = static_cast<std::size_t>(chunks > 1 ? s.outer * chunks * s.inner : 0);
  std::vector<T> part_v(n_part);
  std::vector<int64_t> part_i(n_part);
  T* pv = chunks > 1 ? part_v.data() : values;
  int64_t* pi = chunks > 1 ? part_i.data() : indices;
  parallel_for(s.outer * chunks * blocks, reduce_task_grain(std::min(s.size, rows) * block), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t % blocks, c = t / blocks % chunks, o = t / blocks / chunks;
      const int64_t r0 = c * rows, r1 = std::min(s.size, r0 + rows);
      const int64_t i0 = b * block, i1 = std::min(s.inner, i0 + block);
      T* best = pv + (o * chunks + c) * s.inner;
      int64_t* at = pi + (o * chunks + c) * s.inner;
      const T* first = x + (o * s.size + r0) * s.inner;
      for (int64_t i = i0; i < i1; ++i) {
        best[i] = first[i];
        at[i] = r0;
      }
      for (int64_t r = r0 + 1; r < r1; ++r) {
        const T* row = x + (o * s.size + r) * s.inner;
        for (int64_t i = i0; i < i1; ++i) {
          if (better(row[i], best[i])) {
            best[i] = row[i];
            at[i] = r;
          }
        }
      }
    }
  });
  if (chunks == 1) return;
  parallel_for(s.outer * s.inner, kReduceGrain, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const int64_t o = j / s.inner, i = j % s.inner;
      T v = part_v[static_cast<std::size_t>(o * chunks * s.inner + i)];
      int64_t r = part_i[static_cast<std::size_t>(o * chunks * s.inner + i)];
      for (int64_t c = 1; c < chunks; ++c) {
        const auto p = static_cast<std::size_t>((o * chunks + c) * s.inner + i);
        if (better(part_v[p], v)) {
          v = part_v[p];
          r = part_i[p];
        }
      }
      values[j] = v;
      indices[j] = r;
    }
  });
}

// ---- backward scatters ----

// grad_input (shape [outer, size, inner], overwritten) = 0, except
// grad_input[o, indices[o, i], i] = g[o, i]: the gradient of values picked along a dim.
template <class T>
void scatter_picked(const T* g, const int64_t* indices, DimSplit s, T* grad_input) {
  std::fill_n(grad_input, s.outer * s.size * s.inner, T(0));
  parallel_for(s.outer, reduce_task_grain(s.inner), [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o)
      for (int64_t i = 0; i < s.inner; ++i)
        grad_input[(o * s.size + indices[o * s.inner + i]) * s.inner + i] = g[o * s.inner + i];
  });
}

// grad_input[j] = g / k where x[j] is the extreme value v (NaN counting as equal to NaN when v
// is NaN), 0 elsewhere; k is the number of such j. The gradient of max(x) and min(x) over all
// elements, which PyTorch spreads evenly over ties (evenly_distribute_backward).
template <class T>
void distribute_evenly(const T* x, int64_t n, T v, T g, T* grad_input) {
  const bool nan = v != v;
  int64_t k = 0;
  for (int64_t j = 0; j < n; ++j) k += nan ? x[j] != x[j] : x[j] == v;
  const T share = g / static_cast<T>(k);
  for (int64_t j = 0; j < n; ++j) grad_input[j] = (nan ? x[j] != x[j] : x[j] == v) ? share : T(0);
}

}  // namespace lacoot::backend::cpu

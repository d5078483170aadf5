// lacoot/backend/cpu/elementwise.hpp — CPU loops for elementwise ops with NumPy broadcasting.
//
// Holds: unary_kernel (out[i] = f(a[i])), broadcast_kernel (out = f(in_0, ..., in_{K-1}) over
// broadcast inputs) and sum_to_kernel (the reverse of broadcasting: sum a gradient down to an
// input's shape).
// Needs: core/.
//
// Broadcasting is done with strides: each input gets, per output dimension, the stride to step
// in it, 0 where it is broadcast (size 1 or missing). The innermost output dimension is the
// hot loop; the outer ones are walked with a counter and split over threads.
#pragma once

#include <array>

#include "../../core/parallel.hpp"
#include "../../core/tensor.hpp"

namespace lacoot::backend::cpu {

inline constexpr int64_t kElementwiseGrain = 1 << 15;

template <class T, class F>
void unary_kernel(const T* a, T* out, int64_t n, F f) {
  parallel_for(n, kElementwiseGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = f(a[i]);
  });
}

// Strides of `in` (row-major) seen from `out`'s dimensions: 0 where `in` is broadcast.
inline std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> st(out.size(), 0);
  std::vector<int64_t> own = contiguous_strides(in);
  std::size_t lead = out.size() - in.size();
  for (std::size_t d = 0; d < in.size(); ++d)
    st[lead + d] = in[d] == 1 ? 0 : own[d];
  return st;
}

// out[idx] = f(in_0[idx_0], ..., in_{K-1}[idx_{K-1}]) for every index of out_shape, where idx_k
// is idx broadcast into input k. Inputs are of type In, output of type Out.
template <std::size_t K, class In, class Out, class F>
void broadcast_kernel(const std::array<const In*, K>& in, const std::array<Shape, K>& in_shapes,
                      Out* out, const Shape& out_shape, F f) {
  const int64_t n = numel(out_shape);
  bool same = true;
  for (const Shape& s : in_shapes) same = same && s == out_shape;
  if (same || out_shape.empty()) {  // fast path: no broadcasting
    parallel_for(n, kElementwiseGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i)
        out[i] = std::apply([&](auto... p) { return f(p[i]...); }, in);
    });
    return;
  }
  const std::size_t nd = out_shape.size();
  std::array<std::vector<int64_t>, K> st;
  for (std::size_t k = 0; k < K; ++k) st[k] = broadcast_strides(in_shapes[k], out_shape);
  const int64_t inner = out_shape[nd - 1];
  const int64_t rows = n / std::max<int64_t>(inner, 1);
  parallel_for(rows, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(inner, 1)),
               [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      // Offsets of row r in each input: decompose r over the outer dimensions.
      std::array<int64_t, K> off{};
      int64_t rem = r;
      for (int64_t d = static_cast<int64_t>(nd) - 2; d >= 0; --d) {
        int64_t i = rem % out_shape[static_cast<std::size_t>(d)];
        rem /= out_shape[static_cast<std::size_t>(d)];
        for (std::size_t k = 0; k < K; ++k) off[k] += i * st[k][static_cast<std::size_t>(d)];
      }
      std::array<int64_t, K> step;
      for (std::size_t k = 0; k < K; ++k) step[k] = st[k][nd - 1];
      Out* o = out + r * inner;
      for (int64_t j = 0; j < inner; ++j) {
        o[j] = [&]<std::size_t... I>(std::index_sequence<I...>) {
          return f(in[I][off[I] + j * step[I]]...);
        }(std::make_index_sequence<K>{});
      }
    }
  });
}

// out (shape `to`, zeroed here) = g (shape `from`) summed over the dimensions that
// broadcasting expanded: the gradient of a broadcast input.
template <class T>
void sum_to_kernel(const T* g, const Shape& from, T* out, const Shape& to) {
  const int64_t n_out = numel(to);
  std::fill_n(out, n_out, T(0));
  std::vector<int64_t> st = broadcast_strides(to, from);
  const std::size_t nd = from.size();
  const int64_t n = numel(from);
  // Serial: the output is small (a broadcast operand) and the sum order stays fixed.
  std::vector<int64_t> idx(nd, 0);
  int64_t o = 0;
  for (int64_t i = 0; i < n; ++i) {
    out[o] += g[i];
    for (int64_t d = static_cast<int64_t>(nd) - 1; d >= 0; --d) {  // odometer increment
      auto ud = static_cast<std::size_t>(d);
      o += st[ud];
      if (++idx[ud] < from[ud]) break;
      o -= st[ud] * from[ud];
      idx[ud] = 0;
    }
  }
}

}  // namespace lacoot::backend::cpu

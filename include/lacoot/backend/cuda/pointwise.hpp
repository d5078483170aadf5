// lacoot/backend/cuda/pointwise.hpp — elementwise ops on CUDA tensors, from plain C++.
//
// Holds: unary, binary, pointwise_backward, where and sum_to on Tensors: each works out the
// broadcast layout on the host and launches the kernel of kernels.cuh for the functor's Op on
// the device's stream.
// Needs: kernels.hpp, runtime.hpp, core/tensor.hpp, backend/formulas.hpp.
#pragma once

#include <vector>

#include "../../core/tensor.hpp"
#include "../formulas.hpp"
#include "kernels.hpp"
#include "runtime.hpp"

namespace lacoot::cuda {

namespace detail {

inline void check_rank(const char* op, const Shape& shape) {
  LACOOT_CHECK(static_cast<int>(shape.size()) <= kernels::kMaxDims, op, ": the CUDA kernels take at most ",
               kernels::kMaxDims, " dimensions, got shape ", shape_str(shape));
}

// The layout of `inputs` broadcast to `out` (which is their broadcast shape).
inline kernels::Broadcast broadcast_layout(const char* op, const std::vector<Shape>& inputs, const Shape& out) {
  check_rank(op, out);
  kernels::Broadcast L;
  L.nd = static_cast<int>(out.size());
  L.n = numel(out);
  for (int d = 0; d < L.nd; ++d) L.shape[d] = out[static_cast<std::size_t>(d)];
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const Shape& in = inputs[k];
    L.same = L.same && in == out;
    const std::vector<int64_t> own = contiguous_strides(in);
    const std::size_t lead = out.size() - in.size();
    for (std::size_t d = 0; d < in.size(); ++d) L.stride[k][lead + d] = in[d] == 1 ? 0 : own[d];
  }
  return L;
}

// The layout that sums a tensor of shape `from` down to `to`: `to` is `from` with some dims
// of size 1 (or missing at the front), the dims that are summed over.
inline kernels::SumTo sum_layout(const char* op, const Shape& from, const Shape& to) {
  check_rank(op, from);
  kernels::SumTo L;
  L.nd = static_cast<int>(from.size());
  L.n_out = numel(to);
  const std::vector<int64_t> gs = contiguous_strides(from);
  const std::size_t lead = from.size() - to.size();
  for (std::size_t d = 0; d < from.size(); ++d) {
    const int64_t to_d = d < lead ? 1 : to[d - lead];
    L.out_shape[d] = to_d;
    L.g_stride[d] = gs[d];
    if (to_d == 1 && from[d] != 1) {
      L.reduced_size[L.nr] = from[d];
      L.reduced_stride[L.nr] = gs[d];
      ++L.nr;
    }
  }
  return L;
}

}  // namespace detail

// out = f(x), elementwise; x and out of one shape and floating dtype, on one device.
template <class F>
void unary(const F& f, const Tensor& x, const Tensor& out) {
  kernels::unary(F::code, f.p0, f.p1, x.raw_data(), out.raw_data(), x.dtype(), x.numel(), stream(x.device().index));
}

// out = f(a, b) with broadcasting (out has the broadcast shape).
template <class F>
void binary(const F& f, const Tensor& a, const Tensor& b, const Tensor& out) {
  const kernels::Broadcast L = detail::broadcast_layout("cuda binary", {a.shape(), b.shape()}, out.shape());
  kernels::binary(F::code, f.p0, f.p1, a.raw_data(), b.raw_data(), out.raw_data(), a.dtype(), L,
                  stream(a.device().index));
}

// grad_input = f(g, s) elementwise: an activation's backward (g, s and grad_input of one shape).
template <class F>
void pointwise_backward(const F& f, const Tensor& g, const Tensor& s, const Tensor& grad_input) {
  binary(f, g, s, grad_input);
}

// out = c != 0 ? a : b with broadcasting; c already of a's dtype.
inline void where(const Tensor& c, const Tensor& a, const Tensor& b, const Tensor& out) {
  const kernels::Broadcast L = detail::broadcast_layout("where", {c.shape(), a.shape(), b.shape()}, out.shape());
  kernels::where(c.raw_data(), a.raw_data(), b.raw_data(), out.raw_data(), a.dtype(), L, stream(a.device().index));
}

// out (a broadcast operand's shape) = g summed over the dimensions broadcasting expanded.
inline void sum_to(const Tensor& g, const Tensor& out) {
  kernels::sum_to(g.raw_data(), out.raw_data(), g.dtype(), detail::sum_layout("sum_to", g.shape(), out.shape()),
                  stream(g.device().index));
}

}  // namespace lacoot::cuda

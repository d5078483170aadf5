// lacoot/backend/cuda/reduce.hpp — reductions, softmax and the class losses on CUDA tensors,
// from plain C++.
//
// Holds: Lines (a tensor seen as [outer, size, inner] around one dim), sum, arg_reduce,
// scatter_picked, distribute_evenly, softmax, softmax_backward, class_loss_terms and
// class_loss_backward on Tensors: each launches its kernel of reduce_kernels.cuh on the
// device's stream. ops/reduce.hpp, ops/softmax.hpp and ops/loss.hpp call them for cuda tensors.
// Needs: pointwise.hpp (sum_layout), kernels.hpp, runtime.hpp, core/tensor.hpp.
#pragma once

#include "pointwise.hpp"

namespace lacoot::cuda {

// A tensor seen as [outer, size, inner] around one dim: backend::cpu::DimSplit's sizes, which
// the ops work out and pass on.
struct Lines {
  int64_t outer = 1, size = 1, inner = 1;
};

// out (its elements as many as `keep`, which is x's shape with the reduced dims as 1) =
// scale · Σ x over the reduced dims or, with `center` (float64, of shape `keep`),
// scale · Σ (x − center)². out is of x's dtype or float64.
inline void sum(const Tensor& x, const Shape& keep, const Tensor* center, double scale, const Tensor& out) {
  if (center) LACOOT_CHECK(center->dtype() == kFloat64, "cuda sum: the centre must be float64");
  kernels::sum(x.raw_data(), center ? center->data<double>() : nullptr, scale, out.raw_data(), x.dtype(), out.dtype(),
               detail::sum_layout("sum", x.shape(), keep), stream(x.device().index));
}

// values and indices (outer · inner elements each) = the best element of each line of x.
inline void arg_reduce(bool largest, const Tensor& x, const Lines& l, const Tensor& values, const Tensor& indices) {
  kernels::arg_reduce(largest, x.raw_data(), values.raw_data(), indices.data<int64_t>(), x.dtype(), l.outer, l.size,
                      l.inner, stream(x.device().index));
}

// grad_input = g at the picked positions of each line, 0 elsewhere.
inline void scatter_picked(const Tensor& g, const Tensor& indices, const Lines& l, const Tensor& grad_input) {
  kernels::scatter_picked(g.raw_data(), indices.data<int64_t>(), grad_input.raw_data(), g.dtype(), l.outer, l.size,
                          l.inner, stream(g.device().index));
}

// grad_input = g / k where x equals the 0-d v, 0 elsewhere (k: how many equal it).
inline void distribute_evenly(const Tensor& x, const Tensor& v, const Tensor& g, const Tensor& grad_input) {
  Tensor count = Tensor::empty({}, kFloat64, x.device());
  kernels::distribute_evenly(x.raw_data(), x.numel(), v.raw_data(), g.raw_data(), count.data<double>(),
                             grad_input.raw_data(), x.dtype(), stream(x.device().index));
}

inline void softmax(bool log, const Tensor& x, const Lines& l, const Tensor& y) {
  kernels::softmax(log, x.raw_data(), y.raw_data(), x.dtype(), l.outer, l.size, l.inner, stream(x.device().index));
}

inline void softmax_backward(bool log, const Tensor& y, const Tensor& g, const Lines& l, const Tensor& dx) {
  kernels::softmax_backward(log, y.raw_data(), g.raw_data(), dx.raw_data(), y.dtype(), l.outer, l.size, l.inner,
                            stream(y.device().index));
}

// loss [N] = a · (−logp[n, t]) + b · (−Σ_c logp[n, c]), 0 for ignored samples.
inline void class_loss_terms(const Tensor& logp, const Tensor& target, int64_t ignore_index, double a, double b,
                             const Tensor& loss) {
  kernels::class_loss_terms(logp.raw_data(), target.data<int64_t>(), logp.size(0), logp.size(1), ignore_index, a, b,
                            loss.raw_data(), logp.dtype(), stream(logp.device().index));
}

inline void class_loss_backward(const Tensor& logp, const Tensor& target, int64_t ignore_index, const Tensor& g,
                                bool per_sample, double a, double b, bool logits, const Tensor& dx) {
  kernels::class_loss_backward(logp.raw_data(), target.data<int64_t>(), logp.size(0), logp.size(1), ignore_index,
                               g.raw_data(), per_sample, a, b, logits, dx.raw_data(), logp.dtype(),
                               stream(logp.device().index));
}

}  // namespace lacoot::cuda

// lacoot/ops/softmax.hpp — softmax and log_softmax along a dim.
//
// Holds: softmax(input, dim) and log_softmax(input, dim), as torch.softmax and
// torch.log_softmax (PyTorch 1.13), for float32 and float64, each with its fused backward.
// Needs: ops/common.hpp, backend/cpu/softmax.hpp; with CUDA, backend/cuda/reduce.hpp.
// Leaves out: the dtype= argument, softmin, and double backward.
//
// softmax(x)_j = exp(x_j) / Σ_k exp(x_k) along dim; log_softmax = log of it, computed as
// x_j − m − log Σ_k exp(x_k − m), m = max_k x_k, which neither overflows (exp of a number ≤ 0)
// nor loses the small probabilities to log(0) (a softmax that underflows to 0 would give
// −inf; log_softmax gives the finite x_j − m − log s). Use log_softmax, or cross_entropy
// (ops/loss.hpp), rather than log(softmax(x)).
//
// Backward follows autograd/node.hpp; both keep only their output y (as PyTorch's
// _softmax_backward_data does) and run as one fused pass per line, not a chain of ops.
#pragma once

#include "../backend/cpu/softmax.hpp"
#include "common.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/reduce.hpp"
#endif

namespace lacoot {
namespace detail {

template <bool kLog>
Tensor softmax_op(const char* op, const Tensor& input, int64_t dim) {
  check_floating(op, input, Cuda::kernel);
  const backend::cpu::DimSplit s(input.shape(), wrap_dim(dim, input.dim(), op));
  Tensor out = Tensor::empty(input.shape(), input.dtype(), input.device());
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda()) cuda::softmax(kLog, input, {s.outer, s.size, s.inner}, out);
  else
#endif
    dispatch_floating(input.dtype(), op, [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::softmax_kernel<kLog>(input.data<T>(), s, out.data<T>());
    });
  autograd::record(out, op, {input}, [op, s, y = out.detach()](const Tensor& g, const std::vector<bool>&) {
    // softmax: y_j = e^{x_j} / Σ e^{x_k}, so dy_j/dx_i = y_j (δ_ij − y_i) and
    //   dx_i = Σ_j g_j y_j (δ_ij − y_i) = y_i (g_i − Σ_j g_j y_j).
    // log_softmax: y_j = x_j − log Σ e^{x_k}, so dy_j/dx_i = δ_ij − p_i with p = e^y, and
    //   dx_i = g_i − p_i Σ_j g_j.
    Tensor dx = Tensor::empty(y.shape(), y.dtype(), y.device());
#if LACOOT_WITH_CUDA
    if (y.device().is_cuda()) {
      cuda::softmax_backward(kLog, y, g, {s.outer, s.size, s.inner}, dx);
      return std::vector<Tensor>{dx};
    }
#endif
    dispatch_floating(y.dtype(), op, [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::softmax_backward_kernel<kLog>(y.data<T>(), g.data<T>(), s, dx.data<T>());
    });
    return std::vector<Tensor>{dx};
  });
  return out;
}

}  // namespace detail

// softmax(input, dim): exp(x) / Σ exp(x) along dim, each line summing to 1.
//   https://pytorch.org/docs/1.13/generated/torch.nn.functional.softmax.html
inline Tensor softmax(const Tensor& input, int64_t dim) {
  return detail::softmax_op<false>("softmax", input, dim);
}

// log_softmax(input, dim): log(softmax(input, dim)), computed stably.
//   https://pytorch.org/docs/1.13/generated/torch.nn.functional.log_softmax.html
inline Tensor log_softmax(const Tensor& input, int64_t dim) {
  return detail::softmax_op<true>("log_softmax", input, dim);
}

}  // namespace lacoot

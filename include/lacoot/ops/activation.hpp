// lacoot/ops/activation.hpp — activation functions: relu, relu6, leaky_relu, gelu, silu,
// sigmoid, tanh.
//
// Holds: the seven ops above for float32 and float64, each with PyTorch's name, arguments,
// defaults and gradient conventions at the kinks (torch.nn.functional, PyTorch 1.13), and
// detail::activation, the forward-plus-backward skeleton they share.
// Needs: ops/common.hpp, backend/formulas.hpp (each formula and its derivative, as functors
// that the CPU loops and the CUDA kernels share), backend/cpu/activation.hpp; with CUDA,
// backend/cuda/pointwise.hpp.
// Leaves out: in-place forms (relu_), the nn:: module wrappers (nn/ builds them on these),
// other activations (elu, softplus, hardswish, mish, ...), and double backward (a backward
// closure runs with grad mode off, so it records nothing).
//
// How an op reads: its definition and derivative in the comment above it, and the two
// functors that compute them (fn::Relu, fn::ReluBackward in backend/formulas.hpp, written
// right below each other); detail::activation runs the first as one flat loop and records the
// second as the op's backward, which is also one flat loop (one pass over memory, not a chain of
// elementwise ops). Its two template arguments say whether each formula calls exp/erf/tanh
// (Cost::Transcendental) or not (Cost::Cheap, vectorised). The backward contract is
// autograd/node.hpp's: dL/dx, with x's shape, from dL/dy. Each derivative reads the input x or
// the output y, whichever it is written in more cheaply, as PyTorch's derivatives.yaml chooses
// (sigmoid and tanh keep y).
#pragma once

#include <string_view>

#include "../backend/cpu/activation.hpp"
#include "../backend/formulas.hpp"
#include "common.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/pointwise.hpp"
#endif

namespace lacoot {
namespace detail {

// Which tensor an activation's backward reads.
enum class Saved { Input, Output };

using backend::cpu::Cost;

// out = forward(x) elementwise; records backward(g, s) -> dL/dx elementwise, s being the input
// or the output as `saved` says. Both are functors of backend/formulas.hpp (instantiated for
// float and double); the costs say whether each calls exp/erf/tanh (backend/cpu/activation.hpp).
template <Cost forward_cost, Cost backward_cost, class Forward, class Backward>
Tensor activation(const char* op, const Tensor& input, Saved saved, Forward forward,
                  Backward backward) {
  check_floating(op, input, Cuda::kernel);
  Tensor out = Tensor::empty(input.shape(), input.dtype(), input.device());
  if (input.device().is_cpu()) {
    dispatch_floating(input.dtype(), op, [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::pointwise_kernel<forward_cost>(input.data<T>(), out.data<T>(), input.numel(),
                                                   forward);
    });
  } else {
#if LACOOT_WITH_CUDA
    cuda::unary(forward, input, out);
#endif
  }
  // The output is kept detached: it owns the node, so the node must not own it.
  Tensor s = saved == Saved::Input ? input.detach() : out.detach();
  autograd::record(out, op, {input}, [s, op, backward](const Tensor& g, const std::vector<bool>&) {
    Tensor grad_input = Tensor::empty(s.shape(), s.dtype(), s.device());
    if (s.device().is_cpu()) {
      dispatch_floating(s.dtype(), op, [&](auto tag) {
        using T = typename decltype(tag)::type;
        backend::cpu::pointwise_backward_kernel<backward_cost>(g.data<T>(), s.data<T>(),
                                                               grad_input.data<T>(), s.numel(), backward);
      });
    } else {
#if LACOOT_WITH_CUDA
      cuda::pointwise_backward(backward, g, s, grad_input);
#endif
    }
    return std::vector<Tensor>{grad_input};
  });
  return out;
}

}  // namespace detail

// ---- piecewise linear ----

// relu(x) = max(x, 0).                     https://pytorch.org/docs/stable/generated/torch.nn.ReLU.html
// relu'(x) = 1 for x > 0, else 0: the gradient at the kink x = 0 is 0, as in PyTorch. Read
// from the output as PyTorch's threshold_backward(grad, result, 0) does (y > 0 iff x > 0).
// max(NaN, 0) is NaN, as torch's.
inline Tensor relu(const Tensor& input) {
  return detail::activation<detail::Cost::Cheap, detail::Cost::Cheap>(
      "relu", input, detail::Saved::Output, fn::Relu{}, fn::ReluBackward{});
}

// relu6(x) = min(max(x, 0), 6) = hardtanh(x, 0, 6).   (torch.nn.ReLU6; MobileNetV2, arXiv:1801.04381)
// relu6'(x) = 1 for 0 < x < 6, else 0: PyTorch implements relu6 as hardtanh, whose backward
// passes the gradient only strictly inside (min_val, max_val), so it is 0 at both x = 0 and x = 6.
inline Tensor relu6(const Tensor& input) {
  return detail::activation<detail::Cost::Cheap, detail::Cost::Cheap>(
      "relu6", input, detail::Saved::Input, fn::Relu6{}, fn::Relu6Backward{});
}

// leaky_relu(x) = x for x > 0, negative_slope · x otherwise.   (torch.nn.LeakyReLU; Maas et al. 2013)
// leaky_relu'(x) = 1 for x > 0, else negative_slope (so negative_slope at x = 0, as PyTorch's
// leaky_relu_backward, which tests x > 0).
inline Tensor leaky_relu(const Tensor& input, double negative_slope = 0.01) {
  return detail::activation<detail::Cost::Cheap, detail::Cost::Cheap>(
      "leaky_relu", input, detail::Saved::Input, fn::with_params<fn::LeakyRelu>(negative_slope, 0),
      fn::with_params<fn::LeakyReluBackward>(negative_slope, 0));
}

// ---- smooth ----

// gelu(x) = x · Φ(x), Φ the standard normal CDF (Hendrycks & Gimpel, arXiv:1606.08415).
//   https://pytorch.org/docs/stable/generated/torch.nn.GELU.html
// `approximate` is a string as in PyTorch: gelu(x) or gelu(x, "none") is the exact form
//   Φ(x) = ½ (1 + erf(x / √2)),  gelu'(x) = Φ(x) + x φ(x),  φ(x) = exp(−x²/2) / √(2π);
// gelu(x, "tanh") is the tanh approximation (GPT-2's "gelu_new"):
//   gelu(x) ≈ ½ x (1 + tanh(u)),  u = √(2/π) (x + 0.044715 x³),
//   gelu'(x) ≈ ½ (1 + tanh u) + ½ x (1 − tanh² u) √(2/π) (1 + 3 · 0.044715 x²).
inline Tensor gelu(const Tensor& input, std::string_view approximate = "none") {
  LACOOT_CHECK(approximate == "none" || approximate == "tanh", "gelu: approximate must be "
               "\"none\" (the erf form) or \"tanh\", got \"", approximate, "\"");
  if (approximate == "tanh")
    return detail::activation<detail::Cost::Transcendental, detail::Cost::Transcendental>(
        "gelu", input, detail::Saved::Input, fn::GeluTanh{}, fn::GeluTanhBackward{});
  return detail::activation<detail::Cost::Transcendental, detail::Cost::Transcendental>(
      "gelu", input, detail::Saved::Input, fn::Gelu{}, fn::GeluBackward{});
}

// silu(x) = x · σ(x), also called swish (Ramachandran et al., arXiv:1710.05941).
//   https://pytorch.org/docs/stable/generated/torch.nn.SiLU.html
// silu'(x) = σ(x) + x σ(x)(1 − σ(x)) = σ(x) (1 + x (1 − σ(x))), from the input as PyTorch's
// silu_backward.
inline Tensor silu(const Tensor& input) {
  return detail::activation<detail::Cost::Transcendental, detail::Cost::Transcendental>(
      "silu", input, detail::Saved::Input, fn::Silu{}, fn::SiluBackward{});
}

// sigmoid(x) = σ(x) = 1 / (1 + e^−x).      https://pytorch.org/docs/stable/generated/torch.sigmoid.html
// σ'(x) = σ(x)(1 − σ(x)) = y (1 − y): the backward keeps the output y, not x, and needs no exp.
// For x → −∞, e^−x overflows to inf and y = 1/inf = 0 exactly, so no special case is needed.
inline Tensor sigmoid(const Tensor& input) {
  return detail::activation<detail::Cost::Transcendental, detail::Cost::Cheap>(
      "sigmoid", input, detail::Saved::Output, fn::Sigmoid{}, fn::SigmoidBackward{});
}

// tanh(x) = (e^x − e^−x) / (e^x + e^−x).    https://pytorch.org/docs/stable/generated/torch.tanh.html
// tanh'(x) = 1 − tanh²(x) = 1 − y²: the backward keeps the output y.
inline Tensor tanh(const Tensor& input) {
  return detail::activation<detail::Cost::Transcendental, detail::Cost::Cheap>(
      "tanh", input, detail::Saved::Output, fn::Tanh{}, fn::TanhBackward{});
}

}  // namespace lacoot

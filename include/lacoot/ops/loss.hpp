// lacoot/ops/loss.hpp — loss functions: cross_entropy, nll_loss, mse_loss.
//
// Holds: Reduction, CrossEntropyOptions, NLLLossOptions and the three losses, with the names,
// defaults and semantics of torch.nn.functional (PyTorch 1.13), for float32 and float64
// inputs and int64 class targets; each with a fused backward.
// Needs: ops/common.hpp, backend/cpu/softmax.hpp (log_softmax), backend/cpu/reduce.hpp (the
// deterministic double sum), backend/cpu/loss.hpp; with CUDA, backend/cuda/reduce.hpp (the
// same passes on the GPU).
// Leaves out: class weights (weight=), probability targets for cross_entropy, inputs with
// extra dims ([N, C, d1, ...]) or without the batch dim ([C]), mse_loss's broadcasting of
// mismatched shapes (PyTorch only warns; here it is an error), other losses (l1, bce,
// kl_div, ...), and double backward.
//
// Every loss first computes one loss per sample (or element), then reduces them: none keeps
// them all, sum adds them, mean divides the sum by the number of samples that count (for the
// class losses: those whose target is not ignore_index). Backward follows autograd/node.hpp:
// the gradient of the reduced loss is g (a scalar) times each term's weight (1 or 1 / count),
// with reduction = none it is g[n] per sample. Sums over samples are in double.
#pragma once

#include <vector>

#include "../backend/cpu/loss.hpp"
#include "../backend/cpu/reduce.hpp"
#include "../backend/cpu/softmax.hpp"
#include "common.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/reduce.hpp"
#endif

namespace lacoot {

// How a loss combines its per-sample values (PyTorch's reduction='none' | 'mean' | 'sum').
enum class Reduction { None, Mean, Sum };

// Options of cross_entropy, in torch.nn.functional.cross_entropy's order and with its defaults:
//   cross_entropy(logits, target, {.ignore_index = 0, .label_smoothing = 0.1})
struct CrossEntropyOptions {
  // Samples whose target equals this add nothing to the loss, its gradient or the count
  // that mean divides by. It need not be a valid class (the default is -100).
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::Mean;
  // ε in [0, 1]: the target distribution becomes (1 − ε) · onehot + ε / C on every class
  // (Szegedy et al., "Rethinking the Inception Architecture", arXiv:1512.00567, §7).
  double label_smoothing = 0.0;
};

// Options of nll_loss, as torch.nn.functional.nll_loss's.
struct NLLLossOptions {
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::Mean;
};

namespace detail {

// input [N, C] floating, target [N] int64 on the same device with every value a class in
// [0, C) or ignore_index. Returns how many samples are not ignored: what mean divides by. A
// cuda target is checked on a host copy (N values; the copy waits for the GPU).
inline int64_t check_class_targets(const char* op, const Tensor& input, const Tensor& target, int64_t ignore_index) {
  check_floating(op, input, Cuda::kernel);
  check_dim(op, input, 2, "N, C: one row of class scores per sample", Cuda::kernel);
  check_defined(op, target, "target", Cuda::kernel);
  LACOOT_CHECK(target.dtype() == kInt64, op, ": target must hold int64 class indices, got ",
               dtype_name(target.dtype()), " (hint: convert with .to(lacoot::kInt64))");
  LACOOT_CHECK(target.device() == input.device(), op, ": input is on ", input.device().str(), " but target on ",
               target.device().str());
  const int64_t N = input.size(0), C = input.size(1);
  LACOOT_CHECK(target.shape() == Shape{N}, op, ": expected target of shape [", N, "] (one class index per "
               "row of input ", shape_str(input.shape()), "), got ", shape_str(target.shape()));
  const Tensor on_host = target.cpu();
  const int64_t* t = on_host.data<int64_t>();
  int64_t counted = 0;
  for (int64_t n = 0; n < N; ++n) {
    LACOOT_CHECK(t[n] == ignore_index || (t[n] >= 0 && t[n] < C), op, ": target[", n, "] = ", t[n],
                 " is out of range for ", C, " classes (expected a class index in [0, ", C - 1,
                 "], or ignore_index = ", ignore_index, ")");
    counted += t[n] != ignore_index;
  }
  return counted;
}

// The per-sample losses reduced: [N] for none, else the 0-d scale · Σ_n loss[n] (summed in
// order, in double).
inline Tensor reduce_samples(const std::vector<double>& loss, Reduction reduction, double scale, DType dtype) {
  if (reduction == Reduction::None) {
    return tensor(loss, {static_cast<int64_t>(loss.size())}).to(dtype);
  }
  double s = 0;
  for (double l : loss) s += l;
  return full({}, s * scale, dtype);
}

#if LACOOT_WITH_CUDA
// The same for per-sample losses in a cuda tensor [N] (the sum in double on the GPU).
inline Tensor reduce_samples(const Tensor& loss, Reduction reduction, double scale) {
  if (reduction == Reduction::None) return loss;
  Tensor out = Tensor::empty({}, loss.dtype(), loss.device());
  cuda::sum(loss, {1}, nullptr, scale, out);
  return out;
}
#endif

// The class losses' shared backward: the gradient for the input ([N, C]) of
// reduction(a · nll + b · smooth), see backend::cpu::class_loss_backward.
inline Tensor class_loss_gradient(const char* op, const Tensor& g, const Tensor& logp, const Tensor& target,
                                  int64_t ignore_index, Reduction reduction, double a, double b, bool logits) {
  Tensor dx = Tensor::empty(logp.shape(), logp.dtype(), logp.device());
#if LACOOT_WITH_CUDA
  if (logp.device().is_cuda()) {
    cuda::class_loss_backward(logp, target, ignore_index, g, reduction == Reduction::None, a, b, logits, dx);
    return dx;
  }
#endif
  dispatch_floating(logp.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    backend::cpu::class_loss_backward(logp.data<T>(), target.data<int64_t>(), logp.size(0), logp.size(1),
                                      ignore_index, g.data<T>(), reduction == Reduction::None, a, b, logits,
                                      dx.data<T>());
  });
  return dx;
}

}  // namespace detail

// ---- cross_entropy ----

// cross_entropy(input [N, C] logits, target [N] int64 classes, options): the negative
// log-likelihood of the target class under softmax(input), with label smoothing.
//   https://pytorch.org/docs/1.13/generated/torch.nn.functional.cross_entropy.html
// Per sample n with target t (logp = log_softmax(input, 1), ε = label_smoothing):
//   l_n = (1 − ε) · (−logp[n, t]) + (ε / C) · (−Σ_c logp[n, c]),   0 when t == ignore_index,
// and mean = Σ_n l_n / (number of samples with t ≠ ignore_index). Both terms are divided by
// that count, as PyTorch 1.13 does (an all-ignored batch gives 0 / 0 = NaN, as there).
// Worked example: input [[0, ln 3]], target [1]: softmax = [1/4, 3/4], loss = −ln(3/4) ≈ 0.2877.
// Backward, fused (backend::cpu::class_loss_backward), with p = softmax(input):
//   dl_n/dinput[n, c] = (1 − ε) (p_c − [c = t]) + (ε / C)(C p_c − 1) = p_c − ((1 − ε)[c = t] + ε / C),
// the softmax minus the smoothed one-hot target.
inline Tensor cross_entropy(const Tensor& input, const Tensor& target, const CrossEntropyOptions& options = {}) {
  const char* op = "cross_entropy";
  const int64_t counted = detail::check_class_targets(op, input, target, options.ignore_index);
  const double eps = options.label_smoothing;
  LACOOT_CHECK(eps >= 0.0 && eps <= 1.0, op, ": label_smoothing must be between 0.0 and 1.0, got ", eps);
  const int64_t N = input.size(0), C = input.size(1);
  const double a = 1.0 - eps, b = eps / static_cast<double>(C);
  const double scale = options.reduction == Reduction::Mean ? 1.0 / static_cast<double>(counted) : 1.0;
  Tensor logp = Tensor::empty(input.shape(), input.dtype(), input.device());  // log_softmax(input, 1)
  Tensor out;
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda()) {
    cuda::softmax(true, input, {N, C, 1}, logp);
    Tensor loss = Tensor::empty({N}, input.dtype(), input.device());
    cuda::class_loss_terms(logp, target, options.ignore_index, a, b, loss);
    out = detail::reduce_samples(loss, options.reduction, scale);
  }
#endif
  if (!out.defined()) {
    std::vector<double> nll(static_cast<std::size_t>(N)), smooth(static_cast<std::size_t>(N), 0.0);
    dispatch_floating(input.dtype(), op, [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::softmax_kernel<true>(input.data<T>(), backend::cpu::DimSplit(input.shape(), 1), logp.data<T>());
      backend::cpu::nll_terms(logp.data<T>(), target.data<int64_t>(), N, C, options.ignore_index, nll.data(),
                              eps > 0 ? smooth.data() : nullptr);
    });
    std::vector<double> loss(static_cast<std::size_t>(N));
    for (std::size_t n = 0; n < loss.size(); ++n) loss[n] = a * nll[n] + b * smooth[n];
    out = detail::reduce_samples(loss, options.reduction, scale, input.dtype());
  }
  autograd::record(out, op, {input}, [op, logp, target, options, a = a * scale, b = b * scale](
                                         const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{detail::class_loss_gradient(op, g, logp, target, options.ignore_index,
                                                           options.reduction, a, b, /*logits=*/true)};
  });
  return out;
}

// ---- nll_loss ----

// nll_loss(input [N, C] log-probabilities, target [N] int64 classes, options):
//   l_n = −input[n, target[n]]   (0 where target[n] == ignore_index),
// mean = Σ l_n / (number of samples not ignored).
//   https://pytorch.org/docs/1.13/generated/torch.nn.functional.nll_loss.html
// cross_entropy(x, t) is nll_loss(log_softmax(x, 1), t) when label_smoothing = 0.
// Backward: dl_n/dinput[n, c] = −[c = target[n]].
inline Tensor nll_loss(const Tensor& input, const Tensor& target, const NLLLossOptions& options = {}) {
  const char* op = "nll_loss";
  const int64_t counted = detail::check_class_targets(op, input, target, options.ignore_index);
  const int64_t N = input.size(0), C = input.size(1);
  const double scale = options.reduction == Reduction::Mean ? 1.0 / static_cast<double>(counted) : 1.0;
  Tensor out;
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda()) {
    Tensor loss = Tensor::empty({N}, input.dtype(), input.device());
    cuda::class_loss_terms(input, target, options.ignore_index, 1.0, 0.0, loss);
    out = detail::reduce_samples(loss, options.reduction, scale);
  }
#endif
  if (!out.defined()) {
    std::vector<double> loss(static_cast<std::size_t>(N));
    dispatch_floating(input.dtype(), op, [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::nll_terms(input.data<T>(), target.data<int64_t>(), N, C, options.ignore_index, loss.data(),
                              nullptr);
    });
    out = detail::reduce_samples(loss, options.reduction, scale, input.dtype());
  }
  autograd::record(out, op, {input}, [op, x = input.detach(), target, options, scale](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{detail::class_loss_gradient(op, g, x, target, options.ignore_index,
                                                           options.reduction, scale, 0.0, /*logits=*/false)};
  });
  return out;
}

// ---- mse_loss ----

// mse_loss(input, target, reduction): the squared error (input − target)² per element, of the
// same shape; mean divides the sum by the number of elements.
//   https://pytorch.org/docs/1.13/generated/torch.nn.functional.mse_loss.html
// Worked example: input [1, 2], target [0, 4]: errors [1, 4], mean 2.5, sum 5.
// Backward, for both arguments: d(input − target)²/dinput = 2 (input − target) = −d/dtarget.
inline Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean) {
  const char* op = "mse_loss";
  detail::check_floating(op, input, detail::Cuda::kernel);
  detail::check_same(op, {input, target}, detail::Cuda::kernel);
  LACOOT_CHECK(input.shape() == target.shape(), op, ": input ", shape_str(input.shape()), " and target ",
               shape_str(target.shape()), " must have the same shape (PyTorch would broadcast them with a "
               "warning; reshape one explicitly if that is meant)");
  const int64_t n = input.numel();
  const double scale = reduction == Reduction::Mean ? 1.0 / static_cast<double>(n) : 1.0;
  Tensor squared = Tensor::empty(input.shape(), input.dtype(), input.device());
  Tensor out;
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda()) {
    cuda::binary(fn::Sub{}, input, target, squared);
    cuda::binary(fn::Mul{}, squared, squared, squared);
    out = reduction == Reduction::None ? squared : Tensor::empty({}, input.dtype(), input.device());
    if (reduction != Reduction::None) cuda::sum(squared, {1}, nullptr, scale, out);
  }
#endif
  if (!out.defined()) {
    double total = 0;
    dispatch_floating(input.dtype(), op, [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::squared_error_kernel(input.data<T>(), target.data<T>(), n, squared.data<T>());
      if (reduction != Reduction::None)
        backend::cpu::sum_kernel(squared.data<T>(), backend::cpu::make_reduce_layout({n}, {true}), nullptr, &total);
    });
    out = reduction == Reduction::None ? squared : full({}, total * scale, input.dtype());
  }
  autograd::record(out, op, {input, target}, [op, x = input.detach(), y = target.detach(), reduction, scale](
                                                 const Tensor& g, const std::vector<bool>& need) {
    Tensor dx = need[0] ? Tensor::empty(x.shape(), x.dtype(), x.device()) : Tensor();
    Tensor dy = need[1] ? Tensor::empty(y.shape(), y.dtype(), y.device()) : Tensor();
#if LACOOT_WITH_CUDA
    if (x.device().is_cuda()) {  // d = 2 · scale · g · (x − y); dx = d, dy = −d
      Tensor d = Tensor::empty(x.shape(), x.dtype(), x.device());
      cuda::binary(fn::Sub{}, x, y, d);
      cuda::binary(fn::Mul{}, d, g, d);
      cuda::binary(fn::Mul{}, d, detail::scalar_like(x, 2.0 * scale), d);
      if (need[0]) dx = d;
      if (need[1]) cuda::unary(fn::Neg{}, d, dy);
      return std::vector<Tensor>{dx, dy};
    }
#endif
    dispatch_floating(x.dtype(), op, [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::squared_error_backward_kernel(x.data<T>(), y.data<T>(), g.data<T>(), reduction == Reduction::None,
                                                  scale, x.numel(), dx.defined() ? dx.data<T>() : nullptr,
                                                  dy.defined() ? dy.data<T>() : nullptr);
    });
    return std::vector<Tensor>{dx, dy};
  });
  return out;
}

}  // namespace lacoot

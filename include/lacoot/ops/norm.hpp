// lacoot/ops/norm.hpp — batch and layer normalisation, as torch.nn.functional.batch_norm and
// torch.nn.functional.layer_norm.
//
// Holds: batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
// and layer_norm(input, normalized_shape, weight, bias, eps), float32 and float64, forward
// and backward (to input, weight and bias).
// Needs: ops/common.hpp, backend/cpu/norm.hpp (the fused kernels and the gradient formulas);
// with CUDA, backend/cuda/kernels.hpp (the same formulas on the GPU, a block per channel or row).
// Leaves out: the nn:: layers that own the parameters and running statistics (nn/ builds
// BatchNorm2d and LayerNorm on these), group/instance norm, momentum = None (nn.BatchNorm's
// cumulative average: pass 1 / num_batches_tracked as momentum), and double backward.
//
// Both compute y = (x − mean) / √(var + eps) · weight + bias with the biased variance
// (divide by the count, not count − 1) of a group of values:
//   batch_norm: per channel, over the batch and all positions (Ioffe & Szegedy 2015,
//               arXiv:1502.03167; https://pytorch.org/docs/1.13/generated/torch.nn.BatchNorm2d.html);
//   layer_norm: per sample, over the trailing normalized_shape dimensions (Ba, Kiros & Hinton
//               2016, arXiv:1607.06450; https://pytorch.org/docs/1.13/generated/torch.nn.LayerNorm.html).
// Backward follows autograd/node.hpp: one gradient per recorded input (input, weight, bias),
// computed only where asked for; absent weight/bias get none.
#pragma once

#include <cmath>
#include <utility>
#include <vector>

#include "../backend/cpu/norm.hpp"
#include "common.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/kernels.hpp"
#include "../backend/cuda/runtime.hpp"
#endif

namespace lacoot {
namespace detail {

// What a backward closure keeps of an optional tensor: detached, or undefined if absent.
inline Tensor detach_if_defined(const Tensor& t) { return t.defined() ? t.detach() : Tensor(); }

// A typed pointer to an optional tensor's elements, or null when it is absent.
template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// An optional tensor `what` of op must share the input's dtype and device, and have `shape`.
inline void check_param(const char* op, const Tensor& input, const Tensor& t, const char* what,
                        const Shape& shape, const char* why) {
  if (!t.defined()) return;
  LACOOT_CHECK(t.dtype() == input.dtype() && t.device() == input.device(), op, ": ", what, " is ",
               dtype_name(t.dtype()), " on ", t.device().str(), " but the input is ",
               dtype_name(input.dtype()), " on ", input.device().str(),
               " (hint: convert it with .to(...))");
  LACOOT_CHECK(t.shape() == shape, op, ": ", what, " has shape ", shape_str(t.shape()),
               ", expected ", shape_str(shape), " (", why, ")");
}

}  // namespace detail

// ---- batch_norm ----

// y = (x − mean[c]) / √(var[c] + eps) · weight[c] + bias[c] for x in channel c.
//   input         [N, C] or [N, C, *] (e.g. [N, C, H, W]); channel is dim 1.
//   running_mean, running_var  [C] or both undefined. Updated in place when training:
//                 running_mean = (1 − momentum) · running_mean + momentum · mean_batch,
//                 running_var  = (1 − momentum) · running_var  + momentum · var_batch_unbiased
//                 (the unbiased variance Σ(x − mean)² / (M − 1) here, the biased one in y, as
//                 PyTorch does). They are state, not parameters: they must not require grad.
//   weight, bias  [C] or undefined (no affine map: 1 and 0).
//   training      true: normalise by the batch's statistics (M = N·∏spatial values per channel,
//                 M ≥ 2); false: by the running statistics, which must then be given.
inline Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                         const Tensor& weight = {}, const Tensor& bias = {}, bool training = false,
                         double momentum = 0.1, double eps = 1e-5) {
  detail::check_floating("batch_norm", input, detail::Cuda::kernel);
  LACOOT_CHECK(input.dim() >= 2, "batch_norm: expected an input of shape [N, C] or [N, C, *] "
               "(at least 2-D, channels in dim 1), got shape ", shape_str(input.shape()),
               " (hint: add a batch dimension with unsqueeze(0))");
  backend::cpu::BatchNormShape s;
  s.N = input.size(0), s.C = input.size(1);
  s.S = s.N * s.C == 0 ? 0 : input.numel() / (s.N * s.C);
  for (auto [t, what] : {std::pair{&running_mean, "running_mean"}, {&running_var, "running_var"},
                         {&weight, "weight"}, {&bias, "bias"}})
    detail::check_param("batch_norm", input, *t, what, {s.C}, "one value per channel, C = input.size(1)");
  LACOOT_CHECK(running_mean.defined() == running_var.defined(), "batch_norm: running_mean is ",
               running_mean.defined() ? "defined" : "undefined", " but running_var is ",
               running_var.defined() ? "defined" : "undefined", " (give both or neither)");
  LACOOT_CHECK(training || running_mean.defined(), "batch_norm: running_mean and running_var "
               "must be defined in evaluation mode (training = false); without running "
               "statistics, pass training = true to normalise by the batch's own statistics");
  LACOOT_CHECK(!running_mean.defined() || (!running_mean.requires_grad() && !running_var.requires_grad()),
               "batch_norm: running_mean and running_var are updated in place and must not "
               "require grad (hint: they are buffers, not parameters)");
  LACOOT_CHECK(!training || s.per_channel() > 1, "batch_norm: Expected more than 1 value per "
               "channel when training, got input size ", shape_str(input.shape()),
               " (the variance of one value is undefined; hint: use a batch of at least 2, or "
               "training = false)");

  Tensor out = Tensor::empty(input.shape(), input.dtype(), input.device());
  // The statistics y was normalised with, per channel: what backward needs besides x.
  Tensor mean = Tensor::empty({s.C}, input.dtype(), input.device());
  Tensor invstd = Tensor::empty({s.C}, input.dtype(), input.device());
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda()) {
    using detail::raw_or_null;
    if (training)
      cuda::kernels::batch_norm_forward_training(input.raw_data(), raw_or_null(weight), raw_or_null(bias), eps, momentum,
                                                 raw_or_null(running_mean), raw_or_null(running_var), out.raw_data(),
                                                 mean.raw_data(), invstd.raw_data(), input.dtype(), s.N, s.C, s.S,
                                                 cuda::stream(input.device().index));
    else
      cuda::kernels::batch_norm_forward_eval(input.raw_data(), raw_or_null(weight), raw_or_null(bias),
                                             running_mean.raw_data(), running_var.raw_data(), eps, out.raw_data(),
                                             mean.raw_data(), invstd.raw_data(), input.dtype(), s.N, s.C, s.S,
                                             cuda::stream(input.device().index));
  } else
#endif
  dispatch_floating(input.dtype(), "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* w = detail::data_or_null<T>(weight);
    const T* b = detail::data_or_null<T>(bias);
    T* m = mean.data<T>();
    T* k = invstd.data<T>();
    if (training) {
      std::vector<double> unbiased_var(static_cast<std::size_t>(s.C));
      backend::cpu::batch_norm_forward_training(input.data<T>(), s, w, b, eps, out.data<T>(), m,
                                                k, unbiased_var.data());
      if (running_mean.defined()) {  // in place, outside autograd (they are state)
        T* rm = running_mean.data<T>();
        T* rv = running_var.data<T>();
        for (int64_t c = 0; c < s.C; ++c) {
          rm[c] = static_cast<T>((1 - momentum) * static_cast<double>(rm[c]) +
                                 momentum * static_cast<double>(m[c]));
          rv[c] = static_cast<T>((1 - momentum) * static_cast<double>(rv[c]) +
                                 momentum * unbiased_var[static_cast<std::size_t>(c)]);
        }
      }
    } else {
      // Copy the running statistics now: a later training step may update them before backward.
      const T* rm = running_mean.data<T>();
      const T* rv = running_var.data<T>();
      for (int64_t c = 0; c < s.C; ++c) {
        m[c] = rm[c];
        k[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(rv[c]) + eps));
      }
      backend::cpu::batch_norm_forward_eval(input.data<T>(), s, w, b, m, k, out.data<T>());
    }
  });

  autograd::record(out, "batch_norm", {input, weight, bias},
                   [x = input.detach(), w = detail::detach_if_defined(weight), mean, invstd,
                    training, s](const Tensor& g, const std::vector<bool>& need) {
    // Forward: y = x̂ · w + b, x̂ = (x − mean) · invstd; in training mode mean and invstd are
    // functions of x too (the closed form is in backend/cpu/norm.hpp's batch_norm_backward).
    Tensor dx, dw, db;
    if (need[0]) dx = Tensor::empty(x.shape(), x.dtype(), x.device());
    if (need[1]) dw = Tensor::empty({s.C}, x.dtype(), x.device());
    if (need[2]) db = Tensor::empty({s.C}, x.dtype(), x.device());
#if LACOOT_WITH_CUDA
    if (x.device().is_cuda()) {
      using detail::raw_or_null;
      cuda::kernels::batch_norm_backward(g.raw_data(), x.raw_data(), raw_or_null(w), mean.raw_data(), invstd.raw_data(),
                                         training, raw_or_null(dx), raw_or_null(dw), raw_or_null(db), x.dtype(), s.N,
                                         s.C, s.S, cuda::stream(x.device().index));
      return std::vector<Tensor>{dx, dw, db};
    }
#endif
    dispatch_floating(x.dtype(), "batch_norm", [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::batch_norm_backward(g.data<T>(), x.data<T>(), s, detail::data_or_null<T>(w),
                                        mean.data<T>(), invstd.data<T>(), training,
                                        need[0] ? dx.data<T>() : nullptr,
                                        need[1] ? dw.data<T>() : nullptr,
                                        need[2] ? db.data<T>() : nullptr);
    });
    return std::vector<Tensor>{dx, dw, db};
  });
  return out;
}

// ---- layer_norm ----

// y = (x − mean) / √(var + eps) · weight + bias, with mean and var over the trailing
// dimensions that match normalized_shape, separately for each leading index.
//   input             [*, normalized_shape...], e.g. [B, T, C] with normalized_shape {C}
//   normalized_shape  the trailing sizes of input to normalise over (at least one)
//   weight, bias      normalized_shape, or undefined (elementwise_affine = false: 1 and 0)
inline Tensor layer_norm(const Tensor& input, const Shape& normalized_shape,
                         const Tensor& weight = {}, const Tensor& bias = {}, double eps = 1e-5) {
  detail::check_floating("layer_norm", input, detail::Cuda::kernel);
  const auto k = static_cast<int64_t>(normalized_shape.size());
  LACOOT_CHECK(k >= 1, "layer_norm: Expected normalized_shape to be at least 1-dimensional, "
               "i.e., containing at least one element, but got normalized_shape = []");
  const bool trailing_match =
      input.dim() >= k && Shape(input.shape().end() - k, input.shape().end()) == normalized_shape;
  LACOOT_CHECK(trailing_match, "layer_norm: Given normalized_shape=", shape_str(normalized_shape),
               ", expected input with shape [*, ", shape_str(normalized_shape).substr(1),
               ", but got input of size ", shape_str(input.shape()),
               " (normalized_shape must equal the input's last dimensions)");
  detail::check_param("layer_norm", input, weight, "weight", normalized_shape, "normalized_shape");
  detail::check_param("layer_norm", input, bias, "bias", normalized_shape, "normalized_shape");
  const int64_t cols = lacoot::numel(normalized_shape);
  const int64_t rows = cols == 0 ? 0 : input.numel() / cols;

  Tensor out = Tensor::empty(input.shape(), input.dtype(), input.device());
  Tensor mean = Tensor::empty({rows}, input.dtype(), input.device());
  Tensor invstd = Tensor::empty({rows}, input.dtype(), input.device());
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda())
    cuda::kernels::layer_norm_forward(input.raw_data(), rows, cols, detail::raw_or_null(weight), detail::raw_or_null(bias),
                                      eps, out.raw_data(), mean.raw_data(), invstd.raw_data(), input.dtype(),
                                      cuda::stream(input.device().index));
  else
#endif
  dispatch_floating(input.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    backend::cpu::layer_norm_forward(input.data<T>(), rows, cols, detail::data_or_null<T>(weight),
                                     detail::data_or_null<T>(bias), eps, out.data<T>(),
                                     mean.data<T>(), invstd.data<T>());
  });

  autograd::record(out, "layer_norm", {input, weight, bias},
                   [x = input.detach(), w = detail::detach_if_defined(weight), mean, invstd, rows,
                    cols, normalized_shape](const Tensor& g, const std::vector<bool>& need) {
    // Forward: y = x̂ · w + b, x̂ = (x − mean_row) · invstd_row (backend/cpu/norm.hpp).
    Tensor dx, dw, db;
#if LACOOT_WITH_CUDA
    if (x.device().is_cuda()) {
      const cudaStream_t st = cuda::stream(x.device().index);
      if (need[0])
        cuda::kernels::layer_norm_backward_input(g.raw_data(), x.raw_data(), rows, cols, detail::raw_or_null(w),
                                                 mean.raw_data(), invstd.raw_data(),
                                                 (dx = Tensor::empty(x.shape(), x.dtype(), x.device())).raw_data(),
                                                 x.dtype(), st);
      if (need[1]) dw = Tensor::empty(normalized_shape, x.dtype(), x.device());
      if (need[2]) db = Tensor::empty(normalized_shape, x.dtype(), x.device());
      if (need[1] || need[2])
        cuda::kernels::layer_norm_backward_params(g.raw_data(), x.raw_data(), rows, cols, mean.raw_data(),
                                                  invstd.raw_data(), detail::raw_or_null(dw), detail::raw_or_null(db),
                                                  x.dtype(), st);
      return std::vector<Tensor>{dx, dw, db};
    }
#endif
    dispatch_floating(x.dtype(), "layer_norm", [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (need[0]) {
        dx = Tensor::empty(x.shape(), x.dtype());
        backend::cpu::layer_norm_backward_input(g.data<T>(), x.data<T>(), rows, cols,
                                                detail::data_or_null<T>(w), mean.data<T>(),
                                                invstd.data<T>(), dx.data<T>());
      }
      if (need[1] || need[2]) {
        if (need[1]) dw = Tensor::empty(normalized_shape, x.dtype());
        if (need[2]) db = Tensor::empty(normalized_shape, x.dtype());
        backend::cpu::layer_norm_backward_params(g.data<T>(), x.data<T>(), rows, cols,
                                                 mean.data<T>(), invstd.data<T>(),
                                                 need[1] ? dw.data<T>() : nullptr,
                                                 need[2] ? db.data<T>() : nullptr);
      }
    });
    return std::vector<Tensor>{dx, dw, db};
  });
  return out;
}

}  // namespace lacoot

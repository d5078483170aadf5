// lacoot/ops/pooling.hpp — 2-D pooling, as torch.nn.functional.max_pool2d, avg_pool2d and
// adaptive_avg_pool2d.
//
// Holds: MaxPool2dOptions, AvgPool2dOptions, max_pool2d, max_pool2d_with_indices, avg_pool2d,
// adaptive_avg_pool2d, for float32 and float64, forward and backward.
// Needs: ops/common.hpp, ops/int_pair.hpp, backend/cpu/pooling.hpp (the loops, the window of
// each output cell, and how the gradient goes back through it); with CUDA,
// backend/cuda/kernels.hpp (the same loops on the GPU, equal to the bit).
// Leaves out: 1-D/3-D pooling, lp_pool, fractional and adaptive max pooling, max_unpool,
// output_size = None in adaptive pooling, and double backward.
//
// Shapes (PyTorch's names): input [N, C, H, W] (or [C, H, W], unbatched), output
// [N, C, H_out, W_out]; each of the N·C planes is pooled on its own. For max and average
// pooling (https://pytorch.org/docs/1.13/generated/torch.nn.MaxPool2d.html):
//     H_out = floor((H + 2·padding − dilation·(kernel_size − 1) − 1) / stride) + 1
// (ceil instead of floor with ceil_mode, as long as the last window starts inside the input
// or its left padding); W_out likewise. Window (i, j) covers rows i·stride − padding + a·dilation,
// a = 0..kernel_size−1, and the columns likewise.
//
// Backward follows autograd/node.hpp: max pooling sends each output's gradient to the input
// element that was its maximum (the saved int64 indices); average pooling spreads it evenly
// over the window, divided by the same divisor as the forward.
#pragma once

#include <optional>
#include <tuple>

#include "../backend/cpu/pooling.hpp"
#include "common.hpp"
#include "int_pair.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/kernels.hpp"
#include "../backend/cuda/runtime.hpp"
#endif

namespace lacoot {

// The optional arguments of max_pool2d, with PyTorch's defaults:
//   max_pool2d(x, 3, {.stride = 2, .padding = 1})
// (`= std::nullopt` is spelled out so that GCC's -Wmissing-field-initializers stays quiet
// when a designated initializer leaves the field out.)
struct MaxPool2dOptions {
  std::optional<IntPair> stride = std::nullopt;  // step of the window; unset: kernel_size
  IntPair padding = 0;      // −∞ added on both sides of each axis; at most kernel_size / 2
  IntPair dilation = 1;     // spacing between the window's taps
  bool ceil_mode = false;   // round the output size up instead of down
};

// The optional arguments of avg_pool2d, with PyTorch's defaults:
//   avg_pool2d(x, 2, {.stride = 1, .count_include_pad = false})
struct AvgPool2dOptions {
  std::optional<IntPair> stride = std::nullopt;  // step of the window; unset: kernel_size
  IntPair padding = 0;            // zeros added on both sides of each axis; at most kernel_size / 2
  bool ceil_mode = false;         // round the output size up instead of down
  bool count_include_pad = true;  // divide by the window's size with its padding, or by the taps inside
  std::optional<int64_t> divisor_override = std::nullopt;  // if set (non-zero): divide every sum by it
};

namespace detail {

#if LACOOT_WITH_CUDA
inline cuda::kernels::PoolGeometry cuda_pool(const backend::cpu::Pool2dShape& s) {
  return {.planes = s.planes, .H = s.H, .W = s.W, .Ho = s.Ho, .Wo = s.Wo, .kh = s.kh, .kw = s.kw, .sh = s.sh,
          .sw = s.sw, .ph = s.ph, .pw = s.pw, .dh = s.dh, .dw = s.dw};
}
#endif

// Checks a pooling call as PyTorch's pool2d_shape_check does and returns its sizes.
inline backend::cpu::Pool2dShape pool2d_shape(const char* op, const Tensor& input, IntPair kernel,
                                              IntPair stride, IntPair padding, IntPair dilation,
                                              bool ceil_mode) {
  check_floating(op, input, Cuda::kernel);
  LACOOT_CHECK(input.dim() == 4 || input.dim() == 3, op, ": expected a 4-D input [N, C, H, W] "
               "(or 3-D [C, H, W], unbatched), got shape ", shape_str(input.shape()));
  LACOOT_CHECK(input.size(-1) > 0 && input.size(-2) > 0 && input.size(-3) > 0, op,
               ": expected non-zero sizes for the C, H, W dimensions, got shape ",
               shape_str(input.shape()));
  LACOOT_CHECK(kernel.h > 0 && kernel.w > 0, op, ": kernel_size must be greater than zero, got (",
               kernel.h, ", ", kernel.w, ")");
  LACOOT_CHECK(stride.h > 0 && stride.w > 0, op, ": stride must be greater than zero, got (",
               stride.h, ", ", stride.w, ")");
  LACOOT_CHECK(dilation.h > 0 && dilation.w > 0, op, ": dilation must be greater than zero, got (",
               dilation.h, ", ", dilation.w, ")");
  // More padding than half a window would allow windows made only of padding.
  LACOOT_CHECK(padding.h >= 0 && padding.w >= 0 && padding.h <= kernel.h / 2 &&
               padding.w <= kernel.w / 2, op, ": pad should be at most half of kernel size, "
               "but got padding (", padding.h, ", ", padding.w, ") and kernel_size (", kernel.h,
               ", ", kernel.w, ")");
  backend::cpu::Pool2dShape s;
  s.H = input.size(-2), s.W = input.size(-1);
  s.planes = input.numel() / (s.H * s.W);
  s.kh = kernel.h, s.kw = kernel.w, s.sh = stride.h, s.sw = stride.w;
  s.ph = padding.h, s.pw = padding.w, s.dh = dilation.h, s.dw = dilation.w;
  s.Ho = backend::cpu::pool_output_size(s.H, s.kh, s.sh, s.ph, s.dh, ceil_mode);
  s.Wo = backend::cpu::pool_output_size(s.W, s.kw, s.sw, s.pw, s.dw, ceil_mode);
  LACOOT_CHECK(s.Ho >= 1 && s.Wo >= 1, op, ": given input of shape ", shape_str(input.shape()),
               ", the calculated output size is ", s.Ho, "x", s.Wo, ": output size is too small "
               "(kernel_size (", s.kh, ", ", s.kw, "), dilation (", s.dh, ", ", s.dw,
               "), padding (", s.ph, ", ", s.pw, "); hint: use a smaller kernel or a larger input)");
  return s;
}

// The input's shape with the last two sizes replaced by the output's.
inline Shape pooled_shape(const Tensor& input, int64_t Ho, int64_t Wo) {
  Shape out = input.shape();
  out[out.size() - 2] = Ho;
  out[out.size() - 1] = Wo;
  return out;
}

}  // namespace detail

// ---- max pooling ----

namespace detail {

// max_pool2d's forward, and its backward recorded when the input requires grad; the indices
// are computed when `want_indices` or the backward needs them (else left undefined).
inline std::tuple<Tensor, Tensor> max_pool2d_impl(const Tensor& input, IntPair kernel_size,
                                                  const MaxPool2dOptions& options, bool want_indices) {
  const backend::cpu::Pool2dShape s =
      pool2d_shape("max_pool2d", input, kernel_size, options.stride.value_or(kernel_size),
                   options.padding, options.dilation, options.ceil_mode);
  Tensor out = Tensor::empty(pooled_shape(input, s.Ho, s.Wo), input.dtype(), input.device());
  const bool backward = autograd::GradMode::is_enabled() && input.requires_grad();
  Tensor indices = want_indices || backward ? Tensor::empty(out.shape(), kInt64, input.device()) : Tensor();
  int64_t* at = indices.defined() ? indices.data<int64_t>() : nullptr;
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda())
    cuda::kernels::max_pool2d_forward(input.raw_data(), out.raw_data(), at, input.dtype(), cuda_pool(s),
                                      cuda::stream(input.device().index));
  else
#endif
    dispatch_floating(input.dtype(), "max_pool2d", [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::max_pool2d_forward(input.data<T>(), s, out.data<T>(), at);
    });
  if (!backward) return {out, indices};
  autograd::record(out, "max_pool2d", {input}, [indices, in_shape = input.shape(), s](
                                                   const Tensor& g, const std::vector<bool>&) {
    // Forward: out = x[argmax]; so dx[argmax] += g, and 0 elsewhere.
    Tensor dx = Tensor::empty(in_shape, g.dtype(), g.device());
#if LACOOT_WITH_CUDA
    if (g.device().is_cuda()) {
      cuda::kernels::max_pool2d_backward(g.raw_data(), indices.data<int64_t>(), dx.raw_data(), g.dtype(),
                                         cuda_pool(s), cuda::stream(g.device().index));
      return std::vector<Tensor>{dx};
    }
#endif
    dispatch_floating(g.dtype(), "max_pool2d", [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::max_pool2d_backward(g.data<T>(), indices.data<int64_t>(), s, dx.data<T>());
    });
    return std::vector<Tensor>{dx};
  });
  return {out, indices};
}

}  // namespace detail

// (out, indices): out[n, c, i, j] = the maximum of input[n, c] over window (i, j); indices,
// int64 and of out's shape, holds where it was, as h·W + w within the plane (PyTorch's
// return_indices = True; LibTorch's max_pool2d_with_indices). Only out is differentiable.
inline std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, IntPair kernel_size,
                                                          const MaxPool2dOptions& options = {}) {
  return detail::max_pool2d_impl(input, kernel_size, options, true);
}

// out[n, c, i, j] = max of input[n, c] over window (i, j), as torch.nn.functional.max_pool2d.
//   max_pool2d(x, 2)                                  2×2 windows, stride 2
//   max_pool2d(x, 3, {.stride = 2, .padding = 1})     ResNet's stem pooling
// Without a backward to record (evaluation, NoGradGuard) no indices are computed.
inline Tensor max_pool2d(const Tensor& input, IntPair kernel_size, const MaxPool2dOptions& options = {}) {
  return std::get<0>(detail::max_pool2d_impl(input, kernel_size, options, false));
}

// ---- average pooling ----

// out[n, c, i, j] = Σ input[n, c] over window (i, j) / divisor, as
// torch.nn.functional.avg_pool2d; the divisor is options.divisor_override if set, else the
// window's size counting padding (count_include_pad) or not. See backend/cpu/pooling.hpp's
// avg_pool_window for the exact window in ceil_mode.
inline Tensor avg_pool2d(const Tensor& input, IntPair kernel_size, const AvgPool2dOptions& options = {}) {
  LACOOT_CHECK(!options.divisor_override || *options.divisor_override != 0,
               "avg_pool2d: divisor_override must be non-zero (leave it unset for the default "
               "divisor)");
  const backend::cpu::Pool2dShape s =
      detail::pool2d_shape("avg_pool2d", input, kernel_size, options.stride.value_or(kernel_size),
                           options.padding, 1, options.ceil_mode);
  const bool include_pad = options.count_include_pad;
  const int64_t divisor = options.divisor_override.value_or(0);  // 0: none
  Tensor out = Tensor::empty(detail::pooled_shape(input, s.Ho, s.Wo), input.dtype(), input.device());
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda())
    cuda::kernels::avg_pool2d_forward(input.raw_data(), out.raw_data(), input.dtype(), detail::cuda_pool(s),
                                      include_pad, divisor, cuda::stream(input.device().index));
  else
#endif
    dispatch_floating(input.dtype(), "avg_pool2d", [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::avg_pool2d_forward(input.data<T>(), s, include_pad, divisor, out.data<T>());
    });
  autograd::record(out, "avg_pool2d", {input}, [in_shape = input.shape(), s, include_pad, divisor](
                                                   const Tensor& g, const std::vector<bool>&) {
    // Forward: out = Σ_window x / D; so every tap of the window gets g / D.
    Tensor dx = Tensor::empty(in_shape, g.dtype(), g.device());
#if LACOOT_WITH_CUDA
    if (g.device().is_cuda()) {
      cuda::kernels::avg_pool2d_backward(g.raw_data(), dx.raw_data(), g.dtype(), detail::cuda_pool(s), include_pad,
                                         divisor, cuda::stream(g.device().index));
      return std::vector<Tensor>{dx};
    }
#endif
    dispatch_floating(g.dtype(), "avg_pool2d", [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::avg_pool2d_backward(g.data<T>(), s, include_pad, divisor, dx.data<T>());
    });
    return std::vector<Tensor>{dx};
  });
  return out;
}

// ---- adaptive average pooling ----

// out[n, c, i, j] = mean of input[n, c] over rows [floor(i·H/oh), ceil((i+1)·H/oh)) and
// columns [floor(j·W/ow), ceil((j+1)·W/ow)), as torch.nn.functional.adaptive_avg_pool2d: the
// output has output_size = (oh, ow) whatever the input's size (ResNet's global pooling is
// adaptive_avg_pool2d(x, 1)). Windows may differ in size by one and overlap by one row.
inline Tensor adaptive_avg_pool2d(const Tensor& input, IntPair output_size) {
  detail::check_floating("adaptive_avg_pool2d", input, detail::Cuda::kernel);
  LACOOT_CHECK(input.dim() == 4 || input.dim() == 3, "adaptive_avg_pool2d: expected a 4-D input "
               "[N, C, H, W] (or 3-D [C, H, W], unbatched), got shape ", shape_str(input.shape()));
  LACOOT_CHECK(input.size(-1) > 0 && input.size(-2) > 0 && input.size(-3) > 0,
               "adaptive_avg_pool2d: expected non-zero sizes for the C, H, W dimensions, got "
               "shape ", shape_str(input.shape()));
  LACOOT_CHECK(output_size.h >= 0 && output_size.w >= 0, "adaptive_avg_pool2d: output_size "
               "must be non-negative, got (", output_size.h, ", ", output_size.w, ")");
  backend::cpu::Pool2dShape s;
  s.H = input.size(-2), s.W = input.size(-1), s.Ho = output_size.h, s.Wo = output_size.w;
  s.planes = input.numel() / (s.H * s.W);
  Tensor out = Tensor::empty(detail::pooled_shape(input, s.Ho, s.Wo), input.dtype(), input.device());
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda())
    cuda::kernels::adaptive_avg_pool2d_forward(input.raw_data(), out.raw_data(), input.dtype(), detail::cuda_pool(s),
                                               cuda::stream(input.device().index));
  else
#endif
    dispatch_floating(input.dtype(), "adaptive_avg_pool2d", [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::adaptive_avg_pool2d_forward(input.data<T>(), s, out.data<T>());
    });
  autograd::record(out, "adaptive_avg_pool2d", {input}, [in_shape = input.shape(), s](
                                                            const Tensor& g, const std::vector<bool>&) {
    // Forward: out = mean over the window; so every tap of the window gets g / window size.
    Tensor dx = Tensor::empty(in_shape, g.dtype(), g.device());
#if LACOOT_WITH_CUDA
    if (g.device().is_cuda()) {
      cuda::kernels::adaptive_avg_pool2d_backward(g.raw_data(), dx.raw_data(), g.dtype(), detail::cuda_pool(s),
                                                  cuda::stream(g.device().index));
      return std::vector<Tensor>{dx};
    }
#endif
    dispatch_floating(g.dtype(), "adaptive_avg_pool2d", [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::adaptive_avg_pool2d_backward(g.data<T>(), s, dx.data<T>());
    });
    return std::vector<Tensor>{dx};
  });
  return out;
}

}  // namespace lacoot

// lacoot/ops/conv.hpp — 2-D convolution, as torch.nn.functional.conv2d.
//
// Holds: Conv2dOptions (stride, padding, dilation, groups) and conv2d(input, weight, bias,
// options).
// Needs: ops/common.hpp, ops/int_pair.hpp (IntPair: `.stride = 2` means (2, 2), as PyTorch's
// `_pair`), backend/cpu/conv.hpp (read it, then im2col.hpp and depthwise.hpp, for how the
// convolution and its gradients are computed: im2col + GEMM, direct loops for depthwise); with
// CUDA and cuDNN, backend/cuda/cudnn.hpp (the same three passes on the GPU).
// Leaves out: padding="same"/"valid" strings, padding modes other than zeros, conv1d/conv3d
// and transposed convolutions.
//
// Shapes (PyTorch's names): input [N, C_in, H, W] (or [C_in, H, W], unbatched), weight
// [C_out, C_in / groups, kH, kW], bias [C_out] or an undefined Tensor for none, output
// [N, C_out, H_out, W_out] with H_out = floor((H + 2·padding − dilation·(kH − 1) − 1) / stride) + 1
// (https://pytorch.org/docs/1.13/generated/torch.nn.Conv2d.html). It is a cross-correlation:
//     out[n, o, i, j] = bias[o] + Σ_{c, ki, kj} weight[o, c, ki, kj] ·
//                       input[n, g·C_in/groups + c, i·sh − ph + ki·dh, j·sw − pw + kj·dw]
// over the channels c of output channel o's group g, zero outside the input.
//
// Backward follows autograd/node.hpp and computes only the gradients asked for:
//     dinput = col2im(weightᵀ · dout),  dweight = Σ_n dout · colsᵀ,  dbias = Σ_{n, i, j} dout.
#pragma once

#include <vector>

#include "../backend/cpu/conv.hpp"
#include "common.hpp"
#include "int_pair.hpp"
#if LACOOT_WITH_CUDNN
#include "../backend/cuda/cudnn.hpp"
#include "../backend/cuda/reduce.hpp"
#endif

namespace lacoot {

// The optional arguments of conv2d, with PyTorch's defaults:
//   conv2d(x, w, b, {.stride = 2, .padding = 1})
struct Conv2dOptions {
  IntPair stride = 1;    // step of the window over the input
  IntPair padding = 0;   // zeros added on both sides of each axis
  IntPair dilation = 1;  // spacing between kernel taps (atrous convolution)
  int64_t groups = 1;    // split channels into `groups` independent convolutions
};

namespace detail {

#if LACOOT_WITH_CUDNN
inline constexpr Cuda kConvCuda = Cuda::kernel;  // conv2d runs on cuDNN

inline cuda::ConvGeometry cudnn_geometry(const backend::cpu::ConvShape& s) {
  return {.N = s.N, .C = s.C, .H = s.H, .W = s.W, .O = s.O, .kh = s.kh, .kw = s.kw, .Ho = s.Ho, .Wo = s.Wo,
          .sh = s.sh, .sw = s.sw, .ph = s.ph, .pw = s.pw, .dh = s.dh, .dw = s.dw, .groups = s.groups};
}
#else
inline constexpr Cuda kConvCuda = Cuda::none;  // no cuDNN in this build: conv2d refuses cuda tensors
#endif

// Checks conv2d's arguments and returns every size of the call (input made 4-D).
inline backend::cpu::ConvShape conv2d_shape(const Tensor& input, const Tensor& weight,
                                            const Tensor& bias, const Conv2dOptions& opt) {
  check_same("conv2d", bias.defined() ? std::vector<Tensor>{input, weight, bias}
                                      : std::vector<Tensor>{input, weight}, kConvCuda);
  check_floating("conv2d", input, kConvCuda);
  LACOOT_CHECK(input.dim() == 4 || input.dim() == 3, "conv2d: expected a 4-D input [N, C, H, W] "
               "(or 3-D [C, H, W]), got shape ", shape_str(input.shape()));
  check_dim("conv2d", weight, 4, "weight [out_channels, in_channels / groups, kH, kW]", kConvCuda);
  const IntPair st = opt.stride, pad = opt.padding, dil = opt.dilation;
  LACOOT_CHECK(st.h >= 1 && st.w >= 1, "conv2d: stride must be positive, got (", st.h, ", ", st.w, ")");
  LACOOT_CHECK(pad.h >= 0 && pad.w >= 0, "conv2d: padding must be non-negative, got (", pad.h,
               ", ", pad.w, ")");
  LACOOT_CHECK(dil.h >= 1 && dil.w >= 1, "conv2d: dilation must be positive, got (", dil.h,
               ", ", dil.w, ")");
  LACOOT_CHECK(opt.groups >= 1, "conv2d: groups must be positive, got ", opt.groups);

  backend::cpu::ConvShape s;
  const bool batched = input.dim() == 4;
  s.N = batched ? input.size(0) : 1;
  s.C = input.size(-3), s.H = input.size(-2), s.W = input.size(-1);
  s.O = weight.size(0), s.kh = weight.size(2), s.kw = weight.size(3);
  s.sh = st.h, s.sw = st.w, s.ph = pad.h, s.pw = pad.w, s.dh = dil.h, s.dw = dil.w;
  s.groups = opt.groups;
  LACOOT_CHECK(s.C % s.groups == 0, "conv2d: in_channels (", s.C, ") must be divisible by groups (",
               s.groups, ")");
  LACOOT_CHECK(s.O % s.groups == 0, "conv2d: out_channels (", s.O, ", weight.size(0)) must be "
               "divisible by groups (", s.groups, ")");
  LACOOT_CHECK(weight.size(1) * s.groups == s.C, "conv2d: given groups=", s.groups, ", weight of "
               "shape ", shape_str(weight.shape()), " expects input with ", weight.size(1) * s.groups,
               " channels (weight.size(1) · groups), but the input ", shape_str(input.shape()),
               " has ", s.C, " channels");
  LACOOT_CHECK(!bias.defined() || bias.shape() == Shape{s.O}, "conv2d: bias has shape ",
               bias.defined() ? shape_str(bias.shape()) : "", ", expected [", s.O,
               "] (one per output channel)");
  // The dilated kernel spans dilation·(k − 1) + 1 input pixels and must fit the padded input.
  const int64_t span_h = s.dh * (s.kh - 1) + 1, span_w = s.dw * (s.kw - 1) + 1;
  LACOOT_CHECK(s.kh >= 1 && s.kw >= 1 && span_h <= s.H + 2 * s.ph && span_w <= s.W + 2 * s.pw,
               "conv2d: the padded input is ", s.H + 2 * s.ph, "x", s.W + 2 * s.pw,
               " (input ", shape_str(input.shape()), ", padding (", s.ph, ", ", s.pw,
               ")) but the kernel spans ", span_h, "x", span_w, " (", s.kh, "x", s.kw,
               ", dilation (", s.dh, ", ", s.dw, ")): the kernel cannot be larger than the "
               "padded input (hint: pad more, or downsample less before this layer)");
  s.Ho = backend::cpu::conv_output_size(s.H, s.kh, s.sh, s.ph, s.dh);
  s.Wo = backend::cpu::conv_output_size(s.W, s.kw, s.sw, s.pw, s.dw);
  return s;
}

}  // namespace detail

// out = conv2d(input, weight) + bias; see the header comment for shapes and the formula.
inline Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
                     const Conv2dOptions& options = {}) {
  const backend::cpu::ConvShape s = detail::conv2d_shape(input, weight, bias, options);
  Shape out_shape{s.N, s.O, s.Ho, s.Wo};
  if (input.dim() == 3) out_shape.erase(out_shape.begin());
  Tensor out = Tensor::empty(out_shape, input.dtype(), input.device());
#if LACOOT_WITH_CUDNN
  if (input.device().is_cuda()) {
    cuda::conv2d_forward(input, weight, detail::cudnn_geometry(s), out);
    if (bias.defined()) cuda::binary(fn::Add{}, out, alias_with_shape(bias, {s.O, 1, 1}), out);
  } else
#endif
  dispatch_floating(input.dtype(), "conv2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    backend::cpu::conv2d_forward(input.data<T>(), weight.data<T>(),
                                 bias.defined() ? bias.data<T>() : nullptr, s, out.data<T>());
  });
  autograd::record(out, "conv2d", {input, weight, bias}, [x = input.detach(), w = weight.detach(), s](
                                                            const Tensor& g, const std::vector<bool>& need) {
    // Forward: out = w · im2col(x) + b, per image and group (see the header comment).
    Tensor dx, dw, db;
#if LACOOT_WITH_CUDNN
    if (g.device().is_cuda()) {
      const cuda::ConvGeometry geo = detail::cudnn_geometry(s);
      if (need[0]) cuda::conv2d_backward_data(g, w, geo, dx = Tensor::empty(x.shape(), g.dtype(), g.device()));
      if (need[1]) cuda::conv2d_backward_filter(g, x, geo, dw = Tensor::empty(w.shape(), g.dtype(), g.device()));
      if (need[2]) {  // Σ over everything but the channel dim
        Shape keep(static_cast<std::size_t>(g.dim()), 1);
        keep[static_cast<std::size_t>(g.dim() - 3)] = s.O;
        cuda::sum(g, keep, nullptr, 1.0, db = Tensor::empty({s.O}, g.dtype(), g.device()));
      }
      return std::vector<Tensor>{dx, dw, db};
    }
#endif
    dispatch_floating(g.dtype(), "conv2d", [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (need[0]) {
        dx = Tensor::empty(x.shape(), g.dtype(), g.device());
        backend::cpu::conv2d_backward_input(g.data<T>(), w.data<T>(), s, dx.data<T>());
      }
      if (need[1]) {
        dw = Tensor::empty(w.shape(), g.dtype(), g.device());
        backend::cpu::conv2d_backward_weight(g.data<T>(), x.data<T>(), s, dw.data<T>());
      }
      if (need[2]) {
        db = Tensor::empty({s.O}, g.dtype(), g.device());
        backend::cpu::conv2d_backward_bias(g.data<T>(), s, db.data<T>());
      }
    });
    return std::vector<Tensor>{dx, dw, db};
  });
  return out;
}

}  // namespace lacoot

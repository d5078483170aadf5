// lacoot/ops/dropout.hpp — dropout (Srivastava et al., JMLR 15, 2014), inverted as PyTorch's,
// and stochastic depth (Huang et al., ECCV 2016, arXiv 1603.09382), as torchvision.ops's.
//
// Holds: dropout(input, p, training, gen), stochastic_depth(input, p, mode, training, gen).
// Needs: ops/common.hpp, ops/elementwise.hpp (mul, for the backward), backend/cpu/activation.hpp
// (the fused mask-and-scale loop), core/rng.hpp; with CUDA, backend/cuda/kernels.hpp.
// Leaves out: dropout1d/2d/3d (whole channels), alpha_dropout, in-place dropout_, and the
// nn::Dropout and nn::StochasticDepth modules (nn/ wraps these ops and passes the training flag).
//
// Inverted dropout: in training each element is zeroed with probability p and the survivors
// are scaled by 1/(1 − p), so E[output] = input and evaluation needs no rescaling: there,
// dropout is the identity. https://pytorch.org/docs/stable/generated/torch.nn.functional.dropout.html
//
// The mask comes from the counter-based Generator (core/rng.hpp): the call reserves numel
// counters and element i is kept when uniform(first + i) < 1 − p. The mask is thus a function
// of (seed, offset) only: the same seed gives the same mask, on 1 thread or 16.
#pragma once

#include <string_view>

#include "../backend/cpu/activation.hpp"
#include "../core/rng.hpp"
#include "common.hpp"
#include "elementwise.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/kernels.hpp"
#include "../backend/cuda/runtime.hpp"
#endif

namespace lacoot {

// input: any shape, float32 or float64.
// p: the probability that an element is zeroed, in [0, 1] (PyTorch's default 0.5).
// training: false (evaluation) returns `input` itself, as PyTorch does; so does p = 0.
// gen: where the mask is drawn from; pass your own Generator for a reproducible mask.
// p = 1 zeroes everything (input · 0, as PyTorch; not input · 1/0).
inline Tensor dropout(const Tensor& input, double p = 0.5, bool training = true,
                      Generator& gen = default_generator()) {
  detail::check_floating("dropout", input, detail::Cuda::kernel);
  LACOOT_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability has to be between 0 and 1, but got ",
               p, " (p is the probability of zeroing an element, not of keeping it)");
  if (!training || p == 0.0 || input.numel() == 0) return input;  // as ATen's _dropout_impl

  // noise = mask / (1 − p): 0 for a dropped element, 1/(1 − p) for a kept one. Keeping it
  // scaled (as ATen's _dropout_impl keeps its `noise`) makes both passes one multiply.
  // For p = 1 nothing is kept and the scale (unused) is set to 0 rather than 1/0; the draws
  // are taken all the same, so in training a call with p > 0 always advances gen by numel.
  // float32 draws have 24 bits: p is resolved to multiples of 2^-24.
  Tensor out = empty_like(input);
  Tensor noise = empty_like(input);
  const uint64_t first = gen.advance(static_cast<uint64_t>(input.numel()));
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda())  // the same draws, so the same mask as on the CPU
    cuda::kernels::dropout(input.raw_data(), out.raw_data(), noise.raw_data(), input.numel(), 1.0 - p,
                           p == 1.0 ? 0.0 : 1.0 / (1.0 - p), gen, first, input.dtype(),
                           cuda::stream(input.device().index));
  else
#endif
  dispatch_floating(input.dtype(), "dropout", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T keep_prob = static_cast<T>(1.0 - p);
    const T scale = p == 1.0 ? T(0) : static_cast<T>(1.0 / (1.0 - p));
    backend::cpu::dropout_kernel(input.data<T>(), out.data<T>(), noise.data<T>(), input.numel(),
                                 keep_prob, scale, gen, first);
  });
  // out = input · noise, so dL/dinput = dL/dout · noise: the very mask of the forward.
  autograd::record(out, "dropout", {input}, [noise](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{mul(g, noise)};
  });
  return out;
}

// Stochastic depth (torchvision.ops.stochastic_depth): drops a whole residual branch. In
// training, mode "row" zeroes each sample of the batch (each row of dim 0) with probability p
// and scales the others by 1/(1 − p); mode "batch" does so to the whole input at once. In
// evaluation, or with p = 0, it returns `input` itself. A Swin block runs its attention and MLP
// branches through it: x + stochastic_depth(branch(x)), so a dropped sample keeps x.
//   input: [N, ...], float32 or float64; p in [0, 1]; mode "row" or "batch".
//   gen: where the survivals are drawn: "row" reserves N counters (row i survives when
//   uniform(first + i) < 1 − p, as dropout draws), "batch" one.
// p = 1 zeroes everything (torchvision skips the division by a survival rate of 0).
inline Tensor stochastic_depth(const Tensor& input, double p, std::string_view mode = "row", bool training = true,
                               Generator& gen = default_generator()) {
  detail::check_floating("stochastic_depth", input, detail::Cuda::kernel);
  LACOOT_CHECK(p >= 0.0 && p <= 1.0, "stochastic_depth: drop probability has to be between 0 and 1, but got ", p);
  LACOOT_CHECK(mode == "row" || mode == "batch", "stochastic_depth: mode has to be either 'row' or 'batch', but got '",
               mode, "'");
  LACOOT_CHECK(mode == "batch" || input.dim() >= 1, "stochastic_depth: mode 'row' needs a batch dimension [N, ...], "
               "got a 0-d input (hint: mode 'batch')");
  if (!training || p == 0.0) return input;  // as torchvision

  // noise [N, 1, ..., 1] ("row") or [1, ..., 1] ("batch"): 0 or 1/(1 − p), drawn on the CPU and
  // sent to the input's device, so that the survivals are the same on either.
  Shape noise_shape(static_cast<std::size_t>(input.dim()), 1);
  if (mode == "row") noise_shape[0] = input.size(0);
  Tensor noise = Tensor::empty(noise_shape, input.dtype());
  const uint64_t first = gen.advance(static_cast<uint64_t>(noise.numel()));
  dispatch_floating(input.dtype(), "stochastic_depth", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T survival = static_cast<T>(1.0 - p);
    const T scale = p == 1.0 ? T(0) : static_cast<T>(1.0 / (1.0 - p));
    T* n = noise.data<T>();
    for (int64_t i = 0; i < noise.numel(); ++i)
      n[i] = gen.uniform<T>(first + static_cast<uint64_t>(i)) < survival ? scale : T(0);
  });
  // out = input · noise, broadcast over the non-batch dims: its backward is mul's,
  // dL/dinput = dL/dout · noise, the same survivals again.
  return mul(input, noise.to(input.device()));
}

}  // namespace lacoot

// lacoot/optim/clip_grad.hpp — clipping gradients between backward() and the optimiser step.
//
// Holds: clip_grad_norm_ (rescale all gradients so that their joint norm is at most max_norm)
// and clip_grad_value_ (clamp each element), as torch.nn.utils (1.13) defines them.
// Needs: core/; for gradients on a GPU, ops/elementwise.hpp and ops/reduce.hpp (the norm and
// the clipping there are those ops, the result written back into the gradient).
// Leaves out: the foreach variants and PyTorch 2.6's get_total_norm / clip_grads_with_norm_.
//
// Both act in place on each parameter's grad() and skip parameters without a gradient. The
// autograd engine may hand one gradient tensor to two parameters (add's backward passes its
// incoming gradient to both inputs); such a shared tensor counts once per parameter in the
// norm, as it should, but is scaled only once.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>
#include <vector>

#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/reduce.hpp"

namespace lacoot::detail {

// Σ |x_i|^q over one gradient, accumulated in double in index order (so the result does not
// depend on the thread count); for q = ∞, max |x_i|. A NaN element makes the result NaN.
template <class T>
double grad_norm_part(const T* x, int64_t n, double q) {
  double acc = 0;
  if (std::isinf(q)) {
    for (int64_t i = 0; i < n; ++i) {
      const double a = std::abs(static_cast<double>(x[i]));
      acc = std::isnan(a) || a > acc ? a : acc;
      if (std::isnan(acc)) return acc;
    }
  } else if (q == 2) {
    for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  } else if (q == 1) {
    for (int64_t i = 0; i < n; ++i) acc += std::abs(static_cast<double>(x[i]));
  } else {
    for (int64_t i = 0; i < n; ++i) acc += std::pow(std::abs(static_cast<double>(x[i])), q);
  }
  return acc;
}

// The same part for a gradient on a GPU, from the ops (the sum of float32 elements is rounded
// to float32 there, as PyTorch's is).
inline double grad_norm_part_on_device(const Tensor& g, double q) {
  NoGradGuard no_grad;
  const Tensor a = abs(g);
  if (std::isinf(q)) return g.numel() == 0 ? 0.0 : max(a).item();
  return sum(q == 2 ? a * a : q == 1 ? a : pow(a, q)).item();
}

// g's elements replaced, in place, by those of `value` (same shape, dtype and device).
inline void assign_in_place(const Tensor& g, const Tensor& value) {
  copy_bytes(g.raw_data(), g.device(), value.raw_data(), value.device(), g.nbytes());
}

// The defined gradients of `parameters`, each storage once.
inline std::vector<Tensor> distinct_grads(const std::vector<Tensor>& parameters) {
  std::vector<Tensor> out;
  std::unordered_set<const void*> seen;
  for (const Tensor& p : parameters) {
    Tensor g = p.defined() ? p.grad() : Tensor();
    if (g.defined() && seen.insert(g.numel() > 0 ? g.raw_data() : static_cast<const void*>(&g.impl())).second)
      out.push_back(g);
  }
  return out;
}

}  // namespace lacoot::detail

namespace lacoot::optim {

// Rescales the gradients so that their joint norm is at most max_norm; returns that norm,
// computed before clipping (https://pytorch.org/docs/1.13/generated/
// torch.nn.utils.clip_grad_norm_.html):
//   total = (Σ_p Σ_i |∇p_i|^q)^(1/q)     q = norm_type > 0; q = ∞: total = max_p,i |∇p_i|
//   coef  = max_norm / (total + 1e-6)    (the 1e-6 keeps coef finite when every gradient is 0)
//   ∇p    = ∇p · coef for every p, when coef < 1 (coef ≥ 1 changes nothing, so it is skipped)
// The norm is accumulated in double; for float32 gradients PyTorch's float sum may differ in the
// 7th digit. A non-finite total throws when error_if_nonfinite, and otherwise scales by it as
// PyTorch does (an infinite norm gives coef 0 and NaN where a gradient was infinite).
// Returns 0 when no parameter has a gradient.
inline double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0,
                              bool error_if_nonfinite = false) {
  LACOOT_CHECK(norm_type > 0, "clip_grad_norm_: norm_type must be > 0 or infinity, got ", norm_type,
               " (hint: 2 for the Euclidean norm, std::numeric_limits<double>::infinity() for the max norm)");
  const bool inf = std::isinf(norm_type);
  double acc = 0;
  bool any = false;
  for (const Tensor& p : parameters) {
    LACOOT_CHECK(p.defined(), "clip_grad_norm_: got an undefined parameter");
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    any = true;
    const double part = g.device().is_cpu() ? dispatch_floating(g.dtype(), "clip_grad_norm_", [&](auto tag) {
      using T = typename decltype(tag)::type;
      return detail::grad_norm_part(g.data<T>(), g.numel(), norm_type);
    }) : detail::grad_norm_part_on_device(g, norm_type);
    acc = inf ? (std::isnan(part) || part > acc ? part : acc) : acc + part;
    if (inf && std::isnan(acc)) break;
  }
  if (!any) return 0.0;
  const double total = inf ? acc : norm_type == 2 ? std::sqrt(acc) : std::pow(acc, 1.0 / norm_type);
  LACOOT_CHECK(!error_if_nonfinite || std::isfinite(total), "clip_grad_norm_: the total norm of order ", norm_type,
               " of the gradients is ", total, ", so they cannot be clipped (hint: look for a NaN or an "
               "overflow in the loss; error_if_nonfinite = false scales by the non-finite norm anyway)");
  const double coef = std::min(max_norm / (total + 1e-6), 1.0);  // NaN stays NaN, as torch.clamp
  if (coef < 1 || std::isnan(coef)) {
    for (const Tensor& g : detail::distinct_grads(parameters)) {
      if (!g.device().is_cpu()) {
        NoGradGuard no_grad;
        detail::assign_in_place(g, g * coef);
        continue;
      }
      dispatch_floating(g.dtype(), "clip_grad_norm_", [&](auto tag) {
        using T = typename decltype(tag)::type;
        T* x = g.data<T>();
        const T c = static_cast<T>(coef);
        parallel_for(g.numel(), int64_t{1} << 15, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) x[i] = x[i] * c;
        });
      });
    }
  }
  return total;
}

// Clamps every gradient element to [−clip_value, clip_value] (https://pytorch.org/docs/1.13/
// generated/torch.nn.utils.clip_grad_value_.html). NaN elements stay NaN.
inline void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  LACOOT_CHECK(clip_value >= 0, "clip_grad_value_: clip_value must be >= 0, got ", clip_value,
               " (elements are clamped to [-clip_value, clip_value])");
  for (const Tensor& p : parameters) LACOOT_CHECK(p.defined(), "clip_grad_value_: got an undefined parameter");
  for (const Tensor& g : detail::distinct_grads(parameters)) {
    if (!g.device().is_cpu()) {
      NoGradGuard no_grad;
      detail::assign_in_place(g, clamp(g, -clip_value, clip_value));
      continue;
    }
    dispatch_floating(g.dtype(), "clip_grad_value_", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* x = g.data<T>();
      const T hi = static_cast<T>(clip_value), lo = -hi;
      parallel_for(g.numel(), int64_t{1} << 15, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) x[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);
      });
    });
  }
}

}  // namespace lacoot::optim

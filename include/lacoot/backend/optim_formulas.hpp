// lacoot/backend/optim_formulas.hpp — the optimisers' per-element updates, written once, for the
// CPU loops (optim/sgd.hpp, optim/adam.hpp) and the CUDA kernels alike.
//
// Holds: SgdParams and SgdStep (torch.optim.SGD's update of one element), AdamParams and
// AdamStep (Adam's and AdamW's). The Params structs are plain doubles and flags, which is how the
// hyper-parameters cross to a kernel; a Step is built from them once per parameter tensor, in
// the element type, and applied to every element.
// Needs: backend/formulas.hpp (LACOOT_HD), <cmath>.
// Leaves out: the formulas' derivations and references (optim/sgd.hpp, optim/adam.hpp say them)
// and the per-step scalars (bias corrections), which the optimisers compute in double.
#pragma once

#include <cmath>

#include "formulas.hpp"

namespace lacoot::fn {

struct SgdParams {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
};

// p, and the momentum buffer b when there is one, after one SGD step with gradient grad:
//   g = ±grad + λ p;  b = g (first step) or μ b + (1 − τ) g;  g = g + μ b (Nesterov) or b;  p −= γ g
template <class T>
struct SgdStep {
  T lr, mu, keep, wd, sign;
  bool nesterov, first, has_buffer;

  SgdStep(const SgdParams& o, bool first_step, bool buffer)
      : lr(static_cast<T>(o.lr)), mu(static_cast<T>(o.momentum)), keep(static_cast<T>(1 - o.dampening)),
        wd(static_cast<T>(o.weight_decay)), sign(o.maximize ? T(-1) : T(1)), nesterov(o.nesterov),
        first(first_step), has_buffer(buffer) {}

  LACOOT_HD void operator()(T& p, T grad, T* b) const {
    T g = sign * grad;
    if (wd != T(0)) g = g + wd * p;
    if (has_buffer) {
      *b = first ? g : mu * *b + keep * g;
      g = nesterov ? g + mu * *b : *b;
    }
    p = p - lr * g;
  }
};

// The scalars of one Adam or AdamW step: decay = 1 − γλ for AdamW (1 for Adam), l2 = λ for Adam
// (0 for AdamW), step_size = γ / (1 − β1^t), bias2_sqrt = sqrt(1 − β2^t), in double.
struct AdamParams {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double decay = 1, l2 = 0, step_size = 0, bias2_sqrt = 1;
  bool amsgrad = false, maximize = false;
};

// p and the moments m, v (and their running maximum vmax with amsgrad) after one step:
//   g = ±grad + l2 p;  p = p · decay;  m = β1 m + (1 − β1) g;  v = β2 v + (1 − β2) g²;
//   v̂ = max(vmax, v) or v;  p = p − step_size · m / (sqrt(v̂) / bias2_sqrt + ε)
template <class T>
struct AdamStep {
  T b1, b2, a1, a2, decay, l2, e, step, bias2_sqrt, sign;
  bool amsgrad;

  explicit AdamStep(const AdamParams& c)
      : b1(static_cast<T>(c.beta1)), b2(static_cast<T>(c.beta2)), a1(static_cast<T>(1 - c.beta1)),
        a2(static_cast<T>(1 - c.beta2)), decay(static_cast<T>(c.decay)), l2(static_cast<T>(c.l2)),
        e(static_cast<T>(c.eps)), step(static_cast<T>(-c.step_size)), bias2_sqrt(static_cast<T>(c.bias2_sqrt)),
        sign(c.maximize ? T(-1) : T(1)), amsgrad(c.amsgrad) {}

  LACOOT_HD void operator()(T& p, T grad, T& m, T& v, T* vmax) const {
    T g = sign * grad;
    if (l2 != T(0)) g = g + l2 * p;
    if (decay != T(1)) p = p * decay;
    m = b1 * m + a1 * g;
    v = b2 * v + a2 * g * g;
    T second = v;
    if (amsgrad) second = *vmax = *vmax < v ? v : *vmax;  // std::max(vmax, v)
    p = p + step * m / (std::sqrt(second) / bias2_sqrt + e);  // PyTorch's addcdiv_ order
  }
};

}  // namespace lacoot::fn

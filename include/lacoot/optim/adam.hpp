// lacoot/optim/adam.hpp — Adam and AdamW, as torch.optim.Adam and torch.optim.AdamW (1.13).
//
// Holds: AdamOptions, AdamWOptions (the same fields; AdamW's weight_decay defaults to 1e-2),
// AdamParamState (step count and moment estimates), Adam and AdamW.
// Needs: optim/optimizer.hpp.
// Leaves out: capturable/fused/foreach variants and complex parameters.
//
// The update, per parameter p with gradient ∇, at step t = 1, 2, ... (Kingma & Ba, "Adam: A
// Method for Stochastic Optimization", arXiv 1412.6980; AMSGrad: Reddi et al., "On the
// Convergence of Adam and Beyond", ICLR 2018; AdamW: Loshchilov & Hutter, "Decoupled Weight
// Decay Regularization", arXiv 1711.05101; https://pytorch.org/docs/1.13/generated/
// torch.optim.Adam.html and torch.optim.AdamW.html, `_single_tensor_adam(w)` in torch/optim/):
//   g = −∇ if maximize else ∇
//   Adam:  g = g + λ p                 (weight_decay λ ≠ 0: L2 penalty, coupled to the gradient)
//   AdamW: p = p (1 − γ λ)             (decoupled decay, applied to p before the Adam step)
//   m = β1 m + (1 − β1) g              (first moment, m_0 = 0)
//   v = β2 v + (1 − β2) g²             (second moment, v_0 = 0)
//   v̂ = max(v̂, v) if amsgrad else v
//   p = p − (γ / (1 − β1^t)) · m / (sqrt(v̂) / sqrt(1 − β2^t) + ε)
// The bias corrections 1 − β^t are computed in double, as PyTorch computes them in Python.
// ε is added to sqrt(v̂) as in the paper's Algorithm 1 (not the rescaled ε of its faster form).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "optimizer.hpp"

namespace lacoot::optim {

struct AdamOptions {
  double lr = 1e-3;                         // γ ≥ 0
  std::array<double, 2> betas{0.9, 0.999};  // β1, β2 in [0, 1): decay of the two moment averages
  double eps = 1e-8;                        // ε ≥ 0: keeps the step finite where v̂ ≈ 0
  double weight_decay = 0;                  // λ ≥ 0, added to the gradient (L2 penalty)
  bool amsgrad = false;                     // divide by the running maximum of v (AMSGrad)
  bool maximize = false;                    // ascend the objective

  void validate(const std::string& who) const;
  template <class F>
  void visit(F&& f);
};

// As AdamOptions; only weight_decay's default (1e-2, PyTorch's) and its meaning differ: AdamW
// shrinks p by γλ at each step instead of adding λp to the gradient.
struct AdamWOptions {
  double lr = 1e-3;
  std::array<double, 2> betas{0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;  // λ ≥ 0: p = p (1 − γλ) before each step (decoupled)
  bool amsgrad = false;
  bool maximize = false;

  void validate(const std::string& who) const;
  template <class F>
  void visit(F&& f);
};

struct AdamParamState {
  int64_t step = 0;       // t, the number of updates so far
  Tensor exp_avg;         // m
  Tensor exp_avg_sq;      // v
  Tensor max_exp_avg_sq;  // max over steps of v; only with amsgrad

  template <class Options, class F>
  void visit(const Options& o, F&& f) {
    f("step", step, true);
    f("exp_avg", exp_avg, true);
    f("exp_avg_sq", exp_avg_sq, true);
    f("max_exp_avg_sq", max_exp_avg_sq, o.amsgrad);
  }
};

}  // namespace lacoot::optim

namespace lacoot::detail {

// The checks of torch.optim.Adam.__init__ (AdamW's are the same).
template <class Options>
void validate_adam(const Options& o, const std::string& who) {
  LACOOT_CHECK(o.lr >= 0, who, ": invalid learning rate ", o.lr, ", expected lr >= 0");
  LACOOT_CHECK(o.eps >= 0, who, ": invalid eps ", o.eps, ", expected eps >= 0");
  for (int i = 0; i < 2; ++i)
    LACOOT_CHECK(o.betas[i] >= 0 && o.betas[i] < 1, who, ": invalid beta at index ", i, ": ", o.betas[i],
                 ", expected 0 <= beta < 1 (hint: betas = {0.9, 0.999})");
  LACOOT_CHECK(o.weight_decay >= 0, who, ": invalid weight_decay ", o.weight_decay, ", expected weight_decay >= 0");
}

template <class Options, class F>
void visit_adam(Options& o, F&& f) {
  f("lr", o.lr);
  f("betas.0", o.betas[0]);
  f("betas.1", o.betas[1]);
  f("eps", o.eps);
  f("weight_decay", o.weight_decay);
  f("amsgrad", o.amsgrad);
  f("maximize", o.maximize);
}

// The per-step scalars of one parameter's update, computed once in double.
struct AdamCoefficients {
  double decay = 1;         // AdamW's 1 − γλ (1 for Adam)
  double l2 = 0;            // Adam's λ (0 for AdamW)
  double step_size = 0;     // γ / (1 − β1^t)
  double bias2_sqrt = 1;    // sqrt(1 − β2^t)
};

// The Adam update on n elements; vmax is null without amsgrad.
template <class T>
void adam_update(T* p, const T* grad, T* m, T* v, T* vmax, int64_t n, const std::array<double, 2>& betas,
                 double eps, bool maximize, const AdamCoefficients& c) {
  const T b1 = static_cast<T>(betas[0]), b2 = static_cast<T>(betas[1]);
  const T a1 = static_cast<T>(1 - betas[0]), a2 = static_cast<T>(1 - betas[1]);
  const T decay = static_cast<T>(c.decay), l2 = static_cast<T>(c.l2), e = static_cast<T>(eps);
  const T step = static_cast<T>(-c.step_size), bias2_sqrt = static_cast<T>(c.bias2_sqrt);
  const T sign = maximize ? T(-1) : T(1);
  parallel_for(n, kOptimGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      T g = sign * grad[i];
      if (l2 != 0) g = g + l2 * p[i];
      if (decay != 1) p[i] = p[i] * decay;
      m[i] = b1 * m[i] + a1 * g;
      v[i] = b2 * v[i] + a2 * g * g;
      T second = v[i];
      if (vmax != nullptr) second = vmax[i] = std::max(vmax[i], v[i]);
      p[i] = p[i] + step * m[i] / (std::sqrt(second) / bias2_sqrt + e);  // PyTorch's addcdiv_ order
    }
  });
}

// One parameter's Adam (decoupled = false) or AdamW (true) step, state created on the first.
template <class Options>
void adam_step(const Tensor& p, const Tensor& grad, std::optional<optim::AdamParamState>& state,
               const Options& o, bool decoupled) {
  if (!state) {
    state.emplace();
    state->exp_avg = zeros_like(p);
    state->exp_avg_sq = zeros_like(p);
  }
  // Switching amsgrad on mid-run starts the maximum at 0 (PyTorch raises a KeyError there).
  if (o.amsgrad && !state->max_exp_avg_sq.defined()) state->max_exp_avg_sq = zeros_like(p);
  const int64_t t = ++state->step;
  AdamCoefficients c;
  if (decoupled) c.decay = 1 - o.lr * o.weight_decay;
  else c.l2 = o.weight_decay;
  c.step_size = o.lr / (1 - std::pow(o.betas[0], static_cast<double>(t)));
  c.bias2_sqrt = std::sqrt(1 - std::pow(o.betas[1], static_cast<double>(t)));
  dispatch_floating(p.dtype(), decoupled ? "AdamW.step" : "Adam.step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* vmax = o.amsgrad ? state->max_exp_avg_sq.data<T>() : nullptr;
    adam_update(p.data<T>(), grad.data<T>(), state->exp_avg.data<T>(), state->exp_avg_sq.data<T>(), vmax,
                p.numel(), o.betas, o.eps, o.maximize, c);
  });
}

}  // namespace lacoot::detail

namespace lacoot::optim {

inline void AdamOptions::validate(const std::string& who) const { detail::validate_adam(*this, who); }
template <class F>
void AdamOptions::visit(F&& f) { detail::visit_adam(*this, f); }
inline void AdamWOptions::validate(const std::string& who) const { detail::validate_adam(*this, who); }
template <class F>
void AdamWOptions::visit(F&& f) { detail::visit_adam(*this, f); }

//   optim::Adam opt(model.parameters(), {.lr = 1e-4});
class Adam : public detail::OptimizerBase<AdamOptions, AdamParamState> {
 public:
  explicit Adam(std::vector<Tensor> params, const AdamOptions& options = {}, std::vector<std::string> names = {})
      : OptimizerBase("Adam", {ParamGroup{std::move(params), std::nullopt, std::move(names)}}, options) {}
  explicit Adam(const std::vector<std::pair<std::string, Tensor>>& named_params, const AdamOptions& options = {})
      : OptimizerBase("Adam", {detail::named_group<AdamOptions>(named_params)}, options) {}
  Adam(std::vector<ParamGroup> groups, const AdamOptions& defaults)
      : OptimizerBase("Adam", std::move(groups), defaults) {}

 protected:
  void update(const Tensor& p, const Tensor& grad, std::optional<AdamParamState>& state,
              const AdamOptions& o) override {
    detail::adam_step(p, grad, state, o, /*decoupled=*/false);
  }
};

//   optim::AdamW opt(model.parameters(), {.lr = 1e-3, .weight_decay = 0.05});
class AdamW : public detail::OptimizerBase<AdamWOptions, AdamParamState> {
 public:
  explicit AdamW(std::vector<Tensor> params, const AdamWOptions& options = {}, std::vector<std::string> names = {})
      : OptimizerBase("AdamW", {ParamGroup{std::move(params), std::nullopt, std::move(names)}}, options) {}
  explicit AdamW(const std::vector<std::pair<std::string, Tensor>>& named_params, const AdamWOptions& options = {})
      : OptimizerBase("AdamW", {detail::named_group<AdamWOptions>(named_params)}, options) {}
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& defaults)
      : OptimizerBase("AdamW", std::move(groups), defaults) {}

 protected:
  void update(const Tensor& p, const Tensor& grad, std::optional<AdamParamState>& state,
              const AdamWOptions& o) override {
    detail::adam_step(p, grad, state, o, /*decoupled=*/true);
  }
};

}  // namespace lacoot::optim

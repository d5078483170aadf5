// lacoot/optim/adam.hpp — Adam and AdamW, as torch.optim.Adam and torch.optim.AdamW (1.13).
//
// Holds: AdamOptions, AdamWOptions (the same fields; AdamW's weight_decay defaults to 1e-2),
// AdamParamState (step count and moment estimates), Adam and AdamW.
// Needs: optim/optimizer.hpp, backend/optim_formulas.hpp (the update of one element, which the
// CUDA kernel shares).
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

#include "../backend/optim_formulas.hpp"
#include "optimizer.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/kernels.hpp"
#include "../backend/cuda/runtime.hpp"
#endif

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

// The Adam update on n elements; vmax is null without amsgrad.
template <class T>
void adam_update(T* p, const T* grad, T* m, T* v, T* vmax, int64_t n, const fn::AdamParams& c) {
  const fn::AdamStep<T> step(c);
  parallel_for(n, kOptimGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) step(p[i], grad[i], m[i], v[i], vmax ? vmax + i : nullptr);
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
  fn::AdamParams c{.beta1 = o.betas[0], .beta2 = o.betas[1], .eps = o.eps, .amsgrad = o.amsgrad,
                   .maximize = o.maximize};
  if (decoupled) c.decay = 1 - o.lr * o.weight_decay;
  else c.l2 = o.weight_decay;
  c.step_size = o.lr / (1 - std::pow(o.betas[0], static_cast<double>(t)));
  c.bias2_sqrt = std::sqrt(1 - std::pow(o.betas[1], static_cast<double>(t)));
#if LACOOT_WITH_CUDA
  if (p.device().is_cuda()) {
    cuda::kernels::adam_update(p.raw_data(), grad.raw_data(), state->exp_avg.raw_data(), state->exp_avg_sq.raw_data(),
                               o.amsgrad ? state->max_exp_avg_sq.raw_data() : nullptr, p.numel(), p.dtype(), c,
                               cuda::stream(p.device().index));
    return;
  }
#endif
  dispatch_floating(p.dtype(), decoupled ? "AdamW.step" : "Adam.step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* vmax = o.amsgrad ? state->max_exp_avg_sq.data<T>() : nullptr;
    adam_update(p.data<T>(), grad.data<T>(), state->exp_avg.data<T>(), state->exp_avg_sq.data<T>(), vmax,
                p.numel(), c);
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

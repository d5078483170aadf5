// lacoot/optim/sgd.hpp — stochastic gradient descent with momentum, as torch.optim.SGD (1.13).
//
// Holds: SGDOptions, SGDParamState (the momentum buffer) and SGD.
// Needs: optim/optimizer.hpp, backend/optim_formulas.hpp (the update of one element, which the
// CUDA kernel shares).
// Leaves out: sparse gradients and the foreach variant (same values, other loop order).
//
// The update, per parameter p with gradient ∇ (https://pytorch.org/docs/1.13/generated/
// torch.optim.SGD.html, `_single_tensor_sgd` in torch/optim/sgd.py):
//   g = −∇ if maximize else ∇
//   g = g + λ p                                  (weight_decay λ ≠ 0: an L2 penalty in the gradient)
//   if μ ≠ 0:  b = g on the first step, else b = μ b + (1 − τ) g      (momentum μ, dampening τ)
//              g = g + μ b if nesterov else b
//   p = p − γ g                                  (lr γ)
// The buffer starts as g itself, not as (1 − τ) g: dampening only acts from the second step.
// The LaCoOT CIFAR recipe (METHOD.md §5) is SGD with γ = 0.1, μ = 0.9, λ = 1e-4.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "../backend/optim_formulas.hpp"
#include "optimizer.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/kernels.hpp"
#include "../backend/cuda/runtime.hpp"
#endif

namespace lacoot::optim {

struct SGDOptions {
  double lr = std::numeric_limits<double>::quiet_NaN();  // γ; required (PyTorch 1.13 has no default)
  double momentum = 0;      // μ ≥ 0; 0 keeps no buffer
  double dampening = 0;     // τ: new gradients enter the buffer with weight 1 − τ
  double weight_decay = 0;  // λ ≥ 0: adds λ p to the gradient (coupled decay; AdamW decouples it)
  bool nesterov = false;    // Nesterov's look-ahead form; needs μ > 0 and τ = 0
  bool maximize = false;    // ascend the objective: the gradient's sign is flipped

  // The checks of torch.optim.SGD.__init__, with lacoot's wording.
  void validate(const std::string& who) const {
    LACOOT_CHECK(!std::isnan(lr), who, ": lr was not set; SGD has no default learning rate (as in "
                 "PyTorch 1.13) (hint: SGDOptions{.lr = 0.1, .momentum = 0.9})");
    LACOOT_CHECK(lr >= 0, who, ": invalid learning rate ", lr, ", expected lr >= 0");
    LACOOT_CHECK(momentum >= 0, who, ": invalid momentum ", momentum, ", expected momentum >= 0");
    LACOOT_CHECK(weight_decay >= 0, who, ": invalid weight_decay ", weight_decay, ", expected weight_decay >= 0");
    LACOOT_CHECK(!nesterov || (momentum > 0 && dampening == 0), who, ": Nesterov momentum requires momentum > 0 "
                 "and dampening = 0, got momentum ", momentum, " and dampening ", dampening);
  }
  template <class F>
  void visit(F&& f) {
    f("lr", lr);
    f("momentum", momentum);
    f("dampening", dampening);
    f("weight_decay", weight_decay);
    f("nesterov", nesterov);
    f("maximize", maximize);
  }
};

struct SGDParamState {
  Tensor momentum_buffer;  // b; undefined while μ = 0

  template <class F>
  void visit(const SGDOptions&, F&& f) {
    // Optional: a state without a buffer starts one at the next step, as PyTorch's None does.
    f("momentum_buffer", momentum_buffer, /*required=*/false);
  }
};

}  // namespace lacoot::optim

namespace lacoot::detail {

inline fn::SgdParams sgd_params(const optim::SGDOptions& o) {
  return {.lr = o.lr, .momentum = o.momentum, .dampening = o.dampening, .weight_decay = o.weight_decay,
          .nesterov = o.nesterov, .maximize = o.maximize};
}

// The SGD update on n elements; buf is null when μ = 0, and first says that buf is new.
template <class T>
void sgd_update(T* p, const T* grad, T* buf, bool first, int64_t n, const optim::SGDOptions& o) {
  const fn::SgdStep<T> step(sgd_params(o), first, buf != nullptr);
  parallel_for(n, kOptimGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) step(p[i], grad[i], buf ? buf + i : nullptr);
  });
}

}  // namespace lacoot::detail

namespace lacoot::optim {

//   optim::SGD opt(model.parameters(), {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-4});
//   for (...) { opt.zero_grad(); loss(...).backward(); opt.step(); }
class SGD : public detail::OptimizerBase<SGDOptions, SGDParamState> {
 public:
  SGD(std::vector<Tensor> params, const SGDOptions& options, std::vector<std::string> names = {})
      : OptimizerBase("SGD", {ParamGroup{std::move(params), std::nullopt, std::move(names)}}, options) {}
  // From (name, tensor) pairs, as nn::Module::named_parameters() returns them.
  SGD(const std::vector<std::pair<std::string, Tensor>>& named_params, const SGDOptions& options)
      : OptimizerBase("SGD", {detail::named_group<SGDOptions>(named_params)}, options) {}
  SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults) : OptimizerBase("SGD", std::move(groups), defaults) {}

 protected:
  void update(const Tensor& p, const Tensor& grad, std::optional<SGDParamState>& state, const SGDOptions& o) override {
    if (!state) state.emplace();
    bool first = false;
    if (o.momentum != 0 && !state->momentum_buffer.defined()) {
      state->momentum_buffer = Tensor::empty(p.shape(), p.dtype(), p.device());  // written before it is read
      first = true;
    }
#if LACOOT_WITH_CUDA
    if (p.device().is_cuda()) {
      cuda::kernels::sgd_update(p.raw_data(), grad.raw_data(), o.momentum != 0 ? state->momentum_buffer.raw_data() : nullptr,
                                first, p.numel(), p.dtype(), detail::sgd_params(o), cuda::stream(p.device().index));
      return;
    }
#endif
    dispatch_floating(p.dtype(), "SGD.step", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* buf = o.momentum != 0 ? state->momentum_buffer.data<T>() : nullptr;
      detail::sgd_update(p.data<T>(), grad.data<T>(), buf, first, p.numel(), o);
    });
  }
};

}  // namespace lacoot::optim

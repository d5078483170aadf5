// tests/models/reference.hpp — the models against torchvision: the deterministic weights and
// inputs of tests/fixtures/gen_models.py, and the checks every model test runs.
//
// u_i = ((i · 2654435761 + k · 40503 + 12345) mod 2^32) / 2^32 − 1/2 is exact in float64 on
// both sides, so a model filled here and the torchvision model filled by the script hold the
// same numbers, and only inputs and outputs need to be stored in the fixture.
#pragma once

#include <cmath>
#include <string>

#include "../check.hpp"
#include "../fixtures/models_fixtures.hpp"
#include "lacoot/autograd/engine.hpp"
#include "lacoot/nn/module.hpp"
#include "lacoot/ops/elementwise.hpp"
#include "lacoot/ops/reduce.hpp"

namespace lacoot::test {

inline Tensor hash_uniform(int64_t n, int64_t k, DType dtype = kFloat64) {
  Tensor t = Tensor::empty({n}, kFloat64);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t h = (i * 2654435761LL + k * 40503LL + 12345LL) % (1LL << 32);
    t.data<double>()[i] = static_cast<double>(h) / 4294967296.0 - 0.5;
  }
  return dtype == kFloat64 ? t : t.to(dtype);
}

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// gen_models.py's entry_values, for every entry of the state_dict in order.
inline void fill_state(nn::Module& model) {
  int64_t k = 0;
  for (auto& [name, t] : model.state_dict()) {
    const int64_t n = t.numel();
    if (t.dtype() == kInt64) {
      ++k;
      continue;
    }
    Tensor u = hash_uniform(n, k);
    double* p = u.data<double>();
    const double fan_in = t.dim() >= 2 ? static_cast<double>(n / t.size(0)) : 1.0;
    for (int64_t i = 0; i < n; ++i) {
      if (ends_with(name, "running_var")) p[i] = 1.0 + std::abs(p[i]);
      else if (ends_with(name, "running_mean") || ends_with(name, "bias")) p[i] = 0.2 * p[i];
      else if (ends_with(name, "weight") && t.dim() == 1) p[i] = 1.0 + 0.4 * p[i];
      else p[i] = p[i] * std::sqrt(24.0 / fan_in);
    }
    Tensor v = u.to(t.dtype());
    std::memcpy(t.raw_data(), v.raw_data(), static_cast<std::size_t>(n) * dtype_size(t.dtype()));
    ++k;
  }
}

inline int64_t count_parameters(nn::Module& m) {
  int64_t n = 0;
  for (auto& [name, p] : m.named_parameters()) n += p.numel();
  return n;
}

template <class Case>
void check_keys(nn::Module& model) {
  const nn::StateDict sd = model.state_dict();
  REQUIRE(sd.size() == Case::keys.size());
  for (std::size_t i = 0; i < sd.size(); ++i) {
    CAPTURE(Case::keys[i]);
    CHECK(sd[i].first == Case::keys[i]);
    CHECK(sd[i].second.shape() == Case::key_shapes[i]);
  }
}

// Eval and train logits (within tol) and gradients (within grad_tol; 0 skips them) against
// torchvision's. In float32, train-mode gradients are ill-conditioned where a BN channel sees
// nearly constant inputs (1/√(var + eps) amplifies rounding): PyTorch's own float32 gradients
// of MobileNetV2 differ from its float64 ones by up to 6 %, so float32 checks logits only.
template <class Case>
void check_against_torchvision(nn::Module& model, DType dtype, double tol, double grad_tol) {
  model.to(dtype);
  fill_state(model);
  const Shape shape(Case::input_shape.begin(), Case::input_shape.end());
  Tensor x = alias_with_shape(hash_uniform(numel(shape), 1000, dtype), shape);
  x = (x * 4.0).detach();

  model.eval();
  check_close(model(x), Case::eval_logits, tol);

  model.train();
  constexpr bool with_grads = requires { Case::grad_projections; };
  if (with_grads && grad_tol > 0) x.requires_grad_();
  Tensor logits = model(x);
  check_close(logits, Case::train_logits, tol);
  if constexpr (with_grads) {
    if (grad_tol <= 0) return;
    Tensor g = alias_with_shape(hash_uniform(logits.numel(), 1001, dtype), logits.shape());
    sum(logits * g).backward();
    if constexpr (requires { Case::input_grad; }) check_close(x.grad(), Case::input_grad, grad_tol);
    int64_t k = 0;
    std::vector<double> projections;
    for (auto& [name, p] : model.named_parameters()) {
      Tensor w = alias_with_shape(hash_uniform(p.numel(), 2000 + k, dtype), p.shape());
      projections.push_back(sum(p.grad() * w).item());
      ++k;
    }
    check_close(from(projections, {static_cast<int64_t>(projections.size())}), Case::grad_projections, grad_tol);
  }
}

}  // namespace lacoot::test

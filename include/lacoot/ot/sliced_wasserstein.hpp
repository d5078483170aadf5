// lacoot/ot/sliced_wasserstein.hpp — sliced and max-sliced Wasserstein distances between two
// point clouds, as differentiable ops, and the max with an optimised direction.
//
// Holds: SlicedOptions, random_projections, sliced_wasserstein, max_sliced_wasserstein,
// AscentOptions, MaxSlicedResult, max_sliced_wasserstein_optimised.
// Needs: ot/wasserstein_1d.hpp, ops/matmul.hpp, ops/reduce.hpp.
// Leaves out: other ground costs, and max_sliced_wasserstein_optimised on the GPU (its ascent
// runs on the host; the directions are drawn on the CPU and copied to the points' device).
//
// For X [n, d] and Y [m, d] (rows are points, uniform weights unless given) and unit directions
// θ_1..θ_K (the columns of P [d, K]):
//     SW_p(X, Y)    = ( (1/K) Σ_k W_p^p(Xθ_k, Yθ_k) )^(1/p)        (Bonneel et al., JMIV 2015)
//     maxSW_p(X, Y) = ( max_k  W_p^p(Xθ_k, Yθ_k) )^(1/p)           (Deshpande et al., CVPR 2019)
// exactly as POT 0.8.2's ot.sliced.sliced_wasserstein_distance and
// max_sliced_wasserstein_distance given projections=P (specs/pot-maxswd.md): P is used as
// given (random_projections draws unit columns), the root is taken after the mean or the max.
// Gradients reach X, Y (and P) through U = X P, V = Y P and the sorted matching; the max sends
// its gradient to the maximising direction only (split evenly between exact ties). LaCoOT's
// regulariser is maxSW_2 between a block's input and output, flattened to [batch, features].
// Two deliberate differences from POT: the gradient at a distance of exactly 0 is 0 (POT's is
// NaN), and the mean divides by K (POT divides by its n_projections argument even when P has
// another column count; SlicedOptions::pot_n_projections reproduces that for parity tests).
#pragma once

#include <cmath>
#include <vector>

#include "../core/factories.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/matmul.hpp"
#include "../ops/reduce.hpp"
#include "wasserstein_1d.hpp"

namespace lacoot {

struct SlicedOptions {
  double p = 2;                   // the order of the Wasserstein distance, ≥ 1
  Tensor a = {}, b = {};          // weights of X's and Y's points ([n], [m]); undefined: uniform
  int64_t pot_n_projections = 0;  // sliced mean only: divide by this instead of K (POT's quirk)
};

// K directions uniform on the unit sphere S^(d−1): a [d, K] standard normal draw with each
// column divided by its norm (as POT's get_random_projections, with lacoot's generator).
inline Tensor random_projections(int64_t d, int64_t n_projections, Generator& gen = default_generator(),
                                 DType dtype = kFloat32) {
  LACOOT_CHECK(d > 0 && n_projections > 0, "random_projections: expected d > 0 and n_projections > 0, got d = ", d,
               ", n_projections = ", n_projections);
  Tensor P = randn({d, n_projections}, kFloat64, gen);
  double* p = P.data<double>();
  for (int64_t k = 0; k < n_projections; ++k) {
    double s = 0;
    for (int64_t i = 0; i < d; ++i) s += p[i * n_projections + k] * p[i * n_projections + k];
    const double inv = 1.0 / std::sqrt(s);
    for (int64_t i = 0; i < d; ++i) p[i * n_projections + k] *= inv;
  }
  return dtype == kFloat64 ? P : P.to(dtype);
}

namespace detail {
inline void check_clouds(const char* op, const Tensor& X, const Tensor& Y, const Tensor& P) {
  check_same(op, {X, Y, P}, Cuda::kernel);
  check_floating(op, X, Cuda::kernel);
  LACOOT_CHECK(X.dim() == 2 && Y.dim() == 2 && X.size(1) == Y.size(1), op, ": expected X [n, d] and Y [m, d] "
               "with the same d (points as rows; flatten activations to [batch, features]), got ",
               shape_str(X.shape()), " and ", shape_str(Y.shape()));
  LACOOT_CHECK(P.dim() == 2 && P.size(0) == X.size(1), op, ": expected projections [d, K] with d = ", X.size(1),
               " (one unit direction per column), got ", shape_str(P.shape()));
}
// W_p^p of every direction: [K].
inline Tensor projected_costs(const char* op, const Tensor& X, const Tensor& Y, const Tensor& P,
                              const SlicedOptions& o) {
  check_clouds(op, X, Y, P);
  return wasserstein_1d(matmul(X, P), matmul(Y, P), o.a, o.b, o.p);
}
}  // namespace detail

// SW_p(X, Y) with the directions P [d, K]: a 0-d tensor.
inline Tensor sliced_wasserstein(const Tensor& X, const Tensor& Y, const Tensor& projections,
                                 const SlicedOptions& o = {}) {
  Tensor costs = detail::projected_costs("sliced_wasserstein", X, Y, projections, o);
  const double k = static_cast<double>(o.pot_n_projections > 0 ? o.pot_n_projections : projections.size(1));
  return root_p(sum(costs) / k, o.p);
}

// maxSW_p(X, Y) over the directions P [d, K]: a 0-d tensor.
inline Tensor max_sliced_wasserstein(const Tensor& X, const Tensor& Y, const Tensor& projections,
                                     const SlicedOptions& o = {}) {
  return root_p(max(detail::projected_costs("max_sliced_wasserstein", X, Y, projections, o)), o.p);
}

// The same with n_projections directions drawn from gen (the regulariser draws 50 per step).
inline Tensor sliced_wasserstein(const Tensor& X, const Tensor& Y, int64_t n_projections,
                                 Generator& gen = default_generator(), const SlicedOptions& o = {}) {
  LACOOT_CHECK(X.dim() == 2, "sliced_wasserstein: expected X [n, d], got ", shape_str(X.shape()));
  return sliced_wasserstein(X, Y, random_projections(X.size(1), n_projections, gen, X.dtype()).to(X.device()), o);
}
inline Tensor max_sliced_wasserstein(const Tensor& X, const Tensor& Y, int64_t n_projections,
                                     Generator& gen = default_generator(), const SlicedOptions& o = {}) {
  LACOOT_CHECK(X.dim() == 2, "max_sliced_wasserstein: expected X [n, d], got ", shape_str(X.shape()));
  return max_sliced_wasserstein(X, Y, random_projections(X.size(1), n_projections, gen, X.dtype()).to(X.device()),
                                o);
}

// ---- the max with an optimised direction ----

// Riemannian gradient ascent of f(θ) = W_p^p(Xθ, Yθ) on the unit sphere, along geodesics:
// θ ← cos(α) θ + sin(α) r/|r|, r = ∇f − (θ·∇f) θ, ∇f = Xᵀ ∂W/∂u + Yᵀ ∂W/∂v. A step is kept
// only if f grows (then α grows by 1.5, up to π/4); otherwise α halves. So the result is never
// below the best drawn direction, and each kept step is an ascent step.
struct AscentOptions {
  int64_t max_steps = 100;       // gradient evaluations at most
  double initial_step = 0.1;     // α, in radians
  double min_step = 1e-9;        // stop when α falls below this (a local maximum to this precision)
};

struct MaxSlicedResult {
  Tensor distance;     // maxSW_p along `direction`, 0-d, differentiable in X and Y
  Tensor direction;    // the unit vector θ found, [d, 1] (constant: no gradient)
  double best_random = 0;  // maxSW_p over the drawn directions alone
  int64_t steps = 0;       // ascent steps taken (kept or not)
};

// Starts from the best column of P [d, K] and ascends. The returned distance is differentiable
// with θ held fixed, which is the exact gradient at a maximum (the envelope theorem: ∂f/∂θ is
// normal to the sphere there).
inline MaxSlicedResult max_sliced_wasserstein_optimised(const Tensor& X, const Tensor& Y, const Tensor& projections,
                                                        const SlicedOptions& o = {}, const AscentOptions& a = {}) {
  detail::check_clouds("max_sliced_wasserstein_optimised", X, Y, projections);
  LACOOT_CHECK(X.device().is_cpu(), "max_sliced_wasserstein_optimised: the ascent runs on the CPU; got points on ",
               X.device().str(), " (hint: .to(kCPU), or max_sliced_wasserstein with drawn directions on the GPU)");
  // The search runs on plain float64 arrays (Tensor::to copies without recording a graph).
  const int64_t n = X.size(0), m = Y.size(0), d = X.size(1), K = projections.size(1);
  const Tensor Xd = X.to(kFloat64), Yd = Y.to(kFloat64), Pd = projections.to(kFloat64);
  const Tensor ad = o.a.defined() ? o.a.to(kFloat64) : Tensor(), bd = o.b.defined() ? o.b.to(kFloat64) : Tensor();
  const double* wa = ad.defined() ? ad.data<double>() : nullptr;
  const double* wb = bd.defined() ? bd.data<double>() : nullptr;
  // f(θ) and, when grad is given, ∇f(θ) [d].
  std::vector<double> u(static_cast<std::size_t>(n)), v(static_cast<std::size_t>(m));
  std::vector<double> gu(static_cast<std::size_t>(n)), gv(static_cast<std::size_t>(m));
  auto f = [&](const std::vector<double>& th, std::vector<double>* grad) {
    const double* x = Xd.data<double>();
    const double* y = Yd.data<double>();
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t j = 0; j < d; ++j) s += x[i * d + j] * th[static_cast<std::size_t>(j)];
      u[static_cast<std::size_t>(i)] = s;
    }
    for (int64_t i = 0; i < m; ++i) {
      double s = 0;
      for (int64_t j = 0; j < d; ++j) s += y[i * d + j] * th[static_cast<std::size_t>(j)];
      v[static_cast<std::size_t>(i)] = s;
    }
    double w = 0;
    const double one = 1;
    backend::cpu::wasserstein_1d_columns<double>(u.data(), v.data(), n, m, 1, wa, wb, o.p, &w, grad ? &one : nullptr,
                                                 grad ? gu.data() : nullptr, grad ? gv.data() : nullptr);
    if (grad) {
      grad->assign(static_cast<std::size_t>(d), 0.0);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < d; ++j) (*grad)[static_cast<std::size_t>(j)] += gu[static_cast<std::size_t>(i)] * x[i * d + j];
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < d; ++j) (*grad)[static_cast<std::size_t>(j)] += gv[static_cast<std::size_t>(i)] * y[i * d + j];
    }
    return w;
  };

  // The best drawn direction (normalised: P may come unnormalised from a user).
  std::vector<double> theta(static_cast<std::size_t>(d)), best(static_cast<std::size_t>(d)), grad;
  double fbest = -1;
  for (int64_t k = 0; k < K; ++k) {
    double norm = 0;
    for (int64_t j = 0; j < d; ++j) norm += Pd.data<double>()[j * K + k] * Pd.data<double>()[j * K + k];
    norm = std::sqrt(norm);
    LACOOT_CHECK(norm > 0, "max_sliced_wasserstein_optimised: projection column ", k, " is zero");
    for (int64_t j = 0; j < d; ++j) theta[static_cast<std::size_t>(j)] = Pd.data<double>()[j * K + k] / norm;
    const double fk = f(theta, nullptr);
    if (fk > fbest) fbest = fk, best = theta;
  }
  MaxSlicedResult r;
  r.best_random = std::pow(fbest, 1.0 / o.p);
  double alpha = a.initial_step;
  double fcur = f(best, &grad);
  std::vector<double> trial(static_cast<std::size_t>(d));
  while (r.steps < a.max_steps && alpha >= a.min_step) {
    ++r.steps;
    double dot = 0, rn = 0;
    for (int64_t j = 0; j < d; ++j) dot += grad[static_cast<std::size_t>(j)] * best[static_cast<std::size_t>(j)];
    for (int64_t j = 0; j < d; ++j) {
      const double rj = grad[static_cast<std::size_t>(j)] - dot * best[static_cast<std::size_t>(j)];
      rn += rj * rj;
    }
    rn = std::sqrt(rn);
    if (rn <= 1e-15 * (1 + std::abs(fcur))) break;  // a critical point of f on the sphere
    for (int64_t j = 0; j < d; ++j) {
      const double rj = (grad[static_cast<std::size_t>(j)] - dot * best[static_cast<std::size_t>(j)]) / rn;
      trial[static_cast<std::size_t>(j)] = std::cos(alpha) * best[static_cast<std::size_t>(j)] + std::sin(alpha) * rj;
    }
    const double ftrial = f(trial, nullptr);
    if (ftrial > fcur) {
      best = trial;
      fcur = f(best, &grad);
      alpha = std::min(alpha * 1.5, 0.7853981633974483);
    } else {
      alpha *= 0.5;
    }
  }
  r.direction = tensor(best, {d, 1}).to(X.dtype());
  r.distance = max_sliced_wasserstein(X, Y, r.direction, o);  // recorded if X or Y requires grad
  return r;
}

}  // namespace lacoot

// lacoot/ot/wasserstein_1d.hpp — the 1-D Wasserstein distance as a differentiable op.
//
// Holds: wasserstein_1d(u, v, u_weights, v_weights, p), as POT's ot.wasserstein_1d: the p-th
// power W_p^p of the p-Wasserstein distance between two 1-D empirical measures, for one pair of
// samples or for K pairs at once (the columns of [n, K] and [m, K]); and root_p(x, p) = x^(1/p)
// with the gradient at 0 defined as 0.
// Needs: ops/common.hpp, backend/cpu/wasserstein.hpp; with CUDA, backend/cuda/kernels.hpp (the
// same algorithm, a block per column, for samples of up to 1,024 points) and pointwise.hpp.
// Leaves out: gradients for the weights (they are constants, as POT's defaults are).
//
//   W_p^p(μ, ν) = ∫₀¹ |F_μ⁻¹(t) − F_ν⁻¹(t)|^p dt,   μ = Σ_i a_i δ(u_i), ν = Σ_j b_j δ(v_j)
//
// In 1-D the optimal plan is monotone: the sorted samples are matched quantile to quantile, so
// no linear program is needed (Villani, "Optimal Transport: Old and New", Remark 2.19). The
// gradient flows through the matching (the sort is treated as fixed, which is exact wherever
// no two samples tie), as in POT with the torch backend.
#pragma once

#include <cmath>

#include "../backend/cpu/wasserstein.hpp"
#include "../ops/common.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/kernels.hpp"
#include "../backend/cuda/pointwise.hpp"
#endif

namespace lacoot {

namespace detail {
// wasserstein_1d_columns on the device of u (the CPU loop or the CUDA kernel); g, gu, gv
// undefined for the forward only.
inline void wasserstein_columns(const Tensor& u, const Tensor& v, int64_t n, int64_t m, int64_t K, const Tensor& a,
                                const Tensor& b, double p, const Tensor& w, const Tensor& g = {},
                                const Tensor& gu = {}, const Tensor& gv = {}) {
#if LACOOT_WITH_CUDA
  if (u.device().is_cuda()) {
    const std::size_t bytes = cuda::kernels::wasserstein_scratch_bytes(n, m, K, u.dtype());
    Tensor scratch = Tensor::empty({static_cast<int64_t>(bytes / 8 + 1)}, kInt64, u.device());
    cuda::kernels::wasserstein_1d_columns(u.raw_data(), v.raw_data(), n, m, K, raw_or_null(a), raw_or_null(b), p,
                                          w.raw_data(), raw_or_null(g), raw_or_null(gu), raw_or_null(gv),
                                          scratch.raw_data(), u.dtype(),
                                          cuda::stream(u.device().index));
    return;
  }
#endif
  dispatch_floating(u.dtype(), "wasserstein_1d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto ptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
    backend::cpu::wasserstein_1d_columns<T>(u.data<T>(), v.data<T>(), n, m, K, ptr(a), ptr(b), p, w.data<T>(), ptr(g),
                                            ptr(gu), ptr(gv));
  });
}
}  // namespace detail

// u [n] or [n, K], v [m] or [m, K] (the same K); u_weights [n], v_weights [m] or undefined
// (uniform, 1/n and 1/m); p ≥ 1. Returns W_p^p: a 0-d tensor for 1-D inputs, [K] for columns.
// Differentiable in u and v.
inline Tensor wasserstein_1d(const Tensor& u, const Tensor& v, const Tensor& u_weights = {},
                             const Tensor& v_weights = {}, double p = 1) {
  detail::check_same("wasserstein_1d", {u, v}, detail::Cuda::kernel);
  detail::check_floating("wasserstein_1d", u, detail::Cuda::kernel);
  LACOOT_CHECK(p >= 1, "wasserstein_1d: p must be >= 1 (the cost |x − y|^p is a metric's power), got ", p);
  LACOOT_CHECK((u.dim() == 1 && v.dim() == 1) || (u.dim() == 2 && v.dim() == 2 && u.size(1) == v.size(1)),
               "wasserstein_1d: expected u [n] and v [m], or u [n, K] and v [m, K] with the same K; got ",
               shape_str(u.shape()), " and ", shape_str(v.shape()));
  const int64_t n = u.size(0), m = v.size(0), K = u.dim() == 2 ? u.size(1) : 1;
  LACOOT_CHECK(n > 0 && m > 0, "wasserstein_1d: both samples need at least one point, got n = ", n, ", m = ", m);
  for (auto [w, count, name] : {std::tuple{u_weights, n, "u_weights"}, std::tuple{v_weights, m, "v_weights"}}) {
    if (!w.defined()) continue;
    detail::check_same("wasserstein_1d", {u, w}, detail::Cuda::kernel);
    LACOOT_CHECK(w.shape() == Shape{count}, "wasserstein_1d: ", name, " has shape ", shape_str(w.shape()),
                 ", expected [", count, "] (one weight per sample point)");
  }
  Tensor out = Tensor::empty(u.dim() == 2 ? Shape{K} : Shape{}, u.dtype(), u.device());
  detail::wasserstein_columns(u, v, n, m, K, u_weights, v_weights, p, out);
  autograd::record(out, "wasserstein_1d", {u, v},
                   [u = u.detach(), v = v.detach(), a = u_weights, b = v_weights, n, m, K, p](
                       const Tensor& g, const std::vector<bool>&) {
    // d(Σ_k g_k W_k)/du, /dv: the matching recomputed (a sort is cheaper to redo than to keep).
    Tensor gu = Tensor::empty(u.shape(), u.dtype(), u.device()), gv = Tensor::empty(v.shape(), v.dtype(), v.device());
    Tensor w = Tensor::empty({K}, u.dtype(), u.device());
    detail::wasserstein_columns(u, v, n, m, K, a, b, p, w, g, gu, gv);
    return std::vector<Tensor>{gu, gv};
  });
  return out;
}

// x^(1/p) elementwise for x ≥ 0, with gradient (1/p) x^(1/p − 1) and, at x = 0 for p > 1, gradient 0
// instead of ∞·0 = NaN (POT's distance at X = Y has a NaN gradient; METHOD.md §7): the
// distance's root is not differentiable there, and 0 is the subgradient that keeps training
// finite when a block is exactly the identity.
inline Tensor root_p(const Tensor& x, double p) {
  detail::check_floating("root_p", x, detail::Cuda::kernel);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
#if LACOOT_WITH_CUDA
  if (x.device().is_cuda()) {  // (no check for negative inputs here: that would wait for the GPU)
    if (p == 2) cuda::unary(fn::Sqrt{}, x, out);
    else cuda::unary(fn::with_params<fn::Pow>(p == 1 ? 1.0 : 1.0 / p, 0), x, out);
  } else
#endif
  dispatch_floating(x.dtype(), "root_p", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const T v = x.data<T>()[i];
      LACOOT_CHECK(v >= 0 || std::isnan(v), "root_p: expected a non-negative input, got ", v, " at element ", i);
      out.data<T>()[i] = p == 2 ? std::sqrt(v) : p == 1 ? v : static_cast<T>(std::pow(v, 1.0 / p));
    }
  });
  autograd::record(out, "root_p", {x}, [y = out.detach(), p](const Tensor& g, const std::vector<bool>&) {
    // y = x^(1/p): dy/dx = (1/p) x^(1/p − 1) = y / (p x) = y^(1 − p) / p.
    Tensor gx = Tensor::empty(y.shape(), y.dtype(), y.device());
#if LACOOT_WITH_CUDA
    if (y.device().is_cuda()) {
      if (p == 1) return std::vector<Tensor>{g};
      Tensor slope = Tensor::empty(y.shape(), y.dtype(), y.device()), at_zero = Tensor::empty(y.shape(), y.dtype(), y.device());
      cuda::unary(fn::with_params<fn::Pow>(1.0 - p, 0), y, slope);  // y^(1 − p)
      cuda::binary(fn::Mul{}, slope, g, slope);
      cuda::binary(fn::Mul{}, slope, detail::scalar_like(y, 1.0 / p), slope);
      cuda::binary(fn::Eq{}, y, detail::scalar_like(y, 0.0), at_zero);
      cuda::where(at_zero, detail::scalar_like(y, 0.0), slope, gx);  // 0 where y = 0
      return std::vector<Tensor>{gx};
    }
#endif
    dispatch_floating(y.dtype(), "root_p backward", [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (int64_t i = 0; i < y.numel(); ++i) {
        const T yi = y.data<T>()[i];
        gx.data<T>()[i] = p == 1 ? g.data<T>()[i]  // the identity: smooth everywhere
                          : yi == 0 ? T(0) : g.data<T>()[i] * static_cast<T>(std::pow(yi, 1.0 - p) / p);
      }
    });
    return std::vector<Tensor>{gx};
  });
  return out;
}

}  // namespace lacoot

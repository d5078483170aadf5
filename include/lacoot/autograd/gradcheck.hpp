// lacoot/autograd/gradcheck.hpp — checking an op's backward against finite differences.
//
// Holds: gradcheck(f, inputs, options) -> GradcheckResult.
// Needs: engine.hpp, core/factories.hpp.
//
// How: every floating input is converted to float64 and made a leaf. For a fixed random
// tensor r of the output's shape, L(x) = <r, f(x)> (a random projection of the Jacobian, as
// dlib's dnn tests do) has the analytic gradient given by f(x).backward(r); the numeric one is
// the central difference (L(x + h e_j) − L(x − h e_j)) / 2h for every element j of every
// checked input. An element fails when |analytic − numeric| > atol + rtol·|numeric|; the report
// names the worst element (input, index, both values). Keep inputs away from kinks (ReLU at
// 0, ties in max/sort) or the finite difference straddles them.
#pragma once

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "../core/factories.hpp"
#include "engine.hpp"

namespace lacoot::autograd {

struct GradcheckOptions {
  double eps = 1e-6;   // finite-difference step h
  double atol = 1e-5;  // absolute tolerance
  double rtol = 1e-3;  // relative tolerance
  uint64_t seed = 0;   // for the projection r
  // Which inputs to check (empty: every floating-point input). Unchecked inputs are passed
  // as they are (labels, indices, constants).
  std::vector<bool> check;
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0;
  std::string report;  // "ok" or the worst element, readably
  // The worst failing element (when !ok): which input, its flat index, both values of the
  // projected gradient <r, df/dx_j>.
  std::size_t worst_input = 0;
  int64_t worst_index = -1;
  double worst_analytic = 0, worst_numeric = 0;
  explicit operator bool() const { return ok; }
};

namespace detail {

inline double dot_f64(const Tensor& a, const Tensor& b) {
  const Tensor a64 = a.to(kFloat64).cpu(), b64 = b.cpu();  // summed on the host, whatever the device
  const double* pa = a64.data<double>();
  const double* pb = b64.data<double>();
  double s = 0;
  for (int64_t i = 0; i < a64.numel(); ++i) s += pa[i] * pb[i];
  return s;
}

inline std::string index_str(const Shape& shape, int64_t flat) {
  std::vector<int64_t> idx(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    idx[static_cast<std::size_t>(d)] = flat % shape[static_cast<std::size_t>(d)];
    flat /= shape[static_cast<std::size_t>(d)];
  }
  std::string s = "[";
  for (std::size_t i = 0; i < idx.size(); ++i) s += (i ? ", " : "") + std::to_string(idx[i]);
  return s + "]";
}

}  // namespace detail

inline GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                 const std::vector<Tensor>& inputs,
                                 const GradcheckOptions& opt = {}) {
  std::vector<Tensor> x;
  std::vector<bool> checked;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    bool c = opt.check.empty() ? is_floating(inputs[i].dtype()) : opt.check.at(i);
    Tensor t = c ? inputs[i].to(kFloat64) : inputs[i];
    if (c) t.requires_grad_();
    x.push_back(t);
    checked.push_back(c);
  }

  Tensor y = f(x);
  LACOOT_CHECK(y.requires_grad(), "gradcheck: the function's output does not depend on any "
               "checked input (no grad_fn)");
  LACOOT_CHECK(y.dtype() == kFloat64, "gradcheck: the function returned ", dtype_name(y.dtype()),
               " for float64 inputs; ops must keep the dtype");
  Generator gen(opt.seed);
  Tensor r = randn(y.shape(), kFloat64, gen).to(y.device());
  y.backward(r);

  GradcheckResult res;
  double worst_excess = 0;
  std::ostringstream report;
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!checked[i]) continue;
    const Tensor analytic = x[i].grad().defined() ? x[i].grad().cpu() : Tensor();
    const Tensor host = x[i].cpu();  // x[i] itself on the CPU; a copy of a GPU input
    double* p = host.data<double>();
    // Element j of x[i] set to v (on a GPU: the one element copied over).
    auto set = [&](int64_t j, double v) {
      p[j] = v;
      if (!x[i].device().is_cpu())
        lacoot::detail::copy_bytes(static_cast<double*>(x[i].raw_data()) + j, x[i].device(), p + j, kCPU,
                                   sizeof(double));
    };
    for (int64_t j = 0; j < x[i].numel(); ++j) {
      const double saved = p[j];
      set(j, saved + opt.eps);
      double plus = detail::dot_f64(f(x), r);
      set(j, saved - opt.eps);
      double minus = detail::dot_f64(f(x), r);
      set(j, saved);
      double numeric = (plus - minus) / (2 * opt.eps);
      double a = analytic.defined() ? analytic.data<double>()[j] : 0.0;
      double err = std::abs(a - numeric);
      double excess = err - (opt.atol + opt.rtol * std::abs(numeric));
      res.max_abs_error = std::max(res.max_abs_error, err);
      if (!(excess <= 0) && (res.ok || excess > worst_excess || std::isnan(excess))) {
        res.ok = false;
        worst_excess = excess;
        res.worst_input = i;
        res.worst_index = j;
        res.worst_analytic = a;
        res.worst_numeric = numeric;
        report.str("");
        report << "gradcheck failed: input " << i << " (shape " << shape_str(x[i].shape())
               << ") element " << detail::index_str(x[i].shape(), j) << ": analytic " << a
               << ", numeric " << numeric << ", |difference| " << err << " > atol " << opt.atol
               << " + rtol " << opt.rtol << " * |numeric|"
               << (analytic.defined() ? "" : " (backward gave this input no gradient)");
      }
    }
  }
  res.report = res.ok ? "ok (max |analytic - numeric| = " + std::to_string(res.max_abs_error) + ")"
                      : report.str();
  return res;
}

}  // namespace lacoot::autograd

namespace lacoot {
using autograd::gradcheck;
using autograd::GradcheckOptions;
using autograd::GradcheckResult;
}

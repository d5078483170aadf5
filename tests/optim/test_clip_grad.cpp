// Tests for optim/clip_grad.hpp: clip_grad_norm_ and clip_grad_value_.
//
// References: cases worked by hand (in the comments); PyTorch 1.13's
// torch.nn.utils.clip_grad_norm_ for norms 1, 2, 3.5 and ∞, clipped and not, and
// clip_grad_value_ (tests/fixtures/optim_fixtures.hpp, written by gen_optim.py), in float64
// and float32; parameters without a gradient; a gradient tensor shared by two parameters;
// non-finite norms.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "../check.hpp"
#include "../fixtures/optim_fixtures.hpp"
#include "lacoot/optim/clip_grad.hpp"

using namespace lacoot;
using namespace lacoot::test;
namespace fx_optim = fixtures::optim;

namespace {

const double kInf = std::numeric_limits<double>::infinity();

// The fixture's three parameters with their gradients, plus one without a gradient.
std::vector<Tensor> clip_params(DType dtype) {
  std::vector<Tensor> ps;
  for (std::size_t i = 0; i < fx_optim::clip_shapes.size(); ++i) {
    Tensor p = zeros(fx_optim::clip_shapes[i], dtype).requires_grad_();
    p.set_grad(from(fx_optim::clip_grads[i], fx_optim::clip_shapes[i], dtype));
    ps.push_back(p);
  }
  ps.push_back(zeros({2}, dtype).requires_grad_());
  return ps;
}

template <class Case>
void check_clip(DType dtype, double tol) {
  std::vector<Tensor> ps = clip_params(dtype);
  const double total = optim::clip_grad_norm_(ps, Case::max_norm, Case::norm_type);
  CHECK(std::abs(total - Case::total) <= tol * (1 + Case::total));
  for (std::size_t i = 0; i < Case::clipped.size(); ++i) {
    CAPTURE(i);
    check_close(ps[i].grad(), Case::clipped[i], tol);
  }
  CHECK_FALSE(ps.back().grad().defined());
}

void check_all(DType dtype, double tol) {
  check_clip<fx_optim::clip_norm2>(dtype, tol);
  check_clip<fx_optim::clip_norm2_unclipped>(dtype, tol);
  check_clip<fx_optim::clip_norm1>(dtype, tol);
  check_clip<fx_optim::clip_norm_inf>(dtype, tol);
  check_clip<fx_optim::clip_norm3_5>(dtype, tol);
}

}  // namespace

TEST_CASE("clip_grad_norm_: cases worked by hand") {
  Tensor a = zeros({2}, kFloat64).requires_grad_(), b = zeros({1}, kFloat64).requires_grad_();
  SUBCASE("2-norm") {
    // ∇a = [3, 0], ∇b = [4]: total = 5, coef = 1 / (5 + 1e-6).
    a.set_grad(from({3, 0}, {2}));
    b.set_grad(from({4}, {1}));
    CHECK(optim::clip_grad_norm_({a, b}, 1.0) == 5.0);
    const double c = 1 / (5 + 1e-6);
    check_close(a.grad(), {3 * c, 0}, 1e-15);
    check_close(b.grad(), {4 * c}, 1e-15);
  }
  SUBCASE("max norm, and a norm below max_norm leaves the gradients alone") {
    a.set_grad(from({-3, 1}, {2}));
    b.set_grad(from({2}, {1}));
    CHECK(optim::clip_grad_norm_({a, b}, 10.0, kInf) == 3.0);
    check_close(a.grad(), {-3, 1}, 0);
    CHECK(optim::clip_grad_norm_({a, b}, 1.0, kInf) == 3.0);
    check_close(a.grad(), {-1 / (1 + 1e-6 / 3), 1 / (3 + 1e-6)}, 1e-15);
  }
  SUBCASE("no gradients: norm 0") {
    CHECK(optim::clip_grad_norm_({a, b}, 1.0) == 0.0);
  }
}

TEST_CASE("clip_grad_norm_ matches torch.nn.utils.clip_grad_norm_") {
  SUBCASE("float64") { check_all(kFloat64, 1e-12); }
  SUBCASE("float32") { check_all(kFloat32, 1e-6); }
}

TEST_CASE("clip_grad_value_ matches torch.nn.utils.clip_grad_value_") {
  for (DType dtype : {kFloat64, kFloat32}) {
    std::vector<Tensor> ps = clip_params(dtype);
    optim::clip_grad_value_(ps, fx_optim::clip_by_value::clip_value);
    for (std::size_t i = 0; i < fx_optim::clip_by_value::clipped.size(); ++i) check_close(ps[i].grad(), fx_optim::clip_by_value::clipped[i], 1e-7);
  }
}

TEST_CASE("a gradient tensor shared by two parameters counts twice in the norm and is scaled once") {
  Tensor a = zeros({2}, kFloat64).requires_grad_(), b = zeros({2}, kFloat64).requires_grad_();
  a.set_grad(from({3, 4}, {2}));
  b.set_grad(a.grad());  // what the engine does for both inputs of add(a, b)
  const double total = optim::clip_grad_norm_({a, b}, 1.0);
  CHECK(total == doctest::Approx(5 * std::sqrt(2.0)).epsilon(1e-15));
  const double c = 1 / (total + 1e-6);
  check_close(b.grad(), {3 * c, 4 * c}, 1e-15);
}

TEST_CASE("clip_grad_norm_: non-finite norms and bad arguments") {
  Tensor a = zeros({2}, kFloat64).requires_grad_();
  a.set_grad(from({1, std::nan("")}, {2}));
  CHECK_THROWS_WITH_AS(optim::clip_grad_norm_({a}, 1.0, 2.0, true), doctest::Contains("the total norm of order 2 "
                       "of the gradients is nan"), Error);
  CHECK(std::isnan(optim::clip_grad_norm_({a}, 1.0)));
  CHECK(std::isnan(a.grad().at<double>({0})));  // scaled by NaN, as PyTorch does
  a.set_grad(from({1, std::nan("")}, {2}));
  CHECK(std::isnan(optim::clip_grad_norm_({a}, 1.0, kInf)));
  a.set_grad(from({1, kInf}, {2}));
  CHECK_THROWS_AS(optim::clip_grad_norm_({a}, 1.0, 1.0, true), Error);
  CHECK_THROWS_WITH_AS(optim::clip_grad_norm_({a}, 1.0, 0.0), doctest::Contains("norm_type must be > 0"), Error);
  CHECK_THROWS_WITH_AS(optim::clip_grad_value_({a}, -1.0), doctest::Contains("clip_value must be >= 0"), Error);
}

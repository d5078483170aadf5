// Tests for ot/wasserstein_1d.hpp and ot/sliced_wasserstein.hpp.
//
// References: POT 0.8.2 (tests/fixtures/ot_fixtures.hpp, written by gen_ot.py: specs/pot-maxswd.md's
// four cases and three larger ones, values and torch-backend gradients in float64); small cases
// worked by hand below; gradcheck; identities (a cloud against itself is at distance 0 with a
// zero gradient; a shifted cloud's max-sliced distance is the shift, attained along it).
#include <doctest/doctest.h>

#include <cmath>

#include "../check.hpp"
#include "../fixtures/ot_fixtures.hpp"
#include "lacoot/autograd/engine.hpp"
#include "lacoot/ot/sliced_wasserstein.hpp"

using namespace lacoot;
using namespace lacoot::test;

namespace {

template <class Case>
void check_pot_case(DType dtype, double tol, double grad_tol) {
  CAPTURE(Case::n);
  CAPTURE(Case::d);
  Tensor P = from(Case::projections, {Case::d, Case::K}, dtype);
  SlicedOptions o{.p = Case::p};
  if constexpr (requires { Case::a; }) {
    o.a = from(Case::a, {Case::n}, dtype);
    o.b = from(Case::b, {Case::m}, dtype);
  }
  for (bool is_max : {true, false}) {
    CAPTURE(is_max);
    Tensor X = from(Case::x, {Case::n, Case::d}, dtype).requires_grad_();
    Tensor Y = from(Case::y, {Case::m, Case::d}, dtype).requires_grad_();
    Tensor Pg = P.clone().requires_grad_();
    Tensor dist = is_max ? max_sliced_wasserstein(X, Y, Pg, o) : sliced_wasserstein(X, Y, Pg, o);
    check_close(dist, {is_max ? Case::max_distance : Case::mean_distance}, tol);
    dist.backward();
    check_close(X.grad(), is_max ? Case::max_grad_x : Case::mean_grad_x, grad_tol);
    check_close(Y.grad(), is_max ? Case::max_grad_y : Case::mean_grad_y, grad_tol);
    check_close(Pg.grad(), is_max ? Case::max_grad_p : Case::mean_grad_p, grad_tol);
  }
  Tensor X = from(Case::x, {Case::n, Case::d}, dtype), Y = from(Case::y, {Case::m, Case::d}, dtype);
  check_close(wasserstein_1d(matmul(X, P), matmul(Y, P), o.a, o.b, Case::p), Case::projected, tol);
}

// n points, well apart (no ties in any projection with probability 1).
Tensor cloud(int64_t n, int64_t d, uint64_t seed, double shift = 0) {
  Generator g(seed);
  return (randn({n, d}, kFloat64, g) + shift).detach();
}

}  // namespace

TEST_CASE("wasserstein_1d worked by hand") {
  // μ = ½δ0 + ½δ1, ν = ½δ1 + ½δ2: every quantile moves by 1, so W_p^p = 1 for every p.
  Tensor u = tensor({0, 1}, kFloat64), v = tensor({2, 1}, kFloat64);
  CHECK(wasserstein_1d(u, v).item() == doctest::Approx(1.0));
  CHECK(wasserstein_1d(u, v, {}, {}, 2).item() == doctest::Approx(1.0));
  // μ = δ0, ν = ½δ0 + ½δ2: half the mass moves by 2: W_1 = 1, W_2^2 = 2.
  Tensor one = tensor({0}, kFloat64), two = tensor({0, 2}, kFloat64);
  CHECK(wasserstein_1d(one, two).item() == doctest::Approx(1.0));
  CHECK(wasserstein_1d(one, two, {}, {}, 2).item() == doctest::Approx(2.0));
  // Weighted: μ = 0.25δ0 + 0.75δ4, ν = δ1: W_1 = 0.25·1 + 0.75·3 = 2.5.
  CHECK(wasserstein_1d(tensor({4, 0}, kFloat64), tensor({1}, kFloat64), tensor({0.75, 0.25}, kFloat64)).item() ==
        doctest::Approx(2.5));
  // Columns are independent problems: [K] out.
  Tensor cols = wasserstein_1d(tensor({{0, 0}, {1, 5}}, kFloat64), tensor({{1, 5}, {2, 0}}, kFloat64));
  check_values(cols, {1.0, 0.0});
}

TEST_CASE("wasserstein_1d: tied points keep their row order (as the GPU's stable sort); a NaN sorts last") {
  // 40 equal points against 40 distinct ones, p = 2: the i-th point of u (in row order) is
  // matched with the i-th smallest of v, so ∂W/∂u_i = 2 (c − v_(i)) / n. An unstable sort would
  // match the tied rows in some other order (same W, gradients permuted).
  const int64_t n = 40;
  std::vector<double> v_values;
  for (int64_t j = 0; j < n; ++j) v_values.push_back(static_cast<double>((j * 7) % n) / 10.0);  // 0 .. 3.9, shuffled
  Tensor u = full({n}, 0.5, kFloat64).requires_grad_(), v = from(v_values, {n}, kFloat64);
  wasserstein_1d(u, v, {}, {}, 2).backward();
  std::vector<double> expected;
  for (int64_t i = 0; i < n; ++i) expected.push_back(2.0 * (0.5 - static_cast<double>(i) / 10.0) / static_cast<double>(n));
  check_close(u.grad(), expected, 1e-12);
  // A NaN is the largest value: it meets v's largest point, W is NaN, the other rows keep their
  // gradients (rows sorted 2, 0, 1 against 0, 1, 2).
  Tensor w = tensor({1.0, std::nan(""), 0.0}, kFloat64).requires_grad_();
  Tensor dist = wasserstein_1d(w, tensor({0.0, 1.0, 2.0}, kFloat64), {}, {}, 2);
  CHECK(std::isnan(dist.item()));
  dist.backward();
  const std::vector<double> g = values_of(w.grad());
  CHECK(g[0] == 0.0);
  CHECK(std::isnan(g[1]));
  CHECK(g[2] == 0.0);
}

TEST_CASE("sliced and max-sliced distances equal POT 0.8.2's, with its gradients (float64)") {
  namespace fx = fixtures::ot;
  check_pot_case<fx::case1>(kFloat64, 1e-12, 1e-10);
  check_pot_case<fx::case2>(kFloat64, 1e-12, 1e-10);
  check_pot_case<fx::case3>(kFloat64, 1e-12, 1e-10);
  check_pot_case<fx::case4>(kFloat64, 1e-12, 1e-10);
  check_pot_case<fx::case5>(kFloat64, 1e-12, 1e-10);
  check_pot_case<fx::case6>(kFloat64, 1e-12, 1e-10);
  check_pot_case<fx::case7>(kFloat64, 1e-12, 1e-10);
}

TEST_CASE("float32 agrees with POT's float64 values to float32 precision") {
  namespace fx = fixtures::ot;
  check_pot_case<fx::case1>(kFloat32, 1e-5, 1e-4);
  check_pot_case<fx::case5>(kFloat32, 1e-5, 1e-4);
}

TEST_CASE("gradcheck: wasserstein_1d, sliced and max-sliced, weighted and unequal sizes") {
  Tensor u = cloud(7, 3, 1), v = cloud(5, 3, 2, 0.3);
  Tensor a = tensor({0.1, 0.2, 0.05, 0.15, 0.2, 0.1, 0.2}, kFloat64), b = tensor({0.3, 0.1, 0.2, 0.25, 0.15}, kFloat64);
  for (double p : {1.0, 1.5, 2.0, 3.0}) {
    CAPTURE(p);
    check_grad([&](const V& in) { return wasserstein_1d(in[0], in[1], a, b, p); }, {u, v});
    check_grad([&](const V& in) { return wasserstein_1d(in[0], in[1], {}, {}, p); }, {u, v});
  }
  Tensor X = cloud(9, 4, 3), Y = cloud(6, 4, 4, 0.5), P = random_projections(4, 5, default_generator(), kFloat64);
  check_grad([](const V& in) { return sliced_wasserstein(in[0], in[1], in[2]); }, {X, Y, P});
  check_grad([](const V& in) { return max_sliced_wasserstein(in[0], in[1], in[2]); }, {X, Y, P});
  check_grad([](const V& in) { return max_sliced_wasserstein(in[0], in[1], in[2], {.p = 3}); }, {X, Y, P});
}

TEST_CASE("a cloud against itself: distance 0 and a zero gradient, not NaN (POT's is NaN)") {
  Tensor X = cloud(16, 5, 5).requires_grad_();
  Tensor d = max_sliced_wasserstein(X, X.detach(), 10);
  CHECK(d.item() == 0.0);
  d.backward();
  for (double g : values_of(X.grad())) CHECK(g == 0.0);
}

TEST_CASE("random_projections: unit columns, reproducible from the seed") {
  Generator g1(7), g2(7), g3(8);
  Tensor P = random_projections(30, 50, g1, kFloat64);
  CHECK(P.shape() == Shape{30, 50});
  Tensor norms = sum(P * P, DimList{0});
  for (double n : values_of(norms)) CHECK(n == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(max_abs_diff(P, random_projections(30, 50, g2, kFloat64)) == 0.0);
  CHECK(max_abs_diff(P, random_projections(30, 50, g3, kFloat64)) > 0.1);
}

TEST_CASE("the optimised max: never below the best drawn direction; finds a known maximum") {
  SUBCASE("Y = X + c·e₁: every direction θ sees a shift c·θ₁, so maxSW₂ = |c| along ±e₁") {
    const double c = 1.5;
    Tensor X = cloud(32, 8, 11), shift = zeros({1, 8}, kFloat64);
    shift.data<double>()[0] = c;
    Tensor Y = (X + shift).detach();
    Generator g(3);
    Tensor P = random_projections(8, 20, g, kFloat64);
    MaxSlicedResult r = max_sliced_wasserstein_optimised(X, Y, P);
    MESSAGE("best of 20 random directions ", r.best_random, ", optimised ", r.distance.item(), " in ", r.steps, " steps");
    CHECK(r.best_random < c - 1e-3);  // 20 random directions in 8-D miss e₁
    CHECK(r.distance.item() == doctest::Approx(c).epsilon(1e-6));
    CHECK(std::abs(r.direction.data<double>()[0]) == doctest::Approx(1.0).epsilon(1e-6));
  }
  SUBCASE("random clouds: at least the random max, and differentiable in X and Y") {
    Tensor X = cloud(40, 6, 21).requires_grad_(), Y = cloud(40, 6, 22, 0.2);
    Generator g(5);
    Tensor P = random_projections(6, 10, g, kFloat64);
    const double random_max = max_sliced_wasserstein(X.detach(), Y, P).item();
    MaxSlicedResult r = max_sliced_wasserstein_optimised(X, Y, P);
    CHECK(r.best_random == doctest::Approx(random_max).epsilon(1e-12));
    CHECK(r.distance.item() >= random_max);
    r.distance.backward();
    REQUIRE(X.grad().defined());
    // The gradient is that of the distance along the found direction, held fixed. (No finite
    // differences here: the optimum sits where two matchings tie, W being a minimum over
    // matchings, so the distance is not differentiable at it in the strict sense.)
    Tensor X2 = X.detach().clone().requires_grad_();
    max_sliced_wasserstein(X2, Y, r.direction).backward();
    CHECK(max_abs_diff(X.grad(), X2.grad()) == 0.0);
    CHECK(sum(X.grad() * X.grad()).item() > 0);
  }
}

TEST_CASE("bad arguments name the op, the shapes and what was expected") {
  Tensor X = cloud(4, 3, 1), Y = cloud(4, 2, 2);
  CHECK_THROWS_WITH_AS(max_sliced_wasserstein(X, Y, 5), doctest::Contains("with the same d"), Error);
  CHECK_THROWS_WITH_AS(sliced_wasserstein(X, X, zeros({2, 5}, kFloat64)), doctest::Contains("projections [d, K] with d = 3"), Error);
  CHECK_THROWS_WITH_AS(wasserstein_1d(tensor({1.0}), tensor({1.0}), {}, {}, 0.5), doctest::Contains("p must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(wasserstein_1d(tensor({1.0, 2.0}), tensor({1.0}), tensor({1.0})), doctest::Contains("u_weights has shape [1], expected [2]"), Error);
}

// Tests for ops/reduce.hpp (sum, mean, var, max, min, argmax, argmin) and ops/softmax.hpp.
//
// References: values worked by hand (in the comments); PyTorch 1.13 in float64
// (tests/fixtures/reduce_fixtures.hpp, written by gen_reduce.py: forward values for several dim
// lists, keepdim and correction, and softmax input gradients), checked in float64 and float32;
// naive double loops for large tensors whose sums take the chunked kernel paths; gradcheck
// (central differences) for every differentiable op; and identities (softmax sums to 1,
// results independent of the thread count).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "../fixtures/reduce_fixtures.hpp"
#include "../check.hpp"
#include "lacoot/autograd/engine.hpp"
#include "lacoot/autograd/gradcheck.hpp"
#include "lacoot/ops/reduce.hpp"
#include "lacoot/ops/softmax.hpp"

using namespace lacoot;
using namespace lacoot::test;

namespace {

// Values 0.37 · (a permutation of 0..n-1): distinct and far apart, so max/min have no ties
// within a finite-difference step.
Tensor distinct_far_apart(Shape shape) {
  const int64_t n = numel(shape);
  Tensor p = randperm(n);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = 0.37 * static_cast<double>(p.data<int64_t>()[i]) - 3.0;
  return from(v, std::move(shape));
}

}  // namespace

// ---- values worked by hand ----

TEST_CASE("sum, mean, var: values worked by hand") {
  // x = [[1, 2, 3],
  //      [4, 5, 6]]
  Tensor x = tensor({{1, 2, 3}, {4, 5, 6}});
  check_values(sum(x), {21});
  CHECK(sum(x).dim() == 0);
  check_values(sum(x, 0), {5, 7, 9});
  check_values(sum(x, 1), {6, 15});
  check_values(sum(x, -1), {6, 15});
  check_values(sum(x, {0, 1}), {21});
  check_values(sum(x, {}), {21});  // the empty list reduces every dim (PyTorch 1.13)
  CHECK(sum(x, 1, true).shape() == Shape{2, 1});
  CHECK(sum(x, {0, 1}, true).shape() == Shape{1, 1});
  check_values(mean(x), {3.5});
  check_values(mean(x, 1), {2, 5});
  check_values(mean(x, 0, true), {2.5, 3.5, 4.5});
  // Rows deviate from their means by −1, 0, 1: Σ = 2, so var = 2 / (3 − 1) = 1 (unbiased)
  // and 2 / 3 with correction 0. All six: mean 3.5, Σ (x − 3.5)² = 17.5, var = 17.5 / 5.
  check_values(var(x, 1), {1, 1});
  check_values(var(x, 1, 0), {2.0 / 3, 2.0 / 3}, 1e-6);
  check_values(var(x), {3.5});
  check_values(var(x, {}, 0), {17.5 / 6}, 1e-6);
  // Columns deviate by ±1.5: Σ = 4.5; correction 2 leaves N − 2 = 0: inf, as PyTorch.
  check_values(var(x, 0), {4.5, 4.5, 4.5});
  CHECK(std::isinf(var(x, 0, 2).at<float>({0})));
  CHECK(std::isnan(var(tensor({7})).item()));  // one element, N − 1 = 0 and Σ = 0: 0 / 0
}

TEST_CASE("reductions: edge shapes (0-d, empty, size-1 dims)") {
  Tensor s = full({}, 3.0);
  check_values(sum(s), {3});
  check_values(sum(s, 0), {3});
  CHECK(sum(s, -1, true).dim() == 0);  // a 0-d tensor stays 0-d, as in PyTorch
  ValuesIndices m = max(s, 0);
  check_values(m.values, {3});
  CHECK(m.indices.item() == 0);
  check_values(sum(zeros({0})), {0});
  CHECK(std::isnan(mean(zeros({0})).item()));
  CHECK(sum(zeros({2, 0}), 1).shape() == Shape{2});
  check_values(sum(zeros({2, 0}), 1), {0, 0});
  CHECK(max(zeros({2, 0}), 0).values.shape() == Shape{0});
  // Size-1 dims merge away: reducing dims 0 and 2 of [1, 3, 1, 2] is reducing the last one.
  Tensor y = tensor(std::vector<double>{1, 2, 3, 4, 5, 6}, {1, 3, 1, 2});
  check_values(sum(y, {0, 3}), {3, 7, 11});
  CHECK(sum(y, {0, 3}).shape() == Shape{3, 1});
}

TEST_CASE("max, min, argmax, argmin: values worked by hand, ties and NaN") {
  // x = [[1, 3, 3],
  //      [5, 4, 2]]
  Tensor x = tensor({{1, 3, 3}, {5, 4, 2}});
  ValuesIndices m = max(x, 1);
  check_values(m.values, {3, 5});
  check_values(m.indices, {1, 0});  // the tie 3, 3 picks the first, as PyTorch
  CHECK(m.indices.dtype() == kInt64);
  ValuesIndices n = min(x, 0);
  check_values(n.values, {1, 3, 2});
  check_values(n.indices, {0, 0, 1});
  check_values(max(x, 0, true).values, {5, 4, 3});
  CHECK(max(x, 0, true).values.shape() == Shape{1, 3});
  check_values(argmax(x, 1), {1, 0});
  check_values(argmin(x, -1, true), {0, 2});
  check_values(argmax(x), {3});  // flat index of 5
  check_values(argmin(x), {0});
  check_values(max(x), {5});
  check_values(min(x), {1});
  // NaN wins both max and min, at its first position (PyTorch propagates NaN).
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor z = from({1, nan, 3, nan}, {1, 4});
  CHECK(std::isnan(max(z, 1).values.item()));
  CHECK(max(z, 1).indices.item() == 1);
  CHECK(min(z, 1).indices.item() == 1);
  CHECK(std::isnan(max(z).item()));
  CHECK(argmax(z).item() == 1);
}

TEST_CASE("max, min: gradients go to the selected element (dim) or are shared over ties (all)") {
  // max(x, 1) of [[1, 3, 3]] selects index 1: the gradient goes there only.
  Tensor x = from({1, 3, 3}, {1, 3}).requires_grad_();
  max(x, 1).values.backward(from({2}, {1}));
  check_values(x.grad(), {0, 2, 0});
  // max(x) over all elements shares g among the tied maxima (evenly_distribute_backward).
  Tensor y = from({1, 3, 3, 2}, {4}).requires_grad_();
  max(y).backward();
  check_values(y.grad(), {0, 0.5, 0.5, 0});
  Tensor w = from({4, -1, 2, -1}, {2, 2}).requires_grad_();
  min(w).backward();
  check_values(w.grad(), {0, 0.5, 0, 0.5});
}

TEST_CASE("softmax, log_softmax: values worked by hand, and stability") {
  // softmax([0, ln 3]) = [1, 3] / 4.
  Tensor x = tensor({0, std::log(3.0)}, kFloat64);
  check_values(softmax(x, 0), {0.25, 0.75});
  check_values(log_softmax(x, 0), {std::log(0.25), std::log(0.75)});
  // Large logits: exp(1000) overflows, exp(x − max) does not.
  for (DType dt : {kFloat32, kFloat64}) {
    CAPTURE(dtype_name(dt));
    check_values(softmax(tensor({1000, 1000}, dt), 0), {0.5, 0.5});
    check_values(log_softmax(tensor({1000, 0}, dt), 0), {0, -1000});
    check_values(softmax(tensor({-1000, 0}, dt), -1), {0, 1});
  }
  // Every line sums to 1, whatever the dim.
  Tensor r = randn({3, 4, 5}, kFloat64);
  for (int64_t d : {0, 1, 2, -1}) {
    CAPTURE(d);
    Tensor s = sum(softmax(r, d), d);
    for (double v : values_of(s)) CHECK(v == doctest::Approx(1.0).epsilon(1e-14));
  }
}

// ---- PyTorch fixtures ----

namespace {

Tensor fixture_op(const std::string& name, const Tensor& x3, const Tensor& x4, const Tensor& g3) {
  using Fn = std::function<Tensor()>;
  auto grad_through = [&](const std::function<Tensor(const Tensor&)>& f) {
    Tensor x = x3.clone().requires_grad_();
    f(x).backward(g3);
    return x.grad();
  };
  const std::vector<std::pair<std::string, Fn>> ops{
      {"sum_all", [&] { return sum(x3); }},
      {"sum_0", [&] { return sum(x3, 0); }},
      {"sum_1", [&] { return sum(x3, 1); }},
      {"sum_m1", [&] { return sum(x3, -1); }},
      {"sum_02", [&] { return sum(x3, {0, 2}); }},
      {"sum_12_keep", [&] { return sum(x3, {1, 2}, true); }},
      {"sum_01_keep", [&] { return sum(x3, {0, 1}, true); }},
      {"mean_all", [&] { return mean(x3); }},
      {"mean_1_keep", [&] { return mean(x3, 1, true); }},
      {"mean_02", [&] { return mean(x3, {0, 2}); }},
      {"var_all", [&] { return var(x3); }},
      {"var_1_c0", [&] { return var(x3, 1, 0); }},
      {"var_02", [&] { return var(x3, {0, 2}); }},
      {"var_m1_c2_keep", [&] { return var(x3, -1, 2, true); }},
      {"x4_sum_023", [&] { return sum(x4, {0, 2, 3}); }},
      {"x4_mean_13", [&] { return mean(x4, {1, 3}); }},
      {"x4_var_023_c0", [&] { return var(x4, {0, 2, 3}, 0); }},
      {"max_1_values", [&] { return max(x3, 1).values; }},
      {"max_1_indices", [&] { return max(x3, 1).indices; }},
      {"min_0_values", [&] { return min(x3, 0).values; }},
      {"min_0_indices", [&] { return min(x3, 0).indices; }},
      {"max_m1_keep_values", [&] { return max(x3, -1, true).values; }},
      {"max_m1_keep_indices", [&] { return max(x3, -1, true).indices; }},
      {"argmax_2", [&] { return argmax(x3, 2); }},
      {"argmin_1_keep", [&] { return argmin(x3, 1, true); }},
      {"argmax_all", [&] { return argmax(x3); }},
      {"argmin_all", [&] { return argmin(x3); }},
      {"max_all", [&] { return max(x3); }},
      {"min_all", [&] { return min(x3); }},
      {"softmax_0", [&] { return softmax(x3, 0); }},
      {"softmax_1", [&] { return softmax(x3, 1); }},
      {"softmax_m1", [&] { return softmax(x3, -1); }},
      {"log_softmax_1", [&] { return log_softmax(x3, 1); }},
      {"log_softmax_m1", [&] { return log_softmax(x3, -1); }},
      {"softmax_1_grad", [&] { return grad_through([](const Tensor& x) { return softmax(x, 1); }); }},
      {"log_softmax_1_grad", [&] { return grad_through([](const Tensor& x) { return log_softmax(x, 1); }); }},
      {"softmax_m1_grad", [&] { return grad_through([](const Tensor& x) { return softmax(x, -1); }); }},
  };
  for (const auto& [n, f] : ops)
    if (n == name) return f();
  FAIL("no lacoot op for fixture case " << name);
  return {};
}

}  // namespace

TEST_CASE("reductions and softmax match PyTorch (float64 and float32)") {
  namespace fx = fixtures::reduce;
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-12 : 2e-6;
    Tensor x3 = from(fx::x3, {2, 3, 4}, dt), x4 = from(fx::x4, {2, 3, 4, 5}, dt), g3 = from(fx::g3, {2, 3, 4}, dt);
    for (const fx::Case& c : fx::cases) {
      CAPTURE(c.name);
      CAPTURE(dtype_name(dt));
      Tensor out = fixture_op(c.name, x3, x4, g3);
      CHECK(out.shape() == Shape(c.shape));
      const bool is_index = std::string(c.name).find("indices") != std::string::npos ||
                            std::string(c.name).rfind("arg", 0) == 0;
      CHECK(out.dtype() == (is_index ? kInt64 : dt));
      check_values(out, c.values, tol);
    }
  }
}

// ---- accuracy, determinism and the chunked paths on large tensors ----

TEST_CASE("sum and mean of float32 accumulate in double") {
  // 10^6 values 0.1f + (i mod 7) · 1e-3f: a float accumulator would lose ~3 digits here.
  const int64_t n = 1000000;
  Tensor x = Tensor::empty({n}, kFloat32);
  double exact = 0;
  for (int64_t i = 0; i < n; ++i) {
    x.data<float>()[i] = 0.1f + static_cast<float>(i % 7) * 1e-3f;
    exact += static_cast<double>(x.data<float>()[i]);
  }
  CHECK(mean(x).item() == doctest::Approx(exact / n).epsilon(1e-7));  // float's own rounding
  CHECK(sum(x).item() == doctest::Approx(exact).epsilon(1e-7));
  CHECK(static_cast<float>(mean(x).item()) == static_cast<float>(exact / n));
  // var of values with a large mean, 1000 + k / 8 for k = i mod 7 (exact in float32): the
  // two passes keep the small spread that Σx² − N x̄² in float32 would cancel away.
  Tensor y = Tensor::empty({n}, kFloat32);
  double k_mean = 0, k_m2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    y.data<float>()[i] = 1000.0f + static_cast<float>(i % 7) * 0.125f;
    k_mean += static_cast<double>(i % 7) / n;
  }
  for (int64_t i = 0; i < n; ++i) k_m2 += (static_cast<double>(i % 7) - k_mean) * (static_cast<double>(i % 7) - k_mean);
  CHECK(var(y, {}, 0).item() == doctest::Approx(k_m2 / n / 64).epsilon(1e-6));
}

TEST_CASE("reductions do not depend on the thread count") {
  Tensor x = randn({3, 70001}, kFloat32);
  Tensor big = randn({5, 3, 40, 90}, kFloat32);
  const int saved = get_num_threads();
  auto run = [&] {
    return std::vector<std::vector<double>>{values_of(sum(x)), values_of(mean(x, 1)), values_of(var(x, 0)),
                                            values_of(sum(big, {0, 2, 3})), values_of(argmax(x)),
                                            values_of(softmax(big, 1))};
  };
  set_num_threads(1);
  auto one = run();
  set_num_threads(4);
  auto four = run();
  set_num_threads(saved);
  for (std::size_t k = 0; k < one.size(); ++k) {
    CAPTURE(k);
    CHECK(one[k] == four[k]);  // bitwise
  }
}

TEST_CASE("large reductions match naive loops (chunked 3-d and general paths)") {
  auto naive_sum = [](const Tensor& x, const std::vector<bool>& reduce) {
    // Σ by visiting every element and adding it to its output, in double.
    const Shape& s = x.shape();
    Shape out_shape;
    for (std::size_t d = 0; d < s.size(); ++d) out_shape.push_back(reduce[d] ? 1 : s[d]);
    std::vector<double> out(static_cast<std::size_t>(numel(out_shape)), 0.0);
    std::vector<int64_t> idx(s.size(), 0);
    Tensor xd = x.to(kFloat64);
    for (int64_t i = 0; i < x.numel(); ++i) {
      int64_t o = 0;
      for (std::size_t d = 0; d < s.size(); ++d) o = o * out_shape[d] + (reduce[d] ? 0 : idx[d]);
      out[static_cast<std::size_t>(o)] += xd.data<double>()[i];
      for (int64_t d = static_cast<int64_t>(s.size()) - 1; d >= 0; --d) {
        auto ud = static_cast<std::size_t>(d);
        if (++idx[ud] < s[ud]) break;
        idx[ud] = 0;
      }
    }
    return out;
  };
  Tensor a = randn({4, 3, 100, 100});  // per channel: 40000 elements per output, two chunks
  check_values(sum(a, {0, 2, 3}), naive_sum(a, {true, false, true, true}), 1e-6);
  check_values(sum(a, {1, 3}), naive_sum(a, {false, true, false, true}), 1e-6);  // [K, R, K, R]
  check_values(sum(a, {0, 1}), naive_sum(a, {true, true, false, false}), 1e-6);  // [R, inner]
  check_values(sum(a, -1), naive_sum(a, {false, false, false, true}), 1e-6);
  check_values(sum(a), naive_sum(a, {true, true, true, true}), 1e-6);
  Tensor b = randn({1, 70000, 5}, kFloat64);  // [1, R, inner] with R over many chunks
  check_values(sum(b, 1), naive_sum(b, {true, true, false}), 1e-12);
  // Three reduced groups ([R, K, R, K, R]): the odometer over the outer groups wraps.
  Tensor e = randn({6, 2, 50, 2, 120});
  check_values(sum(e, {0, 2, 4}), naive_sum(e, {true, false, true, false, true}), 1e-6);
  check_values(sum(e, {0, 1, 3}), naive_sum(e, {true, true, false, true, false}), 1e-6);
  // argmax across chunks (of 2^15 elements): the maximum appears in chunks 1 and 2, the
  // minimum in chunks 0 and 2; the first occurrence wins.
  Tensor c = zeros({100000}, kFloat64);
  c.data<double>()[40000] = 5;
  c.data<double>()[90000] = 5;
  c.data<double>()[10] = -5;
  c.data<double>()[80000] = -5;
  CHECK(argmax(c).item() == 40000);
  CHECK(argmin(c).item() == 10);
  CHECK(max(alias_with_shape(c, {1, 100000}), 1).indices.item() == 40000);
  CHECK(min(alias_with_shape(c, {100000, 1}), 0).indices.item() == 10);
}

// ---- gradients ----

TEST_CASE("gradcheck: sum and mean over several dim lists, keepdim true and false") {
  const std::vector<std::vector<int64_t>> dim_lists{{}, {0}, {1}, {-1}, {0, 2}, {1, 2}, {0, 1, 2}};
  for (const auto& dims : dim_lists) {
    for (bool keepdim : {false, true}) {
      CAPTURE(shape_str(dims));
      CAPTURE(keepdim);
      check_grad([&](const V& x) { return sum(x[0], dims, keepdim); }, {randn({2, 3, 4})});
      check_grad([&](const V& x) { return mean(x[0], dims, keepdim); }, {randn({2, 3, 4})});
    }
  }
  check_grad([](const V& x) { return sum(x[0]); }, {randn({3, 2})});
  check_grad([](const V& x) { return mean(x[0]); }, {randn({3, 2})});
  check_grad([](const V& x) { return mean(x[0], {1, 3}); }, {randn({2, 3, 2, 3})});
}

TEST_CASE("gradcheck: var with correction 0, 1 and 2") {
  for (double correction : {0.0, 1.0, 2.0}) {
    for (bool keepdim : {false, true}) {
      CAPTURE(correction);
      CAPTURE(keepdim);
      check_grad([&](const V& x) { return var(x[0], {}, correction, keepdim); }, {randn({3, 4})});
      check_grad([&](const V& x) { return var(x[0], 1, correction, keepdim); }, {randn({3, 4})});
      check_grad([&](const V& x) { return var(x[0], {0, 2}, correction, keepdim); }, {randn({3, 2, 4})});
    }
  }
  check_grad([](const V& x) { return var(x[0]); }, {randn({5})});
}

TEST_CASE("gradcheck: max and min (distinct values)") {
  for (int64_t dim : {0, 1, -1}) {
    for (bool keepdim : {false, true}) {
      CAPTURE(dim);
      CAPTURE(keepdim);
      check_grad([&](const V& x) { return max(x[0], dim, keepdim).values; }, {distinct_far_apart({3, 4, 2})});
      check_grad([&](const V& x) { return min(x[0], dim, keepdim).values; }, {distinct_far_apart({3, 4, 2})});
    }
  }
  check_grad([](const V& x) { return max(x[0]); }, {distinct_far_apart({3, 4})});
  check_grad([](const V& x) { return min(x[0]); }, {distinct_far_apart({3, 4})});
}

TEST_CASE("gradcheck: softmax and log_softmax over dim 0, a middle dim and -1") {
  for (int64_t dim : {0, 1, -1}) {
    CAPTURE(dim);
    check_grad([&](const V& x) { return softmax(x[0], dim); }, {randn({3, 4, 5})});
    check_grad([&](const V& x) { return log_softmax(x[0], dim); }, {randn({3, 4, 5})});
  }
  // inner > kReduceBlock: the line blocks of the strided path.
  check_grad([](const V& x) { return softmax(x[0], 0); }, {randn({2, 300})});
}

// ---- errors ----

TEST_CASE("reductions and softmax: errors name the op and what was wrong") {
  Tensor x = randn({2, 3});
  CHECK_THROWS_AS(sum(x, 2), Error);
  CHECK_THROWS_AS(sum(x, -3), Error);
  CHECK_THROWS_AS(mean(x, {0, 5}), Error);
  CHECK_THROWS_WITH_AS(sum(x, {1, -1}), doctest::Contains("dim 1 appears multiple times"), Error);
  CHECK_THROWS_AS(var(x, {0, 0}), Error);
  CHECK_THROWS_AS(max(x, 2), Error);
  CHECK_THROWS_AS(argmin(x, -3), Error);
  CHECK_THROWS_AS(softmax(x, 2), Error);
  CHECK_THROWS_AS(log_softmax(x, -3), Error);
  CHECK_THROWS_WITH_AS(sum(arange(4.0, kInt64)), doctest::Contains("sum: expected a float32 or float64"), Error);
  CHECK_THROWS_AS(max(arange(4.0, kInt64), 0), Error);
  CHECK_THROWS_AS(softmax(arange(4.0, kInt64), 0), Error);
  CHECK_THROWS_WITH_AS(max(zeros({2, 0}), 1), doctest::Contains("non-zero size"), Error);
  CHECK_THROWS_AS(max(zeros({0})), Error);
  CHECK_THROWS_AS(argmax(zeros({0})), Error);
}

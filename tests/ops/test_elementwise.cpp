// Tests for ops/elementwise.hpp: broadcasting, values worked by hand, gradchecks, errors.
#include <doctest/doctest.h>

#include <cmath>

#include "lacoot/autograd/gradcheck.hpp"
#include "lacoot/ops/elementwise.hpp"

using namespace lacoot;
using V = std::vector<Tensor>;

static void check_all(const Tensor& t, std::vector<double> expected, double tol = 1e-6) {
  REQUIRE(t.numel() == static_cast<int64_t>(expected.size()));
  Tensor d = t.to(kFloat64);
  for (std::size_t i = 0; i < expected.size(); ++i)
    CHECK(d.data<double>()[i] == doctest::Approx(expected[i]).epsilon(tol));
}

TEST_CASE("broadcasting follows NumPy") {
  // [2,1] + [3] -> [2,3]: rows 10, 20 plus columns 1, 2, 3.
  Tensor a = tensor(std::vector<float>{10, 20}, {2, 1});  // (tensor({{10}, {20}}) is ambiguous in C++)
  Tensor b = tensor({1, 2, 3});
  Tensor c = a + b;
  CHECK(c.shape() == Shape{2, 3});
  check_all(c, {11, 12, 13, 21, 22, 23});
  // [2,1,3] * [4,1] -> [2,4,3]
  Tensor x = arange(6).to(kFloat32);
  Tensor x3 = alias_with_shape(x, {2, 1, 3});
  Tensor y = alias_with_shape(arange(1, 5), {4, 1});
  Tensor z = x3 * y;
  CHECK(z.shape() == Shape{2, 4, 3});
  CHECK(z.at<float>({1, 2, 1}) == 4.f * 3.f);  // x[1,0,1] = 4, y[2,0] = 3
  CHECK_THROWS_AS(tensor({1, 2}) + tensor({1, 2, 3}), Error);
  CHECK_THROWS_AS(tensor({1, 2}) + tensor({1, 2}, kFloat64), Error);  // no type promotion
}

TEST_CASE("values of the unary functions, worked by hand") {
  Tensor x = tensor({0.25, 1, 4});
  check_all(sqrt(x), {0.5, 1, 2});
  check_all(log(x), {std::log(0.25), 0, std::log(4.0)});
  check_all(exp(tensor({0, 1})), {1, std::exp(1.0)});
  // sin and cos at 0, π/6, π/2 (float32 rounding of the arguments: within check_all's tolerance)
  check_all(sin(tensor({0.0, 0.5235987755982988, 1.5707963267948966})), {0, 0.5, 1});
  check_all(cos(tensor({0.0, 1.0471975511965976, 3.141592653589793})), {1, 0.5, -1});
  check_all(pow(x, 2), {0.0625, 1, 16});
  check_all(pow(x, -0.5), {2, 1, 0.5});
  check_all(abs(tensor({-2, 0, 3})), {2, 0, 3});
  check_all(-x, {-0.25, -1, -4});
  check_all(clamp(tensor({-2, 0.5, 3}), 0.0, 1.0), {0, 0.5, 1});
  check_all(clamp(tensor({-2, 0.5, 3}), std::nullopt, 1.0), {-2, 0.5, 1});
  check_all(1.0 / x, {4, 1, 0.25});
  check_all(2.0 - x, {1.75, 1, -2});
}

TEST_CASE("comparisons give masks and where selects") {
  Tensor a = tensor({1, 2, 3});
  Tensor b = tensor({3, 2, 1});
  check_all(lt(a, b), {1, 0, 0});
  check_all(le(a, b), {1, 1, 0});
  check_all(eq(a, b), {0, 1, 0});
  check_all(ne(a, b), {1, 0, 1});
  check_all(gt(a, 1.5), {0, 1, 1});
  check_all(ge(a, 2.0), {0, 1, 1});
  check_all(where(gt(a, b), a, b), {3, 2, 3});
  // condition broadcast against a scalar branch
  check_all(where(tensor(std::vector<float>{1, 0}, {2, 1}), tensor({5, 6}), full({}, -1.0)), {5, 6, -1, -1});
  CHECK(lt(arange(3, kInt64), full({}, 1.0, kInt64)).at<int64_t>({0}) == 1);
  // Any non-zero condition is true, whatever the dtypes: 0.5 and NaN choose int64 values too.
  Tensor picked = where(tensor({0.5, 0.0, std::nan(""), -0.25}), arange(4, kInt64), full({4}, -1.0, kInt64));
  check_all(picked, {0, -1, 2, 3});
  CHECK(picked.dtype() == kInt64);
  // int64 division truncates; by zero it is an error, not the processor's SIGFPE.
  check_all(div(tensor({7.0, -7.0}).to(kInt64), full({2}, 2.0, kInt64)), {3, -3});
  CHECK_THROWS_WITH_AS(div(arange(3, kInt64), arange(3, kInt64)), doctest::Contains("integer division by zero"), Error);
}

TEST_CASE("gradcheck: binary ops with broadcasting") {
  Generator g(1);
  auto pos = [&](Shape s) { return add(rand(s, kFloat64, g), 0.5); };  // away from 0 for div
  for (auto [sa, sb] : std::vector<std::pair<Shape, Shape>>{
           {{3, 4}, {3, 4}}, {{3, 1}, {1, 4}}, {{2, 3, 4}, {4}}, {{4}, {2, 3, 4}}, {{}, {2, 3}}}) {
    CAPTURE(shape_str(sa));
    CAPTURE(shape_str(sb));
    Tensor a = pos(sa), b = pos(sb);
    for (auto f : {+[](const V& x) { return x[0] + x[1]; }, +[](const V& x) { return x[0] - x[1]; },
                   +[](const V& x) { return x[0] * x[1]; }, +[](const V& x) { return x[0] / x[1]; }}) {
      auto r = gradcheck(f, {a, b});
      CHECK_MESSAGE(r.ok, r.report);
    }
  }
}

TEST_CASE("gradcheck: unary ops, clamp and where") {
  Generator g(2);
  Tensor p = add(rand({3, 5}, kFloat64, g), 0.2);  // positive, for log/sqrt/pow
  Tensor s = randn({3, 5}, kFloat64, g);
  struct Case { const char* name; Tensor in; std::function<Tensor(const V&)> f; };
  for (auto& c : std::vector<Case>{
           {"neg", s, [](const V& x) { return neg(x[0]); }},
           {"exp", s, [](const V& x) { return exp(x[0]); }},
           {"sin", s, [](const V& x) { return sin(x[0]); }},
           {"cos", s, [](const V& x) { return cos(x[0]); }},
           {"log", p, [](const V& x) { return log(x[0]); }},
           {"sqrt", p, [](const V& x) { return sqrt(x[0]); }},
           {"pow 3", s, [](const V& x) { return pow(x[0], 3); }},
           {"pow -1.5", p, [](const V& x) { return pow(x[0], -1.5); }},
           {"abs", add(p, 0.1), [](const V& x) { return abs(neg(x[0])); }},
           {"clamp", s, [](const V& x) { return clamp(x[0], -0.5, 0.7); }},
           {"where", s, [](const V& x) { return where(gt(x[0], 0.0), x[0] * x[0], x[0] * 3.0); }},
       }) {
    CAPTURE(c.name);
    auto r = gradcheck(c.f, {c.in});
    CHECK_MESSAGE(r.ok, r.report);
  }
  // where with two differentiable, broadcast branches
  auto r = gradcheck([](const V& x) { return where(tensor(std::vector<double>{1, 0, 1}, {3, 1}), x[0], x[1]); },
                     {randn({3, 4}, kFloat64, g), randn({4}, kFloat64, g)});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("float32 and float64 agree") {
  Generator g(3);
  Tensor a = add(rand({50}, kFloat64, g), 0.1);
  Tensor b = randn({50}, kFloat64, g);
  Tensor r64 = exp(b) * sqrt(a) / (a + 1.0) - log(a);
  Tensor r32 = exp(b.to(kFloat32)) * sqrt(a.to(kFloat32)) / (a.to(kFloat32) + 1.0) - log(a.to(kFloat32));
  for (int64_t i = 0; i < 50; ++i)
    CHECK(r32.data<float>()[i] == doctest::Approx(r64.data<double>()[i]).epsilon(1e-5));
}

TEST_CASE("sum_to undoes broadcasting") {
  Tensor g = alias_with_shape(arange(6), {2, 3});
  Tensor col = sum_to(g, {2, 1});  // row sums 0+1+2, 3+4+5
  check_all(col, {3, 12});
  Tensor row = sum_to(g, {3});  // column sums
  check_all(row, {3, 5, 7});
  check_all(sum_to(g, {}), {15});
}

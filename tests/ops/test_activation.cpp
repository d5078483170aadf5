// Tests for ops/activation.hpp and ops/dropout.hpp.
//
// References: values worked by hand (in the comments), PyTorch 1.13's torch.nn.functional in
// float64 (tests/fixtures/activation_fixtures.hpp, written by gen_activation.py: forward
// values and input gradients, kinks included), gradcheck (central differences), and float32
// against float64. Dropout and stochastic depth have no PyTorch fixture (their random streams
// differ): their tests check the properties that define them instead.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>

#include "../fixtures/activation_fixtures.hpp"
#include "../check.hpp"
#include "lacoot/autograd/engine.hpp"
#include "lacoot/autograd/gradcheck.hpp"
#include "lacoot/ops/activation.hpp"
#include "lacoot/ops/dropout.hpp"

using namespace lacoot;
using namespace lacoot::test;
using Op = std::function<Tensor(const Tensor&)>;

namespace {

// Every op under test, by the name the fixture uses.
struct NamedOp {
  std::string name;
  Op f;
};

const std::vector<NamedOp>& all_ops() {
  static const std::vector<NamedOp> ops{
      {"relu", [](const Tensor& x) { return relu(x); }},
      {"relu6", [](const Tensor& x) { return relu6(x); }},
      {"leaky_relu", [](const Tensor& x) { return leaky_relu(x); }},
      {"leaky_relu_0_2", [](const Tensor& x) { return leaky_relu(x, 0.2); }},
      {"gelu", [](const Tensor& x) { return gelu(x); }},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); }},
      {"silu", [](const Tensor& x) { return silu(x); }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
      {"tanh", [](const Tensor& x) { return lacoot::tanh(x); }},
  };
  return ops;
}

const Op& op_named(const std::string& name) {
  for (const NamedOp& op : all_ops())
    if (op.name == name) return op.f;
  throw std::runtime_error("no op " + name);
}

// The fixture's x and g as tensors of a dtype.
Tensor fixture_tensor(const double* v, DType dtype) {
  namespace fx = fixtures::activation;
  return tensor(std::vector<double>(v, v + fx::kN), {fx::kN}).to(dtype);
}

}  // namespace

TEST_CASE("activations: values worked by hand") {
  check_values(relu(tensor({-1, 0, 2})), {0, 0, 2});
  check_values(relu6(tensor({-1, 3, 7})), {0, 3, 6});
  check_values(leaky_relu(tensor({-2, 3})), {-0.02, 3}, 1e-7);       // default slope 0.01
  check_values(leaky_relu(tensor({-2, 3}), 0.1), {-0.2, 3}, 1e-7);
  // σ(0) = ½; σ(ln 3) = 1 / (1 + ⅓) = ¾; σ(−ln 3) = ¼.
  check_values(sigmoid(tensor({0, std::log(3.0), -std::log(3.0)}, kFloat64)), {0.5, 0.75, 0.25});
  // tanh(ln 2) = (2 − ½) / (2 + ½) = 0.6.
  check_values(lacoot::tanh(tensor({0, std::log(2.0)}, kFloat64)), {0, 0.6});
  // silu(ln 3) = ln 3 · σ(ln 3) = ¾ ln 3.
  check_values(silu(tensor({0, std::log(3.0)}, kFloat64)), {0, 0.75 * std::log(3.0)});
  // gelu(1) = Φ(1) = 0.8413447460685429 (the normal table); gelu(−1) = −(1 − Φ(1)).
  check_values(gelu(tensor({0, 1, -1}, kFloat64)), {0, 0.8413447460685429, -0.15865525393145707});
  // tanh form at 1: u = √(2/π) · 1.044715 = 0.8335565596009644, ½ (1 + tanh u) = 0.8411919906082768.
  check_values(gelu(tensor({0, 1}, kFloat64), "tanh"), {0, 0.8411919906082768});
  // Shape and dtype are kept.
  Tensor x = zeros({2, 3, 4}, kFloat64);
  for (const NamedOp& op : all_ops()) {
    CAPTURE(op.name);
    Tensor y = op.f(x);
    CHECK(y.shape() == x.shape());
    CHECK(y.dtype() == kFloat64);
  }
}

TEST_CASE("activations: gradients at the kinks follow PyTorch") {
  // relu'(0) = 0; relu6' is 0 at 0 and at 6 (hardtanh passes only strictly inside);
  // leaky_relu'(0) = negative_slope.
  auto grad_at = [](const Op& f, std::vector<double> xs) {
    Tensor x = tensor(xs, {static_cast<int64_t>(xs.size())});
    x.requires_grad_();
    f(x).backward(ones_like(x));
    return x.grad();
  };
  check_values(grad_at(op_named("relu"), {-1, 0, 1}), {0, 0, 1});
  check_values(grad_at(op_named("relu6"), {-1, 0, 3, 6, 7}), {0, 0, 1, 0, 0});
  check_values(grad_at(op_named("leaky_relu_0_2"), {-1, 0, 1}), {0.2, 0.2, 1});
  // Hand-worked smooth derivatives: σ'(0) = ¼, tanh'(0) = 1, silu'(0) = ½, gelu'(0) = ½.
  for (const char* name : {"sigmoid", "tanh", "silu", "gelu", "gelu_tanh"}) {
    CAPTURE(name);
    double expected = std::string(name) == "sigmoid" ? 0.25 : std::string(name) == "tanh" ? 1 : 0.5;
    check_values(grad_at(op_named(name), {0}), {expected});
  }
}

TEST_CASE("activations: forward and backward match PyTorch (fixture), float64 and float32") {
  namespace fx = fixtures::activation;
  for (const fx::Case& c : fx::cases) {
    CAPTURE(c.name);
    const Op& f = op_named(c.name);
    for (DType dtype : {kFloat64, kFloat32}) {
      CAPTURE(dtype_name(dtype));
      // float64 should agree to rounding; float32 to its precision (absolute for values near 0).
      const double rtol = dtype == kFloat64 ? 1e-12 : 2e-6, atol = dtype == kFloat64 ? 1e-14 : 1e-6;
      Tensor x = fixture_tensor(fx::x, dtype);
      x.requires_grad_();
      Tensor y = f(x);
      y.backward(fixture_tensor(fx::g, dtype));
      Tensor y64 = y.detach().to(kFloat64), dx64 = x.grad().to(kFloat64);
      for (int i = 0; i < fx::kN; ++i) {
        CAPTURE(fx::x[i]);
        CHECK(std::abs(y64.data<double>()[i] - c.out[i]) <= atol + rtol * std::abs(c.out[i]));
        CHECK(std::abs(dx64.data<double>()[i] - c.grad[i]) <= atol + rtol * std::abs(c.grad[i]));
      }
    }
  }
}

TEST_CASE("activations: gradcheck") {
  // Inputs on a grid that steers clear of the kinks at 0 and 6 (nearest: 0.02, 6.12, 5.51),
  // from −7.3 to 6.73: both saturated tails of sigmoid/tanh/gelu are exercised too.
  Tensor grid = alias_with_shape(arange(-7.3, 6.8, 0.61, kFloat64), {4, 6});
  Generator gen(11);
  Tensor normal = randn({2, 3, 4}, kFloat64, gen);
  for (const NamedOp& op : all_ops()) {
    CAPTURE(op.name);
    for (const Tensor& in : {grid, normal}) {
      auto r = gradcheck([&op](const V& x) { return op.f(x[0]); }, {in});
      CHECK_MESSAGE(r.ok, r.report);
    }
  }
  // The backward composes with other ops: d/dx Σ sigmoid(x)·x = σ(x) + x σ'(x).
  auto r = gradcheck([](const V& x) { return mul(sigmoid(x[0]), x[0]); }, {normal});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("activations: float32 agrees with float64 on a large tensor (threaded path)") {
  Generator gen(5);
  Tensor x64 = mul(randn({300, 257}, kFloat64, gen), 3.0);  // > the parallel grains
  Tensor g64 = randn({300, 257}, kFloat64, gen);
  for (const NamedOp& op : all_ops()) {
    CAPTURE(op.name);
    Tensor a = x64.clone(), b = x64.to(kFloat32);
    a.requires_grad_();
    b.requires_grad_();
    Tensor ya = op.f(a), yb = op.f(b);
    ya.backward(g64);
    yb.backward(g64.to(kFloat32));
    // Error relative to 1 + |value|: relative for large values, absolute near 0 (where a
    // float32 result of O(1) inputs, like 1 − y² for tanh, holds only ~1e-7 absolute).
    double worst_y = 0, worst_g = 0;
    const double* pa = ya.detach().data<double>();
    const float* pb = yb.detach().data<float>();
    const double* ga = a.grad().data<double>();
    const float* gb = b.grad().data<float>();
    for (int64_t i = 0; i < x64.numel(); ++i) {
      worst_y = std::max(worst_y, std::abs(pa[i] - pb[i]) / (1 + std::abs(pa[i])));
      worst_g = std::max(worst_g, std::abs(ga[i] - gb[i]) / (1 + std::abs(ga[i])));
    }
    // Measured: below 2e-7 and 1.5e-6 (gelu_tanh's backward, which cancels in 1 − tanh² u).
    CHECK(worst_y < 1e-6);
    CHECK(worst_g < 1e-5);
  }
}

TEST_CASE("activations: argument errors") {
  Tensor i = arange(4, kInt64);
  for (const NamedOp& op : all_ops()) {
    CAPTURE(op.name);
    CHECK_THROWS_AS(op.f(i), Error);
    CHECK_THROWS_AS(op.f(Tensor()), Error);
  }
  CHECK_THROWS_AS(gelu(tensor({1, 2}), "erf"), Error);
  CHECK_THROWS_WITH_AS(gelu(tensor({1, 2}), "Tanh"), doctest::Contains("approximate"), Error);
  // NaN propagates through the forward as in PyTorch.
  Tensor nan = tensor({NAN});
  CHECK(std::isnan(relu(nan).item()));
  CHECK(std::isnan(relu6(nan).item()));
  CHECK(std::isnan(sigmoid(nan).item()));
}

// ---- dropout ----

namespace {

double fraction_nonzero(const Tensor& t) {
  Tensor d = t.to(kFloat64);
  int64_t kept = 0;
  for (int64_t i = 0; i < d.numel(); ++i) kept += d.data<double>()[i] != 0.0;
  return static_cast<double>(kept) / static_cast<double>(d.numel());
}

double mean_of(const Tensor& t) {
  Tensor d = t.to(kFloat64);
  double s = 0;
  for (int64_t i = 0; i < d.numel(); ++i) s += d.data<double>()[i];
  return s / static_cast<double>(d.numel());
}

bool equal(const Tensor& a, const Tensor& b) {
  Tensor x = a.to(kFloat64), y = b.to(kFloat64);
  if (x.shape() != y.shape()) return false;
  for (int64_t i = 0; i < x.numel(); ++i)
    if (x.data<double>()[i] != y.data<double>()[i]) return false;
  return true;
}

}  // namespace

TEST_CASE("dropout: kept elements are scaled by 1/(1-p), dropped ones are 0") {
  for (DType dtype : {kFloat32, kFloat64}) {
    CAPTURE(dtype_name(dtype));
    Generator gen(3);
    Tensor x = add(rand({1000}, dtype, gen), 1.0);  // in [1, 2): never 0 itself
    Tensor y = dropout(x, 0.2, true, gen);
    Tensor xd = x.to(kFloat64), yd = y.to(kFloat64);
    for (int64_t i = 0; i < x.numel(); ++i) {
      double v = yd.data<double>()[i];
      // kept: x / 0.8 = 1.25 x
      if (v != 0.0) CHECK(v == doctest::Approx(1.25 * xd.data<double>()[i]).epsilon(1e-6));
    }
    double kept = fraction_nonzero(y);
    CHECK(kept > 0.7);
    CHECK(kept < 0.9);
  }
}

TEST_CASE("dropout: same seed gives the same mask; the generator advances") {
  Tensor x = ones({64, 33}, kFloat64);
  Generator g1(42), g2(42);
  Tensor a = dropout(x, 0.5, true, g1);
  Tensor b = dropout(x, 0.5, true, g2);
  CHECK(equal(a, b));
  CHECK(g1.offset() == static_cast<uint64_t>(x.numel()));  // numel counters reserved
  Tensor c = dropout(x, 0.5, true, g1);  // next draws: a different mask
  CHECK_FALSE(equal(a, c));
  Generator g3(43);
  CHECK_FALSE(equal(a, dropout(x, 0.5, true, g3)));
  // The default generator: manual_seed makes it reproducible.
  manual_seed(9);
  Tensor d = dropout(x);
  manual_seed(9);
  CHECK(equal(d, dropout(x)));
}

TEST_CASE("dropout: the mask does not depend on the thread count") {
  const int saved = get_num_threads();
  Tensor x = ones({1 << 17}, kFloat32);  // 8 chunks of the kernel's grain
  set_num_threads(1);
  Generator g1(7);
  Tensor one = dropout(x, 0.3, true, g1);
  set_num_threads(2);
  Generator g2(7);
  Tensor two = dropout(x, 0.3, true, g2);
  set_num_threads(saved);
  CHECK(equal(one, two));
}

TEST_CASE("dropout: the kept fraction is 1-p and the mean is preserved") {
  // n = 2^20 draws: the kept fraction's standard deviation is √(p(1−p)/n) ≤ 5e-4, and the
  // mean's (for x = 1) is that over (1 − p); both are checked to 8 standard deviations.
  const int64_t n = 1 << 20;
  Tensor x = ones({n}, kFloat32);
  Generator gen(1);
  for (double p : {0.1, 0.5, 0.9}) {
    CAPTURE(p);
    Tensor y = dropout(x, p, true, gen);
    const double sd = std::sqrt(p * (1 - p) / static_cast<double>(n));
    CHECK(std::abs(fraction_nonzero(y) - (1 - p)) < 8 * sd);
    CHECK(std::abs(mean_of(y) - 1.0) < 8 * sd / (1 - p));
  }
}

TEST_CASE("dropout: evaluation, p = 0 and p = 1") {
  Generator gen(2);
  Tensor x = randn({5, 4}, kFloat64, gen);
  x.requires_grad_();
  const uint64_t before = gen.offset();
  CHECK(dropout(x, 0.5, false, gen).is_same(x));  // eval: the input itself, as PyTorch
  CHECK(dropout(x, 0.0, true, gen).is_same(x));
  CHECK(gen.offset() == before);  // and no random numbers were drawn
  Tensor z = dropout(x, 1.0, true, gen);
  check_values(z, std::vector<double>(20, 0.0));
  z.backward(ones_like(z));
  check_values(x.grad(), std::vector<double>(20, 0.0));
}

TEST_CASE("dropout: backward multiplies by the forward's mask") {
  Generator gen(4);
  Tensor x = add(rand({3, 50}, kFloat64, gen), 1.0);  // never 0, so y = 0 means dropped
  x.requires_grad_();
  Tensor y = dropout(x, 0.4, true, gen);
  y.backward(full_like(y, 2.0));
  const double* px = x.detach().data<double>();
  const double* py = y.detach().data<double>();
  const double* pg = x.grad().data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    CAPTURE(i);
    // dL/dx = 2 · noise, noise = y / x: 2 / 0.6 where kept, 0 where dropped.
    CHECK(pg[i] == doctest::Approx(py[i] == 0.0 ? 0.0 : 2.0 / 0.6));
    CHECK(pg[i] == doctest::Approx(2.0 * py[i] / px[i]));
  }
}

TEST_CASE("dropout: gradcheck with a fixed mask") {
  Generator gen(8);
  for (double p : {0.25, 0.6}) {
    CAPTURE(p);
    // Each call of the function must draw the same mask: a fresh Generator(7) every time.
    auto r = gradcheck([p](const V& x) {
      Generator g(7);
      return dropout(x[0], p, true, g);
    }, {randn({4, 5}, kFloat64, gen)});
    CHECK_MESSAGE(r.ok, r.report);
  }
}

TEST_CASE("dropout: argument errors") {
  Tensor x = ones({3});
  CHECK_THROWS_AS(dropout(x, -0.1), Error);
  CHECK_THROWS_WITH_AS(dropout(x, 1.5), doctest::Contains("between 0 and 1"), Error);
  CHECK_THROWS_AS(dropout(arange(3, kInt64), 0.5), Error);
  CHECK_THROWS_AS(dropout(Tensor(), 0.5), Error);
}

// ---- stochastic depth ----

namespace {

// Per row of y [N, ...] (x never 0): whether the whole row was dropped (all 0) or kept and
// scaled (every element x / (1 − p)); anything else fails the check. Returns the kept count.
int64_t kept_rows(const Tensor& x, const Tensor& y, double p) {
  Tensor xd = x.detach().to(kFloat64), yd = y.detach().to(kFloat64);
  const int64_t n = x.size(0), d = x.numel() / n;
  int64_t kept = 0;
  for (int64_t r = 0; r < n; ++r) {
    const double* px = xd.data<double>() + r * d;
    const double* py = yd.data<double>() + r * d;
    const bool keep = py[0] != 0.0;
    kept += keep;
    for (int64_t i = 0; i < d; ++i) {
      CAPTURE(r);
      CAPTURE(i);
      CHECK(py[i] == doctest::Approx(keep ? px[i] / (1 - p) : 0.0).epsilon(1e-6));
    }
  }
  return kept;
}

}  // namespace

TEST_CASE("stochastic_depth: row mode drops whole samples and scales the rest by 1/(1-p)") {
  // x [4, 2, 3] with p = 0.5: each of the 4 rows is all 0 or all 2x, e.g. row 0 kept = 2·x[0].
  for (DType dtype : {kFloat32, kFloat64}) {
    CAPTURE(dtype_name(dtype));
    Generator gen(5);
    Tensor x = add(rand({64, 2, 3}, dtype, gen), 1.0);
    const uint64_t before = gen.offset();
    Tensor y = stochastic_depth(x, 0.5, "row", true, gen);
    CHECK(gen.offset() == before + 64);  // one draw per row
    const int64_t kept = kept_rows(x, y, 0.5);
    CHECK(kept > 0);
    CHECK(kept < 64);
  }
}

TEST_CASE("stochastic_depth: the kept fraction of rows is 1-p and the mean is preserved") {
  // n = 2^16 rows: the kept fraction's standard deviation is √(p(1−p)/n) ≤ 2e-3; the mean of
  // y for x = 1 (each row 0 or 1/(1 − p)) has that over (1 − p). Both within 8 of them.
  const int64_t n = 1 << 16;
  Tensor x = ones({n, 3}, kFloat64);
  Generator gen(11);
  for (double p : {0.1, 0.2, 0.5, 0.9}) {
    CAPTURE(p);
    Tensor y = stochastic_depth(x, p, "row", true, gen);
    const double sd = std::sqrt(p * (1 - p) / static_cast<double>(n));
    CHECK(std::abs(fraction_nonzero(y) - (1 - p)) < 8 * sd);
    CHECK(std::abs(mean_of(y) - 1.0) < 8 * sd / (1 - p));
  }
}

TEST_CASE("stochastic_depth: batch mode keeps or drops everything; one draw") {
  // Over 4000 calls with p = 0.25 the whole batch survives in 3000 ± 8·27 of them.
  Generator gen(13);
  Tensor x = add(rand({3, 4}, kFloat64, gen), 1.0);
  int64_t kept = 0;
  for (int i = 0; i < 4000; ++i) {
    const uint64_t before = gen.offset();
    Tensor y = stochastic_depth(x, 0.25, "batch", true, gen);
    REQUIRE(gen.offset() == before + 1);
    const double f = fraction_nonzero(y);
    REQUIRE((f == 0.0 || f == 1.0));
    if (f == 1.0) {
      CHECK(max_abs_diff(y, x / 0.75) < 1e-12);
      ++kept;
    }
  }
  CHECK(std::abs(static_cast<double>(kept) - 3000.0) < 8 * std::sqrt(4000 * 0.25 * 0.75));
}

TEST_CASE("stochastic_depth: same seed, same survivals; evaluation, p = 0 and p = 1") {
  Tensor x = ones({50, 4}, kFloat64);
  Generator g1(21), g2(21), g3(22);
  Tensor a1 = stochastic_depth(x, 0.3, "row", true, g1);
  CHECK(equal(a1, stochastic_depth(x, 0.3, "row", true, g2)));
  CHECK_FALSE(equal(a1, stochastic_depth(x, 0.3, "row", true, g3)));  // another seed
  CHECK_FALSE(equal(a1, stochastic_depth(x, 0.3, "row", true, g1)));  // the next draws
  manual_seed(3);  // the default generator, as nn::StochasticDepth uses it
  Tensor a = stochastic_depth(x, 0.5);
  manual_seed(3);
  CHECK(equal(a, stochastic_depth(x, 0.5)));

  Generator gen(2);
  Tensor v = randn({5, 4}, kFloat64, gen);
  v.requires_grad_();
  const uint64_t before = gen.offset();
  CHECK(stochastic_depth(v, 0.5, "row", false, gen).is_same(v));  // eval: the input itself, as torchvision
  CHECK(stochastic_depth(v, 0.0, "row", true, gen).is_same(v));
  CHECK(gen.offset() == before);  // and nothing was drawn
  Tensor z = stochastic_depth(v, 1.0, "row", true, gen);
  check_values(z, std::vector<double>(20, 0.0));
  z.backward(ones_like(z));
  check_values(v.grad(), std::vector<double>(20, 0.0));
}

TEST_CASE("stochastic_depth: backward multiplies by the forward's survivals; gradcheck") {
  Generator gen(4);
  Tensor x = add(rand({40, 3}, kFloat64, gen), 1.0);
  x.requires_grad_();
  Tensor y = stochastic_depth(x, 0.4, "row", true, gen);
  y.backward(full_like(y, 2.0));
  // dL/dx = 2 · noise: 2 / 0.6 for the rows kept, 0 for the rows dropped.
  Tensor expected = where(y.detach(), full_like(y, 2.0 / 0.6), zeros_like(y));  // y ≠ 0: kept
  CHECK(max_abs_diff(x.grad(), expected) < 1e-12);
  for (const char* mode : {"row", "batch"}) {
    CAPTURE(mode);
    for (double p : {0.3, 0.7}) {
      CAPTURE(p);
      // The same survivals at every call: a fresh Generator(9) each time.
      auto r = gradcheck([p, mode](const V& in) {
        Generator g(9);
        return stochastic_depth(in[0], p, mode, true, g);
      }, {randn({6, 2, 3}, kFloat64, gen)});
      CHECK_MESSAGE(r.ok, r.report);
    }
  }
}

TEST_CASE("stochastic_depth: argument errors") {
  Tensor x = ones({3, 2});
  CHECK_THROWS_WITH_AS(stochastic_depth(x, 1.5), doctest::Contains("between 0 and 1"), Error);
  CHECK_THROWS_WITH_AS(stochastic_depth(x, 0.5, "col"), doctest::Contains("'row' or 'batch'"), Error);
  CHECK_THROWS_WITH_AS(stochastic_depth(ones({}), 0.5, "row"), doctest::Contains("batch dimension"), Error);
  CHECK_THROWS_AS(stochastic_depth(arange(3, kInt64), 0.5), Error);
}

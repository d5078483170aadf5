// Tests for ops/loss.hpp (cross_entropy, nll_loss, mse_loss).
//
// References: values and gradients worked by hand (in the comments); PyTorch 1.13's
// torch.nn.functional in float64 (tests/fixtures/loss_fixtures.hpp, written by gen_loss.py:
// losses and input gradients for every reduction, with label smoothing and ignore_index,
// including an ignore_index that is a valid class), checked in float64 and float32; the
// identity cross_entropy = nll_loss ∘ log_softmax; and gradcheck (central differences).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "../fixtures/loss_fixtures.hpp"
#include "../check.hpp"
#include "lacoot/autograd/engine.hpp"
#include "lacoot/autograd/gradcheck.hpp"
#include "lacoot/ops/loss.hpp"
#include "lacoot/ops/softmax.hpp"

using namespace lacoot;
using namespace lacoot::test;

namespace {

Tensor labels(const std::vector<int64_t>& v) { return tensor(v, {static_cast<int64_t>(v.size())}); }

}  // namespace

// ---- values worked by hand ----

TEST_CASE("cross_entropy: values and gradients worked by hand") {
  // Row [0, ln 3]: softmax = [1/4, 3/4]. Target 1: loss = −ln(3/4), gradient = p − onehot
  // = [1/4, −1/4].
  const double l3 = std::log(3.0);
  Tensor x = from({0, l3}, {1, 2}).requires_grad_();
  Tensor loss = cross_entropy(x, labels({1}));
  check_values(loss, {-std::log(0.75)});
  CHECK(loss.dim() == 0);
  loss.backward();
  check_values(x.grad(), {0.25, -0.25});

  // Label smoothing ε = 0.5 over C = 2: the target becomes (1 − ε) onehot + ε / C = [1/4, 3/4],
  // which equals p: loss = −(¼ ln ¼ + ¾ ln ¾), the entropy of p, and the gradient p − target = 0.
  Tensor y = from({0, l3}, {1, 2}).requires_grad_();
  Tensor smooth = cross_entropy(y, labels({1}), {.label_smoothing = 0.5});
  check_values(smooth, {-(0.25 * std::log(0.25) + 0.75 * std::log(0.75))});
  smooth.backward();
  check_values(y.grad(), {0, 0});

  // Three samples, the second ignored: none → [−ln ¾, 0, ln 2]; sum adds them; mean divides
  // by the 2 samples that count, not 3.
  Tensor z = from({0, l3, 5, -5, 0, 0}, {3, 2});
  Tensor t = labels({1, -100, 0});
  const double l0 = -std::log(0.75), l2 = std::log(2.0);
  check_values(cross_entropy(z, t, {.reduction = Reduction::None}), {l0, 0, l2});
  check_values(cross_entropy(z, t, {.reduction = Reduction::Sum}), {l0 + l2});
  check_values(cross_entropy(z, t), {(l0 + l2) / 2});
  // ignore_index may be a valid class: with ignore_index = 0 only the first sample counts,
  // and -100 is then an invalid label.
  check_values(cross_entropy(z, labels({1, 0, 0}), {.ignore_index = 0}), {l0});
  CHECK_THROWS_AS(cross_entropy(z, t, {.ignore_index = 0}), Error);
}

TEST_CASE("cross_entropy: an all-ignored batch gives NaN for mean, and no gradient") {
  Tensor x = randn({2, 3}, kFloat64).requires_grad_();
  Tensor loss = cross_entropy(x, labels({-100, -100}));
  CHECK(std::isnan(loss.item()));  // 0 / 0, as PyTorch
  loss.backward();
  check_values(x.grad(), std::vector<double>(6, 0.0));
  check_values(cross_entropy(x, labels({-100, -100}), {.reduction = Reduction::Sum}), {0});
}

TEST_CASE("cross_entropy equals nll_loss of log_softmax") {
  Tensor x = randn({5, 4}, kFloat64);
  Tensor t = labels({0, 3, -100, 2, 1});
  for (Reduction r : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    check_values(cross_entropy(x, t, {.reduction = r}), values_of(nll_loss(log_softmax(x, 1), t, {.reduction = r})));
  }
}

TEST_CASE("nll_loss: values worked by hand") {
  // −input[n, target[n]]: targets [2, 0] pick −3 and −4.
  Tensor x = from({-1, -2, -3, -4, -5, -6}, {2, 3}).requires_grad_();
  check_values(nll_loss(x, labels({2, 0}), {.reduction = Reduction::None}), {3, 4});
  check_values(nll_loss(x, labels({2, 0}), {.reduction = Reduction::Sum}), {7});
  check_values(nll_loss(x, labels({2, 0}), {.ignore_index = 0}), {3});  // only sample 0 counts
  Tensor loss = nll_loss(x, labels({2, 0}));
  check_values(loss, {3.5});
  loss.backward();
  check_values(x.grad(), {0, 0, -0.5, -0.5, 0, 0});  // −1 / N at each picked entry
}

TEST_CASE("mse_loss: values and gradients worked by hand") {
  // input [1, 2], target [0, 4]: squared errors [1, 4]; mean 2.5, sum 5.
  Tensor x = from({1, 2}, {2}).requires_grad_();
  Tensor y = from({0, 4}, {2}).requires_grad_();
  check_values(mse_loss(x, y, Reduction::None), {1, 4});
  check_values(mse_loss(x, y, Reduction::Sum), {5});
  Tensor loss = mse_loss(x, y);
  check_values(loss, {2.5});
  loss.backward();
  check_values(x.grad(), {1, -2});  // 2 (x − y) / 2
  check_values(y.grad(), {-1, 2});
}

// ---- PyTorch fixtures ----

namespace {

// The lacoot call for a fixture case, applied to x (logits, or a for mse).
Tensor fixture_loss(const std::string& name, const Tensor& x, DType dt) {
  namespace fx = fixtures::loss;
  Tensor t1 = labels(fx::t1), t2 = labels(fx::t2), b = from(fx::b, {3, 4}, dt);
  const std::vector<std::pair<std::string, std::function<Tensor()>>> ops{
      {"ce_mean", [&] { return cross_entropy(x, t1); }},
      {"ce_sum", [&] { return cross_entropy(x, t1, {.reduction = Reduction::Sum}); }},
      {"ce_none", [&] { return cross_entropy(x, t1, {.reduction = Reduction::None}); }},
      {"ce_mean_ls", [&] { return cross_entropy(x, t1, {.label_smoothing = 0.1}); }},
      {"ce_sum_ls", [&] { return cross_entropy(x, t1, {.reduction = Reduction::Sum, .label_smoothing = 0.1}); }},
      {"ce_none_ls", [&] { return cross_entropy(x, t1, {.reduction = Reduction::None, .label_smoothing = 0.1}); }},
      {"ce_mean_ls_ignore1", [&] { return cross_entropy(x, t2, {.ignore_index = 1, .label_smoothing = 0.25}); }},
      {"ce_none_ls_ignore1",
       [&] { return cross_entropy(x, t2, {.ignore_index = 1, .reduction = Reduction::None, .label_smoothing = 0.25}); }},
      {"nll_mean", [&] { return nll_loss(x, t1); }},
      {"nll_sum", [&] { return nll_loss(x, t1, {.reduction = Reduction::Sum}); }},
      {"nll_none", [&] { return nll_loss(x, t1, {.reduction = Reduction::None}); }},
      {"nll_mean_ignore1", [&] { return nll_loss(x, t2, {.ignore_index = 1}); }},
      {"mse_mean", [&] { return mse_loss(x, b); }},
      {"mse_sum", [&] { return mse_loss(x, b, Reduction::Sum); }},
      {"mse_none", [&] { return mse_loss(x, b, Reduction::None); }},
  };
  for (const auto& [n, f] : ops)
    if (n == name) return f();
  FAIL("no lacoot loss for fixture case " << name);
  return {};
}

}  // namespace

TEST_CASE("losses and their gradients match PyTorch (float64 and float32)") {
  namespace fx = fixtures::loss;
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-12 : 2e-6;
    for (const fx::Case& c : fx::cases) {
      CAPTURE(c.name);
      CAPTURE(dtype_name(dt));
      const bool mse = std::string(c.name).rfind("mse", 0) == 0;
      Tensor x = mse ? from(fx::a, {3, 4}, dt) : from(fx::logits, {6, 5}, dt);
      x.requires_grad_();
      Tensor loss = fixture_loss(c.name, x, dt);
      CHECK(loss.dtype() == dt);
      check_values(loss, c.loss, tol);
      if (loss.dim() == 0) loss.backward();
      else loss.backward(mse ? from(fx::gn34, {3, 4}, dt) : from(fx::gn6, {6}, dt));
      check_values(x.grad(), c.grad, tol);
    }
  }
}

// ---- gradients ----

TEST_CASE("gradcheck: cross_entropy with label smoothing and ignore_index, every reduction") {
  Tensor t = labels({3, -100, 0, 2, 1});
  Tensor t_ignore2 = labels({3, 2, 0, 2, 1});
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    for (double eps : {0.0, 0.2}) {
      CAPTURE(static_cast<int>(r));
      CAPTURE(eps);
      check_grad([&](const V& x) { return cross_entropy(x[0], x[1], {.reduction = r, .label_smoothing = eps}); },
                 {randn({5, 4}), t});
      check_grad([&](const V& x) {
        return cross_entropy(x[0], x[1], {.ignore_index = 2, .reduction = r, .label_smoothing = eps});
      }, {randn({5, 4}), t_ignore2});
    }
  }
}

TEST_CASE("gradcheck: nll_loss and mse_loss, every reduction") {
  Tensor t = labels({1, -100, 0, 2});
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    CAPTURE(static_cast<int>(r));
    check_grad([&](const V& x) { return nll_loss(x[0], x[1], {.reduction = r}); }, {randn({4, 3}), t});
    check_grad([&](const V& x) { return nll_loss(x[0], x[1], {.ignore_index = 0, .reduction = r}); },
               {randn({4, 3}), labels({1, 0, 0, 2})});
    check_grad([&](const V& x) { return mse_loss(x[0], x[1], r); }, {randn({3, 4}), randn({3, 4})});
  }
}

// ---- errors ----

TEST_CASE("losses: errors name the op, the bad label and the number of classes") {
  Tensor x = randn({3, 4});
  CHECK_THROWS_WITH_AS(cross_entropy(x, labels({0, 5, 1})),
                       doctest::Contains("target[1] = 5 is out of range for 4 classes"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(x, labels({0, 1, -1})),
                       doctest::Contains("target[2] = -1 is out of range for 4 classes"), Error);
  CHECK_THROWS_WITH_AS(nll_loss(x, labels({4, 0, 0})), doctest::Contains("nll_loss: target[0] = 4"), Error);
  CHECK_THROWS_AS(cross_entropy(x, labels({0, 1})), Error);               // one label per row
  CHECK_THROWS_AS(cross_entropy(x, from({0, 1, 2}, {3})), Error);         // labels must be int64
  CHECK_THROWS_AS(cross_entropy(randn({4}), labels({0})), Error);         // input must be [N, C]
  CHECK_THROWS_AS(cross_entropy(randn({2, 3, 4}), labels({0, 1})), Error);
  CHECK_THROWS_AS(cross_entropy(arange(4.0, kInt64), labels({0})), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(x, labels({0, 1, 2}), {.label_smoothing = 1.5}),
                       doctest::Contains("label_smoothing"), Error);
  CHECK_THROWS_AS(mse_loss(randn({2, 3}), randn({3, 2})), Error);
  CHECK_THROWS_AS(mse_loss(randn({2, 3}), randn({2, 3}, kFloat64)), Error);
  CHECK_THROWS_AS(mse_loss(arange(3.0, kInt64), arange(3.0, kInt64)), Error);
}

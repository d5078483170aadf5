// Tests for ops/norm.hpp: batch_norm and layer_norm.
//
// References: values worked by hand (in the comments); PyTorch 1.13's
// torch.nn.functional.batch_norm / layer_norm in float64 (tests/fixtures/norm_fixtures.hpp,
// written by gen_norm.py: outputs, gradients of input, weight and bias, and running
// statistics after two training steps); gradcheck (central differences) in training and
// evaluation mode, with and without the affine parameters; float32 against the same fixtures.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "../fixtures/norm_fixtures.hpp"
#include "../check.hpp"
#include "lacoot/autograd/engine.hpp"
#include "lacoot/autograd/gradcheck.hpp"
#include "lacoot/ops/norm.hpp"

using namespace lacoot;
using namespace lacoot::test;

namespace {

// A batch_norm fixture case run in `dtype`: forward, backward, both running-statistics steps.
template <class Case>
void check_batch_norm_case(DType dtype, double tol, bool affine) {
  const Shape shape = Case::shape, cs{shape[1]};
  Tensor x = from(Case::x, shape, dtype).requires_grad_();
  Tensor rm = from(Case::running_mean0, cs, dtype), rv = from(Case::running_var0, cs, dtype);
  Tensor w, b;
  if constexpr (requires { Case::weight; }) {
    w = from(Case::weight, cs, dtype).requires_grad_();
    b = from(Case::bias, cs, dtype).requires_grad_();
  }
  REQUIRE(w.defined() == affine);
  Tensor y = batch_norm(x, rm, rv, w, b, Case::training, Case::momentum, Case::eps);
  check_close(y, Case::y, tol);
  y.backward(from(Case::g, shape, dtype));
  check_close(x.grad(), Case::dx, tol);
  if constexpr (requires { Case::weight; }) {
    check_close(w.grad(), Case::dweight, tol);
    check_close(b.grad(), Case::dbias, tol);
  }
  check_close(rm, Case::running_mean1, tol);
  check_close(rv, Case::running_var1, tol);
  batch_norm(from(Case::x2, shape, dtype), rm, rv, w, b, Case::training, Case::momentum, Case::eps);
  check_close(rm, Case::running_mean2, tol);
  check_close(rv, Case::running_var2, tol);
}

template <class Case>
void check_layer_norm_case(DType dtype, double tol) {
  const Shape shape = Case::shape, ns = Case::normalized_shape;
  Tensor x = from(Case::x, shape, dtype).requires_grad_();
  Tensor w, b;
  if constexpr (requires { Case::weight; }) {
    w = from(Case::weight, ns, dtype).requires_grad_();
    b = from(Case::bias, ns, dtype).requires_grad_();
  }
  Tensor y = layer_norm(x, ns, w, b, Case::eps);
  check_close(y, Case::y, tol);
  y.backward(from(Case::g, shape, dtype));
  check_close(x.grad(), Case::dx, tol);
  if constexpr (requires { Case::weight; }) {
    check_close(w.grad(), Case::dweight, tol);
    check_close(b.grad(), Case::dbias, tol);
  }
}

// Inputs with channel-dependent mean and spread, away from degenerate (constant) channels.
Tensor spread_input(const Shape& shape) {
  Tensor x = randn(shape, kFloat64);
  double* p = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = p[i] * 1.5 + 0.3;
  return x;
}

// Uniform in [0.5, 1.5): weights and variances away from 0.
Tensor positive(const Shape& shape) {
  Tensor t = rand(shape, kFloat64);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] += 0.5;
  return t;
}

}  // namespace

// ---- batch_norm ----

TEST_CASE("batch_norm: values worked by hand") {
  // x = [[1, 10], [3, 30]]: channel 0 holds {1, 3} (mean 2, biased var 1, unbiased 2),
  // channel 1 holds {10, 30} (mean 20, biased var 100, unbiased 200).
  Tensor x = from({1, 10, 3, 30}, {2, 2});
  Tensor rm = from({0, 0}, {2}), rv = from({1, 1}, {2});
  Tensor w = from({2, 1}, {2}), b = from({0, 5}, {2});
  SUBCASE("training: batch statistics, running statistics updated in place") {
    Tensor y = batch_norm(x, rm, rv, w, b, /*training=*/true);
    const double e = 1e-5, s0 = 2 / std::sqrt(1 + e), s1 = 10 / std::sqrt(100 + e);
    check_close(y, {-s0, 5 - s1, s0, 5 + s1}, 1e-12);
    // running_mean = 0.9 · 0 + 0.1 · mean; running_var = 0.9 · 1 + 0.1 · unbiased var.
    check_close(rm, {0.2, 2.0}, 1e-12);
    check_close(rv, {0.9 + 0.2, 0.9 + 20.0}, 1e-12);
  }
  SUBCASE("evaluation: running statistics, left as they were") {
    Tensor rm2 = from({1, 2}, {2}), rv2 = from({4, 9}, {2});
    // eps = 0: y = (x − 1) / 2 for channel 0 and (x − 2) / 3 for channel 1.
    Tensor y = batch_norm(x, rm2, rv2, {}, {}, false, 0.1, 0.0);
    check_close(y, {0, 8.0 / 3, 1, 28.0 / 3}, 1e-12);
    check_close(rm2, {1, 2}, 0);
    check_close(rv2, {4, 9}, 0);
  }
  SUBCASE("training without running statistics") {
    Tensor y = batch_norm(x, {}, {}, {}, {}, true);
    check_close(y, {-1, -1, 1, 1}, 1e-5);
  }
}

TEST_CASE("batch_norm: forward, gradients and running statistics match PyTorch") {
  namespace fx = fixtures::norm;
  SUBCASE("float64") {
    check_batch_norm_case<fx::bn_train_4d>(kFloat64, 1e-10, true);
    check_batch_norm_case<fx::bn_train_2d>(kFloat64, 1e-10, false);
    check_batch_norm_case<fx::bn_eval_4d>(kFloat64, 1e-10, true);
  }
  SUBCASE("float32") {
    check_batch_norm_case<fx::bn_train_4d>(kFloat32, 2e-5, true);
    check_batch_norm_case<fx::bn_train_2d>(kFloat32, 2e-5, false);
    check_batch_norm_case<fx::bn_eval_4d>(kFloat32, 2e-5, true);
  }
}

TEST_CASE("batch_norm: gradcheck in training and evaluation mode") {
  manual_seed(1);
  int checks = 0;
  for (const Shape& shape : {Shape{5, 3}, Shape{2, 3, 2, 3}}) {
    const Shape cs{shape[1]};
    // Running statistics are state, not inputs: fixed float64 tensors outside gradcheck's list.
    Tensor rm = randn(cs, kFloat64), rv = positive(cs);
    Tensor x = spread_input(shape), w = positive(cs), b = randn(cs, kFloat64);
    for (bool training : {true, false}) {
      CAPTURE(shape_str(shape));
      CAPTURE(training);
      // With weight and bias.
      auto r = gradcheck([&](const V& in) { return batch_norm(in[0], rm, rv, in[1], in[2], training); },
                         {x, w, b});
      CHECK_MESSAGE(r.ok, r.report);
      // Without the affine parameters.
      r = gradcheck([&](const V& in) { return batch_norm(in[0], rm, rv, {}, {}, training); }, {x});
      CHECK_MESSAGE(r.ok, r.report);
      // Weight only; in training mode without running statistics too.
      r = gradcheck([&](const V& in) {
        return training ? batch_norm(in[0], {}, {}, in[1], {}, true)
                        : batch_norm(in[0], rm, rv, in[1], {}, false);
      }, {x, w});
      CHECK_MESSAGE(r.ok, r.report);
      checks += 3;
    }
  }
  CHECK(checks == 12);
}

TEST_CASE("batch_norm: only the requested gradients, from the statistics of the forward pass") {
  namespace fx = fixtures::norm;
  using C = fx::bn_eval_4d;
  const Shape cs{C::shape[1]};
  SUBCASE("weight and bias without the input") {
    Tensor x = from(C::x, C::shape);  // does not require grad
    Tensor w = from(C::weight, cs).requires_grad_(), b = from(C::bias, cs).requires_grad_();
    Tensor y = batch_norm(x, from(C::running_mean0, cs), from(C::running_var0, cs), w, b);
    y.backward(from(C::g, C::shape));
    check_close(w.grad(), C::dweight, 1e-10);
    check_close(b.grad(), C::dbias, 1e-10);
  }
  SUBCASE("evaluation mode: changing the running statistics after forward does not change backward") {
    Tensor x = from(C::x, C::shape).requires_grad_();
    Tensor rm = from(C::running_mean0, cs), rv = from(C::running_var0, cs);
    Tensor y = batch_norm(x, rm, rv, from(C::weight, cs), from(C::bias, cs));
    batch_norm(randn(C::shape, kFloat64), rm, rv, {}, {}, true);  // a training step moves them
    y.backward(from(C::g, C::shape));
    check_close(x.grad(), C::dx, 1e-10);
  }
}

TEST_CASE("batch_norm: results do not depend on the thread count") {
  // Large enough to be split over threads (kernels split channels when numel > 2^14).
  manual_seed(3);
  Tensor x = spread_input({4, 8, 32, 32}).requires_grad_(), g = randn({4, 8, 32, 32}, kFloat64);
  Tensor w = rand({8}, kFloat64).requires_grad_();
  auto run = [&](int threads) {
    set_num_threads(threads);
    x.set_grad({}), w.set_grad({});
    Tensor rm = zeros({8}, kFloat64), rv = ones({8}, kFloat64);
    Tensor y = batch_norm(x, rm, rv, w, {}, true);
    y.backward(g);
    return std::vector<std::vector<double>>{values_of(y), values_of(x.grad()), values_of(w.grad()),
                                            values_of(rm), values_of(rv)};
  };
  const int before = get_num_threads();
  auto one = run(1), many = run(4);
  set_num_threads(before);
  CHECK(one == many);  // bit-identical
}

TEST_CASE("batch_norm: argument errors") {
  Tensor x = randn({4, 3, 2, 2}, kFloat64), c3 = zeros({3}, kFloat64), o3 = ones({3}, kFloat64);
  // Wrong per-channel shapes.
  CHECK_THROWS_AS(batch_norm(x, zeros({4}, kFloat64), o3, {}, {}, true), Error);
  CHECK_THROWS_AS(batch_norm(x, c3, ones({1, 3}, kFloat64), {}, {}, true), Error);
  CHECK_THROWS_AS(batch_norm(x, c3, o3, ones({2}, kFloat64), {}, true), Error);
  CHECK_THROWS_AS(batch_norm(x, c3, o3, o3, zeros({4}, kFloat64), true), Error);
  // One running statistic without the other; none in evaluation mode.
  CHECK_THROWS_AS(batch_norm(x, c3, {}, {}, {}, true), Error);
  CHECK_THROWS_AS(batch_norm(x, {}, {}, o3, c3, false), Error);
  // Running statistics that require grad.
  Tensor rm_grad = zeros({3}, kFloat64).requires_grad_();
  CHECK_THROWS_AS(batch_norm(x, rm_grad, o3, {}, {}, true), Error);
  // One value per channel when training (PyTorch: "Expected more than 1 value per channel").
  CHECK_THROWS_WITH_AS(batch_norm(randn({1, 3}, kFloat64), c3, o3, {}, {}, true),
                       doctest::Contains("Expected more than 1 value per channel when training"), Error);
  CHECK_THROWS_AS(batch_norm(randn({1, 3, 1, 1}, kFloat64), {}, {}, {}, {}, true), Error);
  CHECK_NOTHROW(batch_norm(randn({1, 3}, kFloat64), c3, o3, {}, {}, false));  // fine in eval
  // Input rank, dtype.
  CHECK_THROWS_AS(batch_norm(randn({3}, kFloat64), c3, o3, {}, {}, true), Error);
  CHECK_THROWS_AS(batch_norm(x, zeros({3}), ones({3}), {}, {}, true), Error);  // float32 stats
  CHECK_THROWS_AS(batch_norm(x.to(kInt64), {}, {}, {}, {}, true), Error);
}

// ---- layer_norm ----

TEST_CASE("layer_norm: values worked by hand") {
  // [1, 2, 3]: mean 2, biased variance 2/3, so y = (x − 2) / √(2/3 + eps) = [−√1.5, 0, √1.5]
  // for eps → 0; with weight [1, 2, 3] and bias [0, 1, 0]: [−√1.5, 1, 3√1.5].
  const double k = 1 / std::sqrt(2.0 / 3 + 1e-5);
  check_close(layer_norm(from({1, 2, 3}, {3}), {3}), {-k, 0, k}, 1e-12);
  check_close(layer_norm(from({1, 2, 3, 10, 20, 30}, {2, 3}), {3}, from({1, 2, 3}, {3}), from({0, 1, 0}, {3})),
              {-k, 1, 3 * k, -10 / std::sqrt(200.0 / 3 + 1e-5), 1, 30 / std::sqrt(200.0 / 3 + 1e-5)}, 1e-12);
  // Over the last two dims of [1, 2, 2], eps = 0: [1, 3, 5, 7] has mean 4, variance 5.
  const double s = 1 / std::sqrt(5.0);
  check_close(layer_norm(from({1, 3, 5, 7}, {1, 2, 2}), {2, 2}, {}, {}, 0.0), {-3 * s, -s, s, 3 * s}, 1e-12);
}

TEST_CASE("layer_norm: forward and gradients match PyTorch") {
  namespace fx = fixtures::norm;
  check_layer_norm_case<fx::ln_last_dim>(kFloat64, 1e-10);
  check_layer_norm_case<fx::ln_two_dims>(kFloat64, 1e-10);
  check_layer_norm_case<fx::ln_last_dim>(kFloat32, 2e-5);
  check_layer_norm_case<fx::ln_two_dims>(kFloat32, 2e-5);
}

TEST_CASE("layer_norm: gradcheck") {
  manual_seed(2);
  SUBCASE("over the last dim, with weight and bias") {
    Tensor x = spread_input({3, 5}), w = positive({5}), b = randn({5}, kFloat64);
    auto r = gradcheck([](const V& in) { return layer_norm(in[0], {5}, in[1], in[2]); }, {x, w, b});
    CHECK_MESSAGE(r.ok, r.report);
  }
  SUBCASE("over the last two dims, with weight and bias") {
    Tensor x = spread_input({2, 3, 4}), w = positive({3, 4}), b = randn({3, 4}, kFloat64);
    auto r = gradcheck([](const V& in) { return layer_norm(in[0], {3, 4}, in[1], in[2]); }, {x, w, b});
    CHECK_MESSAGE(r.ok, r.report);
  }
  SUBCASE("without weight and bias, 1 and 2 trailing dims") {
    Tensor x = spread_input({2, 3, 4});
    auto r1 = gradcheck([](const V& in) { return layer_norm(in[0], {4}); }, {x});
    CHECK_MESSAGE(r1.ok, r1.report);
    auto r2 = gradcheck([](const V& in) { return layer_norm(in[0], {3, 4}); }, {x});
    CHECK_MESSAGE(r2.ok, r2.report);
  }
  SUBCASE("weight only") {
    Tensor x = spread_input({4, 3}), w = positive({3});
    auto r = gradcheck([](const V& in) { return layer_norm(in[0], {3}, in[1]); }, {x, w});
    CHECK_MESSAGE(r.ok, r.report);
  }
}

TEST_CASE("layer_norm: results do not depend on the thread count") {
  manual_seed(4);
  Tensor x = spread_input({128, 9, 33}).requires_grad_(), g = randn({128, 9, 33}, kFloat64);
  Tensor w = rand({33}, kFloat64).requires_grad_(), b = rand({33}, kFloat64).requires_grad_();
  auto run = [&](int threads) {
    set_num_threads(threads);
    x.set_grad({}), w.set_grad({}), b.set_grad({});
    Tensor y = layer_norm(x, {33}, w, b);
    y.backward(g);
    return std::vector<std::vector<double>>{values_of(y), values_of(x.grad()), values_of(w.grad()), values_of(b.grad())};
  };
  const int before = get_num_threads();
  auto one = run(1), many = run(4);
  set_num_threads(before);
  CHECK(one == many);
}

TEST_CASE("layer_norm: argument errors") {
  Tensor x = randn({2, 4}, kFloat64);
  CHECK_THROWS_WITH_AS(layer_norm(x, {3}), doctest::Contains("expected input with shape [*, 3]"), Error);
  CHECK_THROWS_AS(layer_norm(x, {}), Error);
  CHECK_THROWS_AS(layer_norm(x, {2, 2}), Error);          // trailing dims are [2, 4]
  CHECK_THROWS_AS(layer_norm(x, {1, 2, 4}), Error);       // more dims than the input
  CHECK_THROWS_AS(layer_norm(x, {4}, ones({3}, kFloat64)), Error);
  CHECK_THROWS_AS(layer_norm(x, {4}, ones({4}, kFloat64), zeros({1, 4}, kFloat64)), Error);
  CHECK_THROWS_AS(layer_norm(x, {4}, ones({4})), Error);  // float32 weight, float64 input
  CHECK_THROWS_AS(layer_norm(x.to(kInt64), {4}), Error);
  CHECK_NOTHROW(layer_norm(x, {2, 4}));
}

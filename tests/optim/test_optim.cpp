// Tests for optim/optimizer.hpp, optim/sgd.hpp and optim/adam.hpp.
//
// References: SGD with momentum worked by hand (two steps, in the comment) and Adam's first
// step (an identity); PyTorch 1.13's torch.optim.SGD / Adam / AdamW over five steps
// (tests/fixtures/optim_fixtures.hpp, written by gen_optim.py), reproduced in float64 to 1e-12
// and in float32 to 1e-6; state_dict round trips (a resumed run is bit-identical to an
// uninterrupted one); parameters without a gradient are skipped; errors for bad options and
// mismatched state; results independent of the thread count; and minimising a quadratic
// through autograd.
#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../check.hpp"
#include "../fixtures/optim_fixtures.hpp"
#include "lacoot/autograd/engine.hpp"
#include "lacoot/core/parallel.hpp"
#include "lacoot/ops/elementwise.hpp"
#include "lacoot/ops/reduce.hpp"
#include "lacoot/optim/adam.hpp"
#include "lacoot/optim/lr_scheduler.hpp"
#include "lacoot/optim/sgd.hpp"

using namespace lacoot;
using namespace lacoot::test;
namespace fx_optim = fixtures::optim;

namespace {

// The fixture's two parameters, as leaves that require grad.
std::vector<Tensor> fixture_params(DType dtype) {
  std::vector<Tensor> ps;
  for (std::size_t i = 0; i < fx_optim::shapes.size(); ++i)
    ps.push_back(from(fx_optim::params0[i], fx_optim::shapes[i], dtype).requires_grad_());
  return ps;
}

// Sets each parameter's gradient to the values given for step t (none where the list is empty).
void set_grads(const std::vector<Tensor>& ps, const std::vector<std::vector<double>>& grads) {
  for (std::size_t i = 0; i < ps.size(); ++i) {
    Tensor p = ps[i];
    p.set_grad(grads[i].empty() ? Tensor() : from(grads[i], p.shape(), p.dtype()));
  }
}

template <class Case>
optim::SGDOptions sgd_options(std::size_t g) {
  return {.lr = Case::lr[g], .momentum = Case::momentum[g], .dampening = Case::dampening[g],
          .weight_decay = Case::weight_decay[g], .nesterov = Case::nesterov[g] != 0,
          .maximize = Case::maximize[g] != 0};
}

template <class Options, class Case>
Options adam_options(std::size_t g) {
  return {.lr = Case::lr[g], .betas = {Case::beta1[g], Case::beta2[g]}, .eps = Case::eps[g],
          .weight_decay = Case::weight_decay[g], .amsgrad = Case::amsgrad[g] != 0,
          .maximize = Case::maximize[g] != 0};
}

// Runs a fixture case: the parameters in their groups, five steps, each compared to PyTorch.
template <class Opt, class Case, class MakeOptions>
void check_case(DType dtype, double tol, MakeOptions make_options) {
  std::vector<Tensor> ps = fixture_params(dtype);
  std::size_t num_groups = 0;
  for (int64_t g : Case::group_of) num_groups = std::max(num_groups, static_cast<std::size_t>(g) + 1);
  std::vector<typename Opt::ParamGroup> groups(num_groups);
  for (std::size_t g = 0; g < num_groups; ++g) groups[g].options = make_options(g);
  for (std::size_t i = 0; i < ps.size(); ++i) groups[static_cast<std::size_t>(Case::group_of[i])].params.push_back(ps[i]);
  Opt opt(groups, make_options(0));
  for (std::size_t t = 0; t < Case::grads.size(); ++t) {
    set_grads(ps, Case::grads[t]);
    opt.step();
    for (std::size_t i = 0; i < ps.size(); ++i) {
      CAPTURE(t);
      CAPTURE(i);
      check_close(ps[i], Case::params[t][i], tol);
    }
  }
}

template <class Case>
void check_sgd(DType dtype, double tol) {
  check_case<optim::SGD, Case>(dtype, tol, sgd_options<Case>);
}
template <class Case>
void check_adam(DType dtype, double tol) {
  check_case<optim::Adam, Case>(dtype, tol, adam_options<optim::AdamOptions, Case>);
}
template <class Case>
void check_adamw(DType dtype, double tol) {
  check_case<optim::AdamW, Case>(dtype, tol, adam_options<optim::AdamWOptions, Case>);
}

void check_all_sgd(DType dtype, double tol) {
  check_sgd<fx_optim::sgd_plain>(dtype, tol);
  check_sgd<fx_optim::sgd_momentum>(dtype, tol);
  check_sgd<fx_optim::sgd_dampening>(dtype, tol);
  check_sgd<fx_optim::sgd_nesterov>(dtype, tol);
  check_sgd<fx_optim::sgd_weight_decay>(dtype, tol);
  check_sgd<fx_optim::sgd_maximize>(dtype, tol);
  check_sgd<fx_optim::sgd_all>(dtype, tol);
  check_sgd<fx_optim::sgd_groups>(dtype, tol);
  check_sgd<fx_optim::sgd_momentum_skip>(dtype, tol);
}

void check_all_adam(DType dtype, double tol) {
  check_adam<fx_optim::adam>(dtype, tol);
  check_adam<fx_optim::adam_amsgrad>(dtype, tol);
  check_adam<fx_optim::adam_weight_decay>(dtype, tol);
  check_adam<fx_optim::adam_maximize>(dtype, tol);
  check_adam<fx_optim::adam_skip>(dtype, tol);
  check_adamw<fx_optim::adamw>(dtype, tol);
  check_adamw<fx_optim::adamw_amsgrad>(dtype, tol);
  check_adamw<fx_optim::adamw_groups>(dtype, tol);
}

}  // namespace

// ---- values ----

TEST_CASE("SGD with momentum: two steps worked by hand") {
  // p = [1, 2], γ = 0.1, μ = 0.9.
  // Step 1, ∇ = [1, −1]:    b = ∇ = [1, −1] (the buffer starts as the gradient itself)
  //                         p = [1 − 0.1, 2 + 0.1] = [0.9, 2.1]
  // Step 2, ∇ = [0.5, 0.5]: b = 0.9 [1, −1] + [0.5, 0.5] = [1.4, −0.4]
  //                         p = [0.9 − 0.14, 2.1 + 0.04] = [0.76, 2.14]
  for (DType dtype : {kFloat64, kFloat32}) {
    const double tol = dtype == kFloat64 ? 1e-15 : 1e-7;
    Tensor p = from({1, 2}, {2}, dtype).requires_grad_();
    optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9});
    p.set_grad(from({1, -1}, {2}, dtype));
    opt.step();
    check_close(p, {0.9, 2.1}, tol);
    check_close(opt.state(0)->momentum_buffer, {1, -1}, tol);
    p.set_grad(from({0.5, 0.5}, {2}, dtype));
    opt.step();
    check_close(opt.state(0)->momentum_buffer, {1.4, -0.4}, tol);
    check_close(p, {0.76, 2.14}, tol);
  }
}

TEST_CASE("Adam: the first step moves each element by lr against the sign of its gradient") {
  // At t = 1 the bias corrections undo the averages: m̂ = ∇, v̂ = ∇², so
  // p = p − γ ∇ / (|∇| + ε) ≈ p − γ sign(∇).
  Tensor p = from({1, 2, 3}, {3}).requires_grad_();
  optim::Adam opt({p}, {.lr = 0.01, .eps = 0});
  p.set_grad(from({4, -0.5, 1e-3}, {3}));
  opt.step();
  check_close(p, {0.99, 2.01, 2.99}, 1e-15);
  CHECK(opt.state(0)->step == 1);
}

TEST_CASE("SGD matches torch.optim.SGD: plain, momentum, dampening, nesterov, decay, maximize, groups") {
  SUBCASE("float64") { check_all_sgd(kFloat64, 1e-12); }
  SUBCASE("float32") { check_all_sgd(kFloat32, 1e-6); }
}

TEST_CASE("Adam and AdamW match torch.optim: amsgrad, weight decay, maximize, groups") {
  SUBCASE("float64") { check_all_adam(kFloat64, 1e-12); }
  SUBCASE("float32") { check_all_adam(kFloat32, 1e-6); }
}

// ---- behaviour ----

TEST_CASE("a parameter without a gradient is skipped and keeps no state") {
  std::vector<Tensor> ps = fixture_params(kFloat64);
  const Tensor before = ps[1].clone();
  optim::Adam opt(ps, {.lr = 0.1});
  ps[0].set_grad(ones_like(ps[0]));
  opt.step();
  opt.step();
  CHECK(bitwise_equal(ps[1], before));
  CHECK_FALSE(opt.state(1).has_value());
  REQUIRE(opt.state(0).has_value());
  CHECK(opt.state(0)->step == 2);
  // Its first step later uses t = 1, whatever the other parameter's count.
  ps[1].set_grad(ones_like(ps[1]));
  opt.step();
  CHECK(opt.state(1)->step == 1);
  CHECK(opt.state(0)->step == 3);
}

TEST_CASE("updates write into the parameter's own storage") {
  Tensor p = from({1, 2}, {2}).requires_grad_();
  Tensor alias = p;  // another handle to the same tensor, as a model holds it
  const void* data = p.raw_data();
  optim::SGD opt({p}, {.lr = 1});
  p.set_grad(from({1, 1}, {2}));
  opt.step();
  CHECK(p.raw_data() == data);
  check_close(alias, {0, 1}, 0);
}

TEST_CASE("zero_grad: set_to_none drops the gradients, set_to_none = false zeroes them in place") {
  std::vector<Tensor> ps = fixture_params(kFloat32);
  optim::SGD opt(ps, {.lr = 0.1});
  ps[0].set_grad(ones_like(ps[0]));
  const Tensor g = ps[0].grad();
  opt.zero_grad(false);
  CHECK(ps[0].grad().is_same(g));
  check_close(g, std::vector<double>(6, 0.0), 0);
  CHECK_FALSE(ps[1].grad().defined());
  opt.zero_grad();
  CHECK_FALSE(ps[0].grad().defined());
}

TEST_CASE("lr and hyper-parameters per group can be changed between steps") {
  std::vector<Tensor> ps = fixture_params(kFloat64);
  optim::SGD opt({{{ps[0]}}, {{ps[1]}, optim::SGDOptions{.lr = 0.5}}}, {.lr = 0.1});
  CHECK(opt.num_param_groups() == 2);
  CHECK(opt.lr(0) == 0.1);
  CHECK(opt.lr(1) == 0.5);
  opt.set_lr(0, 0.2);
  CHECK(opt.options(0).lr == 0.2);
  optim::SGDOptions o = opt.options(1);
  o.momentum = 0.9;
  opt.set_options(1, o);
  CHECK(opt.options(1).momentum == 0.9);
  CHECK_THROWS_WITH_AS(opt.set_lr(2, 0.1), doctest::Contains("parameter group 2 does not exist"), Error);
}

TEST_CASE("a parameter group with weight decay off") {
  // Zero gradients, γ = 0.1, λ = 0.5: a decayed parameter shrinks by γλ = 5 %, the other stays.
  std::vector<Tensor> decay{from({1}, {1}).requires_grad_()}, no_decay{from({1}, {1}).requires_grad_()};
  const optim::SGDOptions options{.lr = 0.1, .weight_decay = 0.5};
  optim::SGDOptions no_wd = options;
  no_wd.weight_decay = 0;
  optim::SGD opt({{decay}, {no_decay, no_wd}}, options);
  for (const Tensor& p : {decay[0], no_decay[0]}) Tensor(p).set_grad(zeros({1}, kFloat64));
  opt.step();
  check_close(decay[0], {0.95}, 1e-15);
  check_close(no_decay[0], {1}, 0);
}

TEST_CASE("the update does not depend on the thread count") {
  // Large enough for parallel_for to split it (more than kOptimGrain elements).
  const Shape shape{3 * detail::kOptimGrain + 17};
  manual_seed(3);
  const Tensor p0 = randn(shape, kFloat32), g1 = randn(shape, kFloat32), g2 = randn(shape, kFloat32);
  auto run = [&](int threads) {
    const int saved = get_num_threads();
    set_num_threads(threads);
    Tensor p = p0.clone().requires_grad_();
    optim::AdamW adam({p}, {.lr = 0.01, .amsgrad = true});
    Tensor q = p0.clone().requires_grad_();
    optim::SGD sgd({q}, {.lr = 0.01, .momentum = 0.9, .weight_decay = 1e-4, .nesterov = true});
    for (const Tensor& g : {g1, g2}) {
      p.set_grad(g);
      q.set_grad(g);
      adam.step();
      sgd.step();
    }
    set_num_threads(saved);
    return std::pair{p, q};
  };
  auto [p1, q1] = run(1);
  auto [p2, q2] = run(4);
  CHECK(bitwise_equal(p1, p2));
  CHECK(bitwise_equal(q1, q2));
}

// ---- state_dict ----

namespace {

// Five steps uninterrupted, against three steps, a state_dict saved, a fresh optimiser and
// scheduler over fresh parameters (with the values at step 3) loading it, and two more steps.
template <class Opt, class Options>
void check_resume(const Options& options, DType dtype) {
  const auto& grads = fx_optim::sgd_plain::grads;
  auto make_scheduler = [](optim::Optimizer& opt) {
    auto warmup = std::make_shared<optim::LinearLR>(opt, 0.5, 1.0, 2);
    auto decay = std::make_shared<optim::MultiStepLR>(opt, std::vector<int64_t>{2}, 0.5);
    return std::make_unique<optim::SequentialLR>(opt, std::vector<std::shared_ptr<optim::LRScheduler>>{warmup, decay},
                                                 std::vector<int64_t>{2});
  };
  std::vector<Tensor> a = fixture_params(dtype);
  Opt opt_a(a, options);
  auto sched_a = make_scheduler(opt_a);
  for (std::size_t t = 0; t < 5; ++t) {
    set_grads(a, grads[t]);
    opt_a.step();
    sched_a->step();
  }

  std::vector<Tensor> b = fixture_params(dtype);
  Opt opt_b(b, options);
  auto sched_b = make_scheduler(opt_b);
  for (std::size_t t = 0; t < 3; ++t) {
    set_grads(b, grads[t]);
    opt_b.step();
    sched_b->step();
  }
  const optim::StateDict saved = opt_b.state_dict(), saved_sched = sched_b->state_dict();
  std::vector<Tensor> values;  // what the model's own checkpoint would hold
  for (const Tensor& p : b) values.push_back(p.clone());
  // A snapshot is a copy: stepping on does not change it.
  REQUIRE_FALSE(saved.tensors.empty());
  const Tensor first_state = saved.tensors[0].second.clone();
  opt_b.step();
  CHECK(bitwise_equal(saved.tensors[0].second, first_state));

  // Fresh parameters get the step-3 values in place (as nn's load_state_dict copies them).
  std::vector<Tensor> c = fixture_params(dtype);
  for (std::size_t i = 0; i < c.size(); ++i)
    std::memcpy(c[i].raw_data(), values[i].raw_data(), static_cast<std::size_t>(c[i].numel()) * dtype_size(dtype));
  Opt opt_c(c, options);
  auto sched_c = make_scheduler(opt_c);
  opt_c.load_state_dict(saved);
  sched_c->load_state_dict(saved_sched);
  CHECK(opt_c.lr(0) == *saved.find_scalar("param_groups.0.lr"));
  for (std::size_t t = 3; t < 5; ++t) {
    set_grads(c, grads[t]);
    opt_c.step();
    sched_c->step();
  }
  for (std::size_t i = 0; i < c.size(); ++i) {
    CAPTURE(i);
    CHECK(bitwise_equal(c[i], a[i]));
  }
  CHECK(sched_c->get_last_lr() == sched_a->get_last_lr());
  CHECK(opt_c.lr(0) == opt_a.lr(0));
}

}  // namespace

TEST_CASE("state_dict: keys and values as PyTorch names them") {
  std::vector<Tensor> ps = fixture_params(kFloat64);
  optim::Adam opt(ps, {.lr = 0.05, .betas = {0.8, 0.99}, .amsgrad = true});
  set_grads(ps, fx_optim::sgd_plain::grads[0]);
  ps[1].set_grad(Tensor());
  opt.step();
  const optim::StateDict sd = opt.state_dict();
  CHECK(*sd.find_scalar("param_groups.0.num_params") == 2);
  CHECK(*sd.find_scalar("param_groups.0.lr") == 0.05);
  CHECK(*sd.find_scalar("param_groups.0.betas.0") == 0.8);
  CHECK(*sd.find_scalar("param_groups.0.betas.1") == 0.99);
  CHECK(*sd.find_scalar("param_groups.0.amsgrad") == 1);
  CHECK(*sd.find_scalar("state.0.step") == 1);
  REQUIRE(sd.find_tensor("state.0.exp_avg") != nullptr);
  CHECK(bitwise_equal(*sd.find_tensor("state.0.exp_avg"), opt.state(0)->exp_avg));
  CHECK_FALSE(sd.find_tensor("state.0.exp_avg")->is_same(opt.state(0)->exp_avg));  // a copy
  CHECK(sd.find_tensor("state.0.max_exp_avg_sq") != nullptr);
  CHECK(sd.find_scalar("state.1.step") == nullptr);  // no gradient yet: no state
  CHECK(sd.find_scalar("param_groups.0.initial_lr") == nullptr);
  optim::CosineAnnealingLR sched(opt, 10);
  CHECK(*opt.state_dict().find_scalar("param_groups.0.initial_lr") == 0.05);
}

TEST_CASE("state_dict round trip: a resumed run is bit-identical to an uninterrupted one") {
  for (DType dtype : {kFloat64, kFloat32}) {
    CAPTURE(dtype_name(dtype));
    check_resume<optim::SGD>(optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-2, .nesterov = true},
                             dtype);
    check_resume<optim::Adam>(optim::AdamOptions{.lr = 0.05, .weight_decay = 0.1, .amsgrad = true}, dtype);
    check_resume<optim::AdamW>(optim::AdamWOptions{.lr = 0.05}, dtype);
  }
}

TEST_CASE("load_state_dict: clear errors on mismatched state, and nothing changed") {
  std::vector<Tensor> ps = fixture_params(kFloat64);
  optim::SGD saved_opt(ps, {.lr = 0.1, .momentum = 0.9});
  set_grads(ps, fx_optim::sgd_plain::grads[0]);
  saved_opt.step();
  const optim::StateDict sd = saved_opt.state_dict();

  SUBCASE("parameter shapes differ") {
    Tensor w = zeros({2, 3}, kFloat64).requires_grad_(), b = zeros({4}, kFloat64).requires_grad_();
    optim::SGD opt({w, b}, {.lr = 0.3}, {"fc.weight", "fc.bias"});
    CHECK_THROWS_WITH_AS(opt.load_state_dict(sd), doctest::Contains("state.0.momentum_buffer has shape [3, 2] but "
                         "parameter 0 (fc.weight) has shape [2, 3]"), Error);
    CHECK(opt.lr(0) == 0.3);  // unchanged
    CHECK_FALSE(opt.state(0).has_value());
  }
  SUBCASE("other groups") {
    std::vector<Tensor> qs = fixture_params(kFloat64);
    optim::SGD opt(std::vector<optim::SGD::ParamGroup>{{{qs[0]}}, {{qs[1]}}}, {.lr = 0.3});
    CHECK_THROWS_WITH_AS(opt.load_state_dict(sd), doctest::Contains("parameter group 0 has 1 parameters but the "
                         "state dict's param_groups.0.num_params is 2"), Error);
    optim::SGD one({fixture_params(kFloat64)[0]}, {.lr = 0.3});
    CHECK_THROWS_WITH_AS(one.load_state_dict(sd), doctest::Contains("parameter group 0 has 1 parameters"), Error);
  }
  SUBCASE("another kind of optimiser") {
    optim::Adam opt(fixture_params(kFloat64));
    CHECK_THROWS_WITH_AS(opt.load_state_dict(sd), doctest::Contains("no key param_groups.0.betas.0"), Error);
  }
  SUBCASE("an unexpected key") {
    optim::StateDict bad = sd;
    bad.add("state.0.bogus", 1.0);
    optim::SGD opt(fixture_params(kFloat64), {.lr = 0.3});
    CHECK_THROWS_WITH_AS(opt.load_state_dict(bad), doctest::Contains("unexpected key state.0.bogus"), Error);
    CHECK(opt.lr(0) == 0.3);
  }
  SUBCASE("partial state") {
    std::vector<Tensor> qs = fixture_params(kFloat64);
    optim::Adam adam(qs, {.amsgrad = false});
    set_grads(qs, fx_optim::sgd_plain::grads[0]);
    adam.step();
    optim::StateDict bad = adam.state_dict();
    for (auto& [k, v] : bad.scalars)
      if (k == "param_groups.0.amsgrad") v = 1;
    optim::Adam fresh(fixture_params(kFloat64));
    CHECK_THROWS_WITH_AS(fresh.load_state_dict(bad), doctest::Contains("state for parameter 0 but no "
                         "state.0.max_exp_avg_sq"), Error);
  }
  SUBCASE("bad values") {
    optim::StateDict bad = sd;
    for (auto& [k, v] : bad.scalars)
      if (k == "param_groups.0.nesterov") v = 0.5;
    optim::SGD opt(fixture_params(kFloat64), {.lr = 0.3});
    CHECK_THROWS_WITH_AS(opt.load_state_dict(bad), doctest::Contains("param_groups.0.nesterov is a flag"), Error);
    for (auto& [k, v] : bad.scalars)
      if (k == "param_groups.0.nesterov") v = 1;
    for (auto& [k, v] : bad.scalars)
      if (k == "param_groups.0.momentum") v = 0;
    CHECK_THROWS_WITH_AS(opt.load_state_dict(bad), doctest::Contains("Nesterov momentum requires"), Error);
  }
  SUBCASE("a float32 state loads into float64 parameters, converted") {
    std::vector<Tensor> qs = fixture_params(kFloat32);
    optim::SGD f32(qs, {.lr = 0.1, .momentum = 0.9});
    set_grads(qs, fx_optim::sgd_plain::grads[0]);
    f32.step();
    optim::SGD opt(fixture_params(kFloat64), {.lr = 0.3});
    opt.load_state_dict(f32.state_dict());
    CHECK(opt.state(0)->momentum_buffer.dtype() == kFloat64);
    CHECK(opt.lr(0) == 0.1);
  }
}

// ---- errors ----

TEST_CASE("bad options and parameters are rejected with a message that names them") {
  Tensor p = zeros({2}).requires_grad_();
  CHECK_THROWS_WITH_AS(optim::SGD({p}, {}), doctest::Contains("lr was not set"), Error);
  CHECK_THROWS_WITH_AS(optim::SGD({p}, {.lr = -0.1}), doctest::Contains("invalid learning rate -0.1"), Error);
  CHECK_THROWS_WITH_AS(optim::SGD({p}, {.lr = 0.1, .momentum = -1}), doctest::Contains("invalid momentum -1"), Error);
  CHECK_THROWS_WITH_AS(optim::SGD({p}, {.lr = 0.1, .weight_decay = -1}), doctest::Contains("invalid weight_decay"), Error);
  CHECK_THROWS_WITH_AS(optim::SGD({p}, {.lr = 0.1, .nesterov = true}),
                       doctest::Contains("Nesterov momentum requires momentum > 0 and dampening = 0"), Error);
  CHECK_THROWS_WITH_AS(optim::SGD({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                       doctest::Contains("got momentum 0.9 and dampening 0.1"), Error);
  CHECK_THROWS_WITH_AS(optim::Adam({p}, {.betas = {0.9, 1.0}}), doctest::Contains("invalid beta at index 1: 1"), Error);
  CHECK_THROWS_WITH_AS(optim::Adam({p}, {.eps = -1e-8}), doctest::Contains("invalid eps"), Error);
  CHECK_THROWS_WITH_AS(optim::AdamW({p}, {.lr = -1}), doctest::Contains("AdamW: invalid learning rate -1"), Error);
  CHECK_THROWS_WITH_AS(optim::Adam(std::vector<Tensor>{}), doctest::Contains("empty parameter list"), Error);
  // A group's own options are checked too.
  CHECK_THROWS_WITH_AS(optim::SGD({{{p}, optim::SGDOptions{.lr = -2}}}, {.lr = 0.1}),
                       doctest::Contains("invalid learning rate -2"), Error);

  Tensor q = zeros({2}).requires_grad_();
  CHECK_THROWS_WITH_AS(optim::SGD({p, q, p}, {.lr = 0.1}), doctest::Contains("parameter 2 of group 0 appears "
                       "more than once"), Error);
  CHECK_THROWS_WITH_AS(optim::SGD({p, p.detach()}, {.lr = 0.1}), doctest::Contains("appears more than once"), Error);
  CHECK_THROWS_WITH_AS(optim::SGD({mul(p, 2.0)}, {.lr = 0.1}), doctest::Contains("was made by an op"), Error);
  CHECK_THROWS_WITH_AS(optim::SGD({zeros({2}, kInt64)}, {.lr = 0.1}), doctest::Contains("is int64, expected float32"),
                       Error);
  CHECK_THROWS_WITH_AS(optim::SGD({Tensor()}, {.lr = 0.1}), doctest::Contains("is an undefined Tensor"), Error);
  CHECK_THROWS_WITH_AS(optim::SGD({p, q}, {.lr = 0.1}, {"w"}), doctest::Contains("has 2 parameters but 1 names"),
                       Error);

  optim::SGD opt({p, q}, {.lr = 0.1}, {"w", "b"});
  q.set_grad(zeros({3}));
  CHECK_THROWS_WITH_AS(opt.step(), doctest::Contains("the gradient of parameter 1 (b) is float32 [3] but the "
                       "parameter is float32 [2]"), Error);
  CHECK_THROWS_WITH_AS(opt.set_lr(0, -1), doctest::Contains("must be >= 0"), Error);
}

TEST_CASE("named parameters: the names appear in errors") {
  std::vector<std::pair<std::string, Tensor>> named{{"fc.weight", zeros({2, 2}).requires_grad_()},
                                                    {"fc.bias", zeros({2}).requires_grad_()}};
  optim::AdamW opt(named);
  Tensor(named[1].second).set_grad(zeros({2}, kFloat64));
  CHECK_THROWS_WITH_AS(opt.step(), doctest::Contains("parameter 1 (fc.bias) is float64 [2]"), Error);
}

// ---- end to end ----

TEST_CASE("SGD and Adam minimise a quadratic through autograd") {
  // loss(w) = Σ (w − target)²; its minimum is 0 at w = target.
  for (DType dtype : {kFloat64, kFloat32}) {
    CAPTURE(dtype_name(dtype));
    const Tensor target = from({1, -2, 3, 0.5, -1}, {5}, dtype);
    auto loss_of = [&](const Tensor& w) {
      Tensor d = sub(w, target);
      return sum(mul(d, d));
    };
    auto minimise = [&](optim::Optimizer& opt, const Tensor& w, int steps) {
      double first = 0, last = 0;
      for (int s = 0; s < steps; ++s) {
        opt.zero_grad();
        Tensor loss = loss_of(w);
        loss.backward();
        opt.step();
        (s == 0 ? first : last) = loss.item();
      }
      return std::pair{first, loss_of(w).item()};
    };
    Tensor w1 = zeros({5}, dtype).requires_grad_();
    optim::SGD sgd({w1}, {.lr = 0.1, .momentum = 0.5});
    auto [sgd_first, sgd_last] = minimise(sgd, w1, 100);
    CHECK(sgd_first == doctest::Approx(15.25));
    CHECK(sgd_last < 1e-10);

    Tensor w2 = zeros({5}, dtype).requires_grad_();
    optim::Adam adam({w2}, {.lr = 0.1});
    auto [adam_first, adam_last] = minimise(adam, w2, 500);
    CHECK(adam_first == doctest::Approx(15.25));
    CHECK(adam_last < 1e-6);
  }
}

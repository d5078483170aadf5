// Tests for optim/lr_scheduler.hpp: MultiStepLR, CosineAnnealingLR, LinearLR, SequentialLR.
//
// References: a MultiStepLR schedule worked by hand; PyTorch 1.13's get_last_lr() after
// construction and after each of 30 steps (tests/fixtures/optim_fixtures.hpp, written by
// gen_optim.py; PyTorch's chainable step() against lacoot's closed form, to 1e-12) for two
// parameter groups; state_dict round trips; errors for bad arguments.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "../check.hpp"
#include "../fixtures/optim_fixtures.hpp"
#include "lacoot/optim/lr_scheduler.hpp"
#include "lacoot/optim/sgd.hpp"

using namespace lacoot;
using namespace lacoot::test;
namespace fx_optim = fixtures::optim;
using Schedulers = std::vector<std::shared_ptr<optim::LRScheduler>>;

namespace {

// The fixtures' optimiser: two groups with lr 0.1 and 0.02.
struct TwoGroups {
  Tensor a = zeros({1}).requires_grad_(), b = zeros({1}).requires_grad_();
  optim::SGD opt{{{{a}, optim::SGDOptions{.lr = fx_optim::sched_base_lrs[0]}}, {{b}, optim::SGDOptions{.lr = fx_optim::sched_base_lrs[1]}}},
                 {.lr = fx_optim::sched_base_lrs[0]}};
};

// Construction, then 30 steps; each lr within 1e-12 (relative, with an absolute floor) of PyTorch's.
void check_schedule(optim::LRScheduler& sched, optim::Optimizer& opt, const std::vector<std::vector<double>>& lrs) {
  for (std::size_t e = 0; e < lrs.size(); ++e) {
    if (e > 0) {
      opt.step();
      sched.step();
    }
    CAPTURE(e);
    REQUIRE(sched.get_last_lr().size() == 2);
    CHECK(sched.last_epoch() == static_cast<int64_t>(e));
    for (std::size_t g = 0; g < 2; ++g) {
      CAPTURE(g);
      CHECK(std::abs(sched.get_last_lr()[g] - lrs[e][g]) <= 1e-12 * (1 + std::abs(lrs[e][g])));
      CHECK(opt.lr(g) == sched.get_last_lr()[g]);
      CHECK(sched.lr_at(static_cast<int64_t>(e), g) == sched.get_last_lr()[g]);
    }
  }
}

std::unique_ptr<optim::SequentialLR> warmup_cosine(optim::Optimizer& opt) {
  using C = fx_optim::warmup_cosine;
  auto warmup = std::make_shared<optim::LinearLR>(opt, C::start_factor, 1.0, C::warmup);
  auto cosine = std::make_shared<optim::CosineAnnealingLR>(opt, C::T_max);
  return std::make_unique<optim::SequentialLR>(opt, Schedulers{warmup, cosine}, std::vector<int64_t>{C::warmup});
}

}  // namespace

TEST_CASE("MultiStepLR: a schedule worked by hand") {
  // lr 1, milestones {2, 4}, gamma 0.1: epochs 0-1 give 1, 2-3 give 0.1, 4 on give 0.01.
  Tensor p = zeros({1}).requires_grad_();
  optim::SGD opt({p}, {.lr = 1});
  optim::MultiStepLR sched(opt, {4, 2}, 0.1);  // the milestones are sorted
  std::vector<double> got{opt.lr(0)};
  for (int e = 1; e <= 5; ++e) {
    sched.step();
    got.push_back(opt.lr(0));
  }
  const std::vector<double> want{1, 1, 0.1, 0.1, 0.01, 0.01};
  for (std::size_t e = 0; e < want.size(); ++e) CHECK(got[e] == doctest::Approx(want[e]).epsilon(1e-15));
  CHECK(opt.initial_lr(0) == 1.0);
}

TEST_CASE("schedules match torch.optim.lr_scheduler over 30 steps, two parameter groups") {
  TwoGroups t;
  SUBCASE("MultiStepLR, a milestone listed twice") {
    optim::MultiStepLR s(t.opt, fx_optim::multistep::milestones, fx_optim::multistep::gamma);
    check_schedule(s, t.opt, fx_optim::multistep::lrs);
  }
  SUBCASE("CosineAnnealingLR, past T_max it rises again") {
    optim::CosineAnnealingLR s(t.opt, fx_optim::cosine::T_max, fx_optim::cosine::eta_min);
    check_schedule(s, t.opt, fx_optim::cosine::lrs);
  }
  SUBCASE("CosineAnnealingLR over the whole run") {
    optim::CosineAnnealingLR s(t.opt, fx_optim::cosine_long::T_max, fx_optim::cosine_long::eta_min);
    check_schedule(s, t.opt, fx_optim::cosine_long::lrs);
  }
  SUBCASE("LinearLR warm-up") {
    using C = fx_optim::linear_warmup;
    optim::LinearLR s(t.opt, C::start_factor, C::end_factor, C::total_iters);
    check_schedule(s, t.opt, C::lrs);
  }
  SUBCASE("LinearLR decay") {
    using C = fx_optim::linear_decay;
    optim::LinearLR s(t.opt, C::start_factor, C::end_factor, C::total_iters);
    check_schedule(s, t.opt, C::lrs);
  }
  SUBCASE("SequentialLR: linear warm-up, then cosine") {
    auto s = warmup_cosine(t.opt);
    check_schedule(*s, t.opt, fx_optim::warmup_cosine::lrs);
  }
  SUBCASE("SequentialLR: warm-up, step decay, cosine") {
    using C = fx_optim::three_phase;
    auto a = std::make_shared<optim::LinearLR>(t.opt, C::start_factor, 1.0, C::warmup);
    auto b = std::make_shared<optim::MultiStepLR>(t.opt, std::vector<int64_t>{5}, C::gamma);
    auto c = std::make_shared<optim::CosineAnnealingLR>(t.opt, C::T_max, C::eta_min);
    optim::SequentialLR s(t.opt, {a, b, c}, {C::warmup, C::milestone2});
    check_schedule(s, t.opt, C::lrs);
    // The active schedule follows on its own epoch count.
    CHECK(c->last_epoch() == 30 - C::milestone2);
    CHECK(c->get_last_lr() == s.get_last_lr());
  }
}

TEST_CASE("scheduler state_dict: a resumed schedule continues exactly") {
  TwoGroups full;
  auto a = warmup_cosine(full.opt);
  std::vector<double> want;
  for (int e = 1; e <= 30; ++e) {
    a->step();
    if (e > 7) want.push_back(a->get_last_lr()[1]);
  }
  TwoGroups first;
  auto b = warmup_cosine(first.opt);
  for (int e = 1; e <= 7; ++e) b->step();
  const optim::StateDict sd = b->state_dict();
  CHECK(*sd.find_scalar("last_epoch") == 7);
  CHECK(*sd.find_scalar("base_lrs.1") == fx_optim::sched_base_lrs[1]);
  CHECK(*sd.find_scalar("schedulers.1.last_epoch") == 2);

  TwoGroups resumed;
  auto c = warmup_cosine(resumed.opt);
  c->load_state_dict(sd);
  CHECK(c->last_epoch() == 7);
  CHECK(resumed.opt.lr(1) == first.opt.lr(1));  // restored without the optimiser's own state
  std::vector<double> got;
  for (int e = 8; e <= 30; ++e) {
    c->step();
    got.push_back(c->get_last_lr()[1]);
  }
  CHECK(got == want);
}

TEST_CASE("scheduler errors name the argument and the fix") {
  TwoGroups t;
  CHECK_THROWS_WITH_AS(optim::LinearLR(t.opt, 0.0), doctest::Contains("start_factor must be in (0, 1], got 0"), Error);
  CHECK_THROWS_WITH_AS(optim::LinearLR(t.opt, 0.5, 1.5), doctest::Contains("end_factor must be in [0, 1]"), Error);
  CHECK_THROWS_WITH_AS(optim::LinearLR(t.opt, 0.5, 1.0, 0), doctest::Contains("total_iters must be > 0"), Error);
  CHECK_THROWS_WITH_AS(optim::CosineAnnealingLR(t.opt, 0), doctest::Contains("T_max must be > 0"), Error);

  auto w = std::make_shared<optim::LinearLR>(t.opt);
  auto c = std::make_shared<optim::CosineAnnealingLR>(t.opt, 10);
  CHECK_THROWS_WITH_AS(optim::SequentialLR(t.opt, {w, c}, {}), doctest::Contains("expected one milestone fewer than "
                       "schedulers, got 2 schedulers and 0 milestones"), Error);
  CHECK_THROWS_WITH_AS(optim::SequentialLR(t.opt, {w, c, c}, {5, 3}), doctest::Contains("milestones must be positive "
                       "and increasing, got 3 at index 1"), Error);
  TwoGroups other;
  auto foreign = std::make_shared<optim::CosineAnnealingLR>(other.opt, 10);
  CHECK_THROWS_WITH_AS(optim::SequentialLR(t.opt, {w, foreign}, {5}), doctest::Contains("scheduler 1 "
                       "(CosineAnnealingLR) belongs to another optimiser"), Error);

  optim::CosineAnnealingLR s(t.opt, 10);
  s.step();
  optim::StateDict sd = s.state_dict();
  sd.add("base_lrs.2", 0.1);
  CHECK_THROWS_WITH_AS(s.load_state_dict(sd), doctest::Contains("has base_lrs.2 but the optimiser has only 2"), Error);
  CHECK(s.last_epoch() == 1);
  optim::StateDict missing;
  missing.add("last_epoch", 3.0);
  CHECK_THROWS_WITH_AS(s.load_state_dict(missing), doctest::Contains("no key base_lrs.0"), Error);
  CHECK(s.last_epoch() == 1);
  optim::StateDict seq = warmup_cosine(t.opt)->state_dict();
  CHECK_THROWS_WITH_AS(s.load_state_dict(seq), doctest::Contains("unexpected key schedulers.0.last_epoch"), Error);
  CHECK_THROWS_WITH_AS(s.lr_at(-1, 0), doctest::Contains("needs an epoch >= 0"), Error);
}

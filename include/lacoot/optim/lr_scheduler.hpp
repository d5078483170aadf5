// lacoot/optim/lr_scheduler.hpp — learning-rate schedules that set each parameter group's lr.
//
// Holds: LRScheduler (the base: step, get_last_lr, state_dict), MultiStepLR, CosineAnnealingLR,
// LinearLR (linear warm-up or decay) and SequentialLR (one schedule after another, e.g. warm-up
// then cosine), as torch.optim.lr_scheduler (1.13) defines them.
// Needs: optim/optimizer.hpp (Optimizer's lr / initial_lr per group, StateDict).
// Leaves out: the other PyTorch schedules (LambdaLR, OneCycleLR, ReduceLROnPlateau, ...),
// ChainedScheduler, and two schedulers acting on one optimiser at once.
//
// A schedule is a function lr(e) of the step count e = last_epoch (0 after construction, +1
// per step()); whether one step is an epoch or an iteration is the caller's choice. lacoot
// evaluates each schedule in closed form, from the group's initial lr (PyTorch's
// `_get_closed_form_lr`). PyTorch's step() uses the chainable form, which multiplies the
// group's current lr by a ratio; the two agree in exact arithmetic (the tests hold lacoot to
// PyTorch's step() values within 1e-12), and the closed form makes a resumed run depend only
// on last_epoch. As in PyTorch, construction counts as the first step (lr = lr(0)), and
// the usual loop is: optimiser.step(), then scheduler.step(). A scheduler keeps a pointer to
// its optimiser, which must outlive it.
//
// The LaCoOT CIFAR recipe (METHOD.md §5), stepped once per epoch:
//   optim::SGD opt(params, {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-4});
//   optim::MultiStepLR sched(opt, {80, 120}, 0.1);
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "optimizer.hpp"

namespace lacoot::optim {

class SequentialLR;

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // Advances the schedule by one and sets each group's lr to lr_at(last_epoch, group).
  void step() {
    ++last_epoch_;
    apply();
  }
  // The lr of each group as the last step (or the constructor) set it.
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  // Each group's initial lr, from which the schedule is computed.
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  Optimizer& optimizer() const { return *optimizer_; }
  const std::string& name() const { return name_; }

  // The lr this schedule gives `group` after `epoch` steps (closed form; epoch ≥ 0).
  virtual double lr_at(int64_t epoch, std::size_t group) const = 0;

  // Scalars "last_epoch" and "base_lrs.G" (SequentialLR adds "schedulers.K.*"); the options
  // (milestones, T_max, ...) come from the constructor, as in LibTorch.
  StateDict state_dict() const {
    StateDict sd;
    save("", sd);
    return sd;
  }
  // Restores last_epoch and base_lrs, and sets each group's lr to lr_at(last_epoch), the value
  // the saved run had; loading the optimiser's own state dict restores the same lr. On error
  // the scheduler is left as it was.
  void load_state_dict(const StateDict& sd) {
    const StateDict before = state_dict();
    try {
      detail::StateDictReader in(sd, name_ + ".load_state_dict");
      load("", in);
      in.check_all_used();
    } catch (...) {
      detail::StateDictReader back(before, name_);
      load("", back);
      throw;
    }
    apply();
  }

 protected:
  // Records each group's initial lr (setting Optimizer::initial_lr on the first scheduler, as
  // PyTorch's group.setdefault('initial_lr', group['lr'])). Derived constructors end with
  // initial_step(), once their own fields are set.
  LRScheduler(Optimizer& optimizer, std::string name) : optimizer_(&optimizer), name_(std::move(name)) {
    for (std::size_t g = 0; g < optimizer.num_param_groups(); ++g) {
      if (!optimizer.initial_lr(g)) optimizer.set_initial_lr(g, optimizer.lr(g));
      base_lrs_.push_back(*optimizer.initial_lr(g));
    }
  }
  void initial_step() {
    last_epoch_ = 0;
    apply();
  }
  virtual void apply() {
    last_lr_.clear();
    for (std::size_t g = 0; g < base_lrs_.size(); ++g) {
      const double lr = lr_at(last_epoch_, g);
      optimizer_->set_lr(g, lr);
      last_lr_.push_back(lr);
    }
  }
  virtual void save(const std::string& prefix, StateDict& sd) const {
    sd.add(prefix + "last_epoch", static_cast<double>(last_epoch_));
    for (std::size_t g = 0; g < base_lrs_.size(); ++g) sd.add(prefix + "base_lrs." + std::to_string(g), base_lrs_[g]);
  }
  virtual void load(const std::string& prefix, detail::StateDictReader& in) {
    const double e = in.require_scalar(prefix + "last_epoch", "not a scheduler's state dict?");
    LACOOT_CHECK(e >= 0 && e == std::floor(e), in.who(), ": ", prefix, "last_epoch should be a whole number >= 0, "
                 "found ", e);
    const std::string next = prefix + "base_lrs." + std::to_string(base_lrs_.size());
    LACOOT_CHECK(!in.has(next), in.who(), ": the state dict has ", next, " but the optimiser has only ",
                 base_lrs_.size(), " parameter groups");
    std::vector<double> base(base_lrs_.size());
    for (std::size_t g = 0; g < base.size(); ++g)
      base[g] = in.require_scalar(prefix + "base_lrs." + std::to_string(g), "saved over fewer parameter groups?");
    last_epoch_ = static_cast<int64_t>(e);
    base_lrs_ = std::move(base);
  }
  void check_epoch(int64_t epoch) const {
    LACOOT_CHECK(epoch >= 0, name_, ": lr_at needs an epoch >= 0, got ", epoch);
  }

  Optimizer* optimizer_;
  std::string name_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = -1;
  std::vector<double> last_lr_;

  friend class SequentialLR;
};

// lr = base_lr · gamma^(number of milestones ≤ epoch): decays by gamma at each milestone
// (a milestone listed twice counts twice, as PyTorch's Counter does).
// https://pytorch.org/docs/1.13/generated/torch.optim.lr_scheduler.MultiStepLR.html
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1)
      : LRScheduler(optimizer, "MultiStepLR"), milestones_(std::move(milestones)), gamma_(gamma) {
    std::sort(milestones_.begin(), milestones_.end());
    initial_step();
  }
  double lr_at(int64_t epoch, std::size_t group) const override {
    check_epoch(epoch);
    const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin();
    return base_lrs_[group] * std::pow(gamma_, static_cast<double>(passed));
  }

 private:
  std::vector<int64_t> milestones_;
  double gamma_;
};

// lr = eta_min + (base_lr − eta_min) · (1 + cos(π · epoch / T_max)) / 2: half a cosine from
// base_lr down to eta_min over T_max steps (SGDR without restarts; Loshchilov & Hutter,
// arXiv 1608.03983). Past T_max the cosine carries on and rises again, as in PyTorch.
// https://pytorch.org/docs/1.13/generated/torch.optim.lr_scheduler.CosineAnnealingLR.html
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0)
      : LRScheduler(optimizer, "CosineAnnealingLR"), T_max_(T_max), eta_min_(eta_min) {
    LACOOT_CHECK(T_max > 0, name_, ": T_max must be > 0 (the number of steps from base_lr to eta_min), got ", T_max);
    initial_step();
  }
  double lr_at(int64_t epoch, std::size_t group) const override {
    check_epoch(epoch);
    const double c = std::cos(std::numbers::pi * static_cast<double>(epoch) / static_cast<double>(T_max_));
    return eta_min_ + (base_lrs_[group] - eta_min_) * (1 + c) / 2;
  }

 private:
  int64_t T_max_;
  double eta_min_;
};

// lr = base_lr · (start_factor + (end_factor − start_factor) · min(epoch, total_iters) / total_iters):
// a linear ramp over total_iters steps, then constant; warm-up when start_factor < end_factor.
// https://pytorch.org/docs/1.13/generated/torch.optim.lr_scheduler.LinearLR.html
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0, int64_t total_iters = 5)
      : LRScheduler(optimizer, "LinearLR"), start_(start_factor), end_(end_factor), total_(total_iters) {
    LACOOT_CHECK(start_factor > 0 && start_factor <= 1, name_, ": start_factor must be in (0, 1], got ",
                 start_factor, " (hint: 0 would leave the chainable PyTorch form stuck at lr 0)");
    LACOOT_CHECK(end_factor >= 0 && end_factor <= 1, name_, ": end_factor must be in [0, 1], got ", end_factor);
    LACOOT_CHECK(total_iters > 0, name_, ": total_iters must be > 0, got ", total_iters);
    initial_step();
  }
  double lr_at(int64_t epoch, std::size_t group) const override {
    check_epoch(epoch);
    const double done = static_cast<double>(std::min(total_, epoch));
    return base_lrs_[group] * (start_ + (end_ - start_) * done / static_cast<double>(total_));
  }

 private:
  double start_, end_;
  int64_t total_;
};

// Schedule k runs from milestones[k − 1] (its own epoch 0) up to milestones[k]; the first runs
// from 0. Warm-up for 5 steps, then a cosine over the remaining 95:
//   auto warmup = std::make_shared<optim::LinearLR>(opt, 0.1, 1.0, 5);
//   auto cosine = std::make_shared<optim::CosineAnnealingLR>(opt, 95);
//   optim::SequentialLR sched(opt, {warmup, cosine}, {5});
// The schedules must be built on `optimizer`; building them sets the lr, which this
// constructor then resets to the first schedule's lr(0), as PyTorch's does.
// https://pytorch.org/docs/1.13/generated/torch.optim.lr_scheduler.SequentialLR.html
class SequentialLR : public LRScheduler {
 public:
  SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
               std::vector<int64_t> milestones)
      : LRScheduler(optimizer, "SequentialLR"), schedulers_(std::move(schedulers)), milestones_(std::move(milestones)) {
    LACOOT_CHECK(!schedulers_.empty(), name_, ": got no schedulers");
    LACOOT_CHECK(milestones_.size() + 1 == schedulers_.size(), name_, ": expected one milestone fewer than "
                 "schedulers, got ", schedulers_.size(), " schedulers and ", milestones_.size(), " milestones");
    for (std::size_t k = 0; k < schedulers_.size(); ++k) {
      LACOOT_CHECK(schedulers_[k] != nullptr, name_, ": scheduler ", k, " is null");
      LACOOT_CHECK(&schedulers_[k]->optimizer() == &optimizer, name_, ": scheduler ", k, " (",
                   schedulers_[k]->name(), ") belongs to another optimiser; all must share the one passed here");
    }
    for (std::size_t k = 0; k < milestones_.size(); ++k)
      LACOOT_CHECK(milestones_[k] > (k == 0 ? 0 : milestones_[k - 1]), name_, ": milestones must be positive "
                   "and increasing, got ", milestones_[k], " at index ", k);
    initial_step();
  }
  double lr_at(int64_t epoch, std::size_t group) const override {
    check_epoch(epoch);
    const std::size_t k = active(epoch);
    return schedulers_[k]->lr_at(local_epoch(epoch, k), group);
  }
  const std::vector<std::shared_ptr<LRScheduler>>& schedulers() const { return schedulers_; }

 protected:
  // Also moves the active schedule to its own epoch, so that its get_last_lr() agrees.
  void apply() override {
    LRScheduler::apply();
    LRScheduler& s = *schedulers_[active(last_epoch_)];
    s.last_epoch_ = local_epoch(last_epoch_, active(last_epoch_));
    s.last_lr_ = last_lr_;
  }
  void save(const std::string& prefix, StateDict& sd) const override {
    LRScheduler::save(prefix, sd);
    for (std::size_t k = 0; k < schedulers_.size(); ++k) schedulers_[k]->save(prefix + "schedulers." + std::to_string(k) + ".", sd);
  }
  void load(const std::string& prefix, detail::StateDictReader& in) override {
    LRScheduler::load(prefix, in);
    for (std::size_t k = 0; k < schedulers_.size(); ++k) schedulers_[k]->load(prefix + "schedulers." + std::to_string(k) + ".", in);
  }

 private:
  std::size_t active(int64_t epoch) const {
    return static_cast<std::size_t>(std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin());
  }
  int64_t local_epoch(int64_t epoch, std::size_t k) const { return k == 0 ? epoch : epoch - milestones_[k - 1]; }

  std::vector<std::shared_ptr<LRScheduler>> schedulers_;
  std::vector<int64_t> milestones_;
};

}  // namespace lacoot::optim

// lacoot/train/epoch.hpp — one epoch of supervised training, and evaluation.
//
// Holds: EpochResult, StepHooks, train_epoch and evaluate. Both take any loader whose
// iteration yields batches with `.images` [B, C, H, W] and `.labels` [B] (data_loaders/
// DataLoader does), so this header needs no data_loaders include. Batches go to the model's
// device (nn::device_of), without blocking: a loader's pinned batch (pin_memory) is copied while
// the GPU still works on the previous step; the metrics count on the host.
// Needs: nn/module.hpp, optim/optimizer.hpp, optim/lr_scheduler.hpp, ops/elementwise.hpp, ops/loss.hpp,
// train/metrics.hpp, train/progress.hpp.
// Leaves out: the regulariser's term itself (lacoot/method adds it through StepHooks::extra_loss),
// checkpoints (train/checkpoint.hpp), the collectives of distributed training (distributed/ddp.hpp
// sets the three hooks it needs: before_forward, after_backward, all_ranks).
//
// A step is the usual one: logits = model(images); loss = cross_entropy(logits, labels)
// [+ extra_loss()]; a non-finite loss stops the run with the step number (a lacoot::Error),
// before it can reach the weights; zero_grad; backward; optimizer.step(); then the
// per-iteration scheduler, if any, steps.
#pragma once

#include <cmath>
#include <functional>
#include <optional>
#include <string>

#include "../autograd/engine.hpp"
#include "../nn/module.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/loss.hpp"
#include "../optim/lr_scheduler.hpp"
#include "../optim/optimizer.hpp"
#include "metrics.hpp"
#include "progress.hpp"

namespace lacoot::train {

struct EpochResult {
  double loss = 0;   // mean cross-entropy over the samples seen (without the extra term)
  double extra = 0;  // mean of the extra term (the regulariser λ·R), 0 without one
  double top1 = 0, top5 = 0;  // percent
  int64_t images = 0;
  int64_t steps = 0;           // batches taken, skipped ones included
  int64_t skipped_nonfinite = 0;  // batches of NaN / infinite loss passed over (skip_nonfinite)
  double seconds = 0;
  double images_per_second() const { return seconds > 0 ? static_cast<double>(images) / seconds : 0.0; }
};

struct StepHooks {
  // Called after the forward pass of every training step; the returned scalar is added to the
  // loss (LaCoOT's λ·R). Empty: cross-entropy alone.
  std::function<Tensor()> extra_loss = {};
  // Stepped once per iteration (cosine decay per iteration); null for per-epoch schedules,
  // which the caller steps after the epoch.
  optim::LRScheduler* per_step_scheduler = nullptr;
  // Stop after this many steps in the epoch (0: the whole epoch): `--max-steps` for benchmarks.
  int64_t max_steps = 0;
  // Pass over the first batches without training on them: a run resumed mid-epoch continues
  // with the batch it would have taken next (the loader's order depends only on seed and epoch).
  int64_t skip_steps = 0;
  // The progress line's label ("epoch 3/8"); empty: no progress output.
  std::string label = {};
  // Called after every step with its 1-based number in the epoch (skipped steps included) and
  // its cross-entropy.
  std::function<void(int64_t step, double loss)> on_step = {};
  // A NaN or infinite loss stops training with an Error naming the step and `last_checkpoint`
  // (where the caller last saved a good state; empty: none yet). With skip_nonfinite the batch
  // is passed over instead — no update, counted in EpochResult::skipped_nonfinite, the
  // schedule and the step count moving on as for any batch, so a resume lands where it should.
  bool skip_nonfinite = false;
  std::string last_checkpoint = {};
  // Data-parallel training (distributed::DistributedDataParallel::attach sets them): called
  // before every forward pass; after every backward pass, before the optimiser's step; and to
  // make all ranks take the same decision about a batch (true on every rank iff true on every
  // rank), so that a NaN on one rank skips or stops the step on all of them.
  std::function<void()> before_forward = {};
  std::function<void()> after_backward = {};
  std::function<bool(bool)> all_ranks = {};
};

// One pass of `loader` in training mode, updating the model's weights.
template <class Loader>
EpochResult train_epoch(nn::Module& model, optim::Optimizer& optimizer, Loader& loader, const StepHooks& hooks = {}) {
  model.train();
  EpochResult r;
  RunningMean loss_mean, extra_mean;
  Accuracy acc;
  const int64_t remaining = loader.size() - hooks.skip_steps;
  const int64_t total = hooks.max_steps > 0 ? std::min<int64_t>(hooks.max_steps, remaining) : remaining;
  int64_t skipped = 0;
  std::optional<Progress> progress;
  if (!hooks.label.empty()) progress.emplace(hooks.label, total);
  Stopwatch clock;
  const Device device = nn::device_of(model);
  for (auto& batch : loader) {
    if (skipped < hooks.skip_steps) {
      ++skipped;
      continue;
    }
    if (total <= 0) break;
    if (hooks.before_forward) hooks.before_forward();
    Tensor logits = model(batch.images.to(device, /*non_blocking=*/true));
    Tensor loss = cross_entropy(logits, batch.labels.to(device, /*non_blocking=*/true));
    const double ce = loss.item();
    double extra_value = 0;
    if (hooks.extra_loss) {
      Tensor extra = hooks.extra_loss();
      extra_value = extra.item();
      loss = loss + extra;
    }
    const bool finite_here = std::isfinite(ce) && std::isfinite(extra_value);
    const bool finite = hooks.all_ranks ? hooks.all_ranks(finite_here) : finite_here;
    auto shown = [](double v) { return std::isnan(v) ? std::string("NaN") : std::to_string(v); };  // not "-nan"
    LACOOT_CHECK(finite || hooks.skip_nonfinite, "training diverged: the loss is ",
                 finite_here ? "not finite on another rank" : shown(ce),
                 hooks.extra_loss && !finite_here ? " (extra term " + shown(extra_value) + ")" : std::string(),
                 " at step ", hooks.skip_steps + r.steps + 1, " of the epoch; the weights were not updated with it; ",
                 hooks.last_checkpoint.empty() ? std::string("no checkpoint was written yet")
                                               : "the last good checkpoint is " + hooks.last_checkpoint,
                 " (hint: lower the learning rate, or check the inputs for NaN; skip_nonfinite / --skip-nonfinite "
                 "passes over such batches)");
    const int64_t n = batch.labels.size(0);
    if (finite) {
      optimizer.zero_grad();
      loss.backward();
      if (hooks.after_backward) hooks.after_backward();
      optimizer.step();
      loss_mean.add(ce, n);
      extra_mean.add(extra_value, n);
      acc.add(logits.detach(), batch.labels);
    } else {
      ++r.skipped_nonfinite;
    }
    if (hooks.per_step_scheduler) hooks.per_step_scheduler->step();
    r.images += n;
    ++r.steps;
    if (progress) progress->update(r.steps, r.images, loss_mean.mean(), acc.top1_percent());
    if (hooks.on_step) hooks.on_step(hooks.skip_steps + r.steps, ce);
    if (r.steps >= total) break;
  }
  r.seconds = clock.seconds();
  r.loss = loss_mean.mean();
  r.extra = extra_mean.mean();
  r.top1 = acc.top1_percent();
  r.top5 = acc.top5_percent();
  return r;
}

// Mean cross-entropy and top-1 / top-5 of the model in evaluation mode, without gradients.
template <class Loader>
EpochResult evaluate(nn::Module& model, Loader& loader) {
  model.eval();
  NoGradGuard no_grad;
  EpochResult r;
  RunningMean loss_mean;
  Accuracy acc;
  Stopwatch clock;
  const Device device = nn::device_of(model);
  for (auto& batch : loader) {
    Tensor logits = model(batch.images.to(device, /*non_blocking=*/true));
    const int64_t n = batch.labels.size(0);
    loss_mean.add(cross_entropy(logits, batch.labels.to(device, /*non_blocking=*/true)).item(), n);
    acc.add(logits, batch.labels);
    r.images += n;
    ++r.steps;
  }
  r.seconds = clock.seconds();
  r.loss = loss_mean.mean();
  r.top1 = acc.top1_percent();
  r.top5 = acc.top5_percent();
  return r;
}

}  // namespace lacoot::train

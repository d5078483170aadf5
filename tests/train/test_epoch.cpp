// Tests for train/epoch.hpp's handling of a NaN loss: training stops with an Error naming the
// step and the last good checkpoint, and the weights are those before the bad batch; with
// skip_nonfinite the batch is passed over, counted, and the weights are exactly those of a run
// that never saw it.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "lacoot/core/factories.hpp"
#include "lacoot/nn/linear.hpp"
#include "lacoot/ops/elementwise.hpp"
#include "lacoot/ops/reduce.hpp"
#include "lacoot/optim/sgd.hpp"
#include "lacoot/train/epoch.hpp"

using namespace lacoot;

namespace {

struct EpochBatch {
  Tensor images, labels;
};

// The smallest loader train_epoch accepts: a fixed list of batches.
struct ListLoader {
  std::vector<EpochBatch> batches;
  int64_t size() const { return static_cast<int64_t>(batches.size()); }
  auto begin() { return batches.begin(); }
  auto end() { return batches.end(); }
};

// Batch k of 8 rows of 5 features, 3 classes, from the seeded generator; `poisoned` puts a NaN
// into one feature.
EpochBatch batch(uint64_t k, bool poisoned = false) {
  Generator gen(100 + k);
  EpochBatch b{randn({8, 5}, kFloat32, gen), tensor(std::vector<int64_t>{0, 1, 2, 0, 1, 2, 0, 1}, {8})};
  if (poisoned) b.images.at<float>({3, 2}) = std::numeric_limits<float>::quiet_NaN();
  return b;
}

// A fresh Linear(5, 3) with the same weights each time, and an SGD with momentum for it.
struct Setup {
  std::shared_ptr<nn::Linear> model;
  std::unique_ptr<optim::SGD> sgd;
  Setup() {
    manual_seed(7);
    model = std::make_shared<nn::Linear>(5, 3);
    sgd = std::make_unique<optim::SGD>(model->named_parameters(), optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  }
};

double max_difference(nn::Module& a, nn::Module& b) {
  double worst = 0;
  auto sa = a.state_dict(), sb = b.state_dict();
  for (std::size_t i = 0; i < sa.size(); ++i) worst = std::max(worst, max(abs(sa[i].second - sb[i].second)).item());
  return worst;
}

}  // namespace

TEST_CASE("train_epoch: a NaN loss is an Error naming the step and the last checkpoint; weights not updated by it") {
  Setup bad, reference;
  ListLoader poisoned{{batch(0), batch(1), batch(2, true), batch(3)}}, first_two{{batch(0), batch(1)}};
  train::StepHooks hooks;
  hooks.last_checkpoint = "runs/x/checkpoint.safetensors (step 2)";
  CHECK_THROWS_WITH_AS(train::train_epoch(*bad.model, *bad.sgd, poisoned, hooks),
                       doctest::Contains("loss is NaN at step 3 of the epoch; the weights were not updated with it; "
                                         "the last good checkpoint is runs/x/checkpoint.safetensors (step 2)"),
                       Error);
  train::train_epoch(*reference.model, *reference.sgd, first_two);
  CHECK(max_difference(*bad.model, *reference.model) == 0.0);

  // Resumed past two batches (skip_steps), the step is counted from the epoch's start; with no
  // checkpoint yet, the message says so.
  Setup resumed;
  train::StepHooks later;
  later.skip_steps = 1;
  CHECK_THROWS_WITH_AS(train::train_epoch(*resumed.model, *resumed.sgd, poisoned, later),
                       doctest::Contains("at step 3 of the epoch; the weights were not updated with it; no checkpoint "
                                         "was written yet"),
                       Error);
}

TEST_CASE("train_epoch with skip_nonfinite: the bad batch is counted and skipped, as if it were never there") {
  Setup skipping, reference;
  ListLoader poisoned{{batch(0), batch(1), batch(2, true), batch(3)}}, without{{batch(0), batch(1), batch(3)}};
  train::StepHooks hooks;
  hooks.skip_nonfinite = true;
  int64_t last_step = 0;
  hooks.on_step = [&](int64_t step, double) { last_step = step; };
  const train::EpochResult r = train::train_epoch(*skipping.model, *skipping.sgd, poisoned, hooks);
  CHECK(r.skipped_nonfinite == 1);
  CHECK(r.steps == 4);  // the skipped batch still moves the epoch on (so a resume lands right)
  CHECK(last_step == 4);
  CHECK(std::isfinite(r.loss));
  const train::EpochResult clean = train::train_epoch(*reference.model, *reference.sgd, without);
  CHECK(clean.skipped_nonfinite == 0);
  CHECK(r.loss == doctest::Approx(clean.loss));  // the mean over the batches trained on
  CHECK(max_difference(*skipping.model, *reference.model) == 0.0);
}

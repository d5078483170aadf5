// Tests for train/metrics.hpp and train/progress.hpp, worked by hand.
#include <doctest/doctest.h>

#include <cmath>

#include "../check.hpp"
#include "lacoot/train/metrics.hpp"
#include "lacoot/train/progress.hpp"

using namespace lacoot;
using namespace lacoot::test;

TEST_CASE("topk_correct counts labels among the k largest logits; ties count against the label") {
  // Row 0: label 2 is the largest → top-1 hit. Row 1: label 0 is 2nd largest → top-2 hit only.
  // Row 2: label 1 is the smallest of 3 → a miss even at k = 2. Row 3: all tied, label 2:
  // classes 0 and 1 rank before it → a top-3 hit, top-2 miss.
  Tensor logits = tensor({{0.1, 0.2, 0.9}, {0.5, 0.7, 0.1}, {0.3, -1.0, 0.2}, {1.0, 1.0, 1.0}});
  Tensor labels = tensor(std::vector<int64_t>{2, 0, 1, 2}, {4});
  CHECK(train::topk_correct(logits, labels, 1) == 1);
  CHECK(train::topk_correct(logits, labels, 2) == 2);
  CHECK(train::topk_correct(logits, labels, 3) == 4);
  train::Accuracy acc;
  acc.add(logits, labels);
  CHECK(acc.top1_percent() == doctest::Approx(25.0));
  CHECK(acc.top5_percent() == doctest::Approx(100.0));  // 5 > 3 classes: capped at 3
  // NaN ranks above every number (PyTorch's argmax / topk): a NaN beside the label makes a miss,
  // a NaN label a hit; an all-NaN row scores only for label 0, as argmax's first index would.
  const double nan = std::nan("");
  Tensor diverged = tensor({{0.1, nan, 0.9}, {nan, 0.2, 0.1}, {nan, nan, nan}, {nan, nan, nan}});
  CHECK(train::topk_correct(diverged, tensor(std::vector<int64_t>{2, 0, 2, 0}, {4}), 1) == 2);  // rows 1 and 3
  CHECK(train::topk_correct(diverged, tensor(std::vector<int64_t>{2, 0, 2, 0}, {4}), 2) == 3);  // and row 0
  CHECK_THROWS_WITH_AS(train::topk_correct(logits, tensor(std::vector<int64_t>{2, 0, 3, 2}, {4}), 1),
                       doctest::Contains("label 3 of row 2 is outside [0, 3)"), Error);
}

TEST_CASE("RunningMean weights by sample count; Progress formats durations") {
  train::RunningMean m;
  m.add(1.0, 3);  // a batch of 3 with mean loss 1
  m.add(3.0, 1);
  CHECK(m.mean() == doctest::Approx(1.5));
  CHECK(train::Progress::format_seconds(59.6) == "1:00");
  CHECK(train::Progress::format_seconds(3725) == "1:02:05");
}

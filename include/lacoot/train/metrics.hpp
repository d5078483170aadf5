// lacoot/train/metrics.hpp — what a training loop counts: top-k accuracy and running means.
//
// Holds: topk_correct (how many rows have their label among the k largest logits), Accuracy
// (top-1 and top-5 over an epoch) and RunningMean (a loss averaged over samples).
// Needs: core/ (Tensor).
// Leaves out: calibration, per-class confusion matrices.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../core/tensor.hpp"

namespace lacoot::train {

// Rows of logits [N, classes] whose label (int64 [N]) is among the row's k largest values.
// Ties count against the label (a label tied with the k-th value is a miss unless it comes
// first), so a constant output never scores. NaN ranks above every number, as in PyTorch's
// topk and argmax (a diverged model scores as argmax would score it, not 100 %).
inline int64_t topk_correct(const Tensor& logits, const Tensor& labels, int64_t k) {
  LACOOT_CHECK(logits.dim() == 2 && labels.dim() == 1 && labels.size(0) == logits.size(0) &&
               labels.dtype() == kInt64, "topk_correct: expected logits [N, classes] and int64 labels [N], got ",
               shape_str(logits.shape()), " and ", shape_str(labels.shape()), " ", dtype_name(labels.dtype()));
  const int64_t n = logits.size(0), c = logits.size(1);
  const Tensor l = logits.to(kFloat64).cpu(), on_host = labels.cpu();  // counted on the host
  const double* p = l.data<double>();
  const int64_t* y = on_host.data<int64_t>();
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    LACOOT_CHECK(y[i] >= 0 && y[i] < c, "topk_correct: label ", y[i], " of row ", i, " is outside [0, ", c, ")");
    auto value = [&](int64_t j) {
      const double v = p[i * c + j];
      return std::isnan(v) ? std::numeric_limits<double>::infinity() : v;
    };
    const double target = value(y[i]);
    int64_t above = 0;  // classes that rank before the label
    for (int64_t j = 0; j < c; ++j)
      if (value(j) > target || (value(j) == target && j < y[i])) ++above;
    if (above < k) ++correct;
  }
  return correct;
}

// Top-1 and top-5 accuracy over the batches added so far, in percent.
struct Accuracy {
  int64_t seen = 0, top1 = 0, top5 = 0;
  void add(const Tensor& logits, const Tensor& labels) {
    seen += logits.size(0);
    top1 += topk_correct(logits, labels, 1);
    top5 += topk_correct(logits, labels, std::min<int64_t>(5, logits.size(1)));
  }
  double top1_percent() const { return seen ? 100.0 * static_cast<double>(top1) / static_cast<double>(seen) : 0.0; }
  double top5_percent() const { return seen ? 100.0 * static_cast<double>(top5) / static_cast<double>(seen) : 0.0; }
};

// The mean of values weighted by their sample counts (a batch mean loss counts batch-size times).
struct RunningMean {
  double sum = 0;
  int64_t count = 0;
  void add(double value, int64_t n = 1) {
    sum += value * static_cast<double>(n);
    count += n;
  }
  double mean() const { return count ? sum / static_cast<double>(count) : 0.0; }
};

}  // namespace lacoot::train

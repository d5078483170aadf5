// lacoot/nn/normalization.hpp — BatchNorm2d and LayerNorm.
//
// Holds: BatchNorm2d (weight, bias; buffers running_mean, running_var, num_batches_tracked, as
// torch.nn.BatchNorm2d names them; synchronised statistics across data-parallel replicas, as
// torch.nn.SyncBatchNorm, when given a cross-replica sum) and LayerNorm (weight, bias).
// Needs: nn/module.hpp, ops/norm.hpp, ops/elementwise.hpp, ops/reduce.hpp, ops/shape.hpp.
// Leaves out: momentum = None (the cumulative average) and track_running_stats = false;
// BatchNorm1d (batch_norm itself takes [N, C] inputs).
#pragma once

#include <functional>

#include "../core/factories.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/norm.hpp"
#include "../ops/reduce.hpp"
#include "../ops/shape.hpp"
#include "module.hpp"

namespace lacoot::nn {

// y = (x − E[x]) / √(Var[x] + eps) · weight + bias per channel of x [N, C, H, W].
// Training: batch statistics, and running_* ← (1 − momentum)·running_* + momentum·batch
// (unbiased variance), num_batches_tracked += 1. Evaluation: the running statistics.
// Initialised as PyTorch: weight 1, bias 0, running_mean 0, running_var 1.
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true)
      : Module("BatchNorm2d"), num_features(num_features), eps(eps), momentum(momentum) {
    LACOOT_CHECK(num_features > 0, "BatchNorm2d: num_features must be positive, got ", num_features);
    if (affine) {
      weight = register_parameter("weight", ones({num_features}));
      bias = register_parameter("bias", zeros({num_features}));
    }
    running_mean = register_buffer("running_mean", zeros({num_features}));
    running_var = register_buffer("running_var", ones({num_features}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, kInt64));
  }
  Tensor forward(const Tensor& x) override {
    LACOOT_CHECK(x.dim() == 4 && x.size(1) == num_features, "BatchNorm2d(", num_features,
                 "): expected input [N, ", num_features, ", H, W], got ", shape_str(x.shape()));
    if (is_training()) ++num_batches_tracked.data<int64_t>()[0];
    if (is_training() && cross_replica_sum) return synchronised(x);
    return batch_norm(x, running_mean, running_var, weight, bias, is_training(), momentum, eps);
  }

  const int64_t num_features;
  const double eps, momentum;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  // SyncBatchNorm: distributed::convert_sync_batchnorm sets it to a differentiable sum over the
  // data-parallel replicas (its backward sums the gradients over them). In training, the batch
  // statistics are then those of all the replicas' batches together, so R replicas of b images
  // normalise as one process with R·b; evaluation is unchanged. Unset: this process's batch.
  std::function<Tensor(const Tensor&)> cross_replica_sum;

 private:
  // The statistics over every replica, in two passes (the count and the sum, then the squared
  // deviations from the mean: no cancellation), each one cross-replica sum of [C] values.
  Tensor synchronised(const Tensor& x) {
    const int64_t c = num_features;
    const Shape per_channel{1, c, 1, 1};
    Tensor count = full({1}, static_cast<double>(x.numel() / c), x.dtype(), x.device());
    Tensor totals = cross_replica_sum(cat({sum(x, {0, 2, 3}), count}));
    const double m = narrow(totals, 0, c, 1).item();
    LACOOT_CHECK(m > 1, "BatchNorm2d(", c, "): expected more than 1 value per channel when training, got input ",
                 shape_str(x.shape()), " over every replica");
    Tensor mean = reshape(narrow(totals, 0, 0, c) / m, per_channel);
    Tensor centred = x - mean;
    Tensor var = reshape(cross_replica_sum(sum(centred * centred, {0, 2, 3})) / m, per_channel);  // biased
    Tensor y = centred / sqrt(var + eps);
    if (weight.defined()) y = y * reshape(weight, per_channel) + reshape(bias, per_channel);
    NoGradGuard no_grad;  // running_* ← (1 − momentum)·running_* + momentum·batch (unbiased variance)
    auto update = [&](Tensor& buffer, const Tensor& batch) {
      Tensor next = buffer * (1 - momentum) + reshape(batch.detach(), {c}) * momentum;
      lacoot::detail::copy_bytes(buffer.raw_data(), buffer.device(), next.raw_data(), next.device(), buffer.nbytes());
    };
    update(running_mean, mean);
    update(running_var, var * (m / (m - 1)));
    return y;
  }
};

// y = (x − mean) / √(var + eps) · weight + bias over the trailing normalized_shape dims
// (Ba et al. 2016, arXiv 1607.06450). weight 1, bias 0 at initialisation.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true)
      : Module("LayerNorm"), normalized_shape(std::move(normalized_shape)), eps(eps) {
    if (elementwise_affine) {
      weight = register_parameter("weight", ones(this->normalized_shape));
      bias = register_parameter("bias", zeros(this->normalized_shape));
    }
  }
  Tensor forward(const Tensor& x) override { return layer_norm(x, normalized_shape, weight, bias, eps); }

  const Shape normalized_shape;
  const double eps;
  Tensor weight, bias;
};

}  // namespace lacoot::nn

// lacoot/nn/normalization.hpp — BatchNorm2d and LayerNorm.
//
// Holds: BatchNorm2d (weight, bias; buffers running_mean, running_var, num_batches_tracked, as
// torch.nn.BatchNorm2d names them) and LayerNorm (weight, bias).
// Needs: nn/module.hpp, ops/norm.hpp.
// Leaves out: momentum = None (the cumulative average) and track_running_stats = false;
// BatchNorm1d (batch_norm itself takes [N, C] inputs).
#pragma once

#include "../core/factories.hpp"
#include "../ops/norm.hpp"
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
    return batch_norm(x, running_mean, running_var, weight, bias, is_training(), momentum, eps);
  }

  const int64_t num_features;
  const double eps, momentum;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
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

// lacoot/nn/pooling.hpp — MaxPool2d, AvgPool2d and AdaptiveAvgPool2d as modules.
//
// Holds: the three pooling layers over NCHW inputs, with torch.nn's constructor arguments.
// Needs: nn/module.hpp, ops/pooling.hpp.
// Leaves out: return_indices (max_pool2d_with_indices in ops/ gives them).
#pragma once

#include "../ops/pooling.hpp"
#include "module.hpp"

namespace lacoot::nn {

// MaxPool2d(3, {.stride = 2, .padding = 1}): the ResNet stem's pool.
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(IntPair kernel_size, const MaxPool2dOptions& options = {})
      : Module("MaxPool2d"), kernel_size(kernel_size), options(options) {}
  Tensor forward(const Tensor& x) override { return max_pool2d(x, kernel_size, options); }
  const IntPair kernel_size;
  const MaxPool2dOptions options;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(IntPair kernel_size, const AvgPool2dOptions& options = {})
      : Module("AvgPool2d"), kernel_size(kernel_size), options(options) {}
  Tensor forward(const Tensor& x) override { return avg_pool2d(x, kernel_size, options); }
  const IntPair kernel_size;
  const AvgPool2dOptions options;
};

// AdaptiveAvgPool2d(1): the global average pool before a classifier.
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(IntPair output_size) : Module("AdaptiveAvgPool2d"), output_size(output_size) {}
  Tensor forward(const Tensor& x) override { return adaptive_avg_pool2d(x, output_size); }
  const IntPair output_size;
};

}  // namespace lacoot::nn

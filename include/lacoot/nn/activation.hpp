// lacoot/nn/activation.hpp — activation and dropout layers: modules without parameters.
//
// Holds: ReLU, ReLU6, LeakyReLU, GELU, SiLU, Sigmoid, Tanh, Dropout, StochasticDepth.
// Needs: nn/module.hpp, ops/activation.hpp, ops/dropout.hpp.
// Leaves out: in-place variants (torchvision's inplace = True only saves memory; the values
// are the same).
#pragma once

#include <string>
#include <utility>

#include "../ops/activation.hpp"
#include "../ops/dropout.hpp"
#include "module.hpp"

namespace lacoot::nn {

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override { return relu(x); }
};

// min(max(x, 0), 6): MobileNetV2's activation.
class ReLU6 : public Module {
 public:
  ReLU6() : Module("ReLU6") {}
  Tensor forward(const Tensor& x) override { return relu6(x); }
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : Module("LeakyReLU"), negative_slope(negative_slope) {}
  Tensor forward(const Tensor& x) override { return leaky_relu(x, negative_slope); }
  const double negative_slope;
};

// approximate "none" (the erf form) or "tanh", as torch.nn.GELU.
class GELU : public Module {
 public:
  explicit GELU(std::string approximate = "none") : Module("GELU"), approximate(std::move(approximate)) {}
  Tensor forward(const Tensor& x) override { return gelu(x, approximate); }
  const std::string approximate;
};

class SiLU : public Module {
 public:
  SiLU() : Module("SiLU") {}
  Tensor forward(const Tensor& x) override { return silu(x); }
};

class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& x) override { return sigmoid(x); }
};

class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& x) override { return lacoot::tanh(x); }
};

// Zeroes each element with probability p in training (scaling the rest by 1/(1 − p)); the
// identity in evaluation. The mask comes from the default generator.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5) : Module("Dropout"), p(p) {
    LACOOT_CHECK(p >= 0 && p <= 1, "Dropout: p must be in [0, 1], got ", p);
  }
  Tensor forward(const Tensor& x) override { return dropout(x, p, is_training()); }
  const double p;
};

// Drops a residual branch per sample ("row") or per batch with probability p in training,
// scaling what survives by 1/(1 − p); the identity in evaluation (torchvision.ops.StochasticDepth).
// The survivals come from the default generator.
class StochasticDepth : public Module {
 public:
  explicit StochasticDepth(double p, std::string mode = "row") : Module("StochasticDepth"), p(p), mode(std::move(mode)) {
    LACOOT_CHECK(p >= 0 && p <= 1, "StochasticDepth: p must be in [0, 1], got ", p);
    LACOOT_CHECK(this->mode == "row" || this->mode == "batch", "StochasticDepth: mode must be \"row\" or \"batch\", got \"",
                 this->mode, "\"");
  }
  Tensor forward(const Tensor& x) override { return stochastic_depth(x, p, mode, is_training()); }
  const double p;
  const std::string mode;
};

}  // namespace lacoot::nn

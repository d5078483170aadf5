// lacoot/nn/container.hpp — Sequential, Identity, Flatten and Permute: the glue between layers.
//
// Holds: Sequential (children named "0", "1", ... as torch.nn.Sequential names them, so
// "features.3.conv.1.0.weight" comes out right), Identity (what a collapsed block becomes),
// Flatten, Permute.
// Needs: nn/module.hpp, ops/shape.hpp.
// Leaves out: ModuleList / ModuleDict (a Module with registered children serves).
#pragma once

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "../ops/shape.hpp"
#include "module.hpp"

namespace lacoot::nn {

// Applies its children in order: Sequential({conv, bn, relu}).
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  Sequential(std::initializer_list<ModulePtr> modules) : Module("Sequential") {
    for (const ModulePtr& m : modules) push_back(m);
  }
  // Appends a module under the next index and returns it.
  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    return register_module(std::to_string(named_children().size()), std::move(module));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = x;
    for (auto& [name, m] : named_children()) h = (*m)(h);
    return h;
  }
  std::size_t size() const { return named_children().size(); }
  ModulePtr operator[](std::size_t i) const {
    LACOOT_CHECK(i < size(), "Sequential: index ", i, " is out of range for ", size(), " modules");
    return named_children()[i].second;
  }
};

// y = x. A removed block is replaced by one (Algorithm 1, METHOD.md §3).
class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

// Flattens dims start_dim..end_dim into one (torch.nn.Flatten: start_dim 1 keeps the batch).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : Module("Flatten"), start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& x) override { return flatten(x, start_dim, end_dim); }
  const int64_t start_dim, end_dim;
};

// Reorders the dimensions (torchvision.ops.misc.Permute): Permute({0, 2, 3, 1}) takes NCHW to
// NHWC, as Swin's stem does after its patch convolution.
class Permute : public Module {
 public:
  explicit Permute(std::vector<int64_t> dims) : Module("Permute"), dims(std::move(dims)) {}
  Tensor forward(const Tensor& x) override { return permute(x, dims); }
  const std::vector<int64_t> dims;
};

}  // namespace lacoot::nn

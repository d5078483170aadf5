// lacoot/models/vgg.hpp — VGG-16 and VGG-16-BN (Simonyan & Zisserman, ICLR 2015,
// arXiv 1409.1556) with torchvision's names.
//
// Holds: VGG, VGGOptions, vgg16, vgg16_bn.
// Needs: nn/ (layers, init).
// Leaves out: configurations A, B, E (VGG-11, -13, -19); removable-block marks (VGG has no
// shape-preserving module of its own in torchvision's flat `features`: a conv → BN → ReLU unit
// spans three children, so its collapse is left to the graph transform).
//
// Layout (specs/architectures.md §3): features = configuration D, 3x3 convs (padding 1, with
// bias) each followed by [BN and] ReLU, 2x2 max-pools; avgpool = AdaptiveAvgPool2d(7);
// classifier = Linear(25088, 4096), ReLU, Dropout, Linear(4096, 4096), ReLU, Dropout,
// Linear(4096, classes). `cifar_head` swaps the last two for AdaptiveAvgPool2d(1) and one
// Linear(512, classes) ("classifier.0"), the usual CIFAR head: 32x32 inputs leave features at
// 1x1, where torchvision's head only replicates the pixel 49 times into 123 M weights.
#pragma once

#include <memory>

#include "../nn/activation.hpp"
#include "../nn/container.hpp"
#include "../nn/linear.hpp"
#include "../nn/normalization.hpp"
#include "../nn/pooling.hpp"

namespace lacoot::models {

using namespace lacoot::nn;

struct VGGOptions {
  int64_t num_classes = 1000;
  int64_t in_channels = 3;
  bool batch_norm = false;  // vgg16_bn
  bool cifar_head = false;  // global pool + Linear(512, classes); see the header comment
  double dropout = 0.5;
};

class VGG : public Module {
 public:
  explicit VGG(const VGGOptions& o = {}) : Module("VGG"), options(o) {
    // Configuration D: channels of each conv, 0 for a max-pool.
    const int64_t cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
    features = register_module("features", std::make_shared<Sequential>());
    int64_t in = o.in_channels;
    for (int64_t c : cfg) {
      if (c == 0) {
        features->push_back(std::make_shared<MaxPool2d>(2, MaxPool2dOptions{.stride = 2}));
        continue;
      }
      features->push_back(std::make_shared<Conv2d>(in, c, 3, Conv2dModuleOptions{.padding = 1}));
      if (o.batch_norm) features->push_back(std::make_shared<BatchNorm2d>(c));
      features->push_back(std::make_shared<ReLU>());
      in = c;
    }
    if (o.cifar_head) {
      avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
      classifier = register_module("classifier", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
          std::make_shared<Linear>(512, o.num_classes)}));
    } else {
      avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(7));
      classifier = register_module("classifier", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
          std::make_shared<Linear>(512 * 7 * 7, 4096), std::make_shared<ReLU>(), std::make_shared<Dropout>(o.dropout),
          std::make_shared<Linear>(4096, 4096), std::make_shared<ReLU>(), std::make_shared<Dropout>(o.dropout),
          std::make_shared<Linear>(4096, o.num_classes)}));
    }
    // As torchvision: Kaiming normal (fan_out, relu) and zero bias for convs, BN 1 and 0,
    // Linear N(0, 0.01²) and zero bias.
    for (auto& [path, m] : named_modules()) {
      if (auto* conv = dynamic_cast<Conv2d*>(m)) {
        init::kaiming_normal_(conv->weight, 0, "fan_out", "relu");
        init::zeros_(conv->bias);
      }
      if (auto* lin = dynamic_cast<Linear*>(m)) {
        init::normal_(lin->weight, 0, 0.01);
        init::zeros_(lin->bias);
      }
    }
  }
  Tensor forward(const Tensor& x) override { return (*classifier)(flatten((*avgpool)((*features)(x)), 1)); }

  const VGGOptions options;
  std::shared_ptr<Sequential> features, classifier;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
};

inline std::shared_ptr<VGG> vgg16(VGGOptions o = {}) { return std::make_shared<VGG>(o); }
inline std::shared_ptr<VGG> vgg16_bn(VGGOptions o = {}) {
  o.batch_norm = true;
  return std::make_shared<VGG>(o);
}

}  // namespace lacoot::models

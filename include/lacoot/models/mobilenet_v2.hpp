// lacoot/models/mobilenet_v2.hpp — MobileNetV2 (Sandler et al., CVPR 2018, arXiv 1801.04381):
// torchvision's model and the LaCoOT reference's CIFAR variant, with torchvision's names.
//
// Holds: ConvBNReLU6 (torchvision's Conv2dNormActivation with ReLU6), InvertedResidual,
// MobileNetV2, MobileNetV2Options, mobilenet_v2, mobilenet_v2_cifar.
// Needs: nn/ (layers, init, block marks).
// Leaves out: norm_layer / block overrides, quantisation.
//
// The layout (specs/architectures.md §2), for a [N, 3, H, W] input:
//   features.0 (stem ConvBNReLU6 3x3 stride 2) → features.1..17 (inverted residuals)
//   → features.18 (ConvBNReLU6 1x1 to 1280) → global average pool → classifier (Dropout, Linear)
// The CIFAR variant of the reference code sets the stem stride and the first 24-channel group's
// stride to 1 (87.98 M MACs at 32x32). state_dict keys equal torchvision's (314 entries).
// Removable units (METHOD.md §4): the depthwise ConvBNReLU6 `features.i.conv.1` of every block
// with expansion 6 and stride 1 — 12 at 224 px, 13 in the CIFAR variant; LaCoOT compares its
// input and output and replaces it by the identity.
#pragma once

#include <cmath>
#include <memory>
#include <vector>

#include "../nn/activation.hpp"
#include "../nn/block.hpp"
#include "../nn/container.hpp"
#include "../nn/linear.hpp"
#include "../nn/normalization.hpp"
#include "../nn/pooling.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/reduce.hpp"

namespace lacoot::models {

using namespace lacoot::nn;

// Conv2d(bias = false, padding (k − 1) / 2) → BatchNorm2d → ReLU6, as children "0", "1", "2".
inline std::shared_ptr<Sequential> conv_bn_relu6(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
                                                 int64_t groups = 1) {
  return std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
      std::make_shared<Conv2d>(in, out, kernel, Conv2dModuleOptions{.stride = stride, .padding = (kernel - 1) / 2,
                                                                    .groups = groups, .bias = false}),
      std::make_shared<BatchNorm2d>(out), std::make_shared<ReLU6>()});
}

// hidden = round(in · t); conv = [expand 1x1 (when t ≠ 1), depthwise 3x3, project 1x1, BN];
// y = x + conv(x) when stride is 1 and in == out, else conv(x).
class InvertedResidual : public Module {
 public:
  InvertedResidual(int64_t inp, int64_t oup, int64_t stride, int64_t expand_ratio)
      : Module("InvertedResidual"), use_res_connect(stride == 1 && inp == oup) {
    const auto hidden = static_cast<int64_t>(std::lround(static_cast<double>(inp * expand_ratio)));
    conv = register_module("conv", std::make_shared<Sequential>());
    if (expand_ratio != 1) conv->push_back(conv_bn_relu6(inp, hidden, 1));
    auto depthwise = conv->push_back(conv_bn_relu6(hidden, hidden, 3, stride, hidden));
    conv->push_back(std::make_shared<Conv2d>(hidden, oup, 1, Conv2dModuleOptions{.bias = false}));
    conv->push_back(std::make_shared<BatchNorm2d>(oup));
    // The unit LaCoOT may remove: the depthwise conv of an expansion-6, stride-1 block keeps
    // the shape [N, hidden, H, W] (METHOD.md §4).
    if (expand_ratio == 6 && stride == 1) depthwise->mark_block();
  }
  Tensor forward(const Tensor& x) override { return use_res_connect ? x + (*conv)(x) : (*conv)(x); }
  const bool use_res_connect;
  std::shared_ptr<Sequential> conv;
};

struct MobileNetV2Options {
  int64_t num_classes = 1000;
  double width_mult = 1.0;  // scales every channel count, rounded to a multiple of 8
  double dropout = 0.2;     // before the classifier's Linear
  bool cifar = false;       // stride 1 in the stem and in the first 24-channel group
};

class MobileNetV2 : public Module {
 public:
  explicit MobileNetV2(const MobileNetV2Options& o = {}) : Module("MobileNetV2"), options(o) {
    LACOOT_CHECK(o.width_mult > 0 && o.num_classes > 0, "MobileNetV2: width_mult (", o.width_mult,
                 ") and num_classes (", o.num_classes, ") must be positive");
    // (t, c, n, s): expansion, output channels, repeats, stride of the first repeat (§2.1).
    const int64_t settings[7][4] = {{1, 16, 1, 1}, {6, 24, 2, o.cifar ? 1 : 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                    {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    int64_t input = make_divisible(32 * o.width_mult);
    last_channel = make_divisible(1280 * std::max(1.0, o.width_mult));
    features = register_module("features", std::make_shared<Sequential>());
    features->push_back(conv_bn_relu6(3, input, 3, o.cifar ? 1 : 2));
    for (const auto& s : settings) {
      const int64_t out = make_divisible(static_cast<double>(s[1]) * o.width_mult);
      for (int64_t i = 0; i < s[2]; ++i) {
        features->push_back(std::make_shared<InvertedResidual>(input, out, i == 0 ? s[3] : 1, s[0]));
        input = out;
      }
    }
    features->push_back(conv_bn_relu6(input, last_channel, 1));
    classifier = register_module("classifier", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
        std::make_shared<Dropout>(o.dropout), std::make_shared<Linear>(last_channel, o.num_classes)}));
    initialise();
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = (*features)(x);
    return (*classifier)(mean(h, DimList{2, 3}));  // global average pool, as x.mean([2, 3])
  }

  // torchvision's _make_divisible: the nearest multiple of 8, never below 90% of v.
  static int64_t make_divisible(double v, int64_t divisor = 8) {
    int64_t r = std::max<int64_t>(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
    if (static_cast<double>(r) < 0.9 * v) r += divisor;
    return r;
  }

  const MobileNetV2Options options;
  int64_t last_channel = 1280;
  std::shared_ptr<Sequential> features, classifier;

 private:
  // As torchvision: Kaiming normal (fan_out) for convs, zero biases, BN 1 and 0, Linear N(0, 0.01²).
  void initialise() {
    for (auto& [path, m] : named_modules()) {
      if (auto* conv = dynamic_cast<Conv2d*>(m)) init::kaiming_normal_(conv->weight, 0, "fan_out");
      if (auto* lin = dynamic_cast<Linear*>(m)) {
        init::normal_(lin->weight, 0, 0.01);
        init::zeros_(lin->bias);
      }
    }
  }
};

inline std::shared_ptr<MobileNetV2> mobilenet_v2(MobileNetV2Options o = {}) { return std::make_shared<MobileNetV2>(o); }
// The LaCoOT reference's CIFAR MobileNetV2 (10 classes unless told otherwise).
inline std::shared_ptr<MobileNetV2> mobilenet_v2_cifar(MobileNetV2Options o = {.num_classes = 10}) {
  o.cifar = true;
  return mobilenet_v2(o);
}

}  // namespace lacoot::models

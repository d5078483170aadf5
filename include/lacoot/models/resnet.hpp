// lacoot/models/resnet.hpp — ResNet (He et al., CVPR 2016, arXiv 1512.03385): torchvision's
// ImageNet model and the LaCoOT reference's CIFAR variant, with torchvision's names.
//
// Holds: BasicBlock, Bottleneck, ResNet, ResNetOptions, resnet18, resnet34, resnet50,
// resnet18_cifar.
// Needs: nn/ (layers, init, block marks).
// Leaves out: groups / width_per_group (ResNeXt, Wide ResNet), replace_stride_with_dilation.
//
// The layout (specs/architectures.md §1), for a [N, C, H, W] input:
//   conv1 → bn1 → relu → maxpool → layer1 .. layer4 → avgpool → flatten → fc
// The ImageNet stem is conv1 = 7x7 stride 2 padding 3; the CIFAR variant of the reference code
// uses 3x3 stride 1 padding 1 and keeps the 3x3 stride-2 max-pool, so 32x32 enters layer1 at
// 16x16 (140.19 M MACs for CIFAR-10). state_dict keys equal torchvision's resnet18 (122 entries).
// Removable blocks: every block of a stage after its first (for ResNet-18: layer{1..4}.1, the
// four blocks LaCoOT removes), compared on their input and output (METHOD.md §4).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../nn/activation.hpp"
#include "../nn/block.hpp"
#include "../nn/container.hpp"
#include "../nn/linear.hpp"
#include "../nn/normalization.hpp"
#include "../nn/pooling.hpp"
#include "../ops/elementwise.hpp"

namespace lacoot::models {

using namespace lacoot::nn;

// 3x3 and 1x1 convolutions without bias (BN follows each), as torchvision's conv3x3 / conv1x1.
inline std::shared_ptr<Conv2d> conv3x3(int64_t in, int64_t out, int64_t stride = 1) {
  return std::make_shared<Conv2d>(in, out, 3, Conv2dModuleOptions{.stride = stride, .padding = 1, .bias = false});
}
inline std::shared_ptr<Conv2d> conv1x1(int64_t in, int64_t out, int64_t stride = 1) {
  return std::make_shared<Conv2d>(in, out, 1, Conv2dModuleOptions{.stride = stride, .bias = false});
}

// out = relu(bn2(conv2(relu(bn1(conv1(x))))) + identity), identity = x or downsample(x).
//   x [N, in, H, W] → [N, planes, H / stride, W / stride]
class BasicBlock : public Module {
 public:
  static constexpr int64_t expansion = 1;
  BasicBlock(int64_t inplanes, int64_t planes, int64_t stride = 1, ModulePtr downsample = nullptr)
      : Module("BasicBlock") {
    conv1 = register_module("conv1", conv3x3(inplanes, planes, stride));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
    relu = register_module("relu", std::make_shared<ReLU>());
    conv2 = register_module("conv2", conv3x3(planes, planes));
    bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
    if (downsample) this->downsample = register_module("downsample", downsample);
  }
  Tensor forward(const Tensor& x) override {
    Tensor out = (*relu)((*bn1)((*conv1)(x)));
    out = (*bn2)((*conv2)(out));
    return (*relu)(out + (downsample ? (*downsample)(x) : x));
  }
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<ReLU> relu;
  ModulePtr downsample;
};

// 1x1 reduce → 3x3 (stride here, as torchvision's "ResNet V1.5") → 1x1 expand by 4, plus identity.
class Bottleneck : public Module {
 public:
  static constexpr int64_t expansion = 4;
  Bottleneck(int64_t inplanes, int64_t planes, int64_t stride = 1, ModulePtr downsample = nullptr)
      : Module("Bottleneck") {
    conv1 = register_module("conv1", conv1x1(inplanes, planes));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
    conv2 = register_module("conv2", conv3x3(planes, planes, stride));
    bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
    conv3 = register_module("conv3", conv1x1(planes, planes * expansion));
    bn3 = register_module("bn3", std::make_shared<BatchNorm2d>(planes * expansion));
    relu = register_module("relu", std::make_shared<ReLU>());
    if (downsample) this->downsample = register_module("downsample", downsample);
  }
  Tensor forward(const Tensor& x) override {
    Tensor out = (*relu)((*bn1)((*conv1)(x)));
    out = (*relu)((*bn2)((*conv2)(out)));
    out = (*bn3)((*conv3)(out));
    return (*relu)(out + (downsample ? (*downsample)(x) : x));
  }
  std::shared_ptr<Conv2d> conv1, conv2, conv3;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<ReLU> relu;
  ModulePtr downsample;
};

enum class ResNetStem {
  ImageNet,  // conv1 7x7 stride 2 padding 3, then max-pool: torchvision (and Tiny-ImageNet in the paper)
  Cifar,     // conv1 3x3 stride 1 padding 1, then the same max-pool: the LaCoOT reference's CIFAR model
};

struct ResNetOptions {
  int64_t num_classes = 1000;
  int64_t in_channels = 3;
  int64_t width = 64;  // channels of layer1; layer2..4 have 2, 4, 8 times as many
  ResNetStem stem = ResNetStem::ImageNet;
  bool zero_init_residual = false;  // last BN of each block starts at 0 (Goyal et al., arXiv 1706.02677)
};

template <class Block>
class ResNet : public Module {
 public:
  ResNet(const std::vector<int64_t>& layers, const ResNetOptions& o) : Module("ResNet"), options(o) {
    LACOOT_CHECK(layers.size() == 4, "ResNet: expected 4 stages, got ", layers.size());
    LACOOT_CHECK(o.width > 0 && o.num_classes > 0 && o.in_channels > 0, "ResNet: width (", o.width,
                 "), num_classes (", o.num_classes, ") and in_channels (", o.in_channels, ") must be positive");
    const bool cifar = o.stem == ResNetStem::Cifar;
    inplanes_ = o.width;
    conv1 = register_module("conv1", std::make_shared<Conv2d>(o.in_channels, o.width, cifar ? 3 : 7,
        Conv2dModuleOptions{.stride = cifar ? 1 : 2, .padding = cifar ? 1 : 3, .bias = false}));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(o.width));
    relu = register_module("relu", std::make_shared<ReLU>());
    maxpool = register_module("maxpool", std::make_shared<MaxPool2d>(3, MaxPool2dOptions{.stride = 2, .padding = 1}));
    for (int s = 0; s < 4; ++s)
      stages[s] = register_module("layer" + std::to_string(s + 1),
                                  make_layer(o.width << s, layers[static_cast<std::size_t>(s)], s == 0 ? 1 : 2));
    avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
    fc = register_module("fc", std::make_shared<Linear>((o.width << 3) * Block::expansion, o.num_classes));
    initialise();
  }

  Tensor forward(const Tensor& x) override {
    Tensor h = (*maxpool)((*relu)((*bn1)((*conv1)(x))));
    for (auto& stage : stages) h = (*stage)(h);
    return (*fc)(flatten((*avgpool)(h), 1));
  }

  const ResNetOptions options;
  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<ReLU> relu;
  std::shared_ptr<MaxPool2d> maxpool;
  std::shared_ptr<Sequential> stages[4];  // layer1 .. layer4
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<Linear> fc;

 private:
  // torchvision's _make_layer: the first block changes stride / width (with a 1x1 conv + BN
  // on the shortcut when the shape changes), the rest keep the shape and are removable.
  std::shared_ptr<Sequential> make_layer(int64_t planes, int64_t blocks, int64_t stride) {
    auto layer = std::make_shared<Sequential>();
    ModulePtr downsample;
    if (stride != 1 || inplanes_ != planes * Block::expansion)
      downsample = std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
          conv1x1(inplanes_, planes * Block::expansion, stride),
          std::make_shared<BatchNorm2d>(planes * Block::expansion)});
    layer->push_back(std::make_shared<Block>(inplanes_, planes, stride, downsample));
    inplanes_ = planes * Block::expansion;
    for (int64_t b = 1; b < blocks; ++b) layer->push_back(std::make_shared<Block>(inplanes_, planes))->mark_block();
    return layer;
  }
  // As torchvision: Kaiming normal (fan_out, relu) for every conv, BN weight 1 and bias 0;
  // fc keeps nn.Linear's default.
  void initialise() {
    for (auto& [path, m] : named_modules()) {
      if (auto* conv = dynamic_cast<Conv2d*>(m)) init::kaiming_normal_(conv->weight, 0, "fan_out", "relu");
      if (options.zero_init_residual) {
        if (auto* b = dynamic_cast<BasicBlock*>(m)) init::zeros_(b->bn2->weight);
        if (auto* b = dynamic_cast<Bottleneck*>(m)) init::zeros_(b->bn3->weight);
      }
    }
  }
  int64_t inplanes_ = 64;
};

inline std::shared_ptr<ResNet<BasicBlock>> resnet18(ResNetOptions o = {}) {
  return std::make_shared<ResNet<BasicBlock>>(std::vector<int64_t>{2, 2, 2, 2}, o);
}
inline std::shared_ptr<ResNet<BasicBlock>> resnet34(ResNetOptions o = {}) {
  return std::make_shared<ResNet<BasicBlock>>(std::vector<int64_t>{3, 4, 6, 3}, o);
}
inline std::shared_ptr<ResNet<Bottleneck>> resnet50(ResNetOptions o = {}) {
  return std::make_shared<ResNet<Bottleneck>>(std::vector<int64_t>{3, 4, 6, 3}, o);
}
// The LaCoOT reference's CIFAR ResNet-18 (10 classes unless told otherwise).
inline std::shared_ptr<ResNet<BasicBlock>> resnet18_cifar(ResNetOptions o = {.num_classes = 10}) {
  o.stem = ResNetStem::Cifar;
  return resnet18(o);
}

}  // namespace lacoot::models

// lacoot/models/zoo.hpp — models by the names the command line uses.
//
// Holds: ModelOptions, model_names(), is_diffusion_model(name), make_model(name, options).
// Needs: models/resnet.hpp, mobilenet_v2.hpp, vgg.hpp, swin.hpp, dit.hpp.
// Leaves out: the diffusion process a DiT is trained in (diffusion/, examples/dit_fashion_mnist).
//
// The names are DESIGN.md's contract: resnet18, resnet18-cifar, mobilenet_v2,
// mobilenet_v2-cifar, vgg16, vgg16_bn (and the -cifar heads of the VGGs), swin_t (torchvision's,
// at any input size: the reference feeds it 32x32 and 64x64 images unresized; its blocks are
// compared on their input and output, SwinPair::block), and dit-s2, dit-b2, dit-l2, dit-xl2
// (facebookresearch/DiT's DiT-S/2 ... DiT-XL/2 on in_channels × input_size² latents: 4 × 32² for
// 256-pixel images; classifiers all but these, which predict noise).
#pragma once

#include <string>
#include <vector>

#include "dit.hpp"
#include "mobilenet_v2.hpp"
#include "resnet.hpp"
#include "swin.hpp"
#include "vgg.hpp"

namespace lacoot::models {

// What the command line may set for any model; each model uses what applies to it.
struct ModelOptions {
  int64_t num_classes = 10;
  int64_t in_channels = 3;  // ResNet, VGG, Swin-T and DiT (4 for DiT's VAE latents); MobileNetV2 takes 3
  int64_t width = 0;        // ResNet's layer1 channels (0: the standard 64); ResNet only
  int64_t input_size = 0;   // DiT's latent side I (0: 32, 256-pixel images); DiT only
};

inline const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names{"resnet18",     "resnet18-cifar", "mobilenet_v2", "mobilenet_v2-cifar",
                                              "vgg16",        "vgg16_bn",       "vgg16-cifar",  "vgg16_bn-cifar",
                                              "swin_t",       "dit-s2",         "dit-b2",       "dit-l2",
                                              "dit-xl2"};
  return names;
}

// The DiTs: noise predictors called as dit(x, t, y), not classifiers.
inline bool is_diffusion_model(const std::string& name) { return name.rfind("dit-", 0) == 0; }

// A freshly initialised model named `name`; a lacoot::Error listing the names otherwise.
inline nn::ModulePtr make_model(const std::string& name, const ModelOptions& o = {}) {
  const int64_t width = o.width > 0 ? o.width : 64;
  LACOOT_CHECK(o.width == 0 || name.rfind("resnet", 0) == 0, "make_model: --width applies to the ResNets only, not to ",
               name, " (hint: leave it out)");
  if (name == "resnet18" || name == "resnet18-cifar")
    return resnet18({.num_classes = o.num_classes, .in_channels = o.in_channels, .width = width,
                     .stem = name == "resnet18" ? ResNetStem::ImageNet : ResNetStem::Cifar});
  if (name == "mobilenet_v2" || name == "mobilenet_v2-cifar") {
    LACOOT_CHECK(o.in_channels == 3, "make_model: ", name, " takes 3 input channels, got --in-channels ",
                 o.in_channels, " (hint: replicate a gray image into 3 channels)");
    return mobilenet_v2({.num_classes = o.num_classes, .cifar = name == "mobilenet_v2-cifar"});
  }
  if (name.rfind("vgg16", 0) == 0) {
    const bool bn = name.rfind("vgg16_bn", 0) == 0, cifar = name.size() > 6 && name.ends_with("-cifar");
    if (name == "vgg16" || name == "vgg16_bn" || name == "vgg16-cifar" || name == "vgg16_bn-cifar")
      return std::make_shared<VGG>(VGGOptions{.num_classes = o.num_classes, .in_channels = o.in_channels,
                                              .batch_norm = bn, .cifar_head = cifar});
  }
  LACOOT_CHECK(o.input_size == 0 || is_diffusion_model(name), "make_model: input_size applies to the DiTs only, not to ",
               name);
  if (name == "swin_t") return swin_t({.num_classes = o.num_classes, .in_channels = o.in_channels});
  if (name == "dit-s2" || name == "dit-b2" || name == "dit-l2" || name == "dit-xl2")
    return dit(dit_config(name, {.input_size = o.input_size > 0 ? o.input_size : 32, .in_channels = o.in_channels,
                                 .num_classes = o.num_classes}));
  std::string known;
  for (const std::string& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown model \"" + name + "\" (known: " + known + ")");
}

}  // namespace lacoot::models

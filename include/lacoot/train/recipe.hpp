// lacoot/train/recipe.hpp — the paper's training recipes (METHOD.md §5), per model and dataset.
//
// Holds: Recipe (epochs, batch, SGD hyper-parameters, schedule) and recipe_for(model, dataset).
// Needs: the standard library.
// Leaves out: the data pipeline (data_loaders/splits.hpp) and the Adam recipe of the transfer
// runs (Flowers-102, DTD, Aircraft), which comes with the transfer-learning example.
#pragma once

#include <string>
#include <vector>

namespace lacoot::train {

struct Recipe {
  int64_t epochs = 160;
  int64_t batch_size = 128;
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 1e-4;
  // Either cosine decay to 0 stepped every iteration, or a multi-step decay per epoch.
  bool cosine_per_iteration = false;
  std::vector<int64_t> milestones{80, 120};
  double gamma = 0.1;
};

// Supplementary Table 2 for CIFAR-10 / Tiny-ImageNet (160 epochs, batch 128, SGD momentum 0.9,
// lr 0.1 for ResNet-18 and MobileNetV2, 0.01 for VGG-16 and 1e-3 for Swin-T, ×0.1 at 80 and
// 120, wd 1e-4); PACS / VLCS style for imagefolder (30 epochs, batch 16, lr 1e-3, ×0.1 at 24,
// wd 5e-4). Fashion-MNIST is not in the paper: 8 epochs with cosine decay per iteration (issue
// 4's acceptance recipe).
inline Recipe recipe_for(const std::string& model, const std::string& dataset) {
  Recipe r;
  const std::string kind = dataset.substr(0, dataset.find(':'));
  if (model.rfind("vgg", 0) == 0) r.lr = 0.01;
  if (model == "swin_t") r.lr = 1e-3;
  if (kind == "fashion-mnist") {
    r.epochs = 8;
    r.cosine_per_iteration = true;
  } else if (kind == "imagefolder") {
    r.epochs = 30, r.batch_size = 16, r.lr = 1e-3, r.weight_decay = 5e-4, r.milestones = {24};
  }
  return r;
}

}  // namespace lacoot::train

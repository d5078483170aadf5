// Example 4 — MobileNetV2 on CIFAR-10: example 3's recipe, a network of inverted residuals.
// Read first: example 3 (examples/resnet18_cifar10.cpp: the data, the loop, the recipe), then
// models/mobilenet_v2.hpp (InvertedResidual: expand 1x1, depthwise 3x3, project 1x1). Next:
// example 5, VGG-16, a network with no shortcut at all.
//
// What differs from example 3 is the model. Sandler et al. (CVPR 2018, arXiv 1801.04381) built
// MobileNetV2 for 224x224 inputs, which it divides by 32; the LaCoOT reference's CIFAR variant
// sets the stride of the stem conv (features.0) and of the first 24-channel group (features.2)
// to 1, so a 32x32 image still leaves the last stage at 4x4. 2.24 M parameters, 10 classes.
// Its removable units are not whole blocks but the depthwise conv of every stride-1 block with
// expansion 6 (features.i.conv.1, 13 of them here): LaCoOT compares their input and output.
//
// The recipe (supplementary Table 2; METHOD.md §5, data as specs/formats.md §4), as example 3:
//   data     CIFAR-10, 45,000 / 5,000 (seed 0) / 10,000 images; training flips and takes a
//            random 32x32 crop of the image padded by 4; ImageNet mean / std normalisation
//   training SGD, lr 0.1, momentum 0.9, weight decay 1e-4, batch 128, 160 epochs, the lr times
//            0.1 after epochs 80 and 120 (train::recipe_for("mobilenet_v2", "cifar10"))
//
//   ./build/examples/mobilenetv2_cifar10 [options]    (kUsage below lists them; --help prints it)
// PATH is cifar-10-batches-bin/ (unpacked from cifar-10-binary.tar.gz) or the folder holding it.
#include <cstdio>

#include "common.hpp"
#include "lacoot/train/args.hpp"

using namespace lacoot;

const char* kUsage = R"(usage: mobilenetv2_cifar10 --data PATH [--epochs 160] [--batch-size 128] [--lr 0.1]
                           [--val-size 5000] [--threads 2] [--device cpu]
                           [--max-steps N] [--out mobilenetv2_cifar10.safetensors]
Under `mpirun -np N` (a build with MPI): data parallel, each process on 1/N of every batch
(the batch a multiple of N); rank 0 prints and writes.
)";

int main(int argc, char** argv) try {
  train::Args args(argc, argv, 1, {"data", "epochs", "batch-size", "lr", "val-size",
                                   "threads", "device", "max-steps", "out"});
  if (args.help) return std::fputs(kUsage, stdout), 0;
  if (args.has("threads")) set_num_threads(static_cast<int>(args.integer("threads", 2)));
  const int64_t epochs = args.integer("epochs", 160), batch = args.integer("batch-size", 128);
  manual_seed(0);

  // 1. Data: as example 3.
  data::Splits cifar = examples::cifar10_splits(args.str("data"), args.integer("val-size", 5000), /*seed=*/0);
  // --device cuda: on the GPU. Under `mpirun -np N`: N processes, each on 1/N of every batch.
  const examples::Processes processes(train::device_option(args));
  const Device device = processes.device();
  examples::Loaders loaders(cifar, batch, /*eval_batch_size=*/256, processes, /*pin_memory=*/device.is_cuda());

  // 2. The model: torchvision's names (features.0 .. features.18, classifier.1).
  auto model = models::mobilenet_v2_cifar({.num_classes = 10});
  examples::print_model("MobileNetV2-CIFAR", *model);

  model->to(device);

  // 3. SGD as for ResNet-18: the same lr of 0.1, the same steps at epochs 80 and 120.
  optim::SGD sgd(model->named_parameters(), {.lr = args.number("lr", 0.1), .momentum = 0.9, .weight_decay = 1e-4});
  optim::MultiStepLR decay(sgd, {80, 120}, /*gamma=*/0.1);

  // 4. Train, validate each epoch, test once, save (lacoot run --model mobilenet_v2-cifar).
  examples::fit(*model, sgd, &decay, loaders, epochs, args.integer("max-steps", 0));
  examples::test_and_save(*model, loaders, args.str("out", "mobilenetv2_cifar10.safetensors"),
                          {{"model", "mobilenet_v2-cifar"}, {"dataset", "cifar10"}});
  return 0;
} catch (const train::UsageError& e) {
  std::fprintf(stderr, "mobilenetv2_cifar10: %s\n", e.what());
  return 2;
} catch (const Error& e) {
  std::fprintf(stderr, "mobilenetv2_cifar10: %s\n", e.what());
  return 1;
}

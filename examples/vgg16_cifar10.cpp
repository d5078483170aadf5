// Example 5 — VGG-16 with batch normalisation on CIFAR-10: example 3's recipe at a tenth of the lr.
// Read first: example 3 (examples/resnet18_cifar10.cpp: the data, the loop, the recipe), then
// models/vgg.hpp (configuration D and the CIFAR head). Next: example 6, transfer learning.
//
// What differs from example 3 is the model and its lr. VGG-16 (Simonyan & Zisserman, ICLR 2015,
// arXiv 1409.1556) is 13 3x3 convs, here each followed by BatchNorm2d and ReLU (torchvision's
// vgg16_bn), with a 2x2 max-pool after each of its 5 stages: a 32x32 image leaves `features` at
// 1x1. torchvision's head (AdaptiveAvgPool2d(7) and Linear(25088, 4096), ...) would copy that one
// pixel 49 times into 123 M weights, so the CIFAR head is a global pool and one Linear(512, 10)
// ("classifier.0"). 14.7 M parameters. With no shortcut around any conv, VGG marks no blocks of
// its own (a conv → BN → ReLU unit spans three children of `features`); the graph transform
// finds them. The paper trains it with lr 0.01, where the ResNet and MobileNetV2 take 0.1.
//
// The recipe (supplementary Table 2; METHOD.md §5, data as specs/formats.md §4):
//   data     CIFAR-10, 45,000 / 5,000 (seed 0) / 10,000 images; training flips and takes a
//            random 32x32 crop of the image padded by 4; ImageNet mean / std normalisation
//   training SGD, lr 0.01, momentum 0.9, weight decay 1e-4, batch 128, 160 epochs, the lr
//            times 0.1 after epochs 80 and 120 (train::recipe_for("vgg16", "cifar10"))
//
//   ./build/examples/vgg16_cifar10 [options]    (kUsage below lists them; --help prints it)
// PATH is cifar-10-batches-bin/ (unpacked from cifar-10-binary.tar.gz) or the folder holding it.
#include <cstdio>

#include "common.hpp"
#include "lacoot/train/args.hpp"

using namespace lacoot;

const char* kUsage = R"(usage: vgg16_cifar10 --data PATH [--epochs 160] [--batch-size 128] [--lr 0.01]
                     [--val-size 5000] [--threads 2] [--device cpu] [--max-steps N] [--out vgg16_cifar10.safetensors]
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

  // 2. The model: torchvision's names (features.0 .. features.43, classifier.0).
  auto model = models::vgg16_bn({.num_classes = 10, .cifar_head = true});
  examples::print_model("VGG-16-BN (CIFAR head)", *model);

  model->to(device);

  // 3. SGD at lr 0.01, the paper's VGG setting; the same steps at epochs 80 and 120.
  optim::SGD sgd(model->named_parameters(), {.lr = args.number("lr", 0.01), .momentum = 0.9, .weight_decay = 1e-4});
  optim::MultiStepLR decay(sgd, {80, 120}, /*gamma=*/0.1);

  // 4. Train, validate each epoch, test once, save (lacoot run --model vgg16_bn-cifar).
  examples::fit(*model, sgd, &decay, loaders, epochs, args.integer("max-steps", 0));
  examples::test_and_save(*model, loaders, args.str("out", "vgg16_cifar10.safetensors"),
                          {{"model", "vgg16_bn-cifar"}, {"dataset", "cifar10"}});
  return 0;
} catch (const train::UsageError& e) {
  std::fprintf(stderr, "vgg16_cifar10: %s\n", e.what());
  return 2;
} catch (const Error& e) {
  std::fprintf(stderr, "vgg16_cifar10: %s\n", e.what());
  return 1;
}

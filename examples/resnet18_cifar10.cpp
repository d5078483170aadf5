// Example 3 — ResNet-18 on CIFAR-10 with the paper's recipe, the network LaCoOT starts from.
// Read first: example 2 (examples/resnet18_fashion_mnist.cpp, the same loop on Fashion-MNIST),
// then examples/common.hpp (the CIFAR-10 data and the epoch loop that examples 3 to 5 share) and
// data_loaders/cifar.hpp (the binary batch format). Next: examples 4 and 5, the same recipe on
// MobileNetV2 and VGG-16.
//
// The recipe (supplementary Table 2 and the LaCoOT reference's main.py; METHOD.md §5, data as
// specs/formats.md §4):
//   data     CIFAR-10's binary batches: the 50,000 training images split 45,000 / 5,000 (seed 0)
//            into train / validation, the 10,000 test images; training flips horizontally
//            (p 0.5), then takes a random 32x32 crop of the image padded by 4; all images are
//            normalised with ImageNet's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)
//   model    the reference's CIFAR ResNet-18: torchvision's resnet18 with a 3x3 stride-1 stem
//            (the max-pool kept), 11.2 M parameters, 10 classes
//   training SGD, lr 0.1, momentum 0.9, weight decay 1e-4, batch 128, 160 epochs, the lr times
//            0.1 after epochs 80 and 120 (MultiStepLR, stepped once per epoch); the same numbers
//            as train::recipe_for("resnet18", "cifar10"), which `lacoot train` uses
//
//   ./build/examples/resnet18_cifar10 [options]    (kUsage below lists them; --help prints it)
// PATH is cifar-10-batches-bin/ (unpacked from cifar-10-binary.tar.gz) or the folder holding it.
// A shorter --epochs keeps the decay at 80 and 120: runs of 80 epochs or fewer keep lr 0.1.
#include <cstdio>

#include "common.hpp"
#include "lacoot/train/args.hpp"

using namespace lacoot;

const char* kUsage = R"(usage: resnet18_cifar10 --data PATH [--epochs 160] [--batch-size 128] [--lr 0.1]
                        [--val-size 5000] [--threads 2] [--device cpu]
                        [--max-steps N] [--out resnet18_cifar10.safetensors]
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

  // 1. Data: 45,000 / 5,000 / 10,000 images, flipped and shifted for training (common.hpp).
  data::Splits cifar = examples::cifar10_splits(args.str("data"), args.integer("val-size", 5000), /*seed=*/0);
  // --device cuda: on the GPU. Under `mpirun -np N`: N processes, each on 1/N of every batch.
  const examples::Processes processes(train::device_option(args));
  const Device device = processes.device();
  examples::Loaders loaders(cifar, batch, /*eval_batch_size=*/256, processes, /*pin_memory=*/device.is_cuda());

  // 2. The model: torchvision's names (conv1, layer1.0.conv1, ..., fc); LaCoOT may remove
  //    layer1.1 .. layer4.1, the blocks that keep their input's shape.
  auto model = models::resnet18_cifar({.num_classes = 10});
  examples::print_model("ResNet-18-CIFAR", *model);

  model->to(device);

  // 3. SGD with momentum and coupled weight decay; the lr drops tenfold at epochs 80 and 120.
  optim::SGD sgd(model->named_parameters(), {.lr = args.number("lr", 0.1), .momentum = 0.9, .weight_decay = 1e-4});
  optim::MultiStepLR decay(sgd, {80, 120}, /*gamma=*/0.1);

  // 4. Train, validating after every epoch; then test once and save the weights
  //    (lacoot run --model resnet18-cifar reads them).
  examples::fit(*model, sgd, &decay, loaders, epochs, args.integer("max-steps", 0));
  examples::test_and_save(*model, loaders, args.str("out", "resnet18_cifar10.safetensors"),
                          {{"model", "resnet18-cifar"}, {"dataset", "cifar10"}});
  return 0;
} catch (const train::UsageError& e) {
  std::fprintf(stderr, "resnet18_cifar10: %s\n", e.what());
  return 2;
} catch (const Error& e) {
  std::fprintf(stderr, "resnet18_cifar10: %s\n", e.what());
  return 1;
}

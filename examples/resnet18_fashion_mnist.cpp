// Example 2 — ResNet-18 (He et al., CVPR 2016) trained on Fashion-MNIST, end to end.
// Read first: examples/autograd_basics.cpp (example 1), then models/resnet.hpp (the network,
// block by block) and train/epoch.hpp (one training step). Next: the LaCoOT examples, which add
// the Max-SWD regulariser to this loop and then remove blocks.
//
// The recipe (issue 4's acceptance run, on the Debian package dataset-fashion-mnist):
//   data     60,000 training images split 50,000 / 10,000 (seed 0) into train / validation,
//            the official 10,000 test images; 28x28 zero-padded to 32x32, normalised;
//            training adds a random 32x32 crop of the image padded by 4, and a horizontal flip
//   model    the LaCoOT reference's CIFAR ResNet-18 (3x3 stem, stride 1, then a max-pool) at
//            width 32 (stages of 32, 64, 128, 256 channels), one input channel, 10 classes
//   training SGD, lr 0.1, momentum 0.9, weight decay 1e-4, batch 128, 8 epochs, the lr decayed
//            to 0 by a cosine over every iteration
//
//   ./build/examples/resnet18_fashion_mnist [options]    (kUsage below lists them; --help prints it)
#include <cstdio>

#include "data_loaders/splits.hpp"
#include "lacoot/lacoot.hpp"
#include "lacoot/train/args.hpp"

using namespace lacoot;

const char* kUsage = R"(usage: resnet18_fashion_mnist [--epochs 8] [--width 32] [--batch-size 128]
                              [--lr 0.1] [--threads 2] [--device cpu] [--max-steps N] [--out model.safetensors]
)";

int main(int argc, char** argv) try {
  train::Args args(argc, argv, 1, {"epochs", "width", "batch-size", "lr", "threads", "device", "max-steps", "out"});
  if (args.help) return std::fputs(kUsage, stdout), 0;
  if (args.has("threads")) set_num_threads(static_cast<int>(args.integer("threads", 2)));
  const int64_t epochs = args.integer("epochs", 8), batch = args.integer("batch-size", 128);
  const int64_t max_steps = args.integer("max-steps", 0);
  manual_seed(0);

  // 1. Data: the splits and transforms above, batched and prefetched on a worker thread.
  data::Splits fmnist = data::load_splits("fashion-mnist", /*seed=*/0);
  // --device cuda: the model on the GPU, and the training batches in pinned memory, copied while
  // the GPU works.
  const Device device = train::device_option(args);
  data::DataLoader train_loader(fmnist.train, {.batch_size = batch, .shuffle = true, .seed = 0, .num_workers = 1,
                                               .transform = fmnist.train_transform, .pin_memory = device.is_cuda()});
  data::DataLoader val_loader(fmnist.val, {.batch_size = 256, .num_workers = 1, .transform = fmnist.eval_transform});
  data::DataLoader test_loader(fmnist.test, {.batch_size = 256, .num_workers = 1, .transform = fmnist.eval_transform});

  // 2. The model: torchvision's parameter names (conv1, layer1.0.conv1, ..., fc).
  auto model = models::resnet18_cifar({.num_classes = 10, .in_channels = 1, .width = args.integer("width", 32)});
  std::printf("ResNet-18-CIFAR: %zu parameter tensors, removable blocks:", model->parameters().size());
  for (auto& [path, block] : nn::blocks(*model)) std::printf(" %s", path.c_str());
  std::printf("\n");

  model->to(device);

  // 3. The optimiser and the schedule: cosine decay stepped after every iteration.
  optim::SGD sgd(model->named_parameters(), {.lr = args.number("lr", 0.1), .momentum = 0.9, .weight_decay = 1e-4});
  optim::CosineAnnealingLR cosine(sgd, epochs * train_loader.size());

  // 4. Train: each step is forward, cross-entropy, backward, SGD step, schedule step.
  int64_t steps = 0;
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    train::StepHooks hooks{.per_step_scheduler = &cosine, .max_steps = max_steps > 0 ? max_steps - steps : 0,
                           .label = "epoch " + std::to_string(epoch) + "/" + std::to_string(epochs)};
    train::EpochResult tr = train::train_epoch(*model, sgd, train_loader, hooks);
    train::EpochResult val = train::evaluate(*model, val_loader);
    std::printf("epoch %lld: train loss %.4f, train top-1 %.2f %%, validation top-1 %.2f %% (%.0f img/s)\n",
                static_cast<long long>(epoch), tr.loss, tr.top1, val.top1, tr.images_per_second());
    steps += tr.steps;
    if (max_steps > 0 && steps >= max_steps) break;
  }

  // 5. Test once, at the end, and save the weights (lacoot run --model resnet18-cifar reads them).
  train::EpochResult test = train::evaluate(*model, test_loader);
  std::printf("test top-1 %.2f %%, top-5 %.2f %%\n", test.top1, test.top5);
  const std::string out = args.str("out", "resnet18_fashion_mnist.safetensors");
  save_safetensors(out, model->state_dict(), {{"model", "resnet18-cifar"}, {"dataset", "fashion-mnist"}});
  std::printf("wrote %s\n", out.c_str());
  return 0;
} catch (const train::UsageError& e) {
  std::fprintf(stderr, "resnet18_fashion_mnist: %s\n", e.what());
  return 2;
} catch (const Error& e) {
  std::fprintf(stderr, "resnet18_fashion_mnist: %s\n", e.what());
  return 1;
}

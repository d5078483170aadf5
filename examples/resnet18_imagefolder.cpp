// Example 6 — transfer learning: torchvision's ImageNet ResNet-18, a new head, a folder of images.
// Read first: example 3 (examples/resnet18_cifar10.cpp, the loop), then io/safetensors.hpp
// (load_safetensors), nn/module.hpp (load_state_dict and its `strict` flag) and
// data_loaders/image_folder.hpp (the folder layout, as torchvision's ImageFolder).
//
// The paper's Flowers-102, DTD and FGVC-Aircraft runs start from ImageNet weights: every layer
// but the classifier keeps what ImageNet taught it, the 1000-way fc gives way to a new one with
// a row per class of this dataset, and the whole network is trained.
//
// A new head, two ways: build a 1000-class model, load the file strictly, then swap fc; or build
// the model with this dataset's classes and load every key but fc.*, with strict = false. We do
// the second. The model is right from its construction (a swap would have to replace both the
// child "fc" and the `fc` handle that ResNet's forward calls), and load_state_dict returns what
// it did not fill: we check that this is fc.weight and fc.bias and nothing else, so a file for
// another network stops the run here (or on a shape mismatch) instead of training from scratch.
//
// The recipe (supplementary Table 2 for Flowers-102, DTD and Aircraft; METHOD.md §5):
//   data     imagefolder:PATH through data::load_splits: PATH/train, one folder per class, 10 %
//            held out (seed 0) for validation, and PATH/test (or PATH/val); training takes a
//            random resized crop to 224, flips and jitters colour by 0.4 (load_splits' folder
//            augmentation, DomainBed's; the paper lists flips, rotation and a 224 crop for
//            Flowers-102 and flips for DTD and Aircraft), evaluation resizes to 256 and takes the
//            centre 224x224; ImageNet mean / std
//   model    torchvision's resnet18 (7x7 stride-2 stem) with its ImageNet weights, fc: 512 → classes
//   training Adam, lr 1e-4, betas (0.9, 0.999), no weight decay, no schedule, batch 16, 50 epochs
//
//   /usr/bin/python3 tools/export_torchvision.py resnet18 resnet18_imagenet.safetensors --weights DEFAULT
//   ./build/examples/resnet18_imagefolder [options]    (kUsage below lists them; --help prints it)
#include <cstdio>

#include "common.hpp"
#include "lacoot/train/args.hpp"

using namespace lacoot;

const char* kUsage = R"(usage: resnet18_imagefolder --data PATH --weights resnet18_imagenet.safetensors
                            [--epochs 50] [--batch-size 16] [--lr 1e-4] [--threads 2] [--device cpu] [--max-steps N]
                            [--out resnet18_imagefolder.safetensors]
Under `mpirun -np N` (a build with MPI): data parallel, each process on 1/N of every batch
(the batch a multiple of N); rank 0 prints and writes.
)";

int main(int argc, char** argv) try {
  train::Args args(argc, argv, 1, {"data", "weights", "epochs", "batch-size", "lr",
                                   "threads", "device", "max-steps", "out"});
  if (args.help) return std::fputs(kUsage, stdout), 0;
  if (args.has("threads")) set_num_threads(static_cast<int>(args.integer("threads", 2)));
  const int64_t epochs = args.integer("epochs", 50), batch = args.integer("batch-size", 16);
  const std::string weights = args.str("weights");
  manual_seed(0);

  // 1. Data: the class folders decide the number of classes.
  data::Splits folder = data::load_splits("imagefolder:" + args.str("data"), /*seed=*/0);
  // --device cuda: on the GPU. Under `mpirun -np N`: N processes, each on 1/N of every batch.
  const examples::Processes processes(train::device_option(args));
  const Device device = processes.device();
  examples::Loaders loaders(folder, batch, /*eval_batch_size=*/batch, processes, /*pin_memory=*/device.is_cuda());
  std::printf("%lld classes: %lld training, %lld validation, %lld test images\n",
              static_cast<long long>(folder.num_classes), static_cast<long long>(folder.train->size()),
              static_cast<long long>(folder.val->size()), static_cast<long long>(folder.test->size()));

  // 2. The model, with this dataset's head, and the ImageNet weights of everything else.
  auto model = models::resnet18({.num_classes = folder.num_classes});
  nn::StateDict imagenet;
  for (auto& [name, tensor] : load_safetensors(weights).tensors)
    if (name.rfind("fc.", 0) != 0) imagenet.emplace_back(name, tensor);  // the 1000-class head stays behind
  const nn::LoadResult loaded = model->load_state_dict(imagenet, /*strict=*/false);
  const std::vector<std::string> head{"fc.weight", "fc.bias"};  // missing by design: the new head
  LACOOT_CHECK(loaded.missing_keys == head && loaded.unexpected_keys.empty(), weights, " is not torchvision's "
               "resnet18: ", loaded.missing_keys.size() - head.size(), " of the model's tensors besides fc.* are not "
               "in it (first: ", loaded.missing_keys.front(), "), ", loaded.unexpected_keys.size(), " of its tensors "
               "are not the model's (first: ", loaded.unexpected_keys.empty() ? "-" : loaded.unexpected_keys.front(),
               ") (HINT: write it with tools/export_torchvision.py resnet18 ", weights, " --weights DEFAULT)");
  std::printf("loaded %zu tensors from %s; fc starts afresh with %lld outputs\n", imagenet.size(), weights.c_str(),
              static_cast<long long>(folder.num_classes));
  examples::print_model("ResNet-18", *model);

  model->to(device);

  // 3. Adam on every parameter, pretrained or new, at one constant lr.
  optim::Adam adam(model->named_parameters(), {.lr = args.number("lr", 1e-4), .weight_decay = 0});

  // 4. Train (no schedule), validate each epoch, test once, save (lacoot run --model resnet18).
  examples::fit(*model, adam, /*per_epoch=*/nullptr, loaders, epochs, args.integer("max-steps", 0));
  examples::test_and_save(*model, loaders, args.str("out", "resnet18_imagefolder.safetensors"),
                          {{"model", "resnet18"}, {"dataset", "imagefolder"},
                           {"num_classes", std::to_string(folder.num_classes)}});
  return 0;
} catch (const train::UsageError& e) {
  std::fprintf(stderr, "resnet18_imagefolder: %s\n", e.what());
  return 2;
} catch (const Error& e) {
  std::fprintf(stderr, "resnet18_imagefolder: %s\n", e.what());
  return 1;
}

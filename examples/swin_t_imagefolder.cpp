// Example 9 — LaCoOT on Swin-T: train with the regulariser on a folder of images, then collapse.
// Read first: example 6 (examples/resnet18_imagefolder.cpp: a folder of images, torchvision
// weights under a new head) and example 7 (examples/ot_regularisation.cpp: λ·R and Algorithm 1
// on a small network), then models/swin.hpp (the 12 removable blocks, and the two pairs the
// regulariser may compare), method/regulariser.hpp and method/algorithm1.hpp.
//
// The LaCoOT reference's Swin-T runs (METHOD.md §4, specs/architectures.md §4.4): torchvision's
// swin_t with its ImageNet weights and a new head, fed at the dataset's resolution (Tiny-ImageNet
// at 64x64, unresized: the 7x7 windows are zero-padded), trained with J = CE + λ R over its 12
// transformer blocks; then Algorithm 1 replaces the block of least validation MaxSWD_2 by the
// identity, again and again, while validation top-1 stays within δ of the dense model's.
//
// The recipe (supplementary Table 2 as train::recipe_for("swin_t", ...) holds it; METHOD.md §5):
//   data     --layout imagefolder: PATH/train (10 % held out, seed 0) and PATH/test, random resized
//            224 crops, flips, colour jitter 0.4; --layout tiny-imagenet: tiny-imagenet-200 (10 % of
//            train/ held out, val/ as the test set, flips); ImageNet mean / std (data::load_splits)
//   model    swin_t, head 768 → classes; with --weights every tensor but head.* comes from
//            torchvision's ImageNet weights (as in example 6), without it training starts afresh
//   training SGD, momentum 0.9, lr 1e-3; imagefolder 30 epochs of batch 16, weight decay 5e-4, lr
//            ×0.1 at 24; tiny-imagenet 160 epochs of batch 128, 1e-4, ×0.1 at 80 and 120 (the
//            reference's run); λ = 1, R over the blocks' input and output (--pair block) or, as the
//            reference, over their input and MLP branch (--pair mlp)
//   collapse Algorithm 1, δ = 1 point, blocks ranked by validation MaxSWD_2 (50 directions, seed 0)
//
//   /usr/bin/python3 tools/export_torchvision.py swin_t swin_t_imagenet.safetensors --weights DEFAULT
//   ./build/examples/swin_t_imagefolder [options]    (kUsage below lists them; --help prints it)
#include <cstdio>

#include "common.hpp"
#include "lacoot/train/args.hpp"

using namespace lacoot;

const char* kUsage = R"(usage: swin_t_imagefolder --data PATH [--layout imagefolder|tiny-imagenet]
                          [--weights swin_t_imagenet.safetensors] [--epochs E] [--batch-size B] [--lr 1e-3]
                          [--lambda 1] [--pair block|mlp] [--delta 1] [--val-size N] [--threads 2]
                          [--device cpu] [--max-steps N] [--out swin_t_imagefolder.safetensors]
Under `mpirun -np N` (a build with MPI): data parallel, each process on 1/N of every batch
(the batch a multiple of N); rank 0 prints and writes.
)";

int main(int argc, char** argv) try {
  train::Args args(argc, argv, 1, {"data", "layout", "weights", "epochs", "batch-size", "lr", "lambda", "pair",
                                   "delta", "val-size", "threads", "device", "max-steps", "out"});
  if (args.help) return std::fputs(kUsage, stdout), 0;
  if (args.has("threads")) set_num_threads(static_cast<int>(args.integer("threads", 2)));
  const std::string layout = args.str("layout", "imagefolder"), pair = args.str("pair", "block");
  if (layout != "imagefolder" && layout != "tiny-imagenet")
    throw train::UsageError("--layout takes imagefolder or tiny-imagenet, got \"" + layout + "\"");
  if (pair != "block" && pair != "mlp") throw train::UsageError("--pair takes block or mlp, got \"" + pair + "\"");
  const std::string dataset = layout + ":" + args.str("data");
  const train::Recipe recipe = train::recipe_for("swin_t", dataset);
  const int64_t epochs = args.integer("epochs", recipe.epochs), batch = args.integer("batch-size", recipe.batch_size);
  manual_seed(0);

  // 1. Data at the dataset's resolution; the class folders decide the number of classes.
  data::Splits data = data::load_splits(dataset, /*seed=*/0, args.integer("val-size", 0));
  // --device cuda: on the GPU. Under `mpirun -np N`: N processes, each on 1/N of every batch.
  const examples::Processes processes(train::device_option(args));
  const Device device = processes.device();
  examples::Loaders loaders(data, batch, /*eval_batch_size=*/batch, processes, /*pin_memory=*/device.is_cuda());
  std::printf("%lld classes: %lld training, %lld validation, %lld test images, %lldx%lld\n",
              static_cast<long long>(data.num_classes), static_cast<long long>(data.train->size()),
              static_cast<long long>(data.val->size()), static_cast<long long>(data.test->size()),
              static_cast<long long>(data.height), static_cast<long long>(data.width));

  // 2. The model: its 12 blocks are marked, and the mark says which pair R compares.
  auto model = models::swin_t({.num_classes = data.num_classes,
                               .pair = pair == "mlp" ? models::SwinPair::mlp_branch : models::SwinPair::block});
  if (args.has("weights")) {  // as in example 6: everything but the 1000-class head
    const std::string weights = args.str("weights");
    nn::StateDict imagenet;
    for (auto& [name, tensor] : load_safetensors(weights).tensors)
      if (name.rfind("head.", 0) != 0) imagenet.emplace_back(name, tensor);
    const nn::LoadResult loaded = model->load_state_dict(imagenet, /*strict=*/false);
    const std::vector<std::string> head{"head.weight", "head.bias"};  // missing by design: the new head
    LACOOT_CHECK(loaded.missing_keys == head && loaded.unexpected_keys.empty(), weights, " is not torchvision's "
                 "swin_t: ", loaded.missing_keys.size(), " of the model's tensors are not in it (head.* included; "
                 "first: ", loaded.missing_keys.front(), "), ", loaded.unexpected_keys.size(), " of its tensors are "
                 "not the model's (HINT: write it with tools/export_torchvision.py swin_t ", weights, " --weights DEFAULT)");
    std::printf("loaded %zu tensors from %s; the head starts afresh\n", imagenet.size(), weights.c_str());
  }
  examples::print_model("Swin-T", *model);
  std::printf("R compares each block's input with its %s\n", pair == "mlp" ? "MLP branch (the reference's)" : "output");
  model->to(device);

  // 3. Train with J = CE + λ R: the regulariser's hooks take each block's pair during the
  //    forward pass, penalty() makes λ R of them. It is gone before Algorithm 1 edits the model.
  optim::SGD sgd(model->named_parameters(), {.lr = args.number("lr", recipe.lr), .momentum = recipe.momentum,
                                             .weight_decay = recipe.weight_decay});
  optim::MultiStepLR decay(sgd, recipe.milestones, recipe.gamma);
  {
    method::MaxSWDRegulariser reg(*model, {.lambda = args.number("lambda", 1.0)});
    examples::fit(*model, sgd, &decay, loaders, epochs, args.integer("max-steps", 0), [&] { return reg.penalty(); });
  }

  // 4. Algorithm 1: remove the block of least validation MaxSWD_2 while top-1 stays within δ;
  //    each step's MACs by tracing the model (graph/analysis.hpp: attention's products included).
  const Shape image{data.channels, data.height, data.width};
  const method::CollapseResult r = method::algorithm1(
      *model, loaders.val, loaders.test,
      {.delta = args.number("delta", 1.0),
       .measure = [&](nn::Module& m) {
         return std::vector<std::pair<std::string, double>>{{"macs", static_cast<double>(graph::profile(m, image).macs)}};
       },
       .on_step = [](const method::CollapseStep& s) {
         std::printf("removed %-14s validation top-1 %6.2f %%, test top-1 %6.2f %%, %s MACs\n",
                     s.removed.empty() ? "nothing" : s.removed.back().c_str(), s.val_top1, s.test_top1,
                     graph::human(static_cast<int64_t>(s.metrics[0].second)).c_str());
       }});
  const method::CollapseStep& kept = r.trajectory[r.chosen];
  std::printf("Algorithm 1 keeps the model with %zu of 12 blocks removed (delta %g points)\n", kept.removed.size(),
              args.number("delta", 1.0));

  // 5. Test once more and save the collapsed model; its metadata names the removed blocks, so
  //    that `lacoot run --model swin_t` removes them again.
  examples::test_and_save(*model, loaders, args.str("out", "swin_t_imagefolder.safetensors"),
                          {{"model", "swin_t"}, {"dataset", layout}, {"num_classes", std::to_string(data.num_classes)},
                           {"removed_blocks", lacoot::detail::join(kept.removed, ",")}});
  return 0;
} catch (const train::UsageError& e) {
  std::fprintf(stderr, "swin_t_imagefolder: %s\n", e.what());
  return 2;
} catch (const Error& e) {
  std::fprintf(stderr, "swin_t_imagefolder: %s\n", e.what());
  return 1;
}

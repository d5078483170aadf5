// examples/common.hpp — what examples 3 to 6 and 8 share, so that each lesson shows only its recipe.
//
// Holds: cifar10_splits (the LaCoOT reference's CIFAR-10 data, its validation size a
// parameter), Processes (data parallel under mpirun), Loaders (train / validation / test
// loaders over a data::Splits), print_model, fit (example 2's epoch loop with a per-epoch
// schedule, and a term added to the loss) and test_and_save.
// Needs: data_loaders/splits.hpp, lacoot.hpp, lacoot/distributed/launch.hpp.
// Leaves out: the recipes themselves (model, optimiser, schedule, epochs): each example states
// its own, so that it reads like the paper's table.
//
// Read example 2 (examples/resnet18_fashion_mnist.cpp) first: fit is its step 4, stepping the
// schedule once per epoch instead of once per iteration.
#pragma once

#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data_loaders/splits.hpp"
#include "lacoot/distributed/launch.hpp"
#include "lacoot/lacoot.hpp"

namespace examples {

using namespace lacoot;

// CIFAR-10 as the reference prepares it (data_loaders/splits.hpp, specs/formats.md §4): the
// 50,000 training images less `val_size` held out by a seeded random split (45,000 / 5,000 at
// the paper's 5,000), flipped, shifted by a 32x32 crop of the image padded by 4, normalised with
// ImageNet's mean and std (the reference's choice); validation and test images normalised only.
inline data::Splits cifar10_splits(const std::string& path, int64_t val_size, uint64_t seed) {
  LACOOT_CHECK(val_size > 0, "--val-size ", val_size, " must be positive (the paper holds out 5000)");
  try {
    return data::load_splits("cifar10:" + path, seed, val_size);
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.find("cannot hold out") == std::string::npos) throw;
    throw Error(what + " (--val-size sets it; the paper holds out 5000)");
  }
}

// The processes of the run. Alone, one; started by `mpirun -np N` (a build with MPI), N, each
// training one replica on 1/N of every batch (distributed/ddp.hpp: the gradients averaged, so
// the steps are one process's on the whole batch), only rank 0 printing and writing files.
// `device` is this process's (with NCCL, its own GPU).
class Processes {
 public:
  explicit Processes(Device device) : group_(distributed::init_process_group(device)) {
    group_.quiet_unless_main();
    if (world() > 1) std::printf("data parallel: %d processes (%s)\n", world(), group_.comm->backend().c_str());
  }
  distributed::Communicator& comm() const { return *group_.comm; }
  Device device() const { return group_.device; }
  int world() const { return group_.comm->world_size(); }
  bool is_main() const { return group_.comm->is_main(); }
  data::Shard shard() const { return {.num_replicas = world(), .rank = group_.comm->rank()}; }
  // This process's part of a batch of `batch_size`.
  int64_t share_of(int64_t batch_size) const { return group_.share_of(batch_size); }

 private:
  distributed::ProcessGroup group_;
};

// The three loaders of a run: training shuffled and augmented (each process its shard, of
// batch_size / N), validation and test in order. One worker thread each decodes and augments
// the next batches while the model trains; for a model on a GPU (pin_memory) they go to pinned
// memory, copied while the GPU works.
struct Loaders {
  const Processes& processes;
  data::DataLoader train, val, test;
  Loaders(const data::Splits& s, int64_t batch_size, int64_t eval_batch_size, const Processes& processes,
          bool pin_memory = false)
      : processes(processes),
        train(s.train, {.batch_size = processes.share_of(batch_size), .shuffle = true, .seed = 0, .num_workers = 1,
                        .transform = s.train_transform, .pin_memory = pin_memory, .shard = processes.shard()}),
        val(s.val, {.batch_size = eval_batch_size, .num_workers = 1, .transform = s.eval_transform,
                    .pin_memory = pin_memory}),
        test(s.test, {.batch_size = eval_batch_size, .num_workers = 1, .transform = s.eval_transform,
                      .pin_memory = pin_memory}) {}
};

// "NAME: 11.17 M parameters, removable blocks: layer1.1 ...": what LaCoOT will work on.
inline void print_model(const char* name, nn::Module& model) {
  int64_t count = 0;
  for (const Tensor& p : model.parameters()) count += p.numel();
  std::printf("%s: %.2f M parameters, removable blocks:", name, static_cast<double>(count) / 1e6);
  const auto blocks = nn::blocks(model);
  for (auto& [path, block] : blocks) std::printf(" %s", path.c_str());
  std::printf("%s\n", blocks.empty() ? " none marked" : "");
}

// `epochs` passes over the training set, each followed by a validation pass; `per_epoch` (null:
// a constant lr) steps after each epoch, as PyTorch's MultiStepLR does in the reference. Stops
// after `max_steps` training steps in all (0: no limit), for smoke tests and benchmarks.
// `extra_loss`, when given, is added to each step's cross-entropy (LaCoOT's λ·R, example 9).
// With several processes, their gradients are averaged (DistributedDataParallel, made afresh
// for the model as it is now: a collapsed model has fewer parameters) and the epoch's figures
// are over all of them.
inline void fit(nn::Module& model, optim::Optimizer& optimizer, optim::LRScheduler* per_epoch, Loaders& loaders,
                int64_t epochs, int64_t max_steps, std::function<Tensor()> extra_loss = {}) {
  distributed::Communicator& comm = loaders.processes.comm();
  std::optional<distributed::DistributedDataParallel> ddp;
  if (comm.world_size() > 1) ddp.emplace(model, comm);
  int64_t steps = 0;
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    const double lr = optimizer.lr(0);
    train::StepHooks hooks{.extra_loss = extra_loss,
                           .max_steps = max_steps > 0 ? max_steps - steps : 0,
                           .label = "epoch " + std::to_string(epoch) + "/" + std::to_string(epochs)};
    if (ddp) ddp->attach(hooks);
    train::EpochResult tr =
        distributed::all_reduce_result(train::train_epoch(model, optimizer, loaders.train, hooks), comm);
    train::EpochResult val = train::evaluate(model, loaders.val);
    char extra[48] = "";
    if (extra_loss) std::snprintf(extra, sizeof extra, " (+ lambda R %.4f)", tr.extra);
    std::printf("epoch %lld: lr %g, train loss %.4f%s, train top-1 %.2f %%, validation top-1 %.2f %% (%.0f img/s)\n",
                static_cast<long long>(epoch), lr, tr.loss, extra, tr.top1, val.top1, tr.images_per_second());
    if (per_epoch) per_epoch->step();
    steps += tr.steps;
    if (max_steps > 0 && steps >= max_steps) break;
  }
}

// Tests once, at the end (never during training: the test set picks nothing), then saves the
// weights with torchvision's names, which `lacoot run` and load_state_dict read back (rank 0
// only, under mpirun).
inline void test_and_save(nn::Module& model, Loaders& loaders, const std::string& out,
                          const std::vector<std::pair<std::string, std::string>>& metadata) {
  train::EpochResult r = train::evaluate(model, loaders.test);
  std::printf("test top-1 %.2f %%, top-5 %.2f %% (%lld images)\n", r.top1, r.top5, static_cast<long long>(r.images));
  if (!loaders.processes.is_main()) return;
  save_safetensors(out, model.state_dict(), metadata);
  std::printf("wrote %s\n", out.c_str());
}

}  // namespace examples

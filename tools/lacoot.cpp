// lacoot — the command-line program: train a model, run inference with saved weights, measure
// the max-sliced Wasserstein distance between two point clouds.
//
//   lacoot train --model M --dataset D --out DIR [--width W] [--epochs E] [--batch-size B]
//                [--lr LR] [--lambda L] [--seed S] [--threads T] [--workers K] [--max-steps N]
//                [--checkpoint-every N] [--resume] [--skip-nonfinite] [--device D]
//                [--sync-bn] [--regulariser-batch local|global] [--bucket-cap-mb MB]
//   lacoot run   --model M --weights W.safetensors --input X.npy --output Y.npy
//                [--num-classes C] [--in-channels C] [--width W] [--batch-size B] [--device D]
//   lacoot profile --model M --input-shape C,H,W [--remove a,b] [--json]
//   lacoot collapse --model M --weights W.safetensors --dataset D --out DIR [--delta P]
//                [--method M1[,M2...]] [--order a,b] [--random-seeds K] [--seed S] [--heal-epochs E]
//                [--latency-budget MS] [--device D] (tools/collapse_command.hpp)
//   lacoot maxswd --x X.npy --y Y.npy [--projections P.npy | --n-projections K --seed S] [--p P]
//                [--optimise]
//
// The command lines are DESIGN.md's contracts. Every lacoot::Error (a missing file, a corrupt
// header, weights for another architecture) becomes one line on stderr and exit status 1;
// a bad command line is exit status 2.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data_loaders/splits.hpp"
#include "lacoot/distributed/launch.hpp"
#include "lacoot/lacoot.hpp"
#include "lacoot/io/json.hpp"
#include "lacoot/io/npy.hpp"
#include "lacoot/io/safetensors.hpp"
#include "lacoot/graph/profile.hpp"
#include "lacoot/io/svg_plot.hpp"
#include "lacoot/method/algorithm1.hpp"
#include "lacoot/method/regulariser.hpp"
#include "lacoot/models/zoo.hpp"
#include "lacoot/ot/sliced_wasserstein.hpp"
#include "lacoot/optim/lr_scheduler.hpp"
#include "lacoot/optim/sgd.hpp"
#include "lacoot/train/args.hpp"
#include "lacoot/train/checkpoint.hpp"
#include "lacoot/train/epoch.hpp"
#include "lacoot/train/recipe.hpp"
#include "collapse_command.hpp"
#include "profile_command.hpp"
#include "weights.hpp"

using namespace lacoot;
using lacoot::detail::collapse_command;
using lacoot::train::device_option;
using lacoot::detail::check_classifier;
using lacoot::detail::load_model;

namespace {

using train::Args;
using train::UsageError;

const char* kUsage = R"(usage: lacoot <command> [options]

commands:
  train   train a model (the paper's recipe for the model and dataset unless overridden);
          --lambda L > 0 adds LaCoOT's regulariser L·R, R the mean MaxSWD_2 of the removable blocks
            --model M --dataset D --out DIR [--width W] [--epochs E] [--batch-size B] [--lr LR]
            [--lambda L] [--seed S] [--threads T] [--workers K] [--max-steps N]
            [--checkpoint-every N] [--resume] [--skip-nonfinite] [--val-size N] [--device D]
            [--sync-bn] [--regulariser-batch local|global] [--bucket-cap-mb MB]
          D: fashion-mnist (the Debian package's files), cifar10:PATH (the binary batches),
             tiny-imagenet:PATH (tiny-imagenet-200) or imagefolder:PATH (PATH/train, PATH/test)
          DIR receives model.safetensors, log.csv (one row per epoch: losses, accuracies, each
          block's MaxSWD_2 in training and on validation data), summary.json and
          checkpoint.safetensors (at each epoch's end, at --max-steps, and every N steps with
          --checkpoint-every); --resume continues from it exactly (same weights as a run that
          was never stopped). --val-size N holds out N training images for validation instead of
          the dataset's default (10,000 for fashion-mnist, 5,000 for cifar10). A NaN or infinite
          loss stops the run naming the step and the last good checkpoint; --skip-nonfinite
          passes over such batches instead (no update) and counts them.
          Data parallel: started by `mpirun -np N` (a build with MPI), it trains one replica per
          process, each on 1/N of every batch of --batch-size B (B a multiple of N), gradients
          averaged in buckets of --bucket-cap-mb MB (25) whose all-reduce overlaps backward;
          only rank 0 prints and writes DIR (summary.json adds the communication's share of the
          training time). BatchNorm statistics are per process, as PyTorch's DDP, or over the
          whole batch with --sync-bn (SyncBatchNorm). The regulariser measures each block on
          each process's part of the batch, the processes' gradients averaged
          (--regulariser-batch local, the reference's per-GPU batches), or on the whole batch,
          the activations gathered from every process (global: one process's distance).
          --resume works with any N that divides B. Give each process its share of the cores
          (--threads).
  run     eval-mode inference on an NCHW float32 .npy, logits written as .npy
            --model M --weights W.safetensors --input X.npy --output Y.npy
            [--num-classes C] [--in-channels C] [--width W] [--batch-size B] [--device D]
          (classes, input channels and width are read from the weights unless given)
  collapse  Algorithm 1: remove the removable block of least validation MaxSWD_2 while validation
            top-1 stays within --delta points of the dense model's
            --model M --weights W.safetensors --dataset D --out DIR [--delta 1] [--method M1[,M2...]]
            [--order a,b] [--random-seeds K] [--seed S] [--heal-epochs E] [--threads T]
            [--latency 0|1] [--latency-budget MS] [--latency-batch 1|128] [--val-size N] [--device D]
          methods (rankings): maxswd (default: the training metric), sliced (the mean SW_2, the
            reference's validation ranking), zscore (the reference's Swin-T rule |z| + percentile,
            fixed on the dense model), cosine (ShortGPT's 1 - cos block influence),
            block-influence (the paper's baseline: try each block, remove the one costing least),
            random (the paper's baseline; --random-seeds K runs seeds S..S+K-1, the paper uses 10),
            order (--order: the user's order; blocks not named stay). The first method's model is
            chosen, healed (--heal-epochs) and saved; the others run on fresh weights to compare.
          --latency-budget MS stops at the first model whose latency at --latency-batch images
            (128) is within MS milliseconds.
          DIR receives trajectory.csv / .json (the first method, per step: blocks removed,
          validation and test top-1, MACs, parameters, CPL, latency at batch 1 and 128; steps where
          MACs fall but latency does not are flagged), trajectories.csv / .json (every run, and the
          mean and std over seeds), blocks.csv (per block: MACs, parameters, latency saved, its
          distances), model.safetensors (the chosen collapsed model; lacoot run re-collapses it
          from its metadata) and the SVG plots accuracy_vs_cpl (Figure 4: every method),
          accuracy_vs_macs, accuracy_vs_blocks_removed and block_distances.
  profile MACs (conv, linear and attention matmul multiply-adds, biases included, per image), parameters and critical
          path length (the most conv/linear layers on one input-to-output path) of a model
            --model M --input-shape C,H,W [--remove a,b] [--json] [--num-classes N] [--width W]
          --json prints one object with the keys macs, params, cpl, removable and layers.
  maxswd  the max-sliced Wasserstein distance between two point clouds (rows of [n, ...] arrays)
            --x X.npy --y Y.npy [--projections P.npy | --n-projections K --seed S] [--p P] [--optimise]
          P [d, K] columns are normalised; K directions are drawn from the seed otherwise (50, 0).
          --optimise then ascends on the sphere from the best direction. The distance is the
          last line printed; with --projections it equals POT's max_sliced_wasserstein_distance.

--device D (train, run, collapse): cpu (the default), cuda or cuda:N, in a build with the CUDA
  backend; where there is no GPU the CPU is used, and said once.

models: resnet18 resnet18-cifar mobilenet_v2 mobilenet_v2-cifar vgg16 vgg16_bn vgg16-cifar vgg16_bn-cifar swin_t
  and the diffusion transformers dit-s2 dit-b2 dit-l2 dit-xl2 (profile only: C,H,W is the latent, 4,32,32 for
  256-pixel images; examples/dit_fashion_mnist trains one)
)";

// ---- lacoot run ----

int run_command(const Args& a) {
  check_classifier(a.str("model"), "run");
  nn::ModulePtr model = load_model(a.str("model"), a.str("weights"), a);
  model->eval();

  Tensor x = load_npy(a.str("input"), kFloat32);
  LACOOT_CHECK(x.dim() == 4, a.str("input"), ": expected an NCHW array (4-D), got shape ", shape_str(x.shape()));
  const int64_t n = x.size(0), batch = a.integer("batch-size", 128);
  NoGradGuard no_grad;
  const Device device = nn::device_of(*model);
  std::vector<Tensor> outputs;
  for (int64_t start = 0; start < n; start += batch)
    outputs.push_back((*model)(narrow(x, 0, start, std::min(batch, n - start)).to(device)).cpu());
  save_npy(a.str("output"), cat(outputs, 0));
  std::printf("wrote %s: logits [%lld, %lld]\n", a.str("output").c_str(), static_cast<long long>(n),
              static_cast<long long>(outputs.front().size(1)));
  return 0;
}

// ---- lacoot maxswd ----

// An [n, ...] array as n points of d = the rest flattened (activations of a block, say).
Tensor as_points(const Tensor& t, const std::string& path) {
  LACOOT_CHECK(t.dim() >= 2, path, ": expected points as rows, [n, d] or [n, ...], got shape ", shape_str(t.shape()));
  return alias_with_shape(t, {t.size(0), t.numel() / t.size(0)});
}

int maxswd_command(const Args& a) {
  const Tensor X = as_points(load_npy(a.str("x"), kFloat64), a.str("x"));
  const Tensor Y = as_points(load_npy(a.str("y"), kFloat64), a.str("y"));
  LACOOT_CHECK(X.size(1) == Y.size(1), "--x has ", X.size(1), " features per point and --y ", Y.size(1),
               ": the two clouds must live in the same space");
  Tensor P;
  if (a.has("projections")) {
    LACOOT_CHECK(!a.has("n-projections") && !a.has("seed"), "give either --projections or --n-projections/--seed");
    P = load_npy(a.str("projections"), kFloat64);
    LACOOT_CHECK(P.dim() == 2 && P.size(0) == X.size(1), a.str("projections"), ": expected [d, K] with d = ",
                 X.size(1), ", got shape ", shape_str(P.shape()));
    // Columns to unit length (DESIGN.md: the tool normalises them; POT uses them verbatim).
    P = div(P, sqrt(sum(mul(P, P), DimList{0}, true)));
  } else {
    Generator gen(static_cast<uint64_t>(a.integer("seed", 0)));
    P = random_projections(X.size(1), a.integer("n-projections", 50), gen, kFloat64);
  }
  const SlicedOptions o{.p = a.number("p", 2)};
  if (a.has("optimise")) {
    MaxSlicedResult r = max_sliced_wasserstein_optimised(X, Y, P, o);
    std::printf("best of %lld directions: %.17g\noptimised direction after %lld ascent steps:\n%.17g\n",
                static_cast<long long>(P.size(1)), r.best_random, static_cast<long long>(r.steps), r.distance.item());
  } else {
    std::printf("%.17g\n", max_sliced_wasserstein(X, Y, P, o).item());
  }
  return 0;
}

// ---- lacoot train ----

void write_log(const std::string& path, const std::string& header, const std::vector<std::string>& rows) {
  std::string text = header + "\n";
  for (const std::string& r : rows) text += r + "\n";
  write_file_atomic(path, text);
}

// Continues from DIR/checkpoint.safetensors when `resume`; returns the log rows so far.
std::vector<std::string> resume_from(const std::filesystem::path& out, nn::Module& model, optim::Optimizer& opt,
                                     optim::LRScheduler& schedule, train::Checkpoint& at) {
  const std::string path = (out / "checkpoint.safetensors").string();
  LACOOT_CHECK(std::filesystem::exists(path), "--resume: there is no checkpoint at ", path,
               " (hint: resume with the --out of the interrupted run)");
  at = train::load_checkpoint(path);
  model.load_state_dict(at.model);
  opt.load_state_dict(at.optimizer);
  schedule.load_state_dict(at.scheduler);
  train::restore_rng(at);
  std::vector<std::string> rows;
  const std::string text = std::filesystem::exists(out / "log.csv") ? read_file((out / "log.csv").string()) : "";
  std::size_t pos = text.find('\n');
  while (pos != std::string::npos && pos + 1 < text.size()) {
    const std::size_t next = text.find('\n', pos + 1);
    rows.push_back(text.substr(pos + 1, next - pos - 1));
    pos = next;
  }
  std::printf("resumed from %s: epoch %lld, step %lld of it (%lld in all)\n", path.c_str(),
              static_cast<long long>(at.epoch + 1), static_cast<long long>(at.step_in_epoch),
              static_cast<long long>(at.global_step));
  return rows;
}

int train_command(const Args& a) {
  const std::string model_name = a.str("model"), dataset_spec = a.str("dataset");
  check_classifier(model_name, "train");
  // The processes of this run (alone, or under mpirun), and this one's device.
  distributed::ProcessGroup group = distributed::init_process_group(device_option(a));
  const Device device = group.device;
  const std::unique_ptr<distributed::Communicator>& comm = group.comm;
  const int world = comm->world_size();
  const bool main_rank = comm->is_main();
  group.quiet_unless_main();
  const std::filesystem::path out = a.str("out");
  if (main_rank) prepare_output_folder(out, "--out");
  const double lambda = a.number("lambda", 0);
  LACOOT_CHECK(lambda >= 0, "--lambda must be >= 0, got ", lambda);
  if (a.has("threads")) set_num_threads(static_cast<int>(a.integer("threads", 2)));
  const uint64_t seed = static_cast<uint64_t>(a.integer("seed", 0));
  manual_seed(seed);

  train::Recipe r = train::recipe_for(model_name, dataset_spec);
  r.epochs = a.integer("epochs", r.epochs);
  r.batch_size = a.integer("batch-size", r.batch_size);
  r.lr = a.number("lr", r.lr);
  const int64_t local_batch = group.share_of(r.batch_size);
  data::Splits data = data::load_splits(dataset_spec, seed, a.integer("val-size", 0));

  nn::ModulePtr model = models::make_model(model_name, {.num_classes = data.num_classes,
                                                        .in_channels = data.channels, .width = a.integer("width", 0)});
  model->to(device);
  const int workers = static_cast<int>(a.integer("workers", 1));
  const bool pin = device.is_cuda();  // batches in pinned memory, copied while the GPU works
  data::DataLoader train_loader(data.train, {.batch_size = local_batch, .shuffle = true, .seed = seed,
                                             .num_workers = workers, .transform = data.train_transform,
                                             .pin_memory = pin, .shard = {.num_replicas = world, .rank = comm->rank()}});
  data::DataLoader val_loader(data.val, {.batch_size = 256, .num_workers = workers, .transform = data.eval_transform,
                                         .pin_memory = pin});
  data::DataLoader test_loader(data.test, {.batch_size = 256, .num_workers = workers,
                                           .transform = data.eval_transform, .pin_memory = pin});

  optim::SGD sgd(model->named_parameters(), {.lr = r.lr, .momentum = r.momentum, .weight_decay = r.weight_decay});
  std::unique_ptr<optim::LRScheduler> schedule;
  train::StepHooks hooks;
  if (r.cosine_per_iteration) {
    schedule = std::make_unique<optim::CosineAnnealingLR>(sgd, r.epochs * train_loader.size());
    hooks.per_step_scheduler = schedule.get();
  } else {
    schedule = std::make_unique<optim::MultiStepLR>(sgd, r.milestones, r.gamma);
  }
  const int64_t max_steps = a.integer("max-steps", 0), every = a.integer("checkpoint-every", 0);

  // LaCoOT: J = CE + λ R over the model's removable blocks (method/regulariser.hpp).
  // Data parallel, the regulariser measures each block on this process's rows (local) or on
  // every process's (global: distributed::functional::all_gather).
  const std::string reg_batch = a.str("regulariser-batch", "local");
  LACOOT_CHECK(reg_batch == "local" || reg_batch == "global", "--regulariser-batch must be local or global, got \"",
               reg_batch, "\"");
  std::unique_ptr<method::MaxSWDRegulariser> reg;
  if (lambda > 0) {
    method::RegulariserOptions ro{.lambda = lambda, .seed = seed};
    if (reg_batch == "global" && world > 1)
      ro.gather_rows = [&comm](const Tensor& rows) { return distributed::functional::all_gather(rows, *comm); };
    reg = std::make_unique<method::MaxSWDRegulariser>(*model, ro);
    hooks.extra_loss = [&] { return reg->penalty(); };
  }
  const bool sync_bn = a.has("sync-bn");
  if (sync_bn && world > 1) distributed::convert_sync_batchnorm(*model, *comm);
  std::string header = "epoch,lr,train_loss,train_reg,train_top1,val_loss,val_top1,test_top1,seconds";
  const auto block_paths = nn::blocks(*model);
  for (auto& [path, m] : block_paths) header += (reg ? ",train_maxswd_" + path : std::string()) + ",val_maxswd_" + path;

  // Where the run stands, and the checkpoint that records it (DIR/checkpoint.safetensors).
  train::Checkpoint at;
  std::vector<std::string> log;
  if (a.has("resume")) {
    log = resume_from(out, *model, sgd, *schedule, at);
    for (auto& [k, v] : at.info)
      if (k == "regulariser_rng_offset" && reg) reg->generator().set_state(seed, std::stoull(v));
  }
  hooks.skip_nonfinite = a.has("skip-nonfinite");
  auto good_checkpoint = [&] {
    return (out / "checkpoint.safetensors").string() + " (epoch " + std::to_string(at.epoch + 1) + ", step " +
           std::to_string(at.step_in_epoch) + " of it, " + std::to_string(at.global_step) + " in all; --resume "
           "continues from it)";
  };
  if (a.has("resume")) hooks.last_checkpoint = good_checkpoint();
  // Data parallel: the replicas start from rank 0's weights and average their gradients.
  std::optional<distributed::DistributedDataParallel> ddp;
  const double bucket_mb = a.number("bucket-cap-mb", 25);
  LACOOT_CHECK(bucket_mb > 0, "--bucket-cap-mb must be positive, got ", bucket_mb);
  if (world > 1) ddp.emplace(*model, *comm, distributed::DDPOptions{.bucket_cap_mb = bucket_mb}).attach(hooks);
  int64_t skipped_nonfinite = 0;
  auto checkpoint = [&](int64_t epoch, int64_t step_in_epoch) {
    at.model = model->state_dict();
    at.optimizer = sgd.state_dict();
    at.scheduler = schedule->state_dict();
    at.epoch = epoch, at.step_in_epoch = step_in_epoch;
    at.info = {{"model", model_name}, {"dataset", dataset_spec}};
    if (reg) at.info.emplace_back("regulariser_rng_offset", std::to_string(reg->generator().offset()));
    train::capture_rng(at);
    if (main_rank) train::save_checkpoint((out / "checkpoint.safetensors").string(), at);
    hooks.last_checkpoint = good_checkpoint();
  };

  std::printf("lacoot train: %s on %s (%lld train / %lld val / %lld test), %lld epochs, batch %lld, lr %g, "
              "%d threads%s, %s\n", model_name.c_str(), dataset_spec.c_str(), static_cast<long long>(data.train->size()),
              static_cast<long long>(data.val->size()), static_cast<long long>(data.test->size()),
              static_cast<long long>(r.epochs), static_cast<long long>(r.batch_size), r.lr, get_num_threads(),
              world > 1 ? (" in each of " + std::to_string(world) + " processes (mpi)").c_str() : "",
              device.str().c_str());
  train::EpochResult val, test;
  double train_seconds = 0;
  int64_t images = 0;
  for (int64_t epoch = at.epoch; epoch < r.epochs; ++epoch) {
    const double lr = sgd.lr(0);
    const int64_t skip = epoch == at.epoch ? at.step_in_epoch : 0;
    hooks.label = "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(r.epochs);
    hooks.max_steps = max_steps > 0 ? max_steps - at.global_step : 0;
    hooks.skip_steps = skip;
    std::vector<double> train_distances(block_paths.size(), 0.0);
    hooks.on_step = [&](int64_t step, double) {
      if (reg)
        for (std::size_t k = 0; k < train_distances.size(); ++k) train_distances[k] += reg->distances()[k];
      ++at.global_step;
      if (every > 0 && at.global_step % every == 0) checkpoint(epoch, step);
    };
    train_loader.set_epoch(epoch);
    train::EpochResult tr = distributed::all_reduce_result(train::train_epoch(*model, sgd, train_loader, hooks), *comm);
    train_seconds += tr.seconds;
    images += tr.images;
    skipped_nonfinite += tr.skipped_nonfinite;
    if (tr.skipped_nonfinite > 0)
      std::printf("epoch %lld: skipped %lld batches of NaN or infinite loss (--skip-nonfinite)\n",
                  static_cast<long long>(epoch + 1), static_cast<long long>(tr.skipped_nonfinite));
    const bool epoch_done = skip + tr.steps == train_loader.size();
    if (epoch_done && !r.cosine_per_iteration) schedule->step();
    checkpoint(epoch_done ? epoch + 1 : epoch, epoch_done ? 0 : skip + tr.steps);
    if (reg) reg->set_recording(false);
    val = train::evaluate(*model, val_loader);
    test = train::evaluate(*model, test_loader);
    // Each block's MaxSWD_2 on the validation set, directions from seed 0 (comparable across epochs).
    const auto val_distances = method::block_distances(*model, val_loader, 50, 0);
    if (reg) reg->set_recording(true);
    std::printf("epoch %lld: train loss %.4f (+ λR %.4f) top1 %.2f%% | val top1 %.2f%% | test top1 %.2f%% | %.1f s\n",
                static_cast<long long>(epoch + 1), tr.loss, tr.extra, tr.top1, val.top1, test.top1, tr.seconds);
    char row[256];
    std::snprintf(row, sizeof row, "%lld,%.6g,%.6f,%.6f,%.4f,%.6f,%.4f,%.4f,%.3f", static_cast<long long>(epoch + 1), lr,
                  tr.loss, tr.extra, tr.top1, val.loss, val.top1, test.top1, tr.seconds);
    std::string line = row;
    for (std::size_t k = 0; k < block_paths.size(); ++k) {
      char cell[64];
      if (reg) {
        std::snprintf(cell, sizeof cell, ",%.6f", tr.steps ? train_distances[k] / static_cast<double>(tr.steps) : 0.0);
        line += cell;
      }
      std::snprintf(cell, sizeof cell, ",%.6f", val_distances[k].second);
      line += cell;
    }
    log.push_back(line);
    if (main_rank) {
      write_log((out / "log.csv").string(), header, log);
      save_safetensors((out / "model.safetensors").string(), model->state_dict(),
                       {{"model", model_name}, {"dataset", dataset_spec}, {"epoch", std::to_string(epoch + 1)}});
    }
    if (max_steps > 0 && at.global_step >= max_steps) break;
  }
  const double ips = train_seconds > 0 ? static_cast<double>(images) / train_seconds : 0.0;
  Json summary = Json::object({{"model", model_name}, {"dataset", dataset_spec}, {"epochs", r.epochs},
                               {"steps", at.global_step}, {"test_top1", test.top1}, {"val_top1", val.top1},
                               {"train_seconds", train_seconds}, {"images_per_second", ips},
                               {"threads", get_num_threads()}, {"seed", static_cast<int64_t>(seed)},
                               {"skipped_nonfinite", skipped_nonfinite}, {"processes", world}});
  if (ddp) {  // what averaging the gradients cost rank 0: in backward's hooks, and after backward
    const distributed::DDPStats& st = ddp->stats();
    summary["sync_bn"] = sync_bn;
    summary["regulariser_batch"] = reg_batch;
    summary["buckets"] = static_cast<int64_t>(ddp->num_buckets());
    summary["communication_seconds_during_backward"] = st.during_backward_seconds;
    summary["communication_seconds_after_backward"] = st.after_backward_seconds;
    summary["communication_share"] = train_seconds > 0 ? st.seconds() / train_seconds : 0.0;
  }
  if (main_rank) write_file_atomic((out / "summary.json").string(), summary.dump(2) + "\n");
  std::printf("test top-1 %.2f%%, val top-1 %.2f%%, %.1f s of training (%.1f img/s); wrote %s\n", test.top1,
              val.top1, train_seconds, ips, out.string().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  for (int i = 2; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::fputs(kUsage, stdout);  // every command's options are in the one usage text
      return 0;
    }
  try {
    if (command == "train")
      return train_command(Args(argc, argv, 2, {"model", "dataset", "out", "width", "epochs", "batch-size", "lr",
                                                "lambda", "seed", "threads", "workers", "max-steps", "checkpoint-every",
                                                "device", "val-size", "regulariser-batch", "bucket-cap-mb"},
                                {"resume", "skip-nonfinite", "sync-bn"}));
    if (command == "run")
      return run_command(Args(argc, argv, 2, {"model", "weights", "input", "output", "num-classes", "in-channels",
                                              "width", "batch-size", "device"}));
    if (command == "collapse")
      return collapse_command(Args(argc, argv, 2, {"model", "weights", "dataset", "out", "delta", "method", "seed",
                                                   "heal-epochs", "threads", "workers", "latency", "val-size",
                                                   "num-classes", "in-channels", "width", "order", "random-seeds",
                                                   "latency-budget", "latency-batch", "device"}));
    if (command == "profile")
      return profile_command(Args(argc, argv, 2, {"model", "input-shape", "remove", "num-classes", "width"}, {"json"}));
    if (command == "maxswd")
      return maxswd_command(Args(argc, argv, 2, {"x", "y", "projections", "n-projections", "seed", "p"}, {"optimise"}));
    std::fprintf(stderr, "lacoot: unknown command \"%s\"\n%s", command.c_str(), kUsage);
    return 2;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "lacoot %s: %s\n", command.c_str(), e.what());
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "lacoot %s: %s\n", command.c_str(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lacoot %s: unexpected error: %s\n", command.c_str(), e.what());
    return 1;
  }
}

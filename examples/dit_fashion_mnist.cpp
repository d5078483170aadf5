// Example 8 — LaCoOT on a diffusion transformer: a small DiT trained on Fashion-MNIST pixels,
// fine-tuned with and without the Max-SWD regulariser, two blocks removed from each.
// Read first: models/dit.hpp (the network), diffusion/gaussian_diffusion.hpp (the loss and the
// sampler), examples/resnet18_fashion_mnist.cpp (the classifier's recipe) and the LaCoOT
// examples (the regulariser).
//
// The run (issue 7's acceptance, the paper's DiT claim in miniature):
//   data       Fashion-MNIST 28x28, zero-padded to 32x32, scaled to [-1, 1]; training flips
//   model      DiT with patch 4 (64 tokens), hidden 96, 6 blocks, 4 heads, 10 classes, class
//              dropout 0.1 (for guidance), a learned variance
//   dense      AdamW (lr 3e-4, no weight decay), batch 64, --steps steps of the DDPM loss
//   fine-tune  from the dense weights, --finetune-steps more steps twice, on the same batches,
//              timesteps, noise and dropped labels (each run starts from fixed seeds, so it is
//              the same whether the dense DiT was trained or loaded): once with λ · the mean
//              over blocks of MaxSWD(block input, block output), once without
//   collapse   the --remove blocks of the regularised model with the smallest distance on
//              validation batches (Algorithm 1's ordering) are replaced by the identity, in both
//              fine-tuned models and in the dense one (the paper's comparison: the pre-trained
//              DiT with the same blocks removed)
//   quality    class-conditional samples (DDPM, --sample-steps respaced steps, guidance
//              --cfg-scale) compared with the test images by a Fréchet distance in the feature
//              space of this project's own Fashion-MNIST classifier (a ResNet-18-CIFAR trained
//              here, or --classifier weights from lacoot train), and that classifier's accuracy
//              on the samples. Not FID: no Inception network is used.
//   output     --out DIR: grids of samples (PNG, a row per class), summary.json and the weights:
//              classifier.safetensors, dense.safetensors, lacoot.safetensors, plain.safetensors
//              (--classifier and --dense take them back, so that another λ or another number of
//              fine-tuning steps reuses the dense DiT instead of training it again)
//
//   ./build/examples/dit_fashion_mnist [options]    (kUsage below lists them; --help prints it)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

// stb's PNG writer (Debian's libstb-dev), compiled here; its C initialisers trip -Wextra.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

#include "data_loaders/splits.hpp"
#include "lacoot/diffusion/frechet.hpp"
#include "lacoot/diffusion/gaussian_diffusion.hpp"
#include "lacoot/lacoot.hpp"
#include "lacoot/models/dit.hpp"
#include "lacoot/train/args.hpp"

using namespace lacoot;

const char* kUsage = R"(usage: dit_fashion_mnist [--steps 4000] [--finetune-steps 2000] [--lambda 1] [--remove 2]
                         [--hidden 96] [--depth 6] [--heads 4] [--patch 4] [--batch-size 64] [--lr 3e-4]
                         [--samples 500] [--sample-steps 50] [--cfg-scale 1.5]
                         [--classifier W.safetensors | --classifier-epochs 2] [--dense W.safetensors]
                         [--data DIR] [--seed 0]
                         [--threads 2] [--device cpu] [--max-steps N] [--out dit_fashion_mnist]
  --max-steps N caps every training loop at N steps (a quick check of the whole run).
  --dense W loads the dense DiT (dense.safetensors of an earlier run with the same --hidden,
  --depth, --heads and --patch) instead of training it; --steps is then unused.
  --seed S changes every seed but the judge's (the data split and the classifier stay): the
  batches, the DiT's initialisation, the timesteps, noise and dropped labels, the regulariser's
  directions and the sampling noise. Seed 0 is the run recorded in BENCHMARKS.md.
)";

namespace {

using Loader = data::DataLoader;

// The DDPM training loss of one batch: t uniform over the 1000 steps, fresh noise.
Tensor diffusion_loss(models::DiT& dit, const diffusion::GaussianDiffusion& process, const data::Batch& batch,
                      Generator& gen, Device device) {
  Tensor x0 = batch.images.to(device, /*non_blocking=*/true), y = batch.labels.to(device, /*non_blocking=*/true);
  const int64_t N = x0.size(0);
  Tensor t = Tensor::empty({N}, kInt64);
  const uint64_t first = gen.advance(static_cast<uint64_t>(N));
  for (int64_t i = 0; i < N; ++i)
    t.data<int64_t>()[i] = static_cast<int64_t>(gen.uniform<double>(first + static_cast<uint64_t>(i)) * 1000);
  Tensor noise = randn(x0.shape(), x0.dtype(), gen).to(device);
  Tensor x_t = process.q_sample(x0, t, noise);
  Tensor out = dit(x_t, t.to(x0.dtype()).to(device), y);
  return mean(process.training_losses(out, x0, t, noise).loss);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// `steps` optimiser steps of the DDPM loss (+ the regulariser's penalty, if any) over `loader`.
void train_steps(models::DiT& dit, const diffusion::GaussianDiffusion& process, Loader& loader, int64_t steps,
                 double lr, uint64_t seed, method::MaxSWDRegulariser* reg, const char* label) {
  dit.train();
  optim::AdamW opt(dit.named_parameters(), {.lr = lr, .weight_decay = 0});
  Generator gen(seed);
  const Device device = nn::device_of(dit);
  int64_t step = 0;
  double running = 0;
  const auto start = std::chrono::steady_clock::now();
  while (step < steps) {
    for (auto& batch : loader) {
      Tensor loss = diffusion_loss(dit, process, batch, gen, device);
      const double value = loss.item();
      LACOOT_CHECK(std::isfinite(value), label, ": the loss is ", value, " at step ", step + 1,
                   " (hint: lower --lr)");
      if (reg) loss = loss + reg->penalty();
      opt.zero_grad();
      loss.backward();
      opt.step();
      running = step == 0 ? value : 0.98 * running + 0.02 * value;
      if (++step % 200 == 0 || step == steps)
        std::printf("  %s: step %lld/%lld, loss %.4f, %.3f s/step\n", label, static_cast<long long>(step),
                    static_cast<long long>(steps), running, seconds_since(start) / static_cast<double>(step));
      if (step >= steps) break;
    }
  }
}

// Each block's MaxSWD between its input and output, averaged over `batches` validation batches
// at random steps (fixed seeds: every model is measured on the same inputs and directions).
std::vector<std::pair<std::string, double>> block_scores(models::DiT& dit, const diffusion::GaussianDiffusion& process,
                                                         Loader& val, int64_t batches) {
  dit.eval();
  NoGradGuard no_grad;
  method::MaxSWDRegulariser reg(dit, {.lambda = 1.0, .seed = 7});
  std::vector<double> sums(reg.blocks().size(), 0.0);
  Generator gen(11);
  int64_t seen = 0;
  for (auto& batch : val) {
    diffusion_loss(dit, process, batch, gen, nn::device_of(dit));
    reg.penalty();
    for (std::size_t k = 0; k < sums.size(); ++k) sums[k] += reg.distances()[k];
    if (++seen >= batches) break;
  }
  std::vector<std::pair<std::string, double>> out;
  for (std::size_t k = 0; k < sums.size(); ++k) out.emplace_back(reg.blocks()[k], sums[k] / static_cast<double>(seen));
  return out;
}

// The penultimate features (the pooled activations) and the predicted classes of the
// classifier for images in [-1, 1], [N, 1, 32, 32].
struct Classified {
  Tensor features;
  std::vector<int64_t> predicted;
};
Classified classify(nn::Module& classifier, const Tensor& images) {
  classifier.eval();
  NoGradGuard no_grad;
  Tensor pooled;
  nn::Module& pool = *classifier.submodule("avgpool");
  const int id = pool.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor& out) { pooled = out; });
  std::vector<Tensor> feats;
  Classified c;
  const Device device = nn::device_of(classifier);
  for (int64_t i = 0; i < images.size(0); i += 250) {
    const int64_t n = std::min<int64_t>(250, images.size(0) - i);
    // [-1, 1] back to [0, 1], then the classifier's normalisation (data::load_splits').
    Tensor x = (narrow(images, 0, i, n).to(device) + 1.0) * 0.5;
    Tensor logits = classifier((x - 0.2860) / 0.3530);
    feats.push_back(reshape(pooled, {n, pooled.numel() / n}).to(kCPU));
    Tensor best = argmax(logits, 1).to(kCPU);
    for (int64_t k = 0; k < n; ++k) c.predicted.push_back(best.data<int64_t>()[k]);
  }
  pool.remove_forward_hook(id);
  c.features = cat(feats, 0);
  return c;
}

// Class-conditional samples, `per_class` of each class, in class order, with guidance.
Tensor sample(models::DiT& dit, const diffusion::GaussianDiffusion& process, int64_t per_class, double cfg_scale,
              uint64_t seed) {
  dit.eval();
  const Device device = nn::device_of(dit);
  const int64_t classes = dit.options.num_classes, N = classes * per_class, C = dit.options.in_channels,
                I = dit.options.input_size;
  Generator gen(seed);
  std::vector<Tensor> out;
  for (int64_t i = 0; i < N; i += 200) {  // in chunks of 200 samples (400 with the null halves)
    const int64_t n = std::min<int64_t>(200, N - i);
    Tensor y = Tensor::empty({2 * n}, kInt64);
    for (int64_t k = 0; k < n; ++k) {
      y.data<int64_t>()[k] = (i + k) / per_class;
      y.data<int64_t>()[n + k] = classes;  // the null class: the unconditional half
    }
    Tensor noise = randn({n, C, I, I}, kFloat32, gen).to(device);
    Tensor yd = y.to(device);
    auto model = [&](const Tensor& x, const Tensor& t) {
      return dit.forward_with_cfg(cat({x, x}, 0), cat({t, t}, 0), yd, cfg_scale, C);
    };
    auto half_model = [&](const Tensor& x, const Tensor& t) { return narrow(model(x, t), 0, 0, x.size(0)); };
    // x̂_0 clipped to [-1, 1] at each step, as for pixels (improved-diffusion's default; DiT's
    // latents are not clipped).
    out.push_back(process.sample_loop(half_model, noise, gen, /*ddim=*/false, 0.0, /*clip_denoised=*/true).to(kCPU));
  }
  return clamp(cat(out, 0), -1.0, 1.0);
}

// A grid of `per_row` samples per row (the first `per_row` of each class), as an 8-bit PNG.
void write_grid(const std::string& path, const Tensor& samples, int64_t per_class, int64_t per_row) {
  const int64_t classes = samples.size(0) / per_class, I = samples.size(2), W = per_row * I, H = classes * I;
  std::vector<unsigned char> pixels(static_cast<std::size_t>(W * H));
  for (int64_t c = 0; c < classes; ++c)
    for (int64_t j = 0; j < std::min(per_row, per_class); ++j)
      for (int64_t r = 0; r < I; ++r)
        for (int64_t q = 0; q < I; ++q) {
          const double v = samples.at<float>({c * per_class + j, 0, r, q});
          pixels[static_cast<std::size_t>((c * I + r) * W + j * I + q)] =
              static_cast<unsigned char>(std::clamp((v + 1.0) * 127.5, 0.0, 255.0));
        }
  const std::string tmp = path + ".tmp";
  LACOOT_CHECK(stbi_write_png(tmp.c_str(), static_cast<int>(W), static_cast<int>(H), 1, pixels.data(),
                              static_cast<int>(W)) != 0, "could not write ", tmp);
  std::filesystem::rename(tmp, path);
}

}  // namespace

int main(int argc, char** argv) try {
  train::Args args(argc, argv, 1, {"steps", "finetune-steps", "lambda", "remove", "hidden", "depth", "heads", "patch",
                                   "batch-size", "lr", "samples", "sample-steps", "cfg-scale", "classifier",
                                   "classifier-epochs", "dense", "data", "seed", "threads", "device", "max-steps", "out"});
  if (args.help) return std::fputs(kUsage, stdout), 0;
  if (args.has("threads")) set_num_threads(static_cast<int>(args.integer("threads", 2)));
  const int64_t max_steps = args.integer("max-steps", 0);
  auto capped = [&](int64_t n) { return max_steps > 0 ? std::min(n, max_steps) : n; };
  const int64_t steps = capped(args.integer("steps", 4000)), finetune = capped(args.integer("finetune-steps", 2000));
  const int64_t remove = args.integer("remove", 2), samples = args.integer("samples", 500);
  const double lambda = args.number("lambda", 1.0), lr = args.number("lr", 3e-4), cfg = args.number("cfg-scale", 1.5);
  const models::DiTOptions dit_options{.input_size = 32, .patch_size = args.integer("patch", 4), .in_channels = 1,
                                       .hidden_size = args.integer("hidden", 96), .depth = args.integer("depth", 6),
                                       .num_heads = args.integer("heads", 4), .class_dropout_prob = 0.1,
                                       .num_classes = 10};
  if (steps < 1 || finetune < 1) throw train::UsageError("--steps and --finetune-steps must be at least 1");
  if (remove < 1 || remove >= dit_options.depth)
    throw train::UsageError("--remove must be between 1 and the depth minus 1");
  if (samples < 10 || samples % 10) throw train::UsageError("--samples must be a positive multiple of 10 (per class)");
  const std::filesystem::path out = args.str("out", "dit_fashion_mnist");
  prepare_output_folder(out, "--out");
  const int64_t seed_option = args.integer("seed", 0);
  if (seed_option < 0) throw train::UsageError("--seed must be at least 0");
  // The run's seeds: k for seed 0, k + 100 S for --seed S.
  auto seeded = [&](uint64_t k) { return k + 100 * static_cast<uint64_t>(seed_option); };
  manual_seed(0);  // the classifier's initialisation: the judge is the same for every --seed

  // 1. Data: [-1, 1] pixels, padded to 32x32 (the background is -1).
  const std::string spec = args.has("data") ? "fashion-mnist:" + args.str("data") : "fashion-mnist";
  data::Splits fmnist = data::load_splits(spec, /*seed=*/0);
  const data::Normalize to_signed{{0.5}, {0.5}};
  const int64_t batch = args.integer("batch-size", 64);
  Loader train_loader(fmnist.train, {.batch_size = batch, .shuffle = true, .drop_last = true, .seed = seeded(0), .num_workers = 1,
                                     .transform = data::Compose{data::Pad{2}, data::RandomHorizontalFlip{0.5}, to_signed}});
  Loader val_loader(fmnist.val, {.batch_size = batch, .num_workers = 1,
                                 .transform = data::Compose{data::Pad{2}, to_signed}});
  const Device device = train::device_option(args);

  // 2. The judge: the project's Fashion-MNIST classifier (ResNet-18-CIFAR, width 16).
  auto classifier = models::resnet18_cifar({.num_classes = 10, .in_channels = 1, .width = 16});
  classifier->to(device);
  if (args.has("classifier")) {
    classifier->load_state_dict(load_safetensors(args.str("classifier")).tensors);
  } else {
    Loader cls_train(fmnist.train, {.batch_size = 128, .shuffle = true, .seed = 1, .num_workers = 1,
                                    .transform = fmnist.train_transform});
    optim::SGD sgd(classifier->named_parameters(), {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-4});
    const int64_t epochs = args.integer("classifier-epochs", 2);
    optim::CosineAnnealingLR cosine(sgd, std::max<int64_t>(1, epochs * cls_train.size()));
    for (int64_t e = 0; e < epochs; ++e)
      train::train_epoch(*classifier, sgd, cls_train, {.per_step_scheduler = &cosine, .max_steps = max_steps,
                                                       .label = "classifier epoch " + std::to_string(e + 1)});
    save_safetensors((out / "classifier.safetensors").string(), classifier->state_dict(),
                     {{"model", "resnet18-cifar"}, {"width", "16"}, {"dataset", "fashion-mnist"}});
  }
  Loader test_loader(fmnist.test, {.batch_size = 500, .num_workers = 1, .transform = data::Compose{data::Pad{2}, to_signed}});
  std::vector<Tensor> real;
  int64_t right = 0, total = 0;
  for (auto& b : test_loader) {
    Classified c = classify(*classifier, b.images);
    for (int64_t k = 0; k < b.size(); ++k) right += c.predicted[k] == b.labels.data<int64_t>()[k];
    total += b.size();
    real.push_back(c.features);
  }
  const diffusion::FeatureStats real_stats = diffusion::feature_stats(cat(real, 0));
  const double classifier_top1 = 100.0 * static_cast<double>(right) / static_cast<double>(total);
  std::printf("classifier: test top-1 %.2f %% (its pooled features are the Fréchet distance's space)\n", classifier_top1);

  // 3. The dense DiT.
  const diffusion::GaussianDiffusion process(diffusion::linear_beta_schedule(1000));
  const diffusion::GaussianDiffusion sampler(diffusion::linear_beta_schedule(1000), true,
                                             diffusion::space_timesteps(1000, std::to_string(args.integer("sample-steps", 50))));
  // Seed 0 keeps the generator as the classifier left it (the recorded runs).
  if (seed_option != 0) manual_seed(seeded(0));
  auto dense = models::dit(dit_options);
  dense->to(device);
  std::printf("DiT: hidden %lld, %lld blocks, %lld tokens\n", static_cast<long long>(dit_options.hidden_size),
              static_cast<long long>(dit_options.depth), static_cast<long long>(dense->grid * dense->grid));
  if (args.has("dense")) {
    dense->load_state_dict(load_safetensors(args.str("dense")).tensors);
  } else {
    train_steps(*dense, process, train_loader, steps, lr, seeded(1), nullptr, "dense");
  }
  auto save = [&](const models::DiT& m, const std::string& name) {
    save_safetensors((out / (name + ".safetensors")).string(), m.state_dict(), {{"model", "dit"}});
  };
  save(*dense, "dense");

  // 4. Fine-tune twice from the dense weights, on the same batches: with and without LaCoOT.
  auto copy_of_dense = [&] {
    auto m = models::dit(dit_options);
    m->to(device);
    m->load_state_dict(dense->state_dict());
    return m;
  };
  // Each starts from the loader's first epoch and a reseeded global generator (class dropout
  // draws from it), so that the two differ only by the regulariser.
  auto fine_tune = [&](models::DiT& m, method::MaxSWDRegulariser* reg, const char* label) {
    const uint64_t seed = seeded(2);  // the timesteps and noise (train_steps' generator), the dropped labels
    train_loader.set_epoch(0);
    manual_seed(seed);
    train_steps(m, process, train_loader, finetune, lr, seed, reg, label);
  };
  auto lacoot_dit = copy_of_dense(), plain_dit = copy_of_dense();
  {
    method::MaxSWDRegulariser reg(*lacoot_dit, {.lambda = lambda, .seed = seeded(3)});
    fine_tune(*lacoot_dit, &reg, "fine-tune with LaCoOT");
  }
  fine_tune(*plain_dit, nullptr, "fine-tune without");
  save(*lacoot_dit, "lacoot");
  save(*plain_dit, "plain");

  // 5. Algorithm 1's ordering on the regularised model; the same blocks go from every model.
  const auto scores = block_scores(*lacoot_dit, process, val_loader, 8);
  std::vector<std::pair<std::string, double>> order = scores;
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  std::vector<std::string> removed;
  for (int64_t k = 0; k < remove; ++k) removed.push_back(order[static_cast<std::size_t>(k)].first);
  std::printf("block distances (LaCoOT model, validation):");
  for (auto& [path, d] : scores) std::printf(" %s %.4f", path.c_str(), d);
  std::printf("\nremoved from every model:");
  for (auto& path : removed) std::printf(" %s", path.c_str());
  std::printf("\n");
  auto collapsed = [&](const std::shared_ptr<models::DiT>& m) {
    auto c = copy_of_dense();
    c->load_state_dict(m->state_dict());
    for (auto& path : removed) method::swap_block(*c, path, std::make_shared<nn::Identity>());
    return c;
  };

  // 6. Quality of each model's samples.
  const int64_t per_class = samples / 10;
  Json rows = Json::array();
  std::printf("\n%-28s %10s %14s %10s\n", "model", "Frechet", "class top-1 %", "sampling");
  auto judge = [&](const std::string& name, const std::shared_ptr<models::DiT>& m) {
    const auto start = std::chrono::steady_clock::now();
    Tensor s = sample(*m, sampler, per_class, cfg, seeded(5));
    const double took = seconds_since(start);
    Classified c = classify(*classifier, s);
    int64_t hits = 0;
    for (int64_t i = 0; i < s.size(0); ++i) hits += c.predicted[static_cast<std::size_t>(i)] == i / per_class;
    const double fd = diffusion::frechet_distance(diffusion::feature_stats(c.features), real_stats);
    const double acc = 100.0 * static_cast<double>(hits) / static_cast<double>(s.size(0));
    std::printf("%-28s %10.3f %14.2f %9.0fs\n", name.c_str(), fd, acc, took);
    std::string file = name;
    std::replace(file.begin(), file.end(), ' ', '_');
    write_grid((out / (file + ".png")).string(), s, per_class, std::min<int64_t>(per_class, 10));
    rows.push_back(Json::object({{"model", name}, {"frechet_distance", fd}, {"class_top1", acc}}));
  };
  judge("dense", dense);
  judge("LaCoOT fine-tuned", lacoot_dit);
  judge("plain fine-tuned", plain_dit);
  const std::string tag = std::to_string(remove) + " blocks removed";
  judge("LaCoOT " + tag, collapsed(lacoot_dit));
  judge("plain " + tag, collapsed(plain_dit));
  judge("dense " + tag, collapsed(dense));

  Json removed_json = Json::array();
  for (auto& path : removed) removed_json.push_back(path);
  Json summary = Json::object({{"classifier_test_top1", classifier_top1}, {"removed", removed_json},
                               {"steps", args.has("dense") ? 0 : steps}, {"dense_weights", args.has("dense") ? args.str("dense") : ""},
                               {"finetune_steps", finetune}, {"lambda", lambda}, {"seed", seed_option}, {"models", rows},
                               {"quality", "Frechet distance in the pooled features of the project's Fashion-MNIST "
                                           "classifier (not FID), and that classifier's top-1 on the samples"}});
  write_file_atomic((out / "summary.json").string(), summary.dump(2) + "\n");
  std::printf("wrote %s (sample grids, a row per class, and summary.json)\n", out.string().c_str());
} catch (const train::UsageError& e) {
  std::fprintf(stderr, "dit_fashion_mnist: %s\n", e.what());
  return 2;
} catch (const Error& e) {
  std::fprintf(stderr, "dit_fashion_mnist: %s\n", e.what());
  return 1;
}

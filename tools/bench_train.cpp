// bench_train — one training step of ResNet-18-CIFAR in lacoot: throughput and peak memory.
//
//   bench_train [--threads 2] [--batch 128] [--steps 10] [--width 64] [--lambda L] [--device D] [--json]
//
// With --lambda L > 0 the step adds LaCoOT's regulariser (L · mean MaxSWD_2 over the four
// removable blocks, 50 directions each): the ratio of the two runs is the regulariser's cost.
// The step is the one `lacoot train` takes: forward (train-mode BN), cross-entropy, backward,
// SGD with momentum 0.9 and weight decay 1e-4. Random inputs [batch, 3, 32, 32] and labels are
// made once. One warm-up step, then --steps timed steps; images/s = batch · steps / seconds.
// Peak memory is the process's resident high-water mark (getrusage ru_maxrss) after the run,
// which is what tools/bench_train_torch.py compares with PyTorch's in a separate process; with
// --device cuda the model and batch are on the GPU (each step ends reading the loss, which waits
// for the GPU) and the peak of the caching allocator's device memory is reported too.
#if LACOOT_WITH_CUDA
#include "lacoot/backend/cuda/allocator.hpp"
#endif
#include <sys/resource.h>

#include <cstdio>
#include <memory>
#include <string>

#include "lacoot/lacoot.hpp"
#include "lacoot/train/args.hpp"

using namespace lacoot;

int main(int argc, char** argv) try {
  train::Args args(argc, argv, 1, {"threads", "batch", "steps", "width", "lambda", "device"}, {"json"});
  set_num_threads(static_cast<int>(args.integer("threads", 2)));
  const int64_t batch = args.integer("batch", 128), steps = args.integer("steps", 10);
  manual_seed(0);
  auto model = models::resnet18_cifar({.num_classes = 10, .width = args.integer("width", 64)});
  const Device device = train::device_option(args);
  model->to(device);
  optim::SGD sgd(model->named_parameters(), {.lr = 0.01, .momentum = 0.9, .weight_decay = 1e-4});
  Tensor x = randn({batch, 3, 32, 32});
  Tensor y = Tensor::empty({batch}, kInt64);
  for (int64_t i = 0; i < batch; ++i) y.data<int64_t>()[i] = i % 10;
  x = x.to(device), y = y.to(device);

  const double lambda = args.number("lambda", 0);
  std::unique_ptr<method::MaxSWDRegulariser> reg;
  if (lambda > 0) reg = std::make_unique<method::MaxSWDRegulariser>(*model, method::RegulariserOptions{.lambda = lambda});
  auto step = [&] {
    Tensor loss = cross_entropy((*model)(x), y);
    if (reg) loss = loss + reg->penalty();
    sgd.zero_grad();
    loss.backward();
    sgd.step();
    return loss.item();
  };
  step();
  train::Stopwatch clock;
  double loss = 0;
  for (int64_t s = 0; s < steps; ++s) loss = step();
  const double seconds = clock.seconds();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double ips = static_cast<double>(batch * steps) / seconds, peak_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;
  double device_mb = 0;  // the caching allocator's peak on the GPU
#if LACOOT_WITH_CUDA
  if (device.is_cuda()) device_mb = static_cast<double>(cuda::max_memory_allocated(device.index)) / (1024.0 * 1024.0);
#endif
  if (args.has("json"))
    std::printf("{\"images_per_second\": %.3f, \"seconds_per_step\": %.5f, \"peak_rss_mb\": %.1f, "
                "\"peak_device_mb\": %.1f, \"loss\": %.5f, \"threads\": %d, \"batch\": %lld, \"lambda\": %g, "
                "\"device\": \"%s\"}\n", ips, seconds / static_cast<double>(steps), peak_mb, device_mb, loss,
                get_num_threads(), static_cast<long long>(batch), lambda, device.str().c_str());
  else
    std::printf("lacoot ResNet-18-CIFAR train step, batch %lld, %d threads, lambda %g, %s: %.3f s/step, %.1f img/s, "
                "peak RSS %.0f MB, device peak %.0f MB\n", static_cast<long long>(batch), get_num_threads(), lambda,
                device.str().c_str(), seconds / static_cast<double>(steps), ips, peak_mb, device_mb);
  return 0;
} catch (const Error& e) {
  std::fprintf(stderr, "bench_train: %s\n", e.what());
  return 1;
}

// bench_latency — inference time of ResNet-18-CIFAR, dense and with its 4 removable blocks
// collapsed (the paper's main-table claim: 7.90 ms → 4.78 ms on a GPU, 0.61x).
//
//   bench_latency [--threads 2] [--width 64] [--repeat 10] [--json]
//
// Both models are built at --width (64 is the paper's ResNet-18), in evaluation mode without
// gradients; the collapsed one is the dense one with layer1.1 ... layer4.1 replaced by the
// identity (what lacoot collapse does to trained weights: the time does not depend on them).
// Each batch size (1 and 128) is timed alternately on the two models, --repeat times after a
// warm-up, and the best time of each is kept, so that both see the same machine load.
// tools/bench_latency_torch.py times the same two models in PyTorch in the same way.
#include <cstdio>
#include <string>

#include "lacoot/lacoot.hpp"
#include "lacoot/train/args.hpp"
#include "lacoot/train/progress.hpp"

using namespace lacoot;

int main(int argc, char** argv) try {
  train::Args args(argc, argv, 1, {"threads", "width", "repeat"}, {"json"});
  set_num_threads(static_cast<int>(args.integer("threads", 2)));
  const int64_t width = args.integer("width", 64), repeat = args.integer("repeat", 10);
  manual_seed(0);
  auto dense = models::resnet18_cifar({.num_classes = 10, .width = width});
  auto collapsed = models::resnet18_cifar({.num_classes = 10, .width = width});
  for (auto& [path, block] : nn::blocks(*collapsed)) nn::replace_with_identity(*collapsed, path);
  dense->eval(), collapsed->eval();
  NoGradGuard no_grad;
  double best[2][2] = {{1e30, 1e30}, {1e30, 1e30}};  // [batch 1, batch 128][dense, collapsed]
  const int64_t batches[2] = {1, 128};
  for (int b = 0; b < 2; ++b) {
    Tensor x = randn({batches[b], 3, 32, 32});
    (*dense)(x), (*collapsed)(x);
    for (int64_t r = 0; r < repeat; ++r)
      for (int m = 0; m < 2; ++m) {
        train::Stopwatch clock;
        (m == 0 ? *dense : *collapsed)(x);
        best[b][m] = std::min(best[b][m], clock.seconds() * 1e3);
      }
  }
  if (args.has("json"))
    std::printf("{\"width\": %lld, \"threads\": %d, \"dense_ms_batch1\": %.4f, \"collapsed_ms_batch1\": %.4f, "
                "\"dense_ms_batch128\": %.3f, \"collapsed_ms_batch128\": %.3f, \"ratio_batch1\": %.4f, \"ratio_batch128\": %.4f}\n",
                static_cast<long long>(width), get_num_threads(), best[0][0], best[0][1], best[1][0], best[1][1],
                best[0][1] / best[0][0], best[1][1] / best[1][0]);
  else
    std::printf("lacoot ResNet-18-CIFAR width %lld, %d threads: batch 1 %.3f -> %.3f ms (%.3fx), batch 128 %.2f -> %.2f ms "
                "(%.3fx) with the 4 blocks removed\n", static_cast<long long>(width), get_num_threads(), best[0][0],
                best[0][1], best[0][1] / best[0][0], best[1][0], best[1][1], best[1][1] / best[1][0]);
  return 0;
} catch (const Error& e) {
  std::fprintf(stderr, "bench_latency: %s\n", e.what());
  return 1;
}

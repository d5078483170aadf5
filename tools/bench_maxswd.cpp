// bench_maxswd — Max-SWD forward + backward in lacoot, at the size the regulariser sees.
//
//   bench_maxswd [--threads 2] [--n 128] [--d 65536] [--projections 50] [--repeat 5] [--json]
//
// X, Y [n, d] float32 (a batch of flattened activations: ResNet-18-CIFAR's layer1 blocks give
// d = 64·16·16 = 16,384 per image at 32 px; d = 65,536 is the 4x case), K fresh random unit
// directions each call (as the regulariser draws them), distance forward and its gradient for
// X and Y. Best of --repeat after one warm-up. tools/bench_maxswd_pot.py runs POT's
// max_sliced_wasserstein_distance (torch backend) on the same sizes and prints the ratio.
#include <cstdio>

#include "lacoot/lacoot.hpp"
#include "lacoot/train/args.hpp"

using namespace lacoot;

int main(int argc, char** argv) try {
  train::Args args(argc, argv, 1, {"threads", "n", "d", "projections", "repeat"}, {"json"});
  set_num_threads(static_cast<int>(args.integer("threads", 2)));
  const int64_t n = args.integer("n", 128), d = args.integer("d", 65536), k = args.integer("projections", 50);
  const int repeat = static_cast<int>(args.integer("repeat", 5));
  Generator gen(0);
  Tensor X = randn({n, d}, kFloat32, gen).requires_grad_(), Y = (randn({n, d}, kFloat32, gen) + 0.5).detach().requires_grad_();
  double value = 0;
  auto run = [&] {
    X.set_grad(Tensor());
    Y.set_grad(Tensor());
    Tensor dist = max_sliced_wasserstein(X, Y, k, gen);
    dist.backward();
    value = dist.item();
  };
  run();
  double best = 1e30;
  for (int r = 0; r < repeat; ++r) {
    train::Stopwatch clock;
    run();
    best = std::min(best, clock.seconds());
  }
  if (args.has("json"))
    std::printf("{\"seconds\": %.6f, \"distance\": %.6f, \"n\": %lld, \"d\": %lld, \"projections\": %lld, \"threads\": %d}\n",
                best, value, static_cast<long long>(n), static_cast<long long>(d), static_cast<long long>(k), get_num_threads());
  else
    std::printf("lacoot max_sliced_wasserstein forward+backward, n %lld, d %lld, %lld directions, %d threads: %.2f ms\n",
                static_cast<long long>(n), static_cast<long long>(d), static_cast<long long>(k), get_num_threads(), best * 1e3);
  return 0;
} catch (const Error& e) {
  std::fprintf(stderr, "bench_maxswd: %s\n", e.what());
  return 1;
}

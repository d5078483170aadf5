// bench_ops — how fast lacoot's GEMM and conv2d run on this CPU.
//
//   bench_ops [--threads 2] [--batch 128] [--repeat 5] [--json]
//
// Prints (a) the machine's peak float32 throughput, measured by a tight loop of independent
// FMAs held in registers on every thread (AVX-512, else AVX2, else scalar), and square float32
// GEMMs as GFLOP/s and % of that peak; (b) conv2d forward, and forward + backward (input,
// weight and bias gradients), at the layer shapes of ResNet-18 on CIFAR-10 as LaCoOT trains it:
// a 3×3 stem at 32×32, a max-pool, then stages at 16, 8, 4 and 2 pixels, with 1×1 stride-2
// downsample convolutions on the shortcuts. Times are the best of --repeat runs after one warm-up;
// GFLOP/s count 2·N·O·Ho·Wo·(C/groups)·kh·kw per forward and three times that per
// forward + backward: a direct convolution's work, though the stride-1 3×3 layers' forward and
// input gradient take Winograd's F(2×2, 3×3) (backend/cpu/winograd.hpp), which does 4/9 of
// those products, and so may pass the machine's peak. --json prints the same as one JSON object (tools/bench_ops_torch.py reads
// it to compare with PyTorch).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "lacoot/autograd/engine.hpp"
#include "lacoot/backend/cpu/gemm.hpp"
#include "lacoot/ops/conv.hpp"

using namespace lacoot;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Best wall time of `repeat` calls of f after one warm-up call.
template <class F>
static double best_time(int repeat, F&& f) {
  f();
  double best = 1e30;
  for (int r = 0; r < repeat; ++r) {
    auto t0 = Clock::now();
    f();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

// ---- (a) peak: independent FMA chains kept in registers ----
// 12 accumulators hide the FMA latency (4 cycles × 2 ports needs at least 8 in flight), and
// nothing touches memory inside the loop, so this is what the cores can do at best.
volatile float fma_sink = 0;

static double fma_loop(int64_t iterations) {
#if defined(__AVX512F__)
  using V = __m512;
  constexpr int lanes = 16;
  auto set = [](float v) { return _mm512_set1_ps(v); };
  auto fma = [](V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); };
  auto sum = [](V a) {  // (not _mm512_reduce_add_ps: GCC 12 warns inside it)
    float t[16];
    _mm512_storeu_ps(t, a);
    float s = 0;
    for (float v : t) s += v;
    return s;
  };
#elif defined(__AVX2__)
  using V = __m256;
  constexpr int lanes = 8;
  auto set = [](float v) { return _mm256_set1_ps(v); };
  auto fma = [](V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); };
  auto sum = [](V a) {
    float t[8];
    _mm256_storeu_ps(t, a);
    float s = 0;
    for (float v : t) s += v;
    return s;
  };
#else
  using V = float;
  constexpr int lanes = 1;
  auto set = [](float v) { return v; };
  auto fma = [](V a, V b, V c) { return a * b + c; };
  auto sum = [](V a) { return a; };
#endif
  V acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = set(static_cast<float>(i));
  const V mul = set(0.999999f), add = set(1e-7f);
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = fma(acc[i], mul, add);
  float s = 0;
  for (int i = 0; i < 12; ++i) s += sum(acc[i]);
  fma_sink = s;  // keeps the loop from being optimised away
  return 12.0 * lanes * 2;  // flops per iteration: 12 FMAs of `lanes` floats
}

static double peak_gflops(int threads) {
  const int64_t iterations = 20'000'000;
  double best = 0;
  for (int r = 0; r < 5; ++r) {
    auto t0 = Clock::now();
    double flops_per_iteration = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(max : flops_per_iteration)
#endif
    flops_per_iteration = fma_loop(iterations);
    const double t = seconds_since(t0);
    best = std::max(best, flops_per_iteration * static_cast<double>(iterations) * threads / t / 1e9);
  }
  return best;
}

// ---- (b) conv2d shapes ----
struct ConvCase {
  const char* name;
  int64_t C, O, k, stride, padding, H;
};

static const std::vector<ConvCase> kResNet18Cifar = {
    {"stem 3->64 3x3 @32", 3, 64, 3, 1, 1, 32},
    {"layer1 64->64 3x3 @16", 64, 64, 3, 1, 1, 16},
    {"layer2 64->128 3x3 s2 16->8", 64, 128, 3, 2, 1, 16},
    {"layer2 128->128 3x3 @8", 128, 128, 3, 1, 1, 8},
    {"layer3 128->256 3x3 s2 8->4", 128, 256, 3, 2, 1, 8},
    {"layer3 256->256 3x3 @4", 256, 256, 3, 1, 1, 4},
    {"layer4 256->512 3x3 s2 4->2", 256, 512, 3, 2, 1, 4},
    {"layer4 512->512 3x3 @2", 512, 512, 3, 1, 1, 2},
    {"down 64->128 1x1 s2 16->8", 64, 128, 1, 2, 0, 16},
    {"down 128->256 1x1 s2 8->4", 128, 256, 1, 2, 0, 8},
    {"down 256->512 1x1 s2 4->2", 256, 512, 1, 2, 0, 4},
};

struct ConvResult {
  ConvCase c;
  double fwd_s, fb_s, flops;
};

int main(int argc, char** argv) {
  int threads = 2, repeat = 5;
  int64_t batch = 128;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_ops: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads") threads = std::atoi(value());
    else if (a == "--batch") batch = std::atoll(value());
    else if (a == "--repeat") repeat = std::atoi(value());
    else if (a == "--json") json = true;
    else {
      std::fprintf(stderr, "usage: bench_ops [--threads N] [--batch N] [--repeat N] [--json]\n");
      return 2;
    }
  }
  set_num_threads(threads);

  const double peak = peak_gflops(threads);
  struct GemmResult {
    int64_t n;
    double s;
  };
  std::vector<GemmResult> gemms;
  for (int64_t n : {512, 1024, 2048}) {
    Tensor a = randn({n, n}), b = randn({n, n}), c = Tensor::empty({n, n});
    double s = best_time(repeat, [&] {
      backend::cpu::gemm(false, false, n, n, n, 1.f, a.data<float>(), n, b.data<float>(), n, 0.f,
                         c.data<float>(), n);
    });
    gemms.push_back({n, s});
  }

  std::vector<ConvResult> convs;
  for (const ConvCase& c : kResNet18Cifar) {
    Tensor x = randn({batch, c.C, c.H, c.H}), w = randn({c.O, c.C, c.k, c.k}),
           b = randn({c.O});
    const Conv2dOptions opt{.stride = c.stride, .padding = c.padding};
    Tensor y;
    double fwd = best_time(repeat, [&] {
      NoGradGuard no_grad;
      y = conv2d(x, w, b, opt);
    });
    Tensor g = randn(y.shape());
    x.requires_grad_(), w.requires_grad_(), b.requires_grad_();
    double fb = best_time(repeat, [&] {
      for (Tensor* t : {&x, &w, &b}) t->set_grad(Tensor());
      conv2d(x, w, b, opt).backward(g);
    });
    const double flops = 2.0 * static_cast<double>(batch * c.O * y.size(2) * y.size(3) * c.C * c.k * c.k);
    convs.push_back({c, fwd, fb, flops});
  }

  if (json) {
    std::printf("{\"threads\": %d, \"batch\": %lld, \"repeat\": %d, \"peak_gflops\": %.1f,\n",
                threads, static_cast<long long>(batch), repeat, peak);
    std::printf(" \"gemm\": [");
    for (std::size_t i = 0; i < gemms.size(); ++i) {
      double gf = 2.0 * std::pow(static_cast<double>(gemms[i].n), 3) / gemms[i].s / 1e9;
      std::printf("%s\n  {\"n\": %lld, \"ms\": %.3f, \"gflops\": %.1f, \"pct_peak\": %.1f}",
                  i ? "," : "", static_cast<long long>(gemms[i].n), gemms[i].s * 1e3, gf,
                  100 * gf / peak);
    }
    std::printf("],\n \"conv2d\": [");
    for (std::size_t i = 0; i < convs.size(); ++i) {
      const ConvResult& r = convs[i];
      std::printf("%s\n  {\"name\": \"%s\", \"C\": %lld, \"O\": %lld, \"k\": %lld, \"stride\": %lld, "
                  "\"padding\": %lld, \"H\": %lld, \"fwd_ms\": %.3f, \"fwd_gflops\": %.1f, "
                  "\"fb_ms\": %.3f, \"fb_gflops\": %.1f}",
                  i ? "," : "", r.c.name, static_cast<long long>(r.c.C),
                  static_cast<long long>(r.c.O), static_cast<long long>(r.c.k),
                  static_cast<long long>(r.c.stride), static_cast<long long>(r.c.padding),
                  static_cast<long long>(r.c.H), r.fwd_s * 1e3, r.flops / r.fwd_s / 1e9,
                  r.fb_s * 1e3, 3 * r.flops / r.fb_s / 1e9);
    }
    std::printf("]}\n");
    return 0;
  }

  std::printf("lacoot bench_ops: %d threads, batch %lld, best of %d\n\n", threads,
              static_cast<long long>(batch), repeat);
  std::printf("peak (register FMAs, all threads): %.1f GFLOP/s\n\n", peak);
  std::printf("%-12s %10s %10s %8s\n", "GEMM f32", "ms", "GFLOP/s", "% peak");
  for (const GemmResult& r : gemms) {
    double gf = 2.0 * std::pow(static_cast<double>(r.n), 3) / r.s / 1e9;
    std::printf("%4lld^3       %10.2f %10.1f %7.1f%%\n", static_cast<long long>(r.n), r.s * 1e3, gf,
                100 * gf / peak);
  }
  std::printf("\n%-30s %10s %10s %10s %10s\n", "conv2d (ResNet-18 CIFAR)", "fwd ms", "GFLOP/s",
              "fwd+bwd ms", "GFLOP/s");
  double total_fwd = 0, total_fb = 0;
  for (const ConvResult& r : convs) {
    std::printf("%-30s %10.2f %10.1f %10.2f %10.1f\n", r.c.name, r.fwd_s * 1e3,
                r.flops / r.fwd_s / 1e9, r.fb_s * 1e3, 3 * r.flops / r.fb_s / 1e9);
    total_fwd += r.fwd_s, total_fb += r.fb_s;
  }
  std::printf("%-30s %10.2f %10s %10.2f\n", "total", total_fwd * 1e3, "", total_fb * 1e3);
  return 0;
}

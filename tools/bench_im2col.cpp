// bench_im2col — im2col and col2im alone, for a 3×3 "same" convolution (stride 1, padding 1).
//
//   bench_im2col [--size 8] [--channels 128] [--images 4] [--repeat 200]
//
// The columns of --images images of --channels planes of --size × --size (conv.hpp's task: the
// 128-channel layer at 8×8 puts 4 images in one product), on one thread; best of --repeat. This
// is the part of a 3×3 layer around its GEMMs that backend/cpu/im2col.hpp chooses a path for
// (by plane size and instruction set): time it at two commits to compare paths.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "lacoot/backend/cpu/im2col.hpp"

using namespace lacoot;

int main(int argc, char** argv) {
  const char* usage = "usage: bench_im2col [--size 8] [--channels 128] [--images 4] [--repeat 200]\n";
  int64_t size = 8, C = 128, m = 4, repeat = 200;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    int64_t* target = a == "--size" ? &size : a == "--channels" ? &C : a == "--images" ? &m : a == "--repeat" ? &repeat : nullptr;
    if (a == "--help" || a == "-h") return std::fputs(usage, stdout), 0;
    if (!target || i + 1 >= argc) return std::fputs(usage, stderr), 2;
    *target = std::atoll(argv[++i]);
  }
  if (size < 1 || C < 1 || m < 1 || repeat < 1) {
    std::fputs("bench_im2col: every option must be at least 1\n", stderr);
    return 2;
  }
  backend::cpu::ConvShape s{.N = m, .C = C, .H = size, .W = size, .O = C, .kh = 3, .kw = 3,
                            .ph = 1, .pw = 1, .Ho = size, .Wo = size};
  const backend::cpu::Im2col im2col(s);
  std::vector<float> x(static_cast<std::size_t>(m * C * size * size)), dx(x.size());
  std::vector<float> cols(static_cast<std::size_t>(s.rows() * m * s.P()));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) - 8.0f;
  using Clock = std::chrono::steady_clock;
  double columns = 1e30, add_back = 1e30, check = 0;
  for (int64_t r = 0; r < repeat; ++r) {
    const auto t0 = Clock::now();
    im2col.columns(x.data(), m, cols.data(), false);
    const auto t1 = Clock::now();
    std::fill(dx.begin(), dx.end(), 0.0f);
    const auto t2 = Clock::now();
    im2col.add_back(cols.data(), m, dx.data(), false);
    const auto t3 = Clock::now();
    columns = std::min(columns, std::chrono::duration<double>(t1 - t0).count());
    add_back = std::min(add_back, std::chrono::duration<double>(t3 - t2).count());
  }
  for (float v : dx) check += v;  // the same for every path
  std::printf("3x3 same, %lld images x %lld channels of %lldx%lld, one thread: im2col %.1f us, col2im %.1f us "
              "(checksum %.0f)\n", static_cast<long long>(m), static_cast<long long>(C), static_cast<long long>(size),
              static_cast<long long>(size), columns * 1e6, add_back * 1e6, check);
}

// tools/bench_bundle.cpp — how this project's build compiles four of the benchmarks at once.
//
// Each bench_*.cpp is a whole program; this unit includes four of them, each in a namespace
// named after it, so that the library code they share is compiled once, not four times
// (compiled two at a time on ci-zen4, the four took 3 min 6 s as four units and take 66 s as
// this one); each program is this unit plus tools/bundle_main.cpp.
// examples/bundle.cpp does the same for the examples and says what makes a program fit;
// `meson setup -Dbundles=false` compiles each alone.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "lacoot/autograd/engine.hpp"
#include "lacoot/backend/cpu/gemm.hpp"
#include "lacoot/lacoot.hpp"
#include "lacoot/ops/conv.hpp"
#include "lacoot/train/args.hpp"
#include "lacoot/train/progress.hpp"
#if LACOOT_WITH_CUDA
#include "lacoot/backend/cuda/allocator.hpp"
#endif

// clang-format off
namespace bench_ops {
#include "bench_ops.cpp"
}
namespace bench_train {
#include "bench_train.cpp"
}
namespace bench_maxswd {
#include "bench_maxswd.cpp"
}
namespace bench_latency {
#include "bench_latency.cpp"
}
// clang-format on

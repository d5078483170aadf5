// Tests for ops/conv.hpp (and backend/cpu/conv.hpp): a case worked by hand, PyTorch fixtures
// in float64 and float32 (tests/fixtures/conv_fixtures.hpp, written by gen_conv.py), gradchecks
// for each option, the kernels' paths (one image per GEMM, several, chunked weight gradients),
// results independent of the thread count, and the errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "../fixtures/conv_fixtures.hpp"
#include "../check.hpp"
#include "lacoot/autograd/gradcheck.hpp"
#include "lacoot/ops/conv.hpp"

using namespace lacoot;
using namespace lacoot::test;
using backend::cpu::ConvTuning;
using backend::cpu::conv_tuning;

namespace {

// The fixture inputs: ((mul · i) mod m − sub) / div, exact binary fractions (see gen_conv.py).
Tensor fill(Shape shape, int64_t mul, int64_t mod, int64_t sub, double div, DType dtype) {
  Tensor t = Tensor::empty(std::move(shape), kFloat64);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<double>()[i] = static_cast<double>((i * mul) % mod - sub) / div;
  return dtype == kFloat64 ? t : t.to(dtype);
}

// The kernel paths to run each check under: default grouping; one image per GEMM (output
// written in place), with several tasks summed in each weight-gradient slot; many images per
// GEMM; tasks one after the other, each split over the threads; the weight gradient of large
// weights, in chunks of one image; the weight gradient from channels-last patches, in slots and
// in chunks.
struct Path {
  const char* name;
  ConvTuning tuning;
};
const Path kPaths[] = {
    {"default", ConvTuning{}},
    {"one image per GEMM, two weight slots", ConvTuning{.target_columns = 1, .weight_slots = 2}},
    {"many images per GEMM", ConvTuning{.target_columns = 1 << 20, .task_buffer_bytes = 1 << 20}},
    {"one task at a time", ConvTuning{.min_parallel_tasks = 1 << 30}},
    {"chunked weight gradient", ConvTuning{.weight_slot_bytes = 0, .chunk_buffer_bytes = 1}},
    {"weight gradient from channels-last patches",
     ConvTuning{.patches_min_channels = 1, .patches_in_place_only = false}},
    {"chunked weight gradient from patches",
     ConvTuning{.weight_slot_bytes = 0, .chunk_buffer_bytes = 1, .patches_min_channels = 1,
                .patches_in_place_only = false}},
    {"Winograd F(2x2, 3x3) for every stride-1 3x3 convolution", ConvTuning{.winograd_min_channels = 1}},
    {"Winograd, one image per task, tasks one after the other",
     ConvTuning{.target_columns = 1, .min_parallel_tasks = 1 << 30, .winograd_min_channels = 1}},
};

// Sets the tuning for the lifetime of the guard.
struct TuningGuard {
  ConvTuning saved = conv_tuning();
  explicit TuningGuard(const ConvTuning& t) { conv_tuning() = t; }
  ~TuningGuard() { conv_tuning() = saved; }
};

}  // namespace

TEST_CASE("conv2d by hand") {
  // x = [[1 2 3] [4 5 6] [7 8 9]], w = [[1 0] [0 -1]]: out[i, j] = x[i, j] - x[i+1, j+1] = -4,
  // plus bias 0.5 -> -3.5 everywhere.
  Tensor x = alias_with_shape(arange(1, 10), {1, 1, 3, 3});
  Tensor w = alias_with_shape(tensor({1, 0, 0, -1}), {1, 1, 2, 2});
  Tensor y = conv2d(x, w, tensor({0.5}));
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  for (int64_t i = 0; i < 4; ++i) CHECK(y.data<float>()[i] == -3.5f);
  // Stride 2, padding 1: windows start at (-1, -1), (-1, 1), (1, -1), (1, 1); only taps inside
  // the image count: out = [[0 - 1, 0 - 3], [0 - 7, 5 - 9]] = [[-1, -3], [-7, -4]].
  Tensor z = conv2d(x, w, {}, {.stride = 2, .padding = 1});
  CHECK(z.shape() == Shape{1, 1, 2, 2});
  const float expected[] = {-1, -3, -7, -4};
  for (int64_t i = 0; i < 4; ++i) CHECK(z.data<float>()[i] == expected[i]);
}

TEST_CASE("conv2d matches PyTorch (fixtures, float64 and float32, every kernel path)") {
  for (const Path& path : kPaths) {
    TuningGuard guard(path.tuning);
    for (const auto& c : fixtures::conv::cases) {
      for (DType dtype : {kFloat64, kFloat32}) {
        INFO(c.name, " | ", path.name, " | ", dtype_name(dtype));
        Tensor x = fill({c.N, c.C, c.H, c.W}, 37, 29, 14, 16, dtype);
        Tensor w = fill({c.O, c.C / c.groups, c.kh, c.kw}, 53, 31, 15, 32, dtype);
        Tensor b = c.bias ? fill({c.O}, 11, 13, 6, 8, dtype) : Tensor();
        Tensor y = conv2d(x, w, b, {.stride = {c.sh, c.sw}, .padding = {c.ph, c.pw},
                                    .dilation = {c.dh, c.dw}, .groups = c.groups});
        REQUIRE(y.shape() == Shape{c.N, c.O, c.Ho, c.Wo});
        Tensor ref = Tensor::empty(y.shape(), kFloat64);
        std::copy_n(c.out, ref.numel(), ref.data<double>());
        CHECK(max_abs_diff(y, ref) < (dtype == kFloat64 ? 1e-12 : 1e-5));
      }
    }
  }
}

TEST_CASE("conv2d gradients (gradcheck, every option, every kernel path)") {
  struct Case {
    const char* name;
    Shape x, w;
    bool bias;
    Conv2dOptions opt;
  };
  const Case cases[] = {
      {"3x3 padding 1", {2, 2, 4, 5}, {3, 2, 3, 3}, true, {.padding = 1}},
      {"stride 2", {2, 2, 5, 5}, {2, 2, 3, 3}, true, {.stride = 2}},
      {"dilation 2", {1, 2, 6, 5}, {2, 2, 2, 2}, true, {.padding = 1, .dilation = 2}},
      {"groups 2", {2, 4, 4, 4}, {4, 2, 3, 3}, true, {.padding = 1, .groups = 2}},
      {"depthwise", {2, 3, 5, 4}, {3, 1, 3, 3}, true, {.stride = 2, .padding = 1, .groups = 3}},
      {"depthwise, dilation, no padding", {1, 2, 6, 6}, {2, 1, 2, 3}, false, {.dilation = {2, 1}, .groups = 2}},
      {"1x1", {3, 3, 3, 4}, {2, 3, 1, 1}, true, {}},
      {"1x1 stride 2", {2, 3, 5, 5}, {2, 3, 1, 1}, false, {.stride = 2}},
      {"non-square kernel and stride", {2, 2, 6, 5}, {2, 2, 3, 2}, true, {.stride = {2, 1}, .padding = {1, 0}}},
      {"no bias", {2, 2, 4, 4}, {2, 2, 3, 3}, false, {.padding = 1}},
      {"padding larger than the kernel", {1, 1, 3, 3}, {2, 1, 2, 2}, true, {.padding = 2}},
      {"im2col row by row (stride 2, 19x19)", {1, 1, 19, 19}, {1, 1, 3, 3}, true, {.stride = 2, .padding = 1}},
      {"im2col row by row (stride 1, no padding)", {1, 1, 11, 10}, {1, 1, 3, 3}, false, {}},
  };
  for (const Path& path : kPaths) {
    TuningGuard guard(path.tuning);
    for (const Case& c : cases) {
      INFO(c.name, " | ", path.name);
      std::vector<Tensor> inputs{randn(c.x), randn(c.w)};
      if (c.bias) inputs.push_back(randn({c.w[0]}));
      auto r = gradcheck([&](const std::vector<Tensor>& v) {
        return conv2d(v[0], v[1], c.bias ? v[2] : Tensor(), c.opt);
      }, inputs);
      CHECK_MESSAGE(r.ok, r.report);
    }
  }
}

TEST_CASE("conv2d float32 agrees with float64 on a larger layer, forward and backward") {
  // 16x16 images: the default path writes one image per GEMM; the 1x1 conv takes the
  // no-im2col path; 2x2 images put many images in one GEMM.
  struct Case {
    Shape x, w;
    Conv2dOptions opt;
  };
  // Planes of at most 16 values (4×4, 4×4 -> 2×2, 3×5 dilated), rows of at most 16 (9×9
  // and 16×16 at stride 2) take, in float32 with AVX-512, and same-width planes of 17 to 64
  // values with AVX2 or AVX-512, the in-register im2col of im2col.hpp; float64 takes the table or the plane
  // copies, an independent reference.
  const Case cases[] = {{{3, 8, 16, 16}, {16, 8, 3, 3}, {.padding = 1}},
                        {{3, 8, 16, 16}, {16, 8, 1, 1}, {}},
                        {{40, 16, 2, 2}, {8, 16, 3, 3}, {.padding = 1}},
                        {{4, 8, 9, 9}, {8, 4, 3, 3}, {.stride = 2, .padding = 1, .groups = 2}},
                        {{20, 16, 4, 4}, {24, 16, 3, 3}, {.padding = 1}},
                        {{20, 8, 4, 4}, {16, 8, 3, 3}, {.stride = 2, .padding = 1}},
                        {{9, 4, 3, 5}, {8, 4, 2, 3}, {.padding = 1, .dilation = {1, 2}}},
                        {{4, 8, 16, 16}, {16, 8, 3, 3}, {.stride = 2, .padding = 1}},
                        // Stride 1, as wide as the input ("same" width), 17 to 64 positions: the
                        // chunked im2col of im2col.hpp (8×8; 5×7, a ragged last chunk; dilated;
                        // a 3×1 kernel that shortens the plane).
                        {{6, 16, 8, 8}, {16, 16, 3, 3}, {.padding = 1}},
                        {{5, 8, 5, 7}, {8, 8, 3, 3}, {.padding = 1}},
                        {{3, 4, 7, 7}, {8, 4, 3, 3}, {.padding = 2, .dilation = 2}},
                        {{3, 4, 7, 9}, {8, 4, 3, 1}, {}},
                        // 32 channels and more, stride-1 3×3: Winograd's F(2×2, 3×3) (winograd.hpp),
                        // even and odd sizes, padding 0 to 2.
                        {{6, 32, 8, 8}, {40, 32, 3, 3}, {.padding = 1}},
                        {{4, 48, 5, 7}, {32, 48, 3, 3}, {.padding = 1}},
                        {{3, 32, 6, 5}, {32, 32, 3, 3}, {}},
                        {{3, 32, 3, 4}, {32, 32, 3, 3}, {.padding = 2}}};
  for (const Case& c : cases) {
    Tensor x = randn(c.x, kFloat64), w = randn(c.w, kFloat64), b = randn({c.w[0]}, kFloat64);
    Tensor x32 = x.to(kFloat32), w32 = w.to(kFloat32), b32 = b.to(kFloat32);
    for (Tensor* t : {&x, &w, &b, &x32, &w32, &b32}) t->requires_grad_();
    Tensor y = conv2d(x, w, b, c.opt), y32 = conv2d(x32, w32, b32, c.opt);
    CHECK(max_abs_diff(y32, y) < 1e-4);
    Tensor g = randn(y.shape(), kFloat64);
    y.backward(g);
    y32.backward(g.to(kFloat32));
    CHECK(max_abs_diff(x32.grad(), x.grad()) < 1e-4);
    CHECK(max_abs_diff(w32.grad(), w.grad()) < 1e-3);  // sums over the batch and positions
    CHECK(max_abs_diff(b32.grad(), b.grad()) < 1e-3);
  }
}

TEST_CASE("conv2d results do not depend on the thread count") {
  // Tasks one per thread, with slots for the weight gradient; tasks split over the threads,
  // with the weight gradient in chunks split by gemm() (tiles and parts of the depth); both
  // again with the weight gradient from channels-last patches; Winograd's path both ways.
  const ConvTuning tunings[] = {
      ConvTuning{.target_columns = 64},
      ConvTuning{.target_columns = 1 << 20, .min_parallel_tasks = 1 << 30, .weight_slot_bytes = 0,
                 .chunk_buffer_bytes = 800'000},  // two chunks of 10 images, depth 2560 each
      ConvTuning{.target_columns = 64, .patches_min_channels = 1, .patches_in_place_only = false},
      ConvTuning{.target_columns = 1 << 20, .min_parallel_tasks = 1 << 30, .weight_slot_bytes = 0,
                 .chunk_buffer_bytes = 800'000, .patches_min_channels = 1,
                 .patches_in_place_only = false},
      // Winograd, tasks one per thread and tasks split over the threads.
      ConvTuning{.target_columns = 64, .winograd_min_channels = 1},
      ConvTuning{.target_columns = 1 << 20, .min_parallel_tasks = 1 << 30, .winograd_min_channels = 1}};
  Tensor x = randn({20, 8, 16, 16}), w = randn({32, 8, 3, 3}), b = randn({32});
  Tensor g = randn({20, 32, 16, 16});
  CHECK(backend::cpu::gemm_split(32, 72, 2560).k_splits > 1);
  for (const ConvTuning& tuning : tunings) {
    TuningGuard guard(tuning);
    auto run = [&](int threads) {
      set_num_threads(threads);
      Tensor xs = x.detach(), ws = w.detach(), bs = b.detach();
      for (Tensor* t : {&xs, &ws, &bs}) t->requires_grad_();
      Tensor y = conv2d(xs, ws, bs, {.padding = 1});
      y.backward(g);
      return std::vector<Tensor>{y.detach(), xs.grad(), ws.grad(), bs.grad()};
    };
    const int before = get_num_threads();
    auto one = run(1), two = run(2), three = run(3);
    set_num_threads(before);
    for (std::size_t i = 0; i < one.size(); ++i) {
      CHECK(bitwise_equal(one[i], two[i]));
      CHECK(bitwise_equal(one[i], three[i]));
    }
  }
}

TEST_CASE("conv2d computes only the gradients asked for; unbatched input") {
  Tensor x = randn({2, 3, 5, 5}), w = randn({4, 3, 3, 3});
  w.requires_grad_();
  conv2d(x, w).backward(ones({2, 4, 3, 3}));
  CHECK(w.grad().defined());
  CHECK_FALSE(x.grad().defined());
  // A 3-D input [C, H, W] is one image: same values as the batched call, 3-D gradient.
  Tensor x3 = randn({3, 6, 5}, kFloat64), w3 = randn({2, 3, 3, 3}, kFloat64);
  Tensor y3 = conv2d(x3, w3, {}, {.padding = 1});
  CHECK(y3.shape() == Shape{2, 6, 5});
  Tensor y4 = conv2d(alias_with_shape(x3, {1, 3, 6, 5}), w3, {}, {.padding = 1});
  CHECK(max_abs_diff(y3, alias_with_shape(y4, {2, 6, 5})) == 0);
  auto r = gradcheck([](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], {}, {.stride = 2}); },
                     {randn({2, 5, 5}), randn({3, 2, 2, 2})});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("conv2d errors name the problem") {
  Tensor x = randn({2, 4, 6, 6}), w = randn({6, 4, 3, 3});
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THROWS_AS(conv2d(randn({4, 6}), w), Error);                     // 2-D input
  CHECK_THROWS_AS(conv2d(x, randn({6, 4, 3})), Error);                  // 3-D weight
  CHECK(message([&] { conv2d(x, randn({6, 3, 3, 3})); }).find("3 channels") != std::string::npos);
  CHECK(message([&] { conv2d(randn({2, 5, 6, 6}), randn({6, 1, 3, 3}), {}, {.groups = 2}); })
            .find("divisible by groups") != std::string::npos);      // 5 channels, 2 groups
  CHECK(message([&] { conv2d(x, randn({5, 2, 3, 3}), {}, {.groups = 2}); })
            .find("out_channels (5") != std::string::npos);
  CHECK(message([&] { conv2d(randn({1, 4, 2, 2}), w); }).find("cannot be larger") != std::string::npos);
  CHECK(message([&] { conv2d(randn({1, 4, 5, 5}), w, {}, {.dilation = 3}); })
            .find("spans 7x7") != std::string::npos);
  CHECK_THROWS_AS(conv2d(x, w, randn({5})), Error);                     // bias size
  CHECK_THROWS_AS(conv2d(x, w.to(kFloat64)), Error);                    // dtype mismatch
  CHECK_THROWS_AS(conv2d(x.to(kInt64), w.to(kInt64)), Error);           // not floating
  CHECK_THROWS_AS(conv2d(x, w, {}, {.stride = 0}), Error);
  CHECK_THROWS_AS(conv2d(x, w, {}, {.padding = -1}), Error);
  CHECK_THROWS_AS(conv2d(x, w, {}, {.groups = 0}), Error);
  CHECK_THROWS_AS(conv2d(Tensor(), w), Error);
}

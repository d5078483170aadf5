// Tests for ops/pooling.hpp: max_pool2d (and max_pool2d_with_indices), avg_pool2d,
// adaptive_avg_pool2d.
//
// References: values worked by hand (in the comments); PyTorch 1.13's torch.nn.functional in
// float64 (tests/fixtures/pooling_fixtures.hpp, written by gen_pooling.py: outputs, argmax
// indices and input gradients for strides other than the kernel, padding, dilation,
// ceil_mode, count_include_pad, divisor_override, and adaptive sizes that do not divide the
// input); gradcheck (central differences; max pooling on distinct values, so no ties); float32
// against the same fixtures; max_pool2d against a window-at-a-time scan written here, on values
// full of ties, NaN and −∞.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "../fixtures/pooling_fixtures.hpp"
#include "../check.hpp"
#include "lacoot/autograd/engine.hpp"
#include "lacoot/autograd/gradcheck.hpp"
#include "lacoot/ops/pooling.hpp"

using namespace lacoot;
using namespace lacoot::test;

namespace {

// 0, 1, ..., 15 as [1, 1, 4, 4]:
//    0  1  2  3
//    4  5  6  7
//    8  9 10 11
//   12 13 14 15
Tensor grid4x4() { return alias_with_shape(arange(16.0, kFloat64), {1, 1, 4, 4}); }

// Distinct values in random order (a permutation of 0..n-1, scaled): no ties in any window.
Tensor distinct(const Shape& shape) {
  Tensor t = randperm(numel(shape)).to(kFloat64);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = t.data<double>()[i] * 0.1 - 2;
  return alias_with_shape(t, shape);
}

// A fixture case's options.
std::optional<IntPair> case_stride(const fixtures::pooling::Case& c) {
  if (c.stride[0] == 0) return std::nullopt;  // unset: defaults to kernel_size
  return IntPair{c.stride[0], c.stride[1]};
}
MaxPool2dOptions max_options(const fixtures::pooling::Case& c) {
  return {.stride = case_stride(c), .padding = {c.padding[0], c.padding[1]},
          .dilation = {c.dilation[0], c.dilation[1]}, .ceil_mode = c.ceil_mode};
}
AvgPool2dOptions avg_options(const fixtures::pooling::Case& c) {
  std::optional<int64_t> divisor;
  if (c.divisor_override != 0) divisor = c.divisor_override;
  return {.stride = case_stride(c), .padding = {c.padding[0], c.padding[1]}, .ceil_mode = c.ceil_mode,
          .count_include_pad = c.count_include_pad, .divisor_override = divisor};
}

// Runs a fixture case's op on x.
Tensor run_case(const fixtures::pooling::Case& c, const Tensor& x) {
  using fixtures::pooling::Kind;
  const IntPair k{c.kernel[0], c.kernel[1]};
  switch (c.kind) {
    case Kind::Max: return max_pool2d(x, k, max_options(c));
    case Kind::Avg: return avg_pool2d(x, k, avg_options(c));
    case Kind::Adaptive: return adaptive_avg_pool2d(x, k);
  }
  return {};
}

}  // namespace

TEST_CASE("pooling: values worked by hand") {
  Tensor x = grid4x4();
  // 2×2 windows, stride 2: max of {0,1,4,5} = 5, ...; mean of {0,1,4,5} = 2.5, ...
  check_close(max_pool2d(x, 2), {5, 7, 13, 15}, 0);
  check_close(avg_pool2d(x, 2), {2.5, 4.5, 10.5, 12.5}, 0);
  // 3×3 windows, stride 1, padding 1: each output is the max of its 3×3 neighbourhood.
  check_close(max_pool2d(x, 3, {.stride = 1, .padding = 1}),
              {5, 6, 7, 7, 9, 10, 11, 11, 13, 14, 15, 15, 13, 14, 15, 15}, 0);
  // Top-left window of avg 3×3 pad 1 holds {0, 1, 4, 5} and five zeros of padding:
  // 10 / 9 counting the padding, 10 / 4 without.
  CHECK(avg_pool2d(x, 3, {.stride = 2, .padding = 1}).at<double>({0, 0, 0, 0}) ==
        doctest::Approx(10.0 / 9));
  CHECK(avg_pool2d(x, 3, {.stride = 2, .padding = 1, .count_include_pad = false})
            .at<double>({0, 0, 0, 0}) == 2.5);
  // divisor_override = 2: (0 + 1 + 4 + 5) / 2.
  CHECK(avg_pool2d(x, 2, {.divisor_override = 2}).at<double>({0, 0, 0, 0}) == 5);
  // Adaptive 4 → 3 rows: [0, 2), [1, 3), [2, 4); 4 → 2 cols: [0, 2), [2, 4).
  check_close(adaptive_avg_pool2d(x, {3, 2}), {2.5, 4.5, 6.5, 8.5, 10.5, 12.5}, 0);
  check_close(adaptive_avg_pool2d(x, 1), {7.5}, 0);
}

TEST_CASE("pooling: the backward pass, worked by hand") {
  Tensor x = grid4x4().requires_grad_();
  // Max 2×2: each window's gradient goes to its maximum, 5, 7, 13, 15.
  max_pool2d(x, 2).backward(from({1, 2, 3, 4}, {1, 1, 2, 2}));
  check_close(x.grad(), {0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4}, 0);
  // Max 3×3 stride 1 padding 1: element 15 wins 4 windows, so it gets 4 · 1.
  x.set_grad({});
  max_pool2d(x, 3, {.stride = 1, .padding = 1}).backward(ones({1, 1, 4, 4}, kFloat64));
  CHECK(x.grad().at<double>({0, 0, 3, 3}) == 4);
  CHECK(x.grad().at<double>({0, 0, 0, 0}) == 0);
  // Avg 2×2: each tap gets a quarter of its window's gradient.
  x.set_grad({});
  avg_pool2d(x, 2).backward(from({4, 8, 12, 16}, {1, 1, 2, 2}));
  check_close(x.grad(), {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, 0);
}

TEST_CASE("pooling: indices of max_pool2d_with_indices") {
  // Indices are flat h·W + w within each plane, as PyTorch's return_indices.
  auto [out, indices] = max_pool2d_with_indices(grid4x4(), 2);
  CHECK(indices.dtype() == kInt64);
  CHECK(indices.shape() == Shape{1, 1, 2, 2});
  CHECK(std::vector<int64_t>(indices.data<int64_t>(), indices.data<int64_t>() + 4) ==
        std::vector<int64_t>{5, 7, 13, 15});
  CHECK(!indices.requires_grad());
  // Ties: the first maximum in row-major order wins, as in PyTorch (strict >), so the gradient
  // of a constant window goes to its top-left tap; a window of −∞ points at its first tap too.
  Tensor flat = ones({1, 1, 2, 4}, kFloat64);
  flat.at<double>({0, 0, 0, 2}) = -INFINITY, flat.at<double>({0, 0, 0, 3}) = -INFINITY;
  flat.at<double>({0, 0, 1, 2}) = -INFINITY, flat.at<double>({0, 0, 1, 3}) = -INFINITY;
  auto [m, i] = max_pool2d_with_indices(flat, 2);
  CHECK(i.data<int64_t>()[0] == 0);
  CHECK(i.data<int64_t>()[1] == 2);
  CHECK(m.data<double>()[1] == -INFINITY);
  // NaN propagates (PyTorch's kernel takes a NaN tap as the maximum), and its index is kept.
  flat.at<double>({0, 0, 1, 3}) = NAN;
  auto [m2, i2] = max_pool2d_with_indices(flat, 2);
  CHECK(std::isnan(m2.data<double>()[1]));
  CHECK(i2.data<int64_t>()[1] == 7);
}

// max_pool2d one window at a time, scanning its taps in row-major order (PyTorch's
// max_pool2d_kernel): the reference for the two-pass kernel of backend/cpu/pooling.hpp.
std::pair<std::vector<double>, std::vector<int64_t>> window_max(const Tensor& x, IntPair k, IntPair st,
                                                                IntPair pad, IntPair dil, int64_t Ho,
                                                                int64_t Wo) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  std::vector<double> out;
  std::vector<int64_t> idx;
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < Ho; ++i)
      for (int64_t j = 0; j < Wo; ++j) {
        double best = -INFINITY;
        int64_t arg = -1;
        for (int64_t a = 0; a < k.h; ++a)
          for (int64_t b = 0; b < k.w; ++b) {
            const int64_t h = i * st.h - pad.h + a * dil.h, w = j * st.w - pad.w + b * dil.w;
            if (h < 0 || h >= H || w < 0 || w >= W) continue;
            const double v = x.data<double>()[(p * H + h) * W + w];
            if (arg < 0 || v > best || std::isnan(v)) best = v, arg = h * W + w;
          }
        out.push_back(best);
        idx.push_back(arg);
      }
  return {out, idx};
}

TEST_CASE("max_pool2d: the two-pass kernel finds the row-major window scan's tap, ties and NaN included") {
  manual_seed(11);
  struct Case {
    IntPair k, st, pad, dil;
    bool ceil;
    Shape shape;
  };
  const std::vector<Case> cases = {
      {3, 2, 1, 1, false, {2, 3, 32, 32}},  // ResNet's stem pool
      {3, 2, 1, 1, false, {1, 2, 7, 9}},    // odd sizes
      {2, 2, 0, 1, false, {1, 2, 6, 8}},    // VGG's
      {3, 1, 1, 1, false, {1, 2, 5, 6}},    // stride 1
      {{2, 3}, {3, 2}, {1, 1}, 1, true, {1, 2, 8, 11}},  // stride 3 rows, ceil_mode
      {3, 2, 1, 2, false, {1, 2, 9, 10}},   // dilation
      {{1, 4}, {1, 3}, {0, 2}, 1, true, {1, 1, 3, 13}},  // wide windows, stride 3 columns
      {5, 4, 2, 1, false, {1, 1, 3, 3}},    // windows wider than the plane
  };
  for (const Case& c : cases) {
    CAPTURE(c.shape);
    CAPTURE(c.k.w);
    CAPTURE(c.st.w);
    CAPTURE(c.dil.h);
    // Values from {-1, 0, 1} (ties everywhere, as after a ReLU), a few NaN and −∞.
    Tensor x = rand(c.shape, kFloat64);
    double* v = x.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) v[i] = std::floor(v[i] * 3) - 1;
    for (int64_t i = 7; i < x.numel(); i += 23) v[i] = NAN;
    for (int64_t i = 3; i < x.numel(); i += 17) v[i] = -INFINITY;
    const MaxPool2dOptions o{.stride = c.st, .padding = c.pad, .dilation = c.dil, .ceil_mode = c.ceil};
    for (DType dtype : {kFloat64, kFloat32}) {
      auto [out, idx] = max_pool2d_with_indices(x.to(dtype), c.k, o);
      const auto [want, want_idx] = window_max(x, c.k, c.st, c.pad, c.dil, out.size(2), out.size(3));
      Tensor got = out.to(kFloat64);
      const Tensor values_only = max_pool2d(x.to(dtype), c.k, o).to(kFloat64);
      REQUIRE(got.numel() == static_cast<int64_t>(want.size()));
      for (int64_t i = 0; i < got.numel(); ++i) {
        CAPTURE(i);
        const double g = got.data<double>()[i], w = want[i], g2 = values_only.data<double>()[i];
        CHECK((std::isnan(w) ? std::isnan(g) && std::isnan(g2) : g == w && g2 == w));
        CHECK(idx.data<int64_t>()[i] == want_idx[i]);
      }
    }
  }
}

TEST_CASE("pooling: forward, indices and gradients match PyTorch") {
  namespace fx = fixtures::pooling;
  for (const fx::Case& c : fx::cases) {
    CAPTURE(std::string(c.name));
    for (DType dtype : {kFloat64, kFloat32}) {
      CAPTURE(std::string(dtype_name(dtype)));
      const double tol = dtype == kFloat64 ? 1e-12 : 1e-6;
      Tensor x = from(fx::x, fx::x_shape, dtype).requires_grad_();
      Tensor y = run_case(c, x);
      CHECK(y.shape() == Shape(c.out_shape));
      check_close(y, c.out, tol);
      y.backward(from(c.g, c.out_shape, dtype));
      check_close(x.grad(), c.dx, tol);
      if (c.kind == fx::Kind::Max) {
        auto [out, idx] = max_pool2d_with_indices(x.detach(), {c.kernel[0], c.kernel[1]}, max_options(c));
        CHECK(std::vector<int64_t>(idx.data<int64_t>(), idx.data<int64_t>() + idx.numel()) == c.indices);
      }
    }
  }
}

TEST_CASE("pooling: gradcheck") {
  manual_seed(5);
  auto check = [](const char* what, auto f, const Shape& shape) {
    CAPTURE(std::string(what));
    auto r = gradcheck([&](const V& in) { return f(in[0]); }, {distinct(shape)});
    CHECK_MESSAGE(r.ok, r.report);
  };
  const Shape s{2, 2, 5, 7};
  check("max 2", [](const Tensor& x) { return max_pool2d(x, 2); }, s);
  check("max 3 stride 2 padding 1", [](const Tensor& x) { return max_pool2d(x, 3, {.stride = 2, .padding = 1}); }, s);
  check("max (3, 2) stride (1, 2) dilation (2, 1)",
        [](const Tensor& x) { return max_pool2d(x, {3, 2}, {.stride = IntPair{1, 2}, .dilation = {2, 1}}); }, s);
  check("max 2 ceil_mode", [](const Tensor& x) { return max_pool2d(x, 2, {.ceil_mode = true}); }, s);
  check("max 3 padding 1 dilation 2", [](const Tensor& x) { return max_pool2d(x, 3, {.stride = 1, .padding = 1, .dilation = 2}); }, s);
  check("max 3 stride 2 padding 1 ceil_mode",
        [](const Tensor& x) { return max_pool2d(x, 3, {.stride = 2, .padding = 1, .ceil_mode = true}); }, s);
  check("avg 2", [](const Tensor& x) { return avg_pool2d(x, 2); }, s);
  check("avg 3 stride 2 padding 1", [](const Tensor& x) { return avg_pool2d(x, 3, {.stride = 2, .padding = 1}); }, s);
  check("avg 3 stride 2 padding 1 ceil_mode exclude pad", [](const Tensor& x) {
    return avg_pool2d(x, 3, {.stride = 2, .padding = 1, .ceil_mode = true, .count_include_pad = false});
  }, s);
  check("avg (2, 3) stride (1, 2) ceil_mode", [](const Tensor& x) {
    return avg_pool2d(x, {2, 3}, {.stride = IntPair{1, 2}, .ceil_mode = true});
  }, s);
  check("avg 4 stride 3 padding 2 ceil_mode",
        [](const Tensor& x) { return avg_pool2d(x, 4, {.stride = 3, .padding = 2, .ceil_mode = true}); }, s);
  check("avg 2 divisor_override 3", [](const Tensor& x) { return avg_pool2d(x, 2, {.divisor_override = 3}); }, s);
  check("adaptive 3x4 (non-divisible)", [](const Tensor& x) { return adaptive_avg_pool2d(x, {3, 4}); }, s);
  check("adaptive 1", [](const Tensor& x) { return adaptive_avg_pool2d(x, 1); }, s);
  check("adaptive 6x9 (larger than the input)", [](const Tensor& x) { return adaptive_avg_pool2d(x, {6, 9}); }, s);
  check("max on unbatched [C, H, W]", [](const Tensor& x) { return max_pool2d(x, 3, {.stride = 2}); }, {3, 5, 5});
}

TEST_CASE("pooling: defaults and unbatched input") {
  manual_seed(6);
  Tensor x = distinct({2, 3, 6, 7});
  // stride defaults to kernel_size.
  check_close(max_pool2d(x, {3, 2}), [&] {
    Tensor y = max_pool2d(x, {3, 2}, {.stride = IntPair{3, 2}});
    return std::vector<double>(y.data<double>(), y.data<double>() + y.numel());
  }(), 0);
  // A [C, H, W] input is pooled as the batch of one [1, C, H, W].
  Tensor one = distinct({3, 6, 7});
  Tensor batched = alias_with_shape(one, {1, 3, 6, 7});
  for (auto f : {+[](const Tensor& t) { return max_pool2d(t, 3, {.stride = 2, .padding = 1}); },
                 +[](const Tensor& t) { return avg_pool2d(t, 2, {.ceil_mode = true}); },
                 +[](const Tensor& t) { return adaptive_avg_pool2d(t, {4, 5}); }}) {
    Tensor a = f(one), b = f(batched);
    CHECK(a.dim() == 3);
    REQUIRE(a.numel() == b.numel());
    CHECK(std::equal(a.data<double>(), a.data<double>() + a.numel(), b.data<double>()));
  }
}

TEST_CASE("pooling: results do not depend on the thread count") {
  manual_seed(7);
  Tensor x = distinct({4, 8, 32, 32}).requires_grad_();
  auto run = [&](int threads) {
    set_num_threads(threads);
    std::vector<std::vector<double>> results;
    for (auto f : {+[](const Tensor& t) { return max_pool2d(t, 3, {.stride = 2, .padding = 1}); },
                   +[](const Tensor& t) { return avg_pool2d(t, 3, {.stride = 2, .ceil_mode = true}); },
                   +[](const Tensor& t) { return adaptive_avg_pool2d(t, {5, 7}); }}) {
      x.set_grad({});
      Tensor y = f(x);
      y.backward(ones_like(y));
      for (const Tensor& t : {y, x.grad()})
        results.emplace_back(t.data<double>(), t.data<double>() + t.numel());
    }
    return results;
  };
  const int before = get_num_threads();
  auto one = run(1), many = run(4);
  set_num_threads(before);
  CHECK(one == many);
}

TEST_CASE("pooling: argument errors") {
  Tensor x = randn({1, 2, 5, 5}, kFloat64);
  CHECK_THROWS_AS(max_pool2d(randn({5, 5}, kFloat64), 2), Error);          // 2-D input
  CHECK_THROWS_AS(max_pool2d(randn({1, 1, 1, 5, 5}, kFloat64), 2), Error);  // 5-D input
  CHECK_THROWS_AS(max_pool2d(x, 0), Error);                                  // kernel 0
  CHECK_THROWS_AS(max_pool2d(x, 2, {.stride = 0}), Error);
  CHECK_THROWS_AS(max_pool2d(x, 2, {.dilation = 0}), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(x, 2, {.padding = 2}),
                       doctest::Contains("pad should be at most half of kernel size"), Error);
  CHECK_THROWS_AS(max_pool2d(x, 3, {.padding = -1}), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(x, 6), doctest::Contains("output size is too small"), Error);
  CHECK_THROWS_AS(max_pool2d(x, 3, {.dilation = 3}), Error);                 // spans 7 > 5
  CHECK_THROWS_AS(max_pool2d(x.to(kInt64), 2), Error);
  CHECK_THROWS_AS(max_pool2d(randn({1, 2, 0, 5}, kFloat64), 1), Error);     // empty plane
  CHECK_THROWS_AS(avg_pool2d(x, 2, {.padding = 2}), Error);
  CHECK_THROWS_AS(avg_pool2d(x, 6), Error);
  CHECK_THROWS_AS(avg_pool2d(x, 2, {.divisor_override = 0}), Error);
  CHECK_THROWS_AS(avg_pool2d(x.to(kInt64), 2), Error);
  CHECK_THROWS_AS(adaptive_avg_pool2d(randn({5, 5}, kFloat64), 2), Error);
  CHECK_THROWS_AS(adaptive_avg_pool2d(x, {-1, 2}), Error);
  CHECK_THROWS_AS(adaptive_avg_pool2d(randn({1, 2, 0, 5}, kFloat64), 2), Error);
  CHECK_THROWS_AS(adaptive_avg_pool2d(x.to(kInt64), 2), Error);
}

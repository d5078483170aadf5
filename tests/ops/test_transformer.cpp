// Tests of lacoot/ops/transformer.hpp: attention, Swin's windows and patch merging, DiT's
// timestep embedding and modulation.
//
// References: loops over indices written here from the definitions (attention as
// softmax(q·kᵀ·scale + mask)·v in double, torchvision's window and patch layouts, DiT's
// embedding formula), independent of the composed ops under test; finite differences
// (gradcheck) for every backward.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "../check.hpp"
#include "lacoot/autograd/gradcheck.hpp"
#include "lacoot/ops/reduce.hpp"
#include "lacoot/ops/transformer.hpp"

using namespace lacoot;
using namespace lacoot::test;
using Inputs = std::vector<Tensor>;

namespace {

// attention for one [L, E] x [S, E] x [S, Ev] head in double loops; bias [L, S] added (null:
// none), keep[l][s] false gives −inf.
std::vector<double> attention_by_loops(const double* q, const double* k, const double* v, int64_t L, int64_t S,
                                       int64_t E, int64_t Ev, double scale, const double* bias,
                                       const std::vector<std::vector<bool>>* keep) {
  std::vector<double> out(static_cast<std::size_t>(L * Ev), 0.0);
  for (int64_t l = 0; l < L; ++l) {
    std::vector<double> w(static_cast<std::size_t>(S));
    double top = -std::numeric_limits<double>::infinity();
    for (int64_t s = 0; s < S; ++s) {
      double dot = 0;
      for (int64_t e = 0; e < E; ++e) dot += q[l * E + e] * k[s * E + e];
      w[s] = dot * scale + (bias ? bias[l * S + s] : 0.0);
      if (keep && !(*keep)[l][s]) w[s] = -std::numeric_limits<double>::infinity();
      top = std::max(top, w[s]);
    }
    double total = 0;
    for (double& x : w) total += (x = std::exp(x - top));
    for (int64_t s = 0; s < S; ++s)
      for (int64_t e = 0; e < Ev; ++e) out[l * Ev + e] += w[s] / total * v[s * Ev + e];
  }
  return out;
}

}  // namespace

TEST_CASE("scaled_dot_product_attention equals softmax(q k^T scale + mask) v, per head") {
  Generator g(11);
  const int64_t B = 2, h = 3, L = 4, S = 5, E = 6, Ev = 3;
  Tensor q = randn({B, h, L, E}, kFloat64, g), k = randn({B, h, S, E}, kFloat64, g), v = randn({B, h, S, Ev}, kFloat64, g);
  Tensor bias = randn({h, L, S}, kFloat64, g);  // one per head, broadcast over the batch (Swin's)
  Tensor keep = Tensor::empty({L, S}, kInt64);  // position s is kept for query l unless (l + 2s) % 3 == 0
  std::vector<std::vector<bool>> keep_rows(L, std::vector<bool>(S));
  for (int64_t l = 0; l < L; ++l)
    for (int64_t s = 0; s < S; ++s) {
      keep_rows[l][s] = (l + 2 * s) % 3 != 0;
      keep.data<int64_t>()[l * S + s] = keep_rows[l][s];
    }
  std::vector<std::vector<bool>> causal(L, std::vector<bool>(S));
  for (int64_t l = 0; l < L; ++l)
    for (int64_t s = 0; s < S; ++s) causal[l][s] = s <= l;

  const double scale = 1.0 / std::sqrt(double(E));
  struct Case {
    const char* name;
    Tensor out;
    bool with_bias;
    const std::vector<std::vector<bool>>* keep;
    double scale;
  };
  const Case cases[] = {
      {"plain", scaled_dot_product_attention(q, k, v), false, nullptr, scale},
      {"additive bias", scaled_dot_product_attention(q, k, v, bias), true, nullptr, scale},
      {"int64 mask", scaled_dot_product_attention(q, k, v, keep), false, &keep_rows, scale},
      {"causal", scaled_dot_product_attention(q, k, v, {}, 0.0, true), false, &causal, scale},
      {"scale 0.3", scaled_dot_product_attention(q, k, v, {}, 0.0, false, 0.3), false, nullptr, 0.3},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    REQUIRE(c.out.shape() == Shape{B, h, L, Ev});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t hh = 0; hh < h; ++hh) {
        const int64_t head = b * h + hh;
        auto ref = attention_by_loops(q.data<double>() + head * L * E, k.data<double>() + head * S * E,
                                      v.data<double>() + head * S * Ev, L, S, E, Ev, c.scale,
                                      c.with_bias ? bias.data<double>() + hh * L * S : nullptr, c.keep);
        Tensor got = select(select(c.out, 0, b), 0, hh);
        check_close(got, ref, 1e-12);
      }
  }
  // float32 agrees with float64.
  Tensor y32 = scaled_dot_product_attention(q.to(kFloat32), k.to(kFloat32), v.to(kFloat32), bias.to(kFloat32));
  CHECK(max_abs_diff(y32, scaled_dot_product_attention(q, k, v, bias)) < 1e-5);
  // Dropout on the weights changes the output.
  Tensor dropped = scaled_dot_product_attention(q, k, v, {}, 0.5);
  CHECK(max_abs_diff(dropped, cases[0].out) > 0);
}

TEST_CASE("scaled_dot_product_attention: errors name the shapes") {
  Tensor q = randn({2, 4, 6}), k = randn({2, 5, 6}), v = randn({2, 5, 3});
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, randn({2, 5, 7}), v), doctest::Contains("features per position"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, randn({2, 4, 3})), doctest::Contains("positions"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, v, zeros({4, 5}), 0.0, true), doctest::Contains("not both"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, v, zeros({4, 5}, kFloat64)), doctest::Contains("dtype"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(randn({6}), k, v), doctest::Contains("at least 2"), Error);
}

TEST_CASE("gradcheck: attention (bias, mask, causal), windows, patch merging, timestep embedding, modulate") {
  Generator g(5);
  Tensor q = randn({2, 3, 4}, kFloat64, g), k = randn({2, 5, 4}, kFloat64, g), v = randn({2, 5, 2}, kFloat64, g);
  Tensor bias = randn({3, 5}, kFloat64, g);
  Tensor keep = Tensor::empty({3, 5}, kInt64);
  for (int64_t i = 0; i < 15; ++i) keep.data<int64_t>()[i] = i % 4 != 1;
  struct Case {
    const char* name;
    Inputs in;
    std::function<Tensor(const Inputs&)> f;
  };
  const std::vector<Case> cases = {
      {"attention, bias", {q, k, v, bias}, [](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], x[3]); }},
      {"attention, mask", {q, k, v}, [&](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], keep); }},
      {"attention, causal", {q, k, v}, [](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], {}, 0.0, true); }},
      {"window_partition", {randn({2, 4, 6, 3}, kFloat64, g)}, [](const Inputs& x) { return window_partition(x[0], 2, 3); }},
      {"window_reverse", {randn({8, 6, 3}, kFloat64, g)}, [](const Inputs& x) { return window_reverse(x[0], 2, 3, 4, 6); }},
      {"merge_patches, odd sizes", {randn({2, 3, 5, 2}, kFloat64, g)}, [](const Inputs& x) { return merge_patches(x[0]); }},
      {"timestep_embedding", {mul(rand({4}, kFloat64, g), 3.0)}, [](const Inputs& x) { return timestep_embedding(x[0], 7, 10.0); }},
      {"modulate", {randn({2, 3, 4}, kFloat64, g), randn({2, 4}, kFloat64, g), randn({2, 4}, kFloat64, g)},
       [](const Inputs& x) { return modulate(x[0], x[1], x[2]); }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    auto r = gradcheck(c.f, c.in);
    CHECK_MESSAGE(r.ok, r.report);
  }
}

TEST_CASE("window_partition / window_reverse: torchvision's layout, and each other's inverse") {
  const int64_t B = 2, H = 4, W = 6, C = 3, wh = 2, ww = 3;
  Tensor x = arange(0, B * H * W * C, 1, kFloat64);
  x = reshape(x, {B, H, W, C});
  Tensor w = window_partition(x, wh, ww);
  REQUIRE(w.shape() == Shape{B * (H / wh) * (W / ww), wh * ww, C});
  // Window (b, i, j), position (r, s) in it, channel c holds x[b, i·wh + r, j·ww + s, c].
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < H / wh; ++i)
      for (int64_t j = 0; j < W / ww; ++j)
        for (int64_t r = 0; r < wh; ++r)
          for (int64_t s = 0; s < ww; ++s)
            for (int64_t c = 0; c < C; ++c) {
              const int64_t win = (b * (H / wh) + i) * (W / ww) + j;
              CHECK(w.at<double>({win, r * ww + s, c}) == x.at<double>({b, i * wh + r, j * ww + s, c}));
            }
  CHECK(bitwise_equal(window_reverse(w, wh, ww, H, W), x));
  CHECK_THROWS_WITH_AS(window_partition(x, 3, 3), doctest::Contains("does not divide"), Error);
  CHECK_THROWS_WITH_AS(window_reverse(w, wh, ww, 6, 6), doctest::Contains("are not"), Error);
}

TEST_CASE("merge_patches: the 2x2 neighbourhoods in torchvision's order, odd sizes zero-padded") {
  const int64_t B = 2, H = 3, W = 5, C = 2;
  Tensor x = add(reshape(arange(0, B * H * W * C, 1, kFloat64), {B, H, W, C}), 1.0);  // no zeros
  Tensor m = merge_patches(x);
  REQUIRE(m.shape() == Shape{B, 2, 3, 4 * C});
  const int64_t dr[] = {0, 1, 0, 1}, dc[] = {0, 0, 1, 1};
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j)
        for (int64_t part = 0; part < 4; ++part)
          for (int64_t c = 0; c < C; ++c) {
            const int64_t r = 2 * i + dr[part], s = 2 * j + dc[part];
            const double expected = r < H && s < W ? x.at<double>({b, r, s, c}) : 0.0;
            CHECK(m.at<double>({b, i, j, part * C + c}) == expected);
          }
}

TEST_CASE("timestep_embedding: DiT's cosines then sines; modulate: x (1 + scale) + shift") {
  Tensor t = tensor({0.0, 1.0, 250.0, 999.0}).to(kFloat64);
  const int64_t dim = 9, half = 4;
  const double max_period = 10000;
  Tensor e = timestep_embedding(t, dim, max_period);
  REQUIRE(e.shape() == Shape{4, dim});
  for (int64_t n = 0; n < 4; ++n) {
    for (int64_t k = 0; k < half; ++k) {
      const double f = std::exp(-std::log(max_period) * double(k) / double(half));
      CHECK(e.at<double>({n, k}) == doctest::Approx(std::cos(t.at<double>({n}) * f)).epsilon(1e-12));
      CHECK(e.at<double>({n, half + k}) == doctest::Approx(std::sin(t.at<double>({n}) * f)).epsilon(1e-12));
    }
    CHECK(e.at<double>({n, dim - 1}) == 0.0);  // odd dim: a zero column
  }
  CHECK_THROWS_WITH_AS(timestep_embedding(tensor({1.0}).to(kInt64), 4), doctest::Contains("floating"), Error);

  Generator g(3);
  Tensor x = randn({2, 3, 4}, kFloat64, g), shift = randn({2, 4}, kFloat64, g), scale = randn({2, 4}, kFloat64, g);
  Tensor y = modulate(x, shift, scale);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t tk = 0; tk < 3; ++tk)
      for (int64_t d = 0; d < 4; ++d)
        CHECK(y.at<double>({n, tk, d}) == doctest::Approx(x.at<double>({n, tk, d}) * (1 + scale.at<double>({n, d})) +
                                                          shift.at<double>({n, d})));
  CHECK_THROWS_WITH_AS(modulate(x, randn({2, 3}), scale), doctest::Contains("modulate"), Error);
}

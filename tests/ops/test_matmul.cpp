// Tests for ops/matmul.hpp and backend/cpu/gemm.hpp: products worked by hand, every matmul
// shape rule of torch.matmul against a plain triple loop (the independent reference here),
// gradchecks, the GEMM's tiled and split-depth paths (and that they do not depend on the
// thread count), linear, and the errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "../check.hpp"
#include "lacoot/autograd/gradcheck.hpp"
#include "lacoot/ops/matmul.hpp"

using namespace lacoot;
using namespace lacoot::test;

namespace {

// The reference: a [batch, M, K] · b [batch, K, N] by three loops in double, for operands
// already expanded to the full batch.
Tensor naive_bmm(const Tensor& a, const Tensor& b) {
  const int64_t B = a.size(0), M = a.size(1), K = a.size(2), N = b.size(2);
  Tensor ad = a.to(kFloat64), bd = b.to(kFloat64), out = zeros({B, M, N}, kFloat64);
  for (int64_t p = 0; p < B; ++p)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += ad.at<double>({p, i, k}) * bd.at<double>({p, k, j});
        out.at<double>({p, i, j}) = s;
      }
  return out;
}

}  // namespace

TEST_CASE("matmul worked by hand, and the 1-D rules") {
  Tensor a = tensor({{1, 2}, {3, 4}}), b = tensor({{5, 6}, {7, 8}});
  // [1 2; 3 4] [5 6; 7 8] = [1·5 + 2·7, 1·6 + 2·8; 3·5 + 4·7, 3·6 + 4·8]
  Tensor c = matmul(a, b);
  CHECK(c.shape() == Shape{2, 2});
  check_values(c, {19, 22, 43, 50}, 1e-6);
  Tensor dot = matmul(tensor({1, 2, 3}), tensor({4, 5, 6}));  // 4 + 10 + 18
  CHECK(dot.shape() == Shape{});
  check_values(dot, {32}, 1e-6);
  check_values(matmul(tensor({1, 2}), b), {19, 22}, 1e-6);  // [1, 2] as a row
  Tensor mv = matmul(a, tensor({5, 6}));              // [5, 6] as a column: [17, 39]
  CHECK(mv.shape() == Shape{2});
  check_values(mv, {17, 39}, 1e-6);
  check_values(matmul(a.to(kFloat64), b.to(kFloat64)), {19, 22, 43, 50}, 1e-6);
}

TEST_CASE("matmul batched shapes and broadcasting follow torch.matmul") {
  struct Case {
    Shape a, b, out;
  };
  const Case cases[] = {
      {{2, 1, 3, 4}, {3, 4, 5}, {2, 3, 3, 5}},  // batch dims broadcast: [2, 1] with [3]
      {{3, 4}, {2, 4, 5}, {2, 3, 5}},           // a matrix times a batch
      {{2, 3, 4}, {4, 5}, {2, 3, 5}},           // a batch times a matrix (folded into one GEMM)
      {{2, 3, 4}, {4}, {2, 3}},                 // batch times a vector
      {{4}, {2, 4, 5}, {2, 5}},                 // a vector times a batch
      {{1, 3, 4}, {2, 1, 4, 2}, {2, 1, 3, 2}},
  };
  for (const Case& c : cases) {
    INFO(shape_str(c.a), " @ ", shape_str(c.b));
    Tensor a = randn(c.a), b = randn(c.b);
    Tensor out = matmul(a, b);
    REQUIRE(out.shape() == c.out);
    // Reference: expand both to the full batch as 3-D [batch, M, K], [batch, K, N].
    const bool av = a.dim() == 1, bv = b.dim() == 1;
    const int64_t M = av ? 1 : c.a[c.a.size() - 2], K = c.a.back(), N = bv ? 1 : c.b.back();
    Shape ba(c.a.begin(), c.a.end() - (av ? 1 : 2)), bb(c.b.begin(), c.b.end() - (bv ? 1 : 2));
    Shape batch = broadcast_shapes(ba, bb, "test");
    Tensor ae = Tensor::empty({numel(batch), M, K}), be = Tensor::empty({numel(batch), K, N});
    auto oa = detail::batch_offsets(ba, batch, M * K), ob = detail::batch_offsets(bb, batch, K * N);
    for (int64_t p = 0; p < numel(batch); ++p) {
      std::copy_n(a.data<float>() + oa[static_cast<std::size_t>(p)], M * K, ae.data<float>() + p * M * K);
      std::copy_n(b.data<float>() + ob[static_cast<std::size_t>(p)], K * N, be.data<float>() + p * K * N);
    }
    CHECK(max_abs_diff(alias_with_shape(out, {numel(batch), M, N}), naive_bmm(ae, be)) < 1e-5);
  }
}

TEST_CASE("matmul gradients (gradcheck)") {
  struct Case {
    const char* name;
    Shape a, b;
  };
  const Case cases[] = {
      {"1-D . 2-D", {3}, {3, 4}},      {"2-D . 1-D", {2, 3}, {3}},
      {"1-D . 1-D", {4}, {4}},         {"2-D . 2-D", {2, 3}, {3, 4}},
      {"batched, broadcast", {2, 1, 2, 3}, {3, 3, 2}},
      {"matrix . batch", {2, 3}, {2, 3, 2}},
      {"batch . matrix", {2, 2, 3}, {3, 4}},
      {"vector . batch", {3}, {2, 3, 2}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    auto r = gradcheck([](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); },
                       {randn(c.a), randn(c.b)});
    CHECK_MESSAGE(r.ok, r.report);
  }
}

TEST_CASE("gemm: transposes, alpha and beta against the triple loop") {
  const int64_t M = 5, N = 7, K = 3;
  Tensor A = randn({M, K}, kFloat64), At = randn({K, M}, kFloat64);
  Tensor B = randn({K, N}, kFloat64), Bt = randn({N, K}, kFloat64);
  Tensor C0 = randn({M, N}, kFloat64);
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      const Tensor& a = ta ? At : A;
      const Tensor& b = tb ? Bt : B;
      Tensor C = C0.clone();
      backend::cpu::gemm(ta == 1, tb == 1, M, N, K, 2.0, a.data<double>(), ta ? M : K,
                         b.data<double>(), tb ? K : N, 0.5, C.data<double>(), N);
      double err = 0;
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          double s = 0;
          for (int64_t k = 0; k < K; ++k)
            s += (ta ? At.at<double>({k, i}) : A.at<double>({i, k})) *
                 (tb ? Bt.at<double>({j, k}) : B.at<double>({k, j}));
          err = std::max(err, std::abs(C.at<double>({i, j}) - (2 * s + 0.5 * C0.at<double>({i, j}))));
        }
      CHECK(err < 1e-12);
    }
  // beta = 0 ignores what C held, NaNs included; K = 0 is an empty sum.
  Tensor C = full({M, N}, NAN, kFloat64);
  backend::cpu::gemm(false, false, M, N, K, 1.0, A.data<double>(), K, B.data<double>(), N, 0.0,
                     C.data<double>(), N);
  CHECK(std::isfinite(C.at<double>({0, 0})));
  backend::cpu::gemm(false, false, M, N, 0, 1.0, A.data<double>(), K, B.data<double>(), N, 0.0,
                     C.data<double>(), N);
  CHECK(C.at<double>({2, 3}) == 0.0);
}

TEST_CASE("gemm splits (tiles of C, parts of the depth) are exact and thread-independent") {
  struct Case {
    const char* name;
    int64_t M, N, K;
  };
  const Case cases[] = {{"tiled along the columns", 64, 700, 96},
                        {"tiled along the rows", 700, 64, 96},
                        {"split depth (a weight-gradient shape)", 16, 24, 8192}};
  for (const Case& c : cases) {
    INFO(c.name);
    auto split = backend::cpu::gemm_split(c.M, c.N, c.K);
    CHECK(split.tiles * split.k_splits > 1);  // the case really exercises a split
    Tensor a = randn({1, c.M, c.K}), b = randn({1, c.K, c.N});
    auto run = [&](int threads) {
      const int before = get_num_threads();
      set_num_threads(threads);
      Tensor out = matmul(a, b);
      set_num_threads(before);
      return out;
    };
    Tensor one = run(1), two = run(2), three = run(3);
    CHECK(bitwise_equal(one, two));
    CHECK(bitwise_equal(one, three));
    CHECK(max_abs_diff(one, naive_bmm(a, b)) < 1e-3);
  }
}

TEST_CASE("linear: values by hand, gradients, leading dimensions") {
  // x = [1, 2], W = [[1, 0], [0, 1], [1, 1]], b = [0.5, 0, -1]:
  // x Wᵀ + b = [1 + 0.5, 2 + 0, 3 - 1] = [1.5, 2, 2].
  Tensor x = tensor({1, 2}), W = tensor({{1, 0}, {0, 1}, {1, 1}}), b = tensor({0.5, 0, -1});
  Tensor y = linear(x, W, b);
  CHECK(y.shape() == Shape{3});
  check_values(y, {1.5, 2, 2}, 1e-6);
  check_values(linear(x, W), {1, 2, 3}, 1e-6);
  Tensor y3 = linear(randn({2, 3, 4}), randn({5, 4}), randn({5}));
  CHECK(y3.shape() == Shape{2, 3, 5});

  auto with_bias = gradcheck([](const std::vector<Tensor>& v) { return linear(v[0], v[1], v[2]); },
                             {randn({2, 3, 4}), randn({5, 4}), randn({5})});
  CHECK_MESSAGE(with_bias.ok, with_bias.report);
  auto without = gradcheck([](const std::vector<Tensor>& v) { return linear(v[0], v[1]); },
                           {randn({3, 4}), randn({2, 4})});
  CHECK_MESSAGE(without.ok, without.report);
  auto vector_input = gradcheck([](const std::vector<Tensor>& v) { return linear(v[0], v[1], v[2]); },
                                {randn({4}), randn({3, 4}), randn({3})});
  CHECK_MESSAGE(vector_input.ok, vector_input.report);

  // float32 agrees with float64 on a layer big enough for the parallel GEMM.
  Tensor X = randn({256, 300}, kFloat64), Wt = randn({100, 300}, kFloat64), bias = randn({100}, kFloat64);
  CHECK(max_abs_diff(linear(X.to(kFloat32), Wt.to(kFloat32), bias.to(kFloat32)), linear(X, Wt, bias)) < 1e-3);
}

TEST_CASE("matmul and linear errors") {
  CHECK_THROWS_AS(matmul(randn({2, 3}), randn({4, 5})), Error);      // 3 != 4
  CHECK_THROWS_AS(matmul(randn({3}), randn({4})), Error);
  CHECK_THROWS_AS(matmul(randn({2, 2, 3}), randn({3, 3, 4})), Error);  // batch 2 vs 3
  CHECK_THROWS_AS(matmul(full({}, 1.0), randn({3})), Error);         // 0-d
  CHECK_THROWS_AS(matmul(randn({2, 3}), randn({3, 4}, kFloat64)), Error);
  CHECK_THROWS_AS(matmul(arange(6, kInt64), arange(6, kInt64)), Error);
  try {
    matmul(randn({2, 3}), randn({4, 5}));
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("[2, 3] and [4, 5] cannot be multiplied") != std::string::npos);
  }
  CHECK_THROWS_AS(linear(randn({2, 3}), randn({4, 5})), Error);      // 3 features, weight wants 5
  CHECK_THROWS_AS(linear(randn({2, 3}), randn({4, 3}), randn({3})), Error);
  CHECK_THROWS_AS(linear(randn({2, 3}), randn({3})), Error);         // 1-D weight
  CHECK_THROWS_AS(linear(randn({2, 3}), randn({4, 3}, kFloat64)), Error);
}

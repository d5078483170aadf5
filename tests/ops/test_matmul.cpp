// Tests for ops/matmul.hpp and backend/cpu/gemm.hpp: products worked by hand, every matmul
// shape rule of torch.matmul against a plain triple loop (the independent reference here),
// gradchecks, the GEMM's tiled and split-depth paths (and that they do not depend on the
// thread count), the packed float32 GEMM's edges (backend/cpu/sgemm.hpp), linear, and the errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

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

// ---- the float32 GEMM (sgemm.hpp where the build has AVX2 or AVX-512, else Eigen) ----

namespace {

// A float32 GEMM problem stored with padded leading dimensions: the stored A is M×K, or K×M if
// trans_a (each row `pad` floats longer than needed), likewise B and C. Entries come from a
// fixed sequence in [-1, 1): multiples of 1/64, so that every sum is exact in float32 and any
// misplaced term shows; or, if `rough`, divided by 60.1 instead, so that the rounding depends
// on the order of the additions (what the thread-count test needs).
struct SgemmCase {
  bool ta, tb;
  int64_t M, N, K, pad;
  float alpha, beta;
  bool rough = false;
  int64_t lda() const { return (ta ? M : K) + pad; }
  int64_t ldb() const { return (tb ? K : N) + pad; }
  int64_t ldc() const { return N + pad; }
  float a(const std::vector<float>& A, int64_t i, int64_t k) const {
    return ta ? A[static_cast<std::size_t>(k * lda() + i)] : A[static_cast<std::size_t>(i * lda() + k)];
  }
  float b(const std::vector<float>& B, int64_t k, int64_t j) const {
    return tb ? B[static_cast<std::size_t>(j * ldb() + k)] : B[static_cast<std::size_t>(k * ldb() + j)];
  }
};

std::vector<float> sequence(int64_t n, uint32_t seed, bool rough) {
  std::vector<float> v(static_cast<std::size_t>(n));
  uint32_t x = seed * 2654435761u + 1;
  for (float& e : v) {
    x = x * 1664525u + 1013904223u;  // Numerical Recipes' LCG
    e = static_cast<float>(static_cast<int>(x >> 25) - 64) / (rough ? 60.1f : 64.0f);
  }
  return v;
}

struct SgemmRun {
  std::vector<float> C;
  double worst = 0;  // max |C − reference| / (the sum of |terms| + 1), over the M×N block
};

// Runs gemm() (parallel = true) or gemm_serial() on the case with `threads` threads, and
// compares C with a double-precision triple loop. A beta = 0 case starts C full of NaN, which
// must not leak into the result; the padding columns of C must come back untouched.
SgemmRun run_sgemm(const SgemmCase& c, bool parallel, int threads) {
  const std::vector<float> A = sequence((c.ta ? c.K : c.M) * c.lda(), 1, c.rough);
  const std::vector<float> B = sequence((c.tb ? c.N : c.K) * c.ldb(), 2, c.rough);
  std::vector<float> C0 = sequence(c.M * c.ldc(), 3, c.rough);
  if (c.beta == 0.0f) std::fill(C0.begin(), C0.end(), NAN);
  for (int64_t i = 0; i < c.M; ++i)  // a sentinel in the padding
    for (int64_t j = c.N; j < c.ldc(); ++j) C0[static_cast<std::size_t>(i * c.ldc() + j)] = 7.0f;
  SgemmRun run{C0, 0};
  const int before = get_num_threads();
  set_num_threads(threads);
  (parallel ? backend::cpu::gemm<float> : backend::cpu::gemm_serial<float>)(
      c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), c.lda(), B.data(), c.ldb(), c.beta,
      run.C.data(), c.ldc());
  set_num_threads(before);
  for (int64_t i = 0; i < c.M; ++i) {
    for (int64_t j = 0; j < c.N; ++j) {
      double s = 0, size = 0;
      for (int64_t k = 0; k < c.K; ++k) {
        const double t = double(c.a(A, i, k)) * c.b(B, k, j);
        s += t, size += std::abs(t);
      }
      const auto ij = static_cast<std::size_t>(i * c.ldc() + j);
      const double old = c.beta == 0.0f ? 0.0 : double(c.beta) * C0[ij];
      const double want = double(c.alpha) * s + old;
      const double err = std::abs(run.C[ij] - want) / (std::abs(c.alpha) * size + std::abs(old) + 1);
      run.worst = std::max(run.worst, std::isnan(err) ? INFINITY : err);
    }
    for (int64_t j = c.N; j < c.ldc(); ++j)
      if (run.C[static_cast<std::size_t>(i * c.ldc() + j)] != 7.0f) run.worst = INFINITY;
  }
  return run;
}

bool same_bits(const std::vector<float>& x, const std::vector<float>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), sizeof(float) * x.size()) == 0;
}

}  // namespace

TEST_CASE("gemm float32: every transpose, edge sizes, alpha/beta, padded rows, against double") {
  // Sizes around the micro-tile (8 or 6 rows × 48 or 16 columns), the depth block (at most
  // 384, cut into equal multiples of 8) and the 8×8 transposes of the packing.
  const int64_t Ms[] = {1, 5, 8, 9, 17, 50};
  const int64_t Ns[] = {1, 7, 16, 17, 47, 48, 49, 100};
  const int64_t Ks[] = {1, 3, 8, 9, 385};
  const float alphas[] = {1.0f, -0.75f}, betas[] = {0.0f, 1.0f, 0.5f};
  int64_t runs = 0;
  for (int t = 0; t < 4; ++t)
    for (int64_t M : Ms)
      for (int64_t N : Ns)
        for (int64_t K : Ks) {
          const int64_t pad = (M + N + K) % 3 == 0 ? 0 : 5;  // ld = width, or longer
          const float alpha = alphas[(M + K) % 2], beta = betas[(N + K + t) % 3];
          const SgemmCase c{t % 2 == 1, t / 2 == 1, M, N, K, pad, alpha, beta};
          const SgemmRun r = run_sgemm(c, false, 1);
          ++runs;
          if (!(r.worst < 1e-6)) {
            INFO("ta ", c.ta, " tb ", c.tb, " M ", M, " N ", N, " K ", K, " pad ", pad,
                 " alpha ", alpha, " beta ", beta);
            CHECK(r.worst < 1e-6);
          }
        }
  CHECK(runs == 4 * 6 * 8 * 5);
  // A few hundred on every side, several depth blocks and cache blocks; through gemm() on two
  // threads. C = NaN with beta = 0 again, and the K = 0 case (C = beta · C).
  const SgemmCase large[] = {{false, false, 300, 257, 800, 3, 1.0f, 0.0f},
                             {true, false, 129, 1100, 385, 0, 2.0f, 1.0f},
                             {false, true, 200, 301, 1000, 1, 1.0f, 0.25f},
                             {true, true, 333, 96, 511, 16, -1.0f, 0.0f},
                             {false, false, 37, 41, 0, 2, 1.0f, 0.5f},
                             {true, true, 3, 4, 0, 0, 1.0f, 0.0f}};
  for (const SgemmCase& c : large) {
    INFO("ta ", c.ta, " tb ", c.tb, " M ", c.M, " N ", c.N, " K ", c.K);
    CHECK(run_sgemm(c, true, 2).worst < 1e-6);
  }
}

TEST_CASE("gemm float32: bitwise the same on 1, 2 and 3 threads, and as gemm_serial") {
  // Shapes that gemm() shares out: by rows and by B panels, and with a split depth (small C,
  // long K). Without a split depth sgemm's parallel product is also its serial one, bit for bit.
  const SgemmCase cases[] = {{false, false, 64, 700, 96, 0, 1.0f, 0.0f, true},
                             {true, false, 700, 64, 96, 1, 1.0f, 1.0f, true},
                             {false, true, 96, 500, 777, 2, 0.5f, 0.0f, true},
                             {true, true, 260, 260, 260, 0, 1.0f, 0.5f, true},
                             {false, true, 16, 24, 8192, 0, 1.0f, 0.0f, true}};
  for (const SgemmCase& c : cases) {
    INFO("ta ", c.ta, " tb ", c.tb, " M ", c.M, " N ", c.N, " K ", c.K);
    const auto split = backend::cpu::gemm_split(c.M, c.N, c.K);
    CHECK(split.tiles * split.k_splits > 1);  // gemm() really shares it out
    const SgemmRun one = run_sgemm(c, true, 1), two = run_sgemm(c, true, 2),
                   three = run_sgemm(c, true, 3);
    CHECK(same_bits(one.C, two.C));
    CHECK(same_bits(one.C, three.C));
    CHECK(one.worst < 1e-6);
    if (backend::cpu::kSgemmAvailable && split.k_splits == 1)  // sgemm's promise, not Eigen's
      CHECK(same_bits(run_sgemm(c, false, 1).C, two.C));
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

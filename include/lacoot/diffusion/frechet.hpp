// lacoot/diffusion/frechet.hpp — the Fréchet distance between two sets of feature vectors.
//
// Holds: FeatureStats (mean and covariance of features [N, d]), feature_stats,
// frechet_distance, and symmetric_eigenvalues (cyclic Jacobi) which it needs.
// Needs: core/.
// Leaves out: the Inception network: FID is this distance in the features of a particular
// Inception-v3, which cannot be had here; with another network's features the number is a
// Fréchet distance in *that* feature space and must be named so, never FID.
//
// The Fréchet (2-Wasserstein) distance between the Gaussians N(μ1, Σ1) and N(μ2, Σ2) fitted to
// two feature sets (Dowson & Landau 1982; Heusel et al. 2017 use its square as FID):
//     d² = ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^{1/2}).
// Tr((Σ1 Σ2)^{1/2}) = Σ √λ_i over the eigenvalues of S Σ2 S with S = Σ1^{1/2} (symmetric,
// positive semi-definite, so no complex square root arises), all in float64. The covariances
// are unbiased (1/(N − 1)), as numpy.cov's default in the usual FID code. The eigenvalues come
// from cyclic Jacobi rotations (Golub & Van Loan §8.5): a few sweeps of d²/2 rotations, fast
// for the hundred or so dimensions of a classifier's features, and no dependency.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/tensor.hpp"

namespace lacoot::diffusion {

struct FeatureStats {
  int64_t dim = 0;
  std::vector<double> mean;  // [d]
  std::vector<double> cov;   // [d, d], row-major
};

// The eigenvalues of the symmetric n×n matrix A (row-major) and, if `vectors`, its eigenvectors
// as the columns of *vectors (row-major), so that A = V diag(λ) Vᵀ.
inline std::vector<double> symmetric_eigenvalues(std::vector<double> A, int64_t n, std::vector<double>* vectors = nullptr) {
  std::vector<double> V;
  if (vectors) {
    V.assign(static_cast<std::size_t>(n * n), 0.0);
    for (int64_t i = 0; i < n; ++i) V[i * n + i] = 1.0;
  }
  auto off_diagonal = [&] {
    double s = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        if (i != j) s += A[i * n + j] * A[i * n + j];
    return s;
  };
  double scale = 0;
  for (double a : A) scale += a * a;
  for (int sweep = 0; sweep < 100 && off_diagonal() > 1e-30 * scale; ++sweep)
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        const double apq = A[p * n + q];
        if (apq == 0.0) continue;
        // The rotation (c, s) that zeroes A[p, q]: tan 2θ = 2 a_pq / (a_qq − a_pp).
        const double theta = (A[q * n + q] - A[p * n + p]) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // columns p and q
          const double akp = A[k * n + p], akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {  // rows p and q
          const double apk = A[p * n + k], aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        if (vectors)
          for (int64_t k = 0; k < n; ++k) {
            const double vkp = V[k * n + p], vkq = V[k * n + q];
            V[k * n + p] = c * vkp - s * vkq;
            V[k * n + q] = s * vkp + c * vkq;
          }
      }
  std::vector<double> w(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) w[i] = A[i * n + i];
  if (vectors) *vectors = std::move(V);
  return w;
}

// The mean and unbiased covariance of features [N, d] (N ≥ 2; any floating dtype, any device).
inline FeatureStats feature_stats(const Tensor& features) {
  LACOOT_CHECK(features.dim() == 2 && features.size(0) >= 2 && is_floating(features.dtype()),
               "feature_stats: expected floating features [N, d] with N >= 2, got shape ",
               shape_str(features.shape()), " (", dtype_name(features.dtype()), ")");
  const Tensor f = features.to(kCPU).to(kFloat64);
  const int64_t N = f.size(0), d = f.size(1);
  const double* x = f.data<double>();
  FeatureStats s{d, std::vector<double>(static_cast<std::size_t>(d), 0.0),
                 std::vector<double>(static_cast<std::size_t>(d * d), 0.0)};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < d; ++i) s.mean[i] += x[n * d + i] / static_cast<double>(N);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < d; ++i)
      for (int64_t j = 0; j < d; ++j)
        s.cov[i * d + j] += (x[n * d + i] - s.mean[i]) * (x[n * d + j] - s.mean[j]) / static_cast<double>(N - 1);
  return s;
}

// The Fréchet distance d² (above) between the Gaussians of two feature sets.
inline double frechet_distance(const FeatureStats& a, const FeatureStats& b) {
  LACOOT_CHECK(a.dim == b.dim, "frechet_distance: features of ", a.dim, " and ", b.dim, " dimensions");
  const int64_t d = a.dim;
  auto at = [d](const std::vector<double>& m, int64_t i, int64_t j) { return m[i * d + j]; };
  auto product = [d, &at](const std::vector<double>& x, const std::vector<double>& y) {
    std::vector<double> z(static_cast<std::size_t>(d * d), 0.0);
    for (int64_t i = 0; i < d; ++i)
      for (int64_t k = 0; k < d; ++k)
        for (int64_t j = 0; j < d; ++j) z[i * d + j] += at(x, i, k) * at(y, k, j);
    return z;
  };
  std::vector<double> V;
  const std::vector<double> w = symmetric_eigenvalues(a.cov, d, &V);
  std::vector<double> S(static_cast<std::size_t>(d * d), 0.0);  // Σ1^{1/2} = V diag(√w) Vᵀ
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j)
      for (int64_t k = 0; k < d; ++k) S[i * d + j] += at(V, i, k) * std::sqrt(std::max(w[k], 0.0)) * at(V, j, k);
  double trace_sqrt = 0, distance = 0;
  for (double lambda : symmetric_eigenvalues(product(product(S, b.cov), S), d)) trace_sqrt += std::sqrt(std::max(lambda, 0.0));
  for (int64_t i = 0; i < d; ++i) {
    const double delta = a.mean[i] - b.mean[i];
    distance += delta * delta + at(a.cov, i, i) + at(b.cov, i, i);
  }
  return distance - 2.0 * trace_sqrt;
}
inline double frechet_distance(const Tensor& features_a, const Tensor& features_b) {
  return frechet_distance(feature_stats(features_a), feature_stats(features_b));
}

}  // namespace lacoot::diffusion

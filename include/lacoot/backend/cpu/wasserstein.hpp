// lacoot/backend/cpu/wasserstein.hpp — 1-D optimal transport between two weighted samples,
// column by column.
//
// Holds: wasserstein_1d_columns, which for each column k of U [n, K] and V [m, K] computes
//     W_k = ∫₀¹ |F_u⁻¹(t) − F_v⁻¹(t)|^p dt,
// the p-th power of the p-Wasserstein distance between the empirical measures Σ a_i δ(u_ik) and
// Σ b_j δ(v_jk), and, when asked, the gradient of Σ_k g_k W_k with respect to U and V.
// Needs: core/parallel.hpp, backend/cpu/sort.hpp (sort_key: the order of values, NaN last).
// Leaves out: autograd (ot/wasserstein_1d.hpp wraps this as an op), other ground costs.
//
// The algorithm is POT 0.8.2's wasserstein_1d (specs/pot-maxswd.md §1.5), so values agree to
// rounding: sort each column (weights permuted alike), cu = cumsum(a_sorted), cv =
// cumsum(b_sorted), merge them into the sorted quantile levels qs (n + m values); on the piece
// (qs[i−1], qs[i]] the quantile functions are u_sorted[iu] and v_sorted[iv] with iu the first
// index where cu ≥ qs[i] (capped at n − 1), iv likewise; W = Σ_i (qs[i] − qs[i−1]) |Δ_i|^p with
// Δ_i = u_sorted[iu] − v_sorted[iv]. For n = m and uniform weights this is the familiar
// (1/n) Σ_i |u_(i) − v_(i)|^p, the i-th smallest matched with the i-th smallest.
// The gradient treats the sort as fixed (the permutation is piecewise constant):
//     ∂W/∂u_sorted[iu] += δ_i · p |Δ_i|^(p−1) sign(Δ_i),   ∂W/∂v_sorted[iv] −= the same,
// with sign(0) = 0 (so p = 1 has gradient 0 at a tie, as torch's abs).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "../../core/parallel.hpp"
#include "sort.hpp"

namespace lacoot::backend::cpu {

namespace detail {
// The rows of column k of X [rows, K] in increasing order of value: keys[i] = sort_key(X[i, k]),
// order = the row numbers sorted by (key, row).
template <class T>
void sort_rows(const T* X, int64_t rows, int64_t K, int64_t k, std::vector<SortKey<T>>& keys,
               std::vector<int64_t>& order) {
  for (int64_t i = 0; i < rows; ++i) keys[static_cast<std::size_t>(i)] = sort_key(X[i * K + k]);
  std::iota(order.begin(), order.end(), int64_t{0});
  std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
    const SortKey<T> kx = keys[static_cast<std::size_t>(x)], ky = keys[static_cast<std::size_t>(y)];
    return kx < ky || (kx == ky && x < y);
  });
}
}  // namespace detail

// U [n, K], V [m, K] row-major; a [n], b [m] the weights (nullptr: uniform 1/n, 1/m).
// W [K] receives W_k. If gU (and gV) are given, g [K] is the upstream gradient and
// gU [n, K], gV [m, K] receive g_k ∂W_k/∂U, g_k ∂W_k/∂V (overwritten, not accumulated).
template <class T>
void wasserstein_1d_columns(const T* U, const T* V, int64_t n, int64_t m, int64_t K, const T* a, const T* b,
                            double p, T* W, const T* g = nullptr, T* gU = nullptr, T* gV = nullptr) {
  parallel_for(K, 1, [&](int64_t k0, int64_t k1) {
    std::vector<int64_t> iu(static_cast<std::size_t>(n)), iv(static_cast<std::size_t>(m));
    std::vector<T> us(static_cast<std::size_t>(n)), vs(static_cast<std::size_t>(m));
    std::vector<T> cu(static_cast<std::size_t>(n)), cv(static_cast<std::size_t>(m));
    std::vector<T> du(static_cast<std::size_t>(n)), dv(static_cast<std::size_t>(m));
    std::vector<SortKey<T>> ku(static_cast<std::size_t>(n)), kv(static_cast<std::size_t>(m));
    for (int64_t k = k0; k < k1; ++k) {
      // Sort the column, remembering where each value came from: by sort.hpp's total order
      // (NaN last, −0.0 tied with +0.0), ties in row order, as the GPU's stable radix sort.
      detail::sort_rows(U, n, K, k, ku, iu);
      detail::sort_rows(V, m, K, k, kv, iv);
      T acc = 0;
      for (int64_t i = 0; i < n; ++i) {
        us[static_cast<std::size_t>(i)] = U[iu[static_cast<std::size_t>(i)] * K + k];
        acc += a ? a[iu[static_cast<std::size_t>(i)]] : T(1) / static_cast<T>(n);
        cu[static_cast<std::size_t>(i)] = acc;
      }
      acc = 0;
      for (int64_t j = 0; j < m; ++j) {
        vs[static_cast<std::size_t>(j)] = V[iv[static_cast<std::size_t>(j)] * K + k];
        acc += b ? b[iv[static_cast<std::size_t>(j)]] : T(1) / static_cast<T>(m);
        cv[static_cast<std::size_t>(j)] = acc;
      }
      // Walk the merged quantile levels in ascending order; x, y are the searchsorted-left
      // positions of the current level in cu and cv.
      std::fill(du.begin(), du.end(), T(0));
      std::fill(dv.begin(), dv.end(), T(0));
      T total = 0, prev = 0;
      int64_t next_u = 0, next_v = 0, x = 0, y = 0;
      for (int64_t step = 0; step < n + m; ++step) {
        // The next level: the smaller of cu[next_u] and cv[next_v] (cu first on a tie, as a
        // stable sort of concat(cu, cv) would order them; equal levels give a zero piece).
        const bool from_u = next_v >= m || (next_u < n && cu[static_cast<std::size_t>(next_u)] <= cv[static_cast<std::size_t>(next_v)]);
        const T q = from_u ? cu[static_cast<std::size_t>(next_u++)] : cv[static_cast<std::size_t>(next_v++)];
        while (x < n - 1 && cu[static_cast<std::size_t>(x)] < q) ++x;
        while (y < m - 1 && cv[static_cast<std::size_t>(y)] < q) ++y;
        const T delta = q - prev;
        prev = q;
        const T diff = us[static_cast<std::size_t>(x)] - vs[static_cast<std::size_t>(y)];
        const T mag = std::abs(diff);
        total += delta * (p == 1 ? mag : p == 2 ? mag * mag : static_cast<T>(std::pow(mag, p)));
        if (gU) {
          const T sign = diff > 0 ? T(1) : diff < 0 ? T(-1) : T(0);
          const T slope = p == 1 ? sign : p == 2 ? 2 * diff : static_cast<T>(p * std::pow(mag, p - 1)) * sign;
          du[static_cast<std::size_t>(x)] += delta * slope;
          dv[static_cast<std::size_t>(y)] -= delta * slope;
        }
      }
      W[k] = total;
      if (gU) {
        for (int64_t i = 0; i < n; ++i) gU[iu[static_cast<std::size_t>(i)] * K + k] = g[k] * du[static_cast<std::size_t>(i)];
        for (int64_t j = 0; j < m; ++j) gV[iv[static_cast<std::size_t>(j)] * K + k] = g[k] * dv[static_cast<std::size_t>(j)];
      }
    }
  });
}

}  // namespace lacoot::backend::cpu

// lacoot/backend/cpu/gemm.hpp — general matrix multiply (GEMM) on the CPU.
//
// Holds: gemm_serial(...) (this thread) and gemm(...) (all threads), which compute the BLAS
// product
//     C = alpha · op(A) · op(B) + beta · C,   op(X) = X or Xᵀ,
// on row-major matrices given by pointer and leading dimension (the distance in elements
// between two rows), as cblas_sgemm(CblasRowMajor, ...) does: C is M×N, op(A) is M×K, op(B)
// is K×N. A transposed operand is read where it lies: the caller makes no transposed copy.
// Also gemm_batched, for matmul's batches.
// Needs: sgemm.hpp (lacoot's packed float32 GEMM, used when the build targets AVX2 + FMA or
// AVX-512), Eigen 3.4 (Eigen/Core: float64, and float32 on other machines), core/parallel.hpp.
// This is the only lacoot header that includes Eigen; every matmul, linear and conv2d ends here.
// Leaves out: complex numbers and integer GEMM.
//
// float32 goes to sgemm.hpp: on 2 Sapphire Rapids cores Eigen 3.4's 48×4 AVX-512 kernel reached
// about 63-68% of the FMA peak on 2048³, lacoot's 8×48 kernel reaches 72-74% there (350 of
// 480 GFLOP/s) and 80-85% on one core for conv2d's products (tools/bench_ops.cpp). float64
// stays with Eigen, as does float32 on a build without AVX2 + FMA.
//
// Why not let Eigen start its own threads: Eigen's parallel GEMM picks its cache blocking
// (the depth kc of the panels it multiplies) from the thread count, so the rounding of C, and
// thus a training run, would change with OMP_NUM_THREADS. lacoot promises results that do not
// depend on the thread count (core/parallel.hpp), so here Eigen always runs on one thread and
// gemm() splits C into tiles whose shape depends only on M, N and K; each tile is one
// single-threaded Eigen product and the tiles run in parallel. sgemm's own threading keeps the
// same promise (see sgemm.hpp): its depth blocks depend on K only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

// Eigen 3.4 with GCC 12 and AVX-512 trips -Wunused-variable and, through GCC's own
// intrinsics headers, -W(maybe-)uninitialized false positives; they are silenced for Eigen
// only, so that lacoot's users keep a warning-free -Wall -Wextra build.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

#include "../../core/parallel.hpp"
#include "sgemm.hpp"

namespace lacoot::backend::cpu {
namespace detail {

template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ColMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
using Stride = Eigen::OuterStride<>;

// A rows×cols row-major matrix at p with leading dimension ld; `transposed` reads the same
// memory as its transpose: a row-major [cols, rows] block is a column-major [rows, cols] one.
template <class T>
auto map_rowmajor(const T* p, int64_t rows, int64_t cols, int64_t ld) {
  return Eigen::Map<const RowMajor<T>, 0, Stride>(p, rows, cols, Stride(ld));
}
template <class T>
auto map_transposed(const T* p, int64_t rows, int64_t cols, int64_t ld) {
  return Eigen::Map<const ColMajor<T>, 0, Stride>(p, rows, cols, Stride(ld));
}

// Eigen parallelises a product when it is not already inside an OpenMP region; switch that
// off once, for the whole program (see the header comment).
inline void keep_eigen_single_threaded() {
  static const bool done = [] {
    Eigen::setNbThreads(1);
    return true;
  }();
  (void)done;
}

template <class T, class MapA, class MapB>
void product_into(const MapA& a, const MapB& b, T alpha, T beta, T* C, int64_t ldc) {
  Eigen::Map<RowMajor<T>, 0, Stride> c(C, a.rows(), b.cols(), Stride(ldc));
  // beta = 0 must not read C (it may hold uninitialised memory, even NaNs), as in BLAS.
  if (beta == T(0)) c.noalias() = alpha * a * b;
  else {
    if (beta != T(1)) c *= beta;
    c.noalias() += alpha * a * b;
  }
}

}  // namespace detail

// C = alpha · op(A) · op(B) + beta · C on the calling thread.
//   A: M×K row-major (lda ≥ K), or, if trans_a, K×M row-major (lda ≥ M) read as its transpose.
//   B: K×N row-major (ldb ≥ N), or, if trans_b, N×K row-major (ldb ≥ K).
//   C: M×N row-major (ldc ≥ N). beta = 0 overwrites C without reading it.
template <class T>
void gemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
                 const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
#if defined(__AVX2__) && defined(__FMA__)  // sgemm.hpp exists only then (kSgemmAvailable)
  if constexpr (std::is_same_v<T, float>) {
    sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, false);
    return;
  }
#endif
  detail::keep_eigen_single_threaded();
  if (K == 0) {  // an empty sum: C = beta · C
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  // Four instantiations: Eigen picks its kernels from the storage orders at compile time.
  using detail::map_rowmajor, detail::map_transposed, detail::product_into;
  if (!trans_a && !trans_b)
    product_into(map_rowmajor(A, M, K, lda), map_rowmajor(B, K, N, ldb), alpha, beta, C, ldc);
  else if (trans_a && !trans_b)
    product_into(map_transposed(A, M, K, lda), map_rowmajor(B, K, N, ldb), alpha, beta, C, ldc);
  else if (!trans_a && trans_b)
    product_into(map_rowmajor(A, M, K, lda), map_transposed(B, K, N, ldb), alpha, beta, C, ldc);
  else
    product_into(map_transposed(A, M, K, lda), map_transposed(B, K, N, ldb), alpha, beta, C, ldc);
}

// How gemm() shares the work. C is cut along its longer side into a power of two of tiles
// (so that 2, 4, 8 or 16 threads share them evenly), each at least kGemmMinTile wide and cut at
// multiples of 16 (one AVX-512 register of floats). When C is too small to give kGemmTasks
// tiles but the depth K is long (a weight gradient: C is [out, in], K runs over the batch),
// the sum over K is split too: each part goes to its own buffer and the parts are added in
// order at the end. Below kGemmSerialWork multiply-adds the product stays whole: starting
// threads would cost more than it saves.
inline constexpr int64_t kGemmSerialWork = int64_t{1} << 21;
inline constexpr int64_t kGemmMinTile = 128;
inline constexpr int64_t kGemmMinDepth = 1024;
inline constexpr int64_t kGemmTasks = 16;

struct GemmSplit {
  int64_t tiles = 1;      // pieces of C along its longer side
  int64_t k_splits = 1;   // pieces of the sum over K
};

inline GemmSplit gemm_split(int64_t M, int64_t N, int64_t K) {
  GemmSplit s;
  if (M * N * K < kGemmSerialWork) return s;
  const int64_t side = std::max(M, N);
  while (s.tiles * 2 <= kGemmTasks && side / (s.tiles * 2) >= kGemmMinTile) s.tiles *= 2;
  while (s.tiles * s.k_splits * 2 <= kGemmTasks && K / (s.k_splits * 2) >= kGemmMinDepth)
    s.k_splits *= 2;
  return s;
}

// C = alpha · op(A) · op(B) + beta · C (arguments as gemm_serial), on all threads. The split
// depends only on (M, N, K), so the result is the same for any thread count.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  const GemmSplit split = gemm_split(M, N, K);
  // sgemm shares out its MR×NR tiles of C itself, packing each operand once for all threads.
  // Only a C of fewer than kGemmTasks such tiles (a weight gradient: C is [out, in], K runs
  // over the batch) takes the split sum over K below.
#if defined(__AVX2__) && defined(__FMA__)
  if constexpr (std::is_same_v<T, float>) {
    const int64_t tiles = ((M + detail::kSgemmMR - 1) / detail::kSgemmMR) *
                          ((N + detail::kSgemmNR - 1) / detail::kSgemmNR);
    if (split.k_splits == 1 || tiles >= kGemmTasks) {
      sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
            M * N * K >= kGemmSerialWork);
      return;
    }
  }
#endif
  if (split.tiles * split.k_splits == 1) {
    gemm_serial(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const bool split_rows = M > N;  // tile the longer side of C
  const int64_t side = split_rows ? M : N;
  auto edge = [](int64_t len, int64_t parts, int64_t p) {
    return p == parts ? len : len * p / parts / 16 * 16;
  };
  // Part k ≥ 1 of the sum over K goes to partial[k - 1] (M×N, leading dimension N); part 0
  // goes straight into C with the caller's beta.
  std::vector<T> partial(static_cast<std::size_t>((split.k_splits - 1) * M * N));
  parallel_for(split.tiles * split.k_splits, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t tile = t % split.tiles, part = t / split.tiles;
      const int64_t lo = edge(side, split.tiles, tile), len = edge(side, split.tiles, tile + 1) - lo;
      const int64_t k0 = edge(K, split.k_splits, part), kn = edge(K, split.k_splits, part + 1) - k0;
      // Rows lo.. of C and op(A), or columns lo.. of C and op(B); depth k0.. of both.
      const int64_t row = split_rows ? lo : 0, col = split_rows ? 0 : lo;
      const T* a = trans_a ? A + k0 * lda + row : A + row * lda + k0;
      const T* b = trans_b ? B + col * ldb + k0 : B + k0 * ldb + col;
      T* c = part == 0 ? C + row * ldc + col : partial.data() + (part - 1) * M * N + row * N + col;
      gemm_serial(trans_a, trans_b, split_rows ? len : M, split_rows ? N : len, kn, alpha, a, lda,
                  b, ldb, part == 0 ? beta : T(0), c, part == 0 ? ldc : N);
    }
  });
  if (split.k_splits == 1) return;
  parallel_for(M, std::max<int64_t>(1, (int64_t{1} << 15) / N), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t part = 1; part < split.k_splits; ++part) {  // in order: a fixed sum
        const T* p = partial.data() + (part - 1) * M * N + i * N;
        for (int64_t j = 0; j < N; ++j) C[i * ldc + j] += p[j];
      }
  });
}

// A batch of products C_i = op(A_i) · op(B_i) (beta = 0): A_i at A + a_offset[i], B_i at
// B + b_offset[i] (offsets may repeat: a broadcast operand), C_i at C + i·M·N (contiguous,
// leading dimension N). Small products run one per thread; large ones one after the other,
// each split by gemm(). Either way the choice depends on the sizes only.
template <class T>
void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A,
                  const std::vector<int64_t>& a_offset, int64_t lda, const T* B,
                  const std::vector<int64_t>& b_offset, int64_t ldb, T* C) {
  const auto batch = static_cast<int64_t>(a_offset.size());
  auto one = [&](int64_t i, bool parallel) {
    const auto ui = static_cast<std::size_t>(i);
    (parallel ? gemm<T> : gemm_serial<T>)(trans_a, trans_b, M, N, K, T(1), A + a_offset[ui], lda,
                                          B + b_offset[ui], ldb, T(0), C + i * M * N, N);
  };
  if (M * N * K >= kGemmSerialWork) {
    for (int64_t i = 0; i < batch; ++i) one(i, true);
  } else {
    parallel_for(batch, std::max<int64_t>(1, kGemmSerialWork / std::max<int64_t>(1, M * N * K)),
                 [&](int64_t i0, int64_t i1) {
                   for (int64_t i = i0; i < i1; ++i) one(i, false);
                 });
  }
}

}  // namespace lacoot::backend::cpu

// lacoot/backend/cpu/sgemm.hpp — the packed float32 GEMM: cache blocks, packing, threads.
//
// Holds: sgemm(...), C = alpha · op(A) · op(B) + beta · C for float (the arguments of
// gemm_serial in gemm.hpp), on this thread or on all threads, and its blocking sizes.
// Needs: sgemm_kernel.hpp (the micro-kernel and packing), core/parallel.hpp.
// Leaves out: splitting the sum over K (gemm.hpp does it, for small C with a long K), float64.
//
// The loops, outer to inner (BLIS's five loops, with the roles of A and B exchanged because C
// is row-major and the vectors run along its rows; see sgemm_kernel.hpp):
//   for jc over N in blocks of nc                 columns of C and of op(B)
//     for pc over K in blocks of kc               the depth
//       pack op(B)[pc.., jc..] into NR-wide panels             (kc × nc: stays in L2)
//       for ir over M in MR-row panels            one per worker at a time
//         pack op(A)[ir.., pc..] into an MR-row panel          (MR × kc: stays in L1)
//         for jr over the NR panels of the block
//           micro-kernel: C[ir.., jr..] (+)= A panel · B panel (B streamed from L2)
// Why these sizes, for a core with a 48 KiB L1d and a 2 MiB L2 (Sapphire Rapids): the A panel,
// MR·kc·4 bytes = 8 · 384 · 4 = 12 KiB, is read again for every B panel and stays in L1 with room
// for the B panel streaming past it (NR · kc · 4 = 72 KiB, read once per A panel) and for C;
// the B block, kc·nc·4 ≤ 1 MiB, stays in the core's L2 between A panels. A longer kc cuts the
// passes over C (each pass loads and stores it once): the kernel ran at 205-212 GFLOP/s with
// kc = 384 against 200-207 with 192. K is cut into equal blocks (a multiple of 8, at most kSgemmKc):
// K = 576 gives 3 × 192 rather than 384 + 192.
// Packing B costs a copy of op(B) per product; a product of few rows (M ≤ kSgemmInPlaceRows,
// conv2d's forward: M is the output channels) uses each element of B only M times, and there
// the copy cost more than it saved (64 × 256 × 576: 158 GFLOP/s packed, 181 in place). So an
// untransposed B is read in place for such products: its rows are already the contiguous NR
// floats the kernel loads, one row of B apart. Only a ragged last panel is packed.
//
// Threads: the workers share one packed B block and each takes whole A panels (rows of C);
// when M has too few panels for the threads, the B panels of a row are shared out too. Either
// way every element of C is the same chain of operations (micro-kernel over each depth block,
// blocks added in order), so the result is the same for any thread count, and the same as on
// one thread: the cut of K into blocks depends on K only, and packing only copies.
#pragma once

#include <algorithm>
#include <cstdint>

#include "../../core/parallel.hpp"
#include "scratch.hpp"
#include "sgemm_kernel.hpp"

namespace lacoot::backend::cpu {

#if defined(__AVX2__) && defined(__FMA__)
inline constexpr int64_t kSgemmKc = 384;                 // longest depth block
inline constexpr int64_t kSgemmBlockBytes = int64_t{1} << 20;  // packed B block, at most
inline constexpr int64_t kSgemmInPlaceRows = 128;  // up to this M, an untransposed B is not packed

namespace detail {

// A growable buffer of floats, 64-byte aligned (one cache line, one zmm), kept per thread so
// that the many small GEMMs of conv2d do not allocate.
struct SgemmScratch;  // the family tag of the packed panels: slot 0 holds A's, slot 1 B's

// The micro-kernel for a B panel of nv registers (the last panel of a block may be narrower).
inline void sgemm_tile(int nv, int64_t kc, const float* a, const float* b, int64_t ldb,
                       float alpha, float beta, float* c, int64_t ldc, int rows, int cols) {
  static_assert(kSgemmNV >= 1 && kSgemmNV <= 3, "sgemm_tile dispatches NV = 1, 2, 3");
  if constexpr (kSgemmNV >= 3)
    if (nv == 3) return sgemm_micro_kernel<3>(kc, a, b, ldb, alpha, beta, c, ldc, rows, cols);
  if constexpr (kSgemmNV >= 2)
    if (nv == 2) return sgemm_micro_kernel<2>(kc, a, b, ldb, alpha, beta, c, ldc, rows, cols);
  sgemm_micro_kernel<1>(kc, a, b, ldb, alpha, beta, c, ldc, rows, cols);
}

// The depth blocks of a product of depth K: equal, a multiple of 8 (the transposes of
// pack_columns), at most kSgemmKc. They depend on K only (see the header comment).
inline int64_t sgemm_depth_block(int64_t K) {
  const int64_t k_blocks = (K + kSgemmKc - 1) / kSgemmKc;
  return std::min(K, ((K + k_blocks - 1) / k_blocks + 7) / 8 * 8);
}

// The operands of one product, as gemm_serial takes them, and op(A) already packed if the
// caller packed it (sgemm_pack_a), else null.
struct SgemmProblem {
  bool trans_a, trans_b;
  int64_t M, N, K;
  float alpha;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float beta;
  float* C;
  int64_t ldc;
  const float* packed_a;
};

// The B block of columns [jc, jc + nc) and depths [pc, pc + kc): panel q holds columns
// jc + q·NR .. as kc rows of width(q) floats, width(q) = NR except for the last (a multiple of
// W, zero-padded). A panel is packed (at packed + q·NR·kc) unless `in_place`: then, B being
// untransposed and the panel's columns filling whole registers, the kernel reads B itself.
struct SgemmBlock {
  int64_t jc, nc, pc, kc;
  float* packed;
  bool in_place;
  int64_t panels() const { return (nc + kSgemmNR - 1) / kSgemmNR; }
  int64_t first_column(int64_t q) const { return jc + q * kSgemmNR; }
  int valid(int64_t q) const { return static_cast<int>(std::min<int64_t>(kSgemmNR, nc - q * kSgemmNR)); }
  int width(int64_t q) const {  // floats per k of panel q
    const int W = SimdFloat::kWidth;
    return (valid(q) + W - 1) / W * W;
  }
  bool read_in_place(int64_t q) const { return in_place && valid(q) == width(q); }
};

inline void pack_b_panel(const SgemmProblem& p, const SgemmBlock& blk, int64_t q) {
  if (blk.read_in_place(q)) return;
  const int64_t j0 = blk.first_column(q);
  float* dst = blk.packed + q * kSgemmNR * blk.kc;
  if (p.trans_b)  // op(B)[k, j] = B[j, k]
    pack_columns(p.B + j0 * p.ldb + blk.pc, p.ldb, blk.kc, blk.valid(q), blk.width(q), dst);
  else
    pack_rows(p.B + blk.pc * p.ldb + j0, p.ldb, blk.kc, blk.valid(q), blk.width(q), dst);
}

inline void pack_a_panel(const SgemmProblem& p, const SgemmBlock& blk, int64_t i0, float* dst) {
  const int valid = static_cast<int>(std::min<int64_t>(kSgemmMR, p.M - i0));
  if (p.trans_a)  // op(A)[i, k] = A[k, i]
    pack_rows(p.A + blk.pc * p.lda + i0, p.lda, blk.kc, valid, kSgemmMR, dst);
  else
    pack_columns(p.A + i0 * p.lda + blk.pc, p.lda, blk.kc, valid, kSgemmMR, dst);
}

// Rows [i0, i0 + MR) of C times B panels [q0, q1) of the block: pack the A panel, then run the
// micro-kernel along the row. The first depth block applies the caller's beta; later ones add.
inline void sgemm_row_panel(const SgemmProblem& p, const SgemmBlock& blk, int64_t i0, int64_t q0,
                            int64_t q1) {
  const float* a;
  if (p.packed_a) {  // the layout of sgemm_pack_a
    const int64_t padded_rows = (p.M + kSgemmMR - 1) / kSgemmMR * kSgemmMR;
    a = p.packed_a + blk.pc * padded_rows + i0 * blk.kc;
  } else {
    float* panel = thread_scratch<SgemmScratch, float>(0).get(kSgemmMR * blk.kc);
    pack_a_panel(p, blk, i0, panel);
    a = panel;
  }
  const int rows = static_cast<int>(std::min<int64_t>(kSgemmMR, p.M - i0));
  const float beta = blk.pc == 0 ? p.beta : 1.0f;
  for (int64_t q = q0; q < q1; ++q) {
    const int64_t j0 = blk.first_column(q);
    const bool in_place = blk.read_in_place(q);
    const float* b = in_place ? p.B + blk.pc * p.ldb + j0 : blk.packed + q * kSgemmNR * blk.kc;
    sgemm_tile(blk.width(q) / SimdFloat::kWidth, blk.kc, a, b, in_place ? p.ldb : blk.width(q),
               p.alpha, beta, p.C + i0 * p.ldc + j0, p.ldc, rows, blk.valid(q));
  }
}

}  // namespace detail

// op(A) packed once for several products with the same A: conv2d multiplies every group of
// images by the same weight, and packing it again for each group cost 5-10 % of the layer
// (the A panels are transposed on the way). The layout is the one sgemm's loops read: the
// depth blocks one after the other, each holding its MR-row panels, panel i0 / MR of the
// block at depth pc at dst + pc · rows_padded + i0 · kc. Floats needed:
inline int64_t sgemm_packed_a_size(int64_t M, int64_t K) {
  return (M + detail::kSgemmMR - 1) / detail::kSgemmMR * detail::kSgemmMR * K;
}
// Packs op(A) (M×K; trans_a as in sgemm) into dst, on all threads if `parallel`.
inline void sgemm_pack_a(bool trans_a, int64_t M, int64_t K, const float* A, int64_t lda,
                         float* dst, bool parallel) {
  using namespace detail;
  if (M == 0 || K == 0) return;
  const SgemmProblem p{trans_a, false, M, 0, K, 1.0f, A, lda, nullptr, 0, 0.0f, nullptr, 0, nullptr};
  const int64_t kc_max = sgemm_depth_block(K), row_panels = (M + kSgemmMR - 1) / kSgemmMR;
  const int64_t k_blocks = (K + kc_max - 1) / kc_max;
  auto pack = [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t pc = u / row_panels * kc_max, i0 = u % row_panels * kSgemmMR;
      const SgemmBlock blk{0, 0, pc, std::min(kc_max, K - pc), nullptr, false};
      pack_a_panel(p, blk, i0, dst + pc * row_panels * kSgemmMR + i0 * blk.kc);
    }
  };
  if (parallel) parallel_for(k_blocks * row_panels, 8, pack);
  else pack(0, k_blocks * row_panels);
}

// C = alpha · op(A) · op(B) + beta · C, arguments as gemm_serial (gemm.hpp); on all threads if
// `parallel`. beta = 0 never reads C; K = 0 gives C = beta · C. `packed_a`, if not null, is
// op(A) as sgemm_pack_a left it (A and trans_a are then not read); the result is the same.
inline void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc, bool parallel, const float* packed_a = nullptr) {
  using namespace detail;
  if (M == 0 || N == 0) return;
  if (K == 0) {  // an empty sum
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  const SgemmProblem p{trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, packed_a};
  const int64_t kc_max = sgemm_depth_block(K);
  const int64_t nc_max = std::max<int64_t>(
      kSgemmNR, kSgemmBlockBytes / int64_t(sizeof(float)) / kc_max / kSgemmNR * kSgemmNR);
  const int64_t row_panels = (M + kSgemmMR - 1) / kSgemmMR;
  const bool read_b_in_place = !trans_b && M <= kSgemmInPlaceRows;
  float* packed = thread_scratch<SgemmScratch, float>(1).get((nc_max + kSgemmNR) * kc_max);
  for (int64_t jc = 0; jc < N; jc += nc_max)
    for (int64_t pc = 0; pc < K; pc += kc_max) {
      const SgemmBlock blk{jc, std::min(nc_max, N - jc), pc, std::min(kc_max, K - pc), packed,
                           read_b_in_place};
      const int64_t panels = blk.panels();
      // Pack the B block (panels in parallel), then the row panels of C.
      auto pack = [&](int64_t q0, int64_t q1) {
        for (int64_t q = q0; q < q1; ++q) pack_b_panel(p, blk, q);
      };
      if (!parallel) {
        pack(0, panels);
        for (int64_t r = 0; r < row_panels; ++r) sgemm_row_panel(p, blk, r * kSgemmMR, 0, panels);
        continue;
      }
      parallel_for(panels, 1, pack);
      // Work units: a row panel times a group of B panels. Enough units for the threads (a
      // few per thread, for balance); the cut changes who computes a tile, not its value.
      const int64_t want = 4 * get_num_threads();
      const int64_t groups = std::clamp<int64_t>((want + row_panels - 1) / row_panels, 1, panels);
      parallel_for(row_panels * groups, 1, [&](int64_t u0, int64_t u1) {
        for (int64_t u = u0; u < u1; ++u) {
          const int64_t r = u / groups, g = u % groups;
          sgemm_row_panel(p, blk, r * kSgemmMR, panels * g / groups, panels * (g + 1) / groups);
        }
      });
    }
}
#endif  // AVX2 and FMA

}  // namespace lacoot::backend::cpu

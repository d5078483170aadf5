// lacoot/backend/cpu/sgemm_kernel.hpp — the float32 GEMM micro-kernel and its packing.
//
// Holds: SimdFloat (one vector register of floats: AVX-512 zmm, or AVX2 ymm), the register
// blocking kSgemmMR × kSgemmNR, sgemm_micro_kernel (an MR×NR block of C held in registers while
// it sums over a depth of kc), and the packing routines that copy op(A) and op(B) into the
// panels it reads: pack_rows (a panel whose rows are already contiguous in memory) and
// pack_columns (one that has to be transposed on the way, eight by eight).
// Needs: AVX2 and FMA at compile time (-march=native or -mavx2 -mfma); with AVX-512F the zmm
// kernel is used. Without them kSgemmAvailable is false and gemm.hpp keeps Eigen's product.
// Leaves out: the loops over cache blocks and threads (sgemm.hpp), float64 (Eigen does it).
//
// The layout follows the BLIS papers (Van Zee & van de Geijn, "BLIS: A framework for rapidly
// instantiating BLAS functionality", ACM TOMS 41(3), 2015; Low et al., "Analytical modeling is
// enough for high-performance BLIS", ACM TOMS 43(2), 2016), written for row-major C: the
// vectors run along a row of C (its columns are contiguous), so the kernel
//   - loads, for each k, NR consecutive floats of the B panel (NR/W vector loads, W the floats
//     per register; the panel is packed, or B itself where its rows are contiguous),
//   - broadcasts, for each k and each of the MR rows, one float of the packed A panel,
//   - and does MR·NR/W fused multiply-adds into MR·NR/W accumulator registers.
// Why MR × NR = 8 × 48 on AVX-512 (24 zmm accumulators + 3 for B + 1 broadcast = 28 of 32
// registers): an FMA has a latency of 4 cycles and two issue ports, so at least 8 independent
// accumulators are needed to keep both busy, and 24 leave room for the loads; per k the kernel
// issues 24 FMAs (12 cycles) against 8 broadcasts + 3 loads, well inside the load ports. Timed
// alone on one Sapphire Rapids core (kc = 192-384, B from L2; the FMA loop of
// tools/bench_ops.cpp gives 240 GFLOP/s), 8 × 48 ran at 201-211 GFLOP/s, 12 × 32 and 14 × 32
// the same within the noise, 6 × 64 at 192-207 and 24 × 16 at 188-198. Of the first three,
// MR = 8 wastes no rows on conv2d's M (its output channels, multiples of 8; 12 rows would
// compute 72 for 64) and lets op(A) be packed with 8×8 transposes. On AVX2 (16 ymm registers)
// the same reasoning gives 6 × 16: 12 accumulators, 2 loads and 1 broadcast.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace lacoot::backend::cpu {

#if defined(__AVX512F__)
inline constexpr bool kSgemmAvailable = true;
#elif defined(__AVX2__) && defined(__FMA__)
inline constexpr bool kSgemmAvailable = true;
#else
inline constexpr bool kSgemmAvailable = false;
#endif

#if defined(__AVX2__) && defined(__FMA__)
namespace detail {

// ---- one register of floats ----
// The few operations the kernel needs, for either instruction set. load_first/store_first
// touch only the first n lanes (0 ≤ n ≤ kWidth): the right edge of C, which must be neither
// read past nor written past.
#if defined(__AVX512F__)
struct SimdFloat {
  using Reg = __m512;
  static constexpr int kWidth = 16;
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg set1(float x) { return _mm512_set1_ps(x); }
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static __mmask16 first(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static Reg load_first(const float* p, int n) { return _mm512_maskz_loadu_ps(first(n), p); }
  static void store_first(float* p, Reg v, int n) { _mm512_mask_storeu_ps(p, first(n), v); }
  // Lane masks (im2col.hpp): lane l on where bit l is set; masked-off lanes load 0 and touch
  // no memory. StoredMask is the form kept in a table.
  using Mask = __mmask16;
  using StoredMask = __mmask16;
  static StoredMask stored(uint32_t bits) { return static_cast<StoredMask>(bits); }
  static Mask mask(StoredMask m) { return m; }
  static Reg load(Mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, Mask m, Reg v) { _mm512_mask_storeu_ps(p, m, v); }
  static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
};
inline constexpr int kSgemmMR = 8;   // rows of C per micro-tile
inline constexpr int kSgemmNV = 3;   // registers per row: NR = 48 columns
#else
struct SimdFloat {
  using Reg = __m256;
  static constexpr int kWidth = 8;
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg set1(float x) { return _mm256_set1_ps(x); }
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static __m256i first(int n) {  // lane l is on when l < n
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Reg load_first(const float* p, int n) { return _mm256_maskload_ps(p, first(n)); }
  static void store_first(float* p, Reg v, int n) { _mm256_maskstore_ps(p, first(n), v); }
  using Mask = __m256i;
  struct alignas(32) StoredMask {  // a lane of all ones or all zeros each
    int32_t lane[8];
  };
  static StoredMask stored(uint32_t bits) {
    StoredMask m;
    for (int l = 0; l < 8; ++l) m.lane[l] = bits >> l & 1u ? -1 : 0;
    return m;
  }
  static Mask mask(const StoredMask& m) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(m.lane)); }
  static Reg load(Mask m, const float* p) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, Mask m, Reg v) { _mm256_maskstore_ps(p, m, v); }
  static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
};
inline constexpr int kSgemmMR = 6;
inline constexpr int kSgemmNV = 2;   // NR = 16
#endif
inline constexpr int kSgemmNR = kSgemmNV * SimdFloat::kWidth;

// ---- the micro-kernel ----
// c[rows, cols] = alpha · a_panel · b_panel + beta · c, c at c with leading dimension ldc, for
//   a: the packed A panel, kc × MR (for each k, the MR floats op(A)[i0 .. i0 + MR, k]),
//   b: the B panel, kc rows of NV·W floats op(B)[k, j0 ..], row k at b + k·ldb: packed
//      (ldb = NV·W), or B itself read in place when its rows are already contiguous,
// rows ≤ MR and cols ≤ NV·W the part of the tile inside C (the panels are zero-padded beyond
// it, so the sums there are zero and are simply not stored). beta = 0 does not read c.
// Every element is the same chain of FMAs over k = 0 .. kc − 1, whichever tile it lies in, so
// the result does not depend on how C is cut into tiles (nor on the thread that runs them).
// NV < kSgemmNV serves the narrower last panel of a row of C.
template <int NV>
void sgemm_micro_kernel(int64_t kc, const float* a, const float* b, int64_t ldb, float alpha,
                        float beta, float* c, int64_t ldc, int rows, int cols) {
  using V = SimdFloat;
  constexpr int MR = kSgemmMR, W = V::kWidth;
  typename V::Reg acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
  // The whole loop body works on registers: NV loads of B, then MR broadcasts of A, each
  // multiplied into one row of accumulators. Fully unrolled, acc[][] never touches memory
  // (GCC 12 at -O2 and above: 3 loads, 8 vbroadcastss and 24 vfmadd231ps per step, no spill).
  // Software prefetches of B a few steps ahead, and unrolling k by two, were tried: neither
  // changed the speed measurably (the hardware prefetchers follow the one B stream).
  for (int64_t k = 0; k < kc; ++k, a += MR, b += ldb) {
    typename V::Reg bk[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bk[v] = V::load(b + v * W);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const typename V::Reg aik = V::set1(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = V::fmadd(aik, bk[v], acc[i][v]);
    }
  }
  // Write back: c = alpha · acc (+ beta · c). One rounding of each product sum, then one fused
  // multiply-add with the old value, the same in full and edge tiles.
  const typename V::Reg va = V::set1(alpha), vb = V::set1(beta);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    if (i >= rows) break;
    float* ci = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const int n = std::min(cols - v * W, W);
      if (n <= 0) break;
      typename V::Reg r = V::mul(va, acc[i][v]);
      if (n == W) {
        if (beta != 0.0f) r = V::fmadd(vb, V::load(ci + v * W), r);
        V::store(ci + v * W, r);
      } else {
        if (beta != 0.0f) r = V::fmadd(vb, V::load_first(ci + v * W, n), r);
        V::store_first(ci + v * W, r, n);
      }
    }
  }
}

// ---- packing ----
// A panel of width w (MR for A, up to NR for B) and depth kc is stored k-major: dst[k·w + j],
// j = 0 .. w − 1, the first `valid` of them taken from the matrix and the rest zero.

// The panel's rows are contiguous in memory: element (k, j) at src[k·ld + j]. This is op(B)
// for an untransposed B (row k of B), and op(A) for a transposed A (row k of the stored Aᵀ).
// Rows are 6 to 48 floats: copied with ymm loads rather than a memcpy call per row, which
// cost more than the copy (8.5% of conv2d's time, backward, in a profile).
inline void pack_rows(const float* src, int64_t ld, int64_t kc, int valid, int w, float* dst) {
  for (int64_t k = 0; k < kc; ++k, dst += w) {
    const float* s = src + k * ld;
    int j = 0;
    for (; j + 8 <= valid; j += 8) _mm256_storeu_ps(dst + j, _mm256_loadu_ps(s + j));
    for (; j < valid; ++j) dst[j] = s[j];
    for (; j < w; ++j) dst[j] = 0.0f;
  }
}

// Transposes an 8×8 block of floats: rows r[0..8) become columns. The classic three stages:
// interleave pairs of rows, then pairs of pairs, then swap the 128-bit halves.
inline void transpose8x8(__m256 r[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);      // a0 b0 a1 b1 | a4 b4 a5 b5
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);  // a2 b2 a3 b3 | a6 b6 a7 b7
  }
  for (int h = 0; h < 2; ++h) {  // rows 0-3, then 4-7
    const __m256 *lo = t + 4 * h, *hi = t + 4 * h + 2;
    s[4 * h + 0] = _mm256_shuffle_ps(lo[0], hi[0], 0x44);  // column 0 | 4 of the four rows
    s[4 * h + 1] = _mm256_shuffle_ps(lo[0], hi[0], 0xEE);  // column 1 | 5
    s[4 * h + 2] = _mm256_shuffle_ps(lo[1], hi[1], 0x44);  // column 2 | 6
    s[4 * h + 3] = _mm256_shuffle_ps(lo[1], hi[1], 0xEE);  // column 3 | 7
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x20);      // columns 0-3
    r[i + 4] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x31);  // columns 4-7
  }
}

// The panel's columns are contiguous in memory: element (k, j) at src[j·ld + k]. This is op(A)
// for an untransposed A (row i of A holds the depth) and op(B) for a transposed B. Blocks of 8
// columns × 8 depths are transposed in registers; the ragged edges are copied one by one.
inline void pack_columns(const float* src, int64_t ld, int64_t kc, int valid, int w, float* dst) {
  int j = 0;
  for (; j + 8 <= valid; j += 8) {
    const float* s = src + j * ld;
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
      __m256 r[8];
      for (int q = 0; q < 8; ++q) r[q] = _mm256_loadu_ps(s + q * ld + k);
      transpose8x8(r);
      for (int q = 0; q < 8; ++q) _mm256_storeu_ps(dst + (k + q) * w + j, r[q]);
    }
    for (; k < kc; ++k)
      for (int q = 0; q < 8; ++q) dst[k * w + j + q] = s[q * ld + k];
  }
  for (int64_t k = 0; k < kc; ++k) {
    for (int q = j; q < valid; ++q) dst[k * w + q] = src[q * ld + k];
    for (int q = valid; q < w; ++q) dst[k * w + q] = 0.0f;
  }
}

}  // namespace detail
#endif  // AVX2 and FMA

}  // namespace lacoot::backend::cpu

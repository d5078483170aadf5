// lacoot/backend/cpu/winograd.hpp — the transforms of Winograd's F(2×2, 3×3) convolution.
//
// Holds: winograd_applies (which convolutions take this path), winograd_tiles and
// winograd_plane (the layout), and the three transforms: winograd_weights (U = G·g·Gᵀ),
// winograd_inputs (V = Bᵀ·d·B) and winograd_outputs (Y = Aᵀ·M·A), each over all channels at once.
// conv.hpp's winograd_conv drives them, with the 16 products between, for conv2d_forward and
// conv2d_backward_input.
// Needs: im2col.hpp (ConvShape), core/parallel.hpp.
// Leaves out: larger tiles (F(4×4, 3×3) saves more products but loses float32 accuracy), strides,
// dilation, groups, and the weight gradient, which stays im2col + GEMM.
//
// Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016): a 3×3
// convolution's 2×2 block of outputs, from the 4×4 block d of input around it, is
//     Y = Aᵀ · [ (G·g·Gᵀ) ⊙ (Bᵀ·d·B) ] · A,
//            ⎡1  0 −1  0⎤        ⎡ 1    0    0 ⎤
//     Bᵀ =   ⎢0  1  1  0⎥,  G =  ⎢1/2  1/2  1/2⎥,  Aᵀ = ⎡1 1  1  0⎤
//            ⎢0 −1  1  0⎥        ⎢1/2 −1/2  1/2⎥        ⎣0 1 −1 −1⎦
//            ⎣0  1  0 −1⎦        ⎣ 0    0    1 ⎦
// 16 products per 2×2 block and channel pair instead of 36. Summed over input channels, the
// elementwise products become 16 matrix products, one per position ξ of the 4×4 block (laid
// out with a row per tile, the channels contiguous):
//     M[ξ] [tiles, O] = V[ξ] [tiles, C] · U[ξ]ᵀ  (U[ξ] [O, C]),
// so the work is 16 GEMMs of 4/9 the direct convolution's multiply-adds, plus transforms that
// touch each value a few times. PyTorch's CPU convolution (oneDNN) does the same on AVX-512
// machines, which is how it ran the 3×3 layers at 4×4 and 8×8 faster than the machine's GEMM
// peak allows a direct convolution (BENCHMARKS.md).
//
// The input gradient of a stride-1 convolution is itself one: dx = conv(dout, w', padding 2 − p)
// with w'[c, o, i, j] = w[o, c, 2 − i, 2 − j], so `flip` in winograd_weights gives the same path.
#pragma once

#include <algorithm>
#include <cstdint>

#include "../../core/parallel.hpp"
#include "im2col.hpp"

// Vector code over the channels, as activation.hpp's LACOOT_PRAGMA_SIMD (empty without OpenMP,
// where the pragma would only draw a warning).
#ifdef _OPENMP
#define LACOOT_WINOGRAD_SIMD _Pragma("omp simd")
#else
#define LACOOT_WINOGRAD_SIMD
#endif

namespace lacoot::backend::cpu {

// Tiles (2×2 output blocks) of one image, and where they start.
struct WinogradTiles {
  int64_t rows = 0, cols = 0;  // ceil(Ho / 2), ceil(Wo / 2)
  int64_t count() const { return rows * cols; }
};
inline WinogradTiles winograd_tiles(const ConvShape& s) { return {(s.Ho + 1) / 2, (s.Wo + 1) / 2}; }

// A convolution this path computes: one group of 3×3 filters, stride and dilation 1, padding at
// most 2 (its input gradient then has padding 2 − p ≥ 0), and at least `min_channels` input and
// output channels (below that the products are too small to gain).
inline bool winograd_applies(const ConvShape& s, int64_t min_channels) {
  return s.groups == 1 && s.kh == 3 && s.kw == 3 && s.sh == 1 && s.sw == 1 && s.dh == 1 && s.dw == 1 &&
         s.ph <= 2 && s.pw <= 2 && s.Ho > 0 && s.Wo > 0 && s.C >= min_channels && s.O >= min_channels;
}

// U [16, rows, cols] (per ξ the GEMM's right operand, transposed: [O, C]) from the filters: row
// a, column b of U[ξ] comes from the filter w[a, b] [3, 3] (w [rows, cols, 3, 3]), or, with
// `flip`, from w[b, a] turned by 180° (w [cols, rows, 3, 3]). U[ξ] starts at U + ξ·plane
// (winograd_plane: 16 values more than rows·cols, so that the 16 planes do not start a multiple
// of 4 KiB apart, where each filter's 16 writes would wait on each other). In blocks of 16 × 16
// filters, so that both the reads and the writes stay in cache.
inline int64_t winograd_plane(int64_t rows, int64_t cols) { return rows * cols + 16; }
template <class T>
void winograd_weights(const T* w, int64_t rows, int64_t cols, bool flip, T* U) {
  constexpr int64_t kBlock = 16;
  const int64_t plane = winograd_plane(rows, cols);
  parallel_for((rows + kBlock - 1) / kBlock, 1, [&](int64_t q0, int64_t q1) {
    for (int64_t a0 = q0 * kBlock; a0 < std::min(rows, q1 * kBlock); a0 += kBlock)
      for (int64_t b0 = 0; b0 < cols; b0 += kBlock)
        for (int64_t a = a0; a < std::min(rows, a0 + kBlock); ++a)
          for (int64_t b = b0; b < std::min(cols, b0 + kBlock); ++b) {
            T g[3][3];
            const T* src = flip ? w + (b * rows + a) * 9 : w + (a * cols + b) * 9;
            for (int i = 0; i < 3; ++i)
              for (int j = 0; j < 3; ++j) g[i][j] = flip ? src[(2 - i) * 3 + (2 - j)] : src[i * 3 + j];
            T gg[4][3];  // G · g
            for (int j = 0; j < 3; ++j) {
              gg[0][j] = g[0][j];
              gg[1][j] = T(0.5) * (g[0][j] + g[1][j] + g[2][j]);
              gg[2][j] = T(0.5) * (g[0][j] - g[1][j] + g[2][j]);
              gg[3][j] = g[2][j];
            }
            T* u = U + a * cols + b;
            for (int i = 0; i < 4; ++i) {  // (G · g) · Gᵀ
              u[(i * 4 + 0) * plane] = gg[i][0];
              u[(i * 4 + 1) * plane] = T(0.5) * (gg[i][0] + gg[i][1] + gg[i][2]);
              u[(i * 4 + 2) * plane] = T(0.5) * (gg[i][0] - gg[i][1] + gg[i][2]);
              u[(i * 4 + 3) * plane] = gg[i][2];
            }
          }
  });
}

// V [16, ld, C] (per ξ the GEMM's left operand, a row per tile; planes winograd_plane(ld, C)
// apart) for images [0, m) of x_cl [m, H, W, C] (channels last): row n·tiles + t holds tile t of image n, Bᵀ·d·B of its 4×4 input
// block (zero outside the image), for every channel at once (the inner loops run over C, in
// SIMD registers). `zeros`: C zeros. Serial: the caller splits the work.
template <class T>
void winograd_inputs(const T* x_cl, int64_t m, const ConvShape& s, const T* zeros, T* V, int64_t ld) {
  const WinogradTiles tiles = winograd_tiles(s);
  const int64_t C = s.C, plane = winograd_plane(ld, C);  // V's stride from one ξ to the next
  for (int64_t n = 0; n < m; ++n)
    for (int64_t ti = 0; ti < tiles.rows; ++ti)
      for (int64_t tj = 0; tj < tiles.cols; ++tj) {
        const int64_t h0 = 2 * ti - s.ph, w0 = 2 * tj - s.pw;
        const T* d[4][4];
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) {
            const int64_t h = h0 + i, w = w0 + j;
            d[i][j] = h >= 0 && h < s.H && w >= 0 && w < s.W ? x_cl + ((n * s.H + h) * s.W + w) * C : zeros;
          }
        T* v = V + (n * tiles.count() + ti * tiles.cols + tj) * C;
        LACOOT_WINOGRAD_SIMD
        for (int64_t c = 0; c < C; ++c) {
          T bd[4][4];  // Bᵀ · d
          for (int j = 0; j < 4; ++j) {
            const T a0 = d[0][j][c], a1 = d[1][j][c], a2 = d[2][j][c], a3 = d[3][j][c];
            bd[0][j] = a0 - a2, bd[1][j] = a1 + a2, bd[2][j] = a2 - a1, bd[3][j] = a1 - a3;
          }
          for (int i = 0; i < 4; ++i) {  // (Bᵀ · d) · B
            v[(i * 4 + 0) * plane + c] = bd[i][0] - bd[i][2];
            v[(i * 4 + 1) * plane + c] = bd[i][1] + bd[i][2];
            v[(i * 4 + 2) * plane + c] = bd[i][2] - bd[i][1];
            v[(i * 4 + 3) * plane + c] = bd[i][1] - bd[i][3];
          }
        }
      }
}

// y_cl [m, Ho, Wo, O] (channels last) from M [16, ld, O] (row n·tiles + t: tile t of image n;
// planes winograd_plane(ld, O) apart):
// Aᵀ·M·A, plus b[o] (b may be null), for every channel at once. Serial.
template <class T>
void winograd_outputs(const T* M, int64_t m, const ConvShape& s, int64_t ld, const T* b, T* y_cl) {
  const WinogradTiles tiles = winograd_tiles(s);
  const int64_t O = s.O, plane = winograd_plane(ld, O);
  for (int64_t n = 0; n < m; ++n)
    for (int64_t ti = 0; ti < tiles.rows; ++ti)
      for (int64_t tj = 0; tj < tiles.cols; ++tj) {
        const T* src = M + (n * tiles.count() + ti * tiles.cols + tj) * O;
        const bool last_row = 2 * ti + 1 >= s.Ho, last_col = 2 * tj + 1 >= s.Wo;
        T* y00 = y_cl + ((n * s.Ho + 2 * ti) * s.Wo + 2 * tj) * O;
        T* y10 = y00 + s.Wo * O;
        LACOOT_WINOGRAD_SIMD
        for (int64_t o = 0; o < O; ++o) {
          T v[16];
          for (int k = 0; k < 16; ++k) v[k] = src[k * plane + o];
          T av[2][4];  // Aᵀ · M
          for (int j = 0; j < 4; ++j) {
            av[0][j] = v[j] + v[4 + j] + v[8 + j];
            av[1][j] = v[4 + j] - v[8 + j] - v[12 + j];
          }
          const T bias = b ? b[o] : T(0);
          // (Aᵀ · M) · A: the block's outputs inside the image.
          y00[o] = av[0][0] + av[0][1] + av[0][2] + bias;
          if (!last_col) y00[O + o] = av[0][1] - av[0][2] - av[0][3] + bias;
          if (!last_row) {
            y10[o] = av[1][0] + av[1][1] + av[1][2] + bias;
            if (!last_col) y10[O + o] = av[1][1] - av[1][2] - av[1][3] + bias;
          }
        }
      }
}

}  // namespace lacoot::backend::cpu

// lacoot/backend/cpu/im2col.hpp — the sizes of a 2-D convolution, and im2col / col2im.
//
// Holds: ConvShape (every size of one conv2d call), conv_output_size, Tap (where one kernel tap
// reads) and Im2col, which copies receptive fields into columns (im2col) and adds columns back
// onto an input gradient (col2im).
// Needs: core/parallel.hpp; AVX-512F (or AVX2, for one of them; SimdFloat of sgemm_kernel.hpp),
// where the build targets it, for the float32 paths that keep a small plane, row or chunk in
// one register (below).
// Leaves out: the products themselves (conv.hpp) and direct depthwise loops (depthwise.hpp).
//
// im2col (Chellapilla, Puri, Simard, "High performance convolutional neural networks for
// document processing", 2006) turns a convolution into a matrix product by copying every
// receptive field of an image x [C, H, W] into a column:
//     cols[(c, ki, kj), (oh, ow)] = x[c, oh·sh − ph + ki·dh, ow·sw − pw + kj·dw]   (0 outside),
// a matrix of C·kh·kw rows (one per input channel and kernel tap) and Ho·Wo columns (one per
// output position). col2im is its adjoint: it adds each entry back where it was copied from.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "../../core/parallel.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include "sgemm_kernel.hpp"  // SimdFloat

namespace lacoot::backend::cpu {


// Every size of one conv2d call. Input [N, C, H, W], weight [O, C/groups, kh, kw], output
// [N, O, Ho, Wo]; stride (sh, sw), padding (ph, pw), dilation (dh, dw).
struct ConvShape {
  int64_t N = 0, C = 0, H = 0, W = 0;
  int64_t O = 0, kh = 1, kw = 1;
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, groups = 1;
  int64_t Ho = 0, Wo = 0;

  int64_t P() const { return Ho * Wo; }          // output positions per image
  int64_t Cg() const { return C / groups; }      // input channels per group
  int64_t Og() const { return O / groups; }      // output channels per group
  int64_t Kg() const { return Cg() * kh * kw; }  // rows of cols per group
  int64_t rows() const { return C * kh * kw; }   // rows of cols
  // The input is its own column matrix (dilation does not matter for a 1×1 kernel).
  bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
  // One filter per channel (MobileNet's depthwise convolutions): direct loops beat im2col.
  bool depthwise() const { return groups == C && O == C; }
};

// Output size along one axis, as torch.nn.Conv2d's docs give it:
//   out = floor((in + 2·padding − dilation·(kernel − 1) − 1) / stride) + 1.
inline int64_t conv_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding,
                                int64_t dilation) {
  return (in + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
}

// Where tap (ki, kj) of the kernel reads: output (oh, ow) reads input (oh·sh + ih0, ow·sw + iw0),
// which lies inside the image for output rows [top, bottom) and columns [lo, hi). Computed once
// per call: the divisions would otherwise run for every channel of every image.
struct Tap {
  int64_t ih0 = 0, iw0 = 0, lo = 0, hi = 0, top = 0, bottom = 0;
};

namespace detail {

// The outputs [lo, hi) along one axis whose input o·stride + offset lies in [0, in).
inline void valid_range(int64_t offset, int64_t stride, int64_t in, int64_t out, int64_t& lo,
                        int64_t& hi) {
  lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  hi = in - offset <= 0 ? 0 : std::min(out, (in - offset + stride - 1) / stride);
  lo = std::min(lo, out);
  hi = std::max(hi, lo);
}

}  // namespace detail

// The kh·kw taps of a shape, (ki, kj) in row-major order.
inline std::vector<Tap> conv_taps(const ConvShape& s) {
  std::vector<Tap> taps;
  for (int64_t ki = 0; ki < s.kh; ++ki)
    for (int64_t kj = 0; kj < s.kw; ++kj) {
      Tap t;
      t.ih0 = ki * s.dh - s.ph;
      t.iw0 = kj * s.dw - s.pw;
      detail::valid_range(t.iw0, s.sw, s.W, s.Wo, t.lo, t.hi);
      detail::valid_range(t.ih0, s.sh, s.H, s.Ho, t.top, t.bottom);
      taps.push_back(t);
    }
  return taps;
}

// im2col and col2im for one convolution shape. Two ways to walk the data, both writing the
// same columns in the same order of additions:
//  - large planes, one (image, channel) plane at a time: each output row of a tap is one
//    contiguous copy; a "same" convolution (stride 1, output as wide as the input: 3×3 with
//    padding 1) reads the plane shifted by a constant flat offset, so a whole tap is one copy
//    and only the columns that wrapped around a row edge are fixed up;
//  - small planes (late layers: 4×4, 2×2), where per-row copies would be a handful of values:
//    a table gives, for each tap and output position, the input offset to read (or −1 for
//    padding), and the loop runs over the images of the group with that table fixed.
// The table is used up to 16 output positions, and up to 64 when the taps are not single
// copies (measured for 64 channels, 128 images: 3×3 stride 2, 16×16 -> 8×8 takes 2.1 ms by
// table, 2.8 ms row by row; 3×3 stride 1 at 8×8, 1.8 ms by copies, 4.4 ms by table).
// With AVX-512 the small planes skip the table's one-value-at-a-time loop. A plane of at most
// 16 values (4×4, 2×2) fits one register: each tap is then one permutation of it (vpermps,
// padding lanes zeroed), and col2im the inverse permutation, masked to the inputs the tap
// reads. Otherwise, with rows of at most 16 values (the stride-2 layers: 16×16 -> 8×8, 8×8 ->
// 4×4), each output row of a tap is one permutation of an input row. Measured on one core,
// 16 images at a time: 256 channels of 4×4, im2col 0.50 -> 0.13 ms and col2im 0.43 -> 0.09 ms;
// 64 channels, 16×16 -> 8×8 (4 images), im2col 0.064 -> 0.028 ms, col2im 0.093 -> 0.042 ms.
// With AVX2 or AVX-512, same-width planes of 17 to 64 values (8×8) go by chunks of one
// register, each a masked load of the plane at the tap's offset (same_columns).
class Im2col {
 public:
  explicit Im2col(const ConvShape& s)
      : s_(s),
        small_(s.P() <= 16 || (!same_width(s) && s.P() <= 64)),
        taps_(conv_taps(s)) {
#if defined(__AVX512F__)
    in_register_ = s.P() <= 16 && s.H * s.W <= 16;
    rows_in_register_ = !in_register_ && small_ && s.W <= 16 && s.Wo <= 16;
#endif
#if defined(__AVX2__) && defined(__FMA__)
    same_in_register_ = !small_ && same_width(s) && s.P() <= 64 && s.H * s.W <= 64;
#endif
    for (const Tap& t : taps_) {
      edges_.emplace_back();
      for (int64_t j = 0; j < s.Wo; ++j)
        if (j < t.lo || j >= t.hi) edges_.back().push_back(j);
      if (!small_) continue;
      for (int64_t oh = 0; oh < s.Ho; ++oh)
        for (int64_t ow = 0; ow < s.Wo; ++ow) {
          const bool inside = oh >= t.top && oh < t.bottom && ow >= t.lo && ow < t.hi;
          source_.push_back(inside ? (oh * s.sh + t.ih0) * s.W + ow * s.sw + t.iw0 : -1);
        }
    }
#if defined(__AVX512F__)
    if (in_register_) register_taps_ = register_taps(source_, s.kh * s.kw, s.P());
    if (rows_in_register_) register_taps_ = row_taps(taps_, s);
#endif
#if defined(__AVX2__) && defined(__FMA__)
    if (same_in_register_) same_chunk_masks();
#endif
  }

  // cols [C·kh·kw, m·P] (leading dimension m·P; image n at column n·P) for the m images at
  // x [m, C, H, W]. `parallel`: split the work over the threads.
  template <class T>
  void columns(const T* x, int64_t m, T* cols, bool parallel) const {
    const int64_t P = s_.P(), ld = m * P, kk = s_.kh * s_.kw, HW = s_.H * s_.W;
    auto run = [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
#if defined(__AVX512F__)
        if constexpr (std::is_same_v<T, float>)
          if (in_register_ || rows_in_register_) {  // q = channel c, all images
            if (in_register_) register_columns(x, m, q, cols);
            else register_row_columns(x, m, q, cols);
            continue;
          }
#endif
        if (small_) {  // q = channel c, all images
          for (int64_t tap = 0; tap < kk; ++tap) {
            const int64_t* src = source_.data() + tap * P;
            T* row = cols + (q * kk + tap) * ld;
            for (int64_t n = 0; n < m; ++n) {
              const T* x_c = x + (n * s_.C + q) * HW;
              for (int64_t p = 0; p < P; ++p) row[n * P + p] = src[p] >= 0 ? x_c[src[p]] : T(0);
            }
          }
        } else {  // q = plane (image n, channel c)
          const int64_t n = q / s_.C, c = q % s_.C;
          plane_columns(x + q * HW, cols + c * kk * ld + n * P, ld);
        }
      }
    };
    const int64_t units = small_ ? s_.C : m * s_.C;
    if (parallel) parallel_for(units, 4, run);
    else run(0, units);
  }

  // The adjoint of columns(): dx [m, C, H, W] (zeroed by the caller) += each column entry at the
  // input position it was copied from; entries that read padding are dropped. Overlapping
  // windows add up, each input position receiving its terms in tap order. `cols` is scratch:
  // the same-width shortcut zeroes its padding entries first, so that one contiguous loop can
  // add a whole tap (adding 0 changes nothing).
  template <class T>
  void add_back(T* cols, int64_t m, T* dx, bool parallel) const {
    const int64_t P = s_.P(), ld = m * P, kk = s_.kh * s_.kw, HW = s_.H * s_.W;
    auto run = [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
#if defined(__AVX512F__)
        if constexpr (std::is_same_v<T, float>)
          if (in_register_ || rows_in_register_) {  // q = channel c, all images
            if (in_register_) register_add_back(cols, m, q, dx);
            else register_row_add_back(cols, m, q, dx);
            continue;
          }
#endif
        if (small_) {  // q = channel c, all images
          for (int64_t tap = 0; tap < kk; ++tap) {
            const int64_t* src = source_.data() + tap * P;
            const T* row = cols + (q * kk + tap) * ld;
            for (int64_t n = 0; n < m; ++n) {
              T* dx_c = dx + (n * s_.C + q) * HW;
              for (int64_t p = 0; p < P; ++p)
                if (src[p] >= 0) dx_c[src[p]] += row[n * P + p];
            }
          }
        } else {  // q = plane (image n, channel c)
          const int64_t n = q / s_.C, c = q % s_.C;
          plane_add_back(cols + c * kk * ld + n * P, ld, dx + q * HW);
        }
      }
    };
    const int64_t units = small_ ? s_.C : m * s_.C;
    if (parallel) parallel_for(units, 4, run);
    else run(0, units);
  }

 private:
  // Stride 1 and an output as wide as the input ("same" convolutions: 3×3 with padding 1):
  // tap t reads the plane shifted by the flat offset ih0·W + iw0.
  static bool same_width(const ConvShape& s) { return s.sh == 1 && s.sw == 1 && s.W == s.Wo; }
  bool same_width() const { return same_width(s_); }

  // Zeroes the entries of tap t's inside rows that read the left or right padding (after the
  // same-width copy: whose window wrapped around a row edge), the first lo and the last
  // Wo − hi columns of each row, usually one. They are written through a list of columns
  // because a plain loop becomes a memset call per row, which costs more than the copy.
  template <class T>
  void zero_wrapped(const Tap& t, T* row) const {
    for (int64_t oh = t.top; oh < t.bottom; ++oh)
      for (int64_t j : edges_[static_cast<std::size_t>(&t - taps_.data())]) row[oh * s_.Wo + j] = T(0);
  }

  // The kh·kw rows of one (image, channel) plane x_c [H, W]: tap t at cols + t·ld.
  template <class T>
  void plane_columns(const T* x_c, T* cols, int64_t ld) const {
#if defined(__AVX2__) && defined(__FMA__)
    if constexpr (std::is_same_v<T, float>)
      if (same_in_register_) return same_columns(x_c, cols, ld);
#endif
    const int64_t Wo = s_.Wo;
    for (std::size_t tap = 0; tap < taps_.size(); ++tap) {
      const Tap& t = taps_[tap];
      T* row = cols + static_cast<int64_t>(tap) * ld;
      std::fill_n(row, t.top * Wo, T(0));  // rows above and below the image read padding
      std::fill(row + t.bottom * Wo, row + s_.P(), T(0));
      if (t.top == t.bottom || t.lo == t.hi) {
        std::fill(row + t.top * Wo, row + t.bottom * Wo, T(0));
      } else if (same_width()) {  // one copy from the first inside entry to the last
        const int64_t first = t.top * Wo + t.lo, last = (t.bottom - 1) * Wo + t.hi;
        const int64_t shift = t.ih0 * s_.W + t.iw0;
        std::copy(x_c + first + shift, x_c + last + shift, row + first);
        zero_wrapped(t, row);
      } else {
        for (int64_t oh = t.top; oh < t.bottom; ++oh) {
          T* d = row + oh * Wo;
          const T* src = x_c + (oh * s_.sh + t.ih0) * s_.W;  // column ow reads src[ow·sw + iw0]
          if (s_.sw == 1) std::copy(src + t.lo + t.iw0, src + t.hi + t.iw0, d + t.lo);
          else if (s_.sw == 2)  // the usual downsampling stride, as a constant: vectorised
            for (int64_t ow = t.lo; ow < t.hi; ++ow) d[ow] = src[ow * 2 + t.iw0];
          else
            for (int64_t ow = t.lo; ow < t.hi; ++ow) d[ow] = src[ow * s_.sw + t.iw0];
        }
        zero_wrapped(t, row);
      }
    }
  }

  template <class T>
  void plane_add_back(T* cols, int64_t ld, T* dx_c) const {
#if defined(__AVX2__) && defined(__FMA__)
    if constexpr (std::is_same_v<T, float>)
      if (same_in_register_) return same_add_back(cols, ld, dx_c);
#endif
    const int64_t Wo = s_.Wo;
    for (std::size_t tap = 0; tap < taps_.size(); ++tap) {
      const Tap& t = taps_[tap];
      T* row = cols + static_cast<int64_t>(tap) * ld;
      if (t.top == t.bottom || t.lo == t.hi) continue;
      if (same_width()) {
        zero_wrapped(t, row);
        const int64_t first = t.top * Wo + t.lo, last = (t.bottom - 1) * Wo + t.hi;
        const int64_t shift = t.ih0 * s_.W + t.iw0;  // row entry i adds onto dx_flat[i + shift]
        for (int64_t i = first; i < last; ++i) dx_c[i + shift] += row[i];
        continue;
      }
      for (int64_t oh = t.top; oh < t.bottom; ++oh) {
        const T* d = row + oh * Wo;
        T* dst = dx_c + (oh * s_.sh + t.ih0) * s_.W;
        for (int64_t ow = t.lo; ow < t.hi; ++ow) dst[ow * s_.sw + t.iw0] += d[ow];
      }
    }
  }

#if defined(__AVX2__) && defined(__FMA__)
  // Same-width planes by chunks of W floats, one register (same_in_register_; W = 16 with
  // AVX-512, 8 with AVX2): output entry i of tap t reads input entry i + shift_t of the flat
  // plane, so each chunk of outputs is one masked load of the plane at that offset (lanes that
  // read padding, or whose window wrapped around a row edge, masked off: they load 0 and touch
  // no memory) and one store. This replaces, per tap, a copy, two fills and the fix-up of the
  // wrapped columns, calls that cost more than the data they move on small planes (the 3×3
  // layers at 8 pixels: 9 taps of 55 floats). Used up to 64 values a plane: on one Zen 3 core
  // (AVX2; tools/bench_im2col), 4 images of 128 channels at 8×8, im2col took 63-106 µs against
  // 99-127 by copies, col2im 73-113 against 106-151; on 16×16 planes col2im by chunks was
  // slower (32 against 23-38 µs), the long copies there costing little more than the data.
  using Lanes = detail::SimdFloat;
  void same_columns(const float* x_c, float* cols, int64_t ld) const {
    constexpr int64_t W = Lanes::kWidth;
    const int64_t P = s_.P(), chunks = (P + W - 1) / W;
    const Lanes::Mask tail = Lanes::first(static_cast<int>(P - (chunks - 1) * W));
    for (std::size_t tap = 0; tap < taps_.size(); ++tap) {
      float* row = cols + static_cast<int64_t>(tap) * ld;
      const Lanes::StoredMask* mask = same_out_masks_.data() + static_cast<int64_t>(tap) * chunks;
      const float* src = x_c + same_shift(taps_[tap]);
      for (int64_t j = 0; j < chunks; ++j) {
        const Lanes::Reg v = Lanes::load(Lanes::mask(mask[j]), src + j * W);
        if (j + 1 < chunks) Lanes::store(row + j * W, v);
        else Lanes::store(row + j * W, tail, v);
      }
    }
  }

  // The adjoint, by chunks of inputs: input u receives, tap by tap (the order of the plane
  // path), row entry u − shift_t of each tap that reads it. The sum stays in a register over
  // the taps and is added onto dx once.
  void same_add_back(const float* cols, int64_t ld, float* dx_c) const {
    constexpr int64_t W = Lanes::kWidth;
    const int64_t HW = s_.H * s_.W, chunks = (HW + W - 1) / W;
    const Lanes::Mask tail = Lanes::first(static_cast<int>(HW - (chunks - 1) * W));
    for (int64_t k = 0; k < chunks; ++k) {
      const bool full = k + 1 < chunks;
      Lanes::Reg acc = full ? Lanes::load(dx_c + k * W) : Lanes::load(tail, dx_c + k * W);
      for (std::size_t tap = 0; tap < taps_.size(); ++tap) {
        const Lanes::Mask m = Lanes::mask(same_in_masks_[tap * static_cast<std::size_t>(chunks) + static_cast<std::size_t>(k)]);
        const float* row = cols + static_cast<int64_t>(tap) * ld - same_shift(taps_[tap]);
        acc = Lanes::add(acc, Lanes::load(m, row + k * W));
      }
      if (full) Lanes::store(dx_c + k * W, acc);
      else Lanes::store(dx_c + k * W, tail, acc);
    }
  }

  int64_t same_shift(const Tap& t) const { return t.ih0 * s_.W + t.iw0; }

  // The masks of same_columns (per tap, per chunk of outputs: the outputs inside the image)
  // and of same_add_back (per tap, per chunk of inputs: the inputs some output reads).
  void same_chunk_masks() {
    constexpr int64_t W = Lanes::kWidth;
    const int64_t P = s_.P(), HW = s_.H * s_.W, Wo = s_.Wo;
    const int64_t chunks = (P + W - 1) / W, in_chunks = (HW + W - 1) / W;
    for (const Tap& t : taps_) {
      auto reads = [&](int64_t i) {  // output i lies inside the image for tap t
        const int64_t oh = i / Wo, ow = i % Wo;
        return i >= 0 && i < P && oh >= t.top && oh < t.bottom && ow >= t.lo && ow < t.hi;
      };
      for (int64_t j = 0; j < chunks; ++j) {
        uint32_t m = 0;
        for (int64_t l = 0; l < W; ++l) m |= reads(j * W + l) ? 1u << l : 0u;
        same_out_masks_.push_back(Lanes::stored(m));
      }
      for (int64_t k = 0; k < in_chunks; ++k) {
        uint32_t m = 0;
        for (int64_t l = 0; l < W; ++l) m |= k * W + l < HW && reads(k * W + l - same_shift(t)) ? 1u << l : 0u;
        same_in_masks_.push_back(Lanes::stored(m));
      }
    }
  }
  bool same_in_register_ = false;
  std::vector<Lanes::StoredMask> same_out_masks_, same_in_masks_;
#endif

#if defined(__AVX512F__)
  // Planes in one register (in_register_): tap t's row for image n is the plane x[n, c]
  // permuted by the table's offsets, lanes reading padding (offset −1) or past P zeroed.
  void register_columns(const float* x, int64_t m, int64_t c, float* cols) const {
    const int64_t P = s_.P(), ld = m * P, kk = s_.kh * s_.kw, HW = s_.H * s_.W;
    const auto plane_mask = static_cast<__mmask16>((1u << HW) - 1u);
    const auto out_mask = static_cast<__mmask16>((1u << P) - 1u);
    for (int64_t n = 0; n < m; ++n) {
      const __m512 plane = _mm512_maskz_loadu_ps(plane_mask, x + (n * s_.C + c) * HW);
      for (int64_t tap = 0; tap < kk; ++tap) {
        const RegisterTap& r = register_taps_[static_cast<std::size_t>(tap)];
        const __m512 row = _mm512_maskz_permutexvar_ps(r.read, r.index, plane);
        _mm512_mask_storeu_ps(cols + (c * kk + tap) * ld + n * P, out_mask, row);
      }
    }
  }

  // The adjoint, plane by plane: input i of tap t receives row entry inverse[i], for the
  // inputs the tap reads (mask `written`); the taps are added in order, then onto dx (zeroed).
  void register_add_back(const float* cols, int64_t m, int64_t c, float* dx) const {
    const int64_t P = s_.P(), ld = m * P, kk = s_.kh * s_.kw, HW = s_.H * s_.W;
    const auto plane_mask = static_cast<__mmask16>((1u << HW) - 1u);
    const auto out_mask = static_cast<__mmask16>((1u << P) - 1u);
    for (int64_t n = 0; n < m; ++n) {
      __m512 acc = _mm512_setzero_ps();
      for (int64_t tap = 0; tap < kk; ++tap) {
        const RegisterTap& r = register_taps_[static_cast<std::size_t>(tap)];
        const __m512 row = _mm512_maskz_loadu_ps(out_mask, cols + (c * kk + tap) * ld + n * P);
        acc = _mm512_mask_add_ps(acc, r.written, acc,
                                 _mm512_maskz_permutexvar_ps(r.written, r.inverse, row));
      }
      float* dx_c = dx + (n * s_.C + c) * HW;
      _mm512_mask_storeu_ps(dx_c, plane_mask,
                            _mm512_add_ps(_mm512_maskz_loadu_ps(plane_mask, dx_c), acc));
    }
  }

  // Rows in one register (rows_in_register_): output row oh of tap t is input row
  // oh·sh + ih0 permuted (lane ow reads ow·sw + iw0), or zeros where that row is padding.
  void register_row_columns(const float* x, int64_t m, int64_t c, float* cols) const {
    const int64_t P = s_.P(), ld = m * P, kk = s_.kh * s_.kw, HW = s_.H * s_.W, Wo = s_.Wo;
    const auto in_mask = static_cast<__mmask16>((1u << s_.W) - 1u);
    const auto out_mask = static_cast<__mmask16>((1u << Wo) - 1u);
    for (int64_t n = 0; n < m; ++n) {
      const float* x_c = x + (n * s_.C + c) * HW;
      for (int64_t tap = 0; tap < kk; ++tap) {
        const Tap& t = taps_[static_cast<std::size_t>(tap)];
        const RegisterTap& r = register_taps_[static_cast<std::size_t>(tap)];
        float* row = cols + (c * kk + tap) * ld + n * P;
        for (int64_t oh = 0; oh < s_.Ho; ++oh) {
          __m512 v = _mm512_setzero_ps();
          if (oh >= t.top && oh < t.bottom)
            v = _mm512_maskz_permutexvar_ps(
                r.read, r.index, _mm512_maskz_loadu_ps(in_mask, x_c + (oh * s_.sh + t.ih0) * s_.W));
          _mm512_mask_storeu_ps(row + oh * Wo, out_mask, v);
        }
      }
    }
  }

  // The adjoint, row by row and tap by tap (the order of additions of the table path).
  void register_row_add_back(const float* cols, int64_t m, int64_t c, float* dx) const {
    const int64_t P = s_.P(), ld = m * P, kk = s_.kh * s_.kw, HW = s_.H * s_.W, Wo = s_.Wo;
    const auto in_mask = static_cast<__mmask16>((1u << s_.W) - 1u);
    const auto out_mask = static_cast<__mmask16>((1u << Wo) - 1u);
    for (int64_t n = 0; n < m; ++n) {
      float* dx_c = dx + (n * s_.C + c) * HW;
      for (int64_t tap = 0; tap < kk; ++tap) {
        const Tap& t = taps_[static_cast<std::size_t>(tap)];
        const RegisterTap& r = register_taps_[static_cast<std::size_t>(tap)];
        const float* row = cols + (c * kk + tap) * ld + n * P;
        for (int64_t oh = t.top; oh < t.bottom; ++oh) {
          float* d = dx_c + (oh * s_.sh + t.ih0) * s_.W;
          const __m512 add = _mm512_maskz_permutexvar_ps(
              r.written, r.inverse, _mm512_maskz_loadu_ps(out_mask, row + oh * Wo));
          const __m512 old = _mm512_maskz_loadu_ps(in_mask, d);
          _mm512_mask_storeu_ps(d, in_mask, _mm512_mask_add_ps(old, r.written, old, add));
        }
      }
    }
  }


  struct RegisterTap {
    __m512i index, inverse;  // row lane p reads plane[index[p]]; plane i gets row[inverse[i]]
    __mmask16 read, written;  // lanes p that read the plane; plane entries i that are read
  };
  static std::vector<RegisterTap> register_taps(const std::vector<int64_t>& source, int64_t taps,
                                                int64_t P) {
    std::vector<RegisterTap> out;
    for (int64_t t = 0; t < taps; ++t) {
      alignas(64) int32_t index[16] = {}, inverse[16] = {};
      unsigned read = 0, written = 0;
      for (int64_t p = 0; p < P; ++p) {
        const int64_t i = source[static_cast<std::size_t>(t * P + p)];
        if (i < 0) continue;
        index[p] = static_cast<int32_t>(i), read |= 1u << p;
        inverse[i] = static_cast<int32_t>(p), written |= 1u << i;
      }
      out.push_back({_mm512_load_si512(index), _mm512_load_si512(inverse),
                     static_cast<__mmask16>(read), static_cast<__mmask16>(written)});
    }
    return out;
  }
  // The row version of the same tables: lane ow of an output row reads ow·sw + iw0.
  static std::vector<RegisterTap> row_taps(const std::vector<Tap>& taps, const ConvShape& s) {
    std::vector<int64_t> source;
    for (const Tap& t : taps)
      for (int64_t ow = 0; ow < s.Wo; ++ow)
        source.push_back(ow >= t.lo && ow < t.hi ? ow * s.sw + t.iw0 : -1);
    return register_taps(source, static_cast<int64_t>(taps.size()), s.Wo);
  }
  bool in_register_ = false, rows_in_register_ = false;
  std::vector<RegisterTap> register_taps_;
#endif

  ConvShape s_;
  bool small_;
  std::vector<Tap> taps_;
  std::vector<std::vector<int64_t>> edges_;  // per tap: the output columns outside [lo, hi)
  std::vector<int64_t> source_;  // small planes: [tap, position] -> input offset, or -1
};

// Copies m images of y [m, O, P] into the columns [O, m·P] (image n at column n·P): the layout
// of a gradient for a product over several images.
template <class T>
void images_to_columns(const T* y, int64_t m, int64_t O, int64_t P, T* cols, bool parallel) {
  auto run = [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t o = 0; o < O; ++o) std::copy_n(y + (n * O + o) * P, P, cols + o * m * P + n * P);
  };
  if (parallel) parallel_for(m, 1, run);
  else run(0, m);
}

// ---- the weight gradient's patches, channels last ----
// The weight gradient dw = dout · colsᵀ reads the columns transposed, and packing colsᵀ for the
// GEMM transposed them element by element. Its other form, with the patches as rows,
//     patches [m·P, kh·kw·C]: row (n, oh, ow) the input patch that output (oh, ow) of image n
//                             reads, ordered (ki, kj, c),
// is read by the GEMM as it lies, and is cheap to build from the images in channels-last order
// (x_cl [m, H, W, C]): each tap (ki, kj) of a row is one contiguous run of C values of x_cl, or
// zeros outside the image. The gradient then comes out as [O, kh, kw, C] (see
// conv2d_backward_weight). Used for one group (groups = 1) with channels enough for the runs to
// be worth a copy each.

// out [m, HW, C] = x [m, C, HW] transposed per image, in square tiles that stay in L1.
template <class T>
void to_channels_last(const T* x, int64_t m, int64_t C, int64_t HW, T* out) {
  constexpr int64_t kTile = 16;
  for (int64_t n = 0; n < m; ++n) {
    const T* src = x + n * C * HW;
    T* dst = out + n * C * HW;
    for (int64_t c0 = 0; c0 < C; c0 += kTile)
      for (int64_t p0 = 0; p0 < HW; p0 += kTile) {
        const int64_t c1 = std::min(C, c0 + kTile), p1 = std::min(HW, p0 + kTile);
        for (int64_t p = p0; p < p1; ++p)
          for (int64_t c = c0; c < c1; ++c) dst[p * C + c] = src[c * HW + p];
      }
  }
}

// patches [m·P, kh·kw·C] (above) from x_cl [m, H, W, C].
template <class T>
void patches_channels_last(const T* x_cl, int64_t m, const ConvShape& s, T* patches) {
  const int64_t C = s.C, row_length = s.kh * s.kw * C;
  for (int64_t n = 0; n < m; ++n)
    for (int64_t oh = 0; oh < s.Ho; ++oh)
      for (int64_t ow = 0; ow < s.Wo; ++ow) {
        T* row = patches + ((n * s.Ho + oh) * s.Wo + ow) * row_length;
        for (int64_t ki = 0; ki < s.kh; ++ki) {
          const int64_t ih = oh * s.sh - s.ph + ki * s.dh;
          for (int64_t kj = 0; kj < s.kw; ++kj) {
            const int64_t iw = ow * s.sw - s.pw + kj * s.dw;
            T* dst = row + (ki * s.kw + kj) * C;
            if (ih >= 0 && ih < s.H && iw >= 0 && iw < s.W)
              std::copy_n(x_cl + ((n * s.H + ih) * s.W + iw) * C, C, dst);
            else
              std::fill_n(dst, C, T(0));
          }
        }
      }
}

}  // namespace lacoot::backend::cpu

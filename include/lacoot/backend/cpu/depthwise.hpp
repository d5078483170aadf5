// lacoot/backend/cpu/depthwise.hpp — depthwise 2-D convolution by direct loops.
//
// Holds: depthwise_forward, depthwise_backward_input, depthwise_backward_weight for
// groups == C == O (one kh×kw filter per channel, weight [C, 1, kh, kw]: MobileNet's depthwise
// layers), and the vectorisable dot / sum that the reductions here and in conv.hpp use.
// Needs: im2col.hpp (ConvShape, Tap).
// Leaves out: channel multipliers (O = k·C with groups = C go through im2col + GEMM).
//
// Why not im2col: each output channel sees one input channel, so the "GEMM" would be C
// products of one row each, all copying and no arithmetic. Here each (image, channel) plane is
// a loop over the kh·kw taps, and each tap's Tap bounds keep the padding out of the inner loop,
// which then vectorises (stride 1):
//     out[n, c, oh, ow] = bias[c] + Σ_{ki, kj} w[c, ki, kj] · x[n, c, oh·sh + ih0, ow·sw + iw0].
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../../core/parallel.hpp"
#include "im2col.hpp"

namespace lacoot::backend::cpu {
namespace detail {

// Σ a[i]·b[i] for i < n, in 16 interleaved partial sums (so that the compiler can vectorise it
// without reordering one running sum) added up in a fixed order at the end.
template <class T>
T dot(const T* a, const T* b, int64_t n) {
  T acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) acc[l] += a[i + l] * b[i + l];
  for (int l = 0; i < n; ++i, ++l) acc[l] += a[i] * b[i];
  T s = 0;
  for (T v : acc) s += v;
  return s;
}

// Σ a[i] for i < n, the same way.
template <class T>
T sum(const T* a, int64_t n) {
  T acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) acc[l] += a[i + l];
  for (int l = 0; i < n; ++i, ++l) acc[l] += a[i];
  T s = 0;
  for (T v : acc) s += v;
  return s;
}

}  // namespace detail

// out [N, C, Ho, Wo] = depthwise conv of x [N, C, H, W] with w [C, 1, kh, kw], + b [C] (or null).
template <class T>
void depthwise_forward(const T* x, const T* w, const T* b, const ConvShape& s, T* out) {
  const int64_t HW = s.H * s.W, P = s.P(), kk = s.kh * s.kw;
  const std::vector<Tap> taps = conv_taps(s);
  parallel_for(s.N * s.C, 4, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {  // plane q: image q / C, channel c
      const int64_t c = q % s.C;
      const T* x_c = x + q * HW;
      T* o_c = out + q * P;
      std::fill_n(o_c, P, b ? b[c] : T(0));
      for (int64_t tap = 0; tap < kk; ++tap) {
        const Tap& t = taps[static_cast<std::size_t>(tap)];
        const T wv = w[c * kk + tap];
        for (int64_t oh = t.top; oh < t.bottom; ++oh) {
          const T* src = x_c + (oh * s.sh + t.ih0) * s.W;
          T* d = o_c + oh * s.Wo;
          for (int64_t ow = t.lo; ow < t.hi; ++ow) d[ow] += wv * src[ow * s.sw + t.iw0];
        }
      }
    }
  });
}

// dx [N, C, H, W] from dout [N, C, Ho, Wo]: each output scatters w · dout back onto the inputs
// it read (overwrites dx).
template <class T>
void depthwise_backward_input(const T* dout, const T* w, const ConvShape& s, T* dx) {
  const int64_t HW = s.H * s.W, P = s.P(), kk = s.kh * s.kw;
  const std::vector<Tap> taps = conv_taps(s);
  parallel_for(s.N * s.C, 4, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t c = q % s.C;
      const T* g_c = dout + q * P;
      T* dx_c = dx + q * HW;
      std::fill_n(dx_c, HW, T(0));
      for (int64_t tap = 0; tap < kk; ++tap) {
        const Tap& t = taps[static_cast<std::size_t>(tap)];
        const T wv = w[c * kk + tap];
        for (int64_t oh = t.top; oh < t.bottom; ++oh) {
          T* dst = dx_c + (oh * s.sh + t.ih0) * s.W;
          const T* g = g_c + oh * s.Wo;
          for (int64_t ow = t.lo; ow < t.hi; ++ow) dst[ow * s.sw + t.iw0] += wv * g[ow];
        }
      }
    }
  });
}

// dw [C, 1, kh, kw] = Σ over images and outputs of dout · (the input under each tap);
// parallel over channels, images in order (overwrites dw).
template <class T>
void depthwise_backward_weight(const T* dout, const T* x, const ConvShape& s, T* dw) {
  const int64_t HW = s.H * s.W, P = s.P(), kk = s.kh * s.kw;
  const std::vector<Tap> taps = conv_taps(s);
  parallel_for(s.C, 1, [&](int64_t c0, int64_t c1) {
    std::vector<T> row(static_cast<std::size_t>(s.Wo));  // one strided input row, gathered
    for (int64_t c = c0; c < c1; ++c) {
      T* dw_c = dw + c * kk;
      std::fill_n(dw_c, kk, T(0));
      for (int64_t n = 0; n < s.N; ++n) {
        const T* x_c = x + (n * s.C + c) * HW;
        const T* g_c = dout + (n * s.C + c) * P;
        for (int64_t tap = 0; tap < kk; ++tap) {
          const Tap& t = taps[static_cast<std::size_t>(tap)];
          if (t.lo == t.hi) continue;  // this tap only ever reads padding
          T acc = 0;
          for (int64_t oh = t.top; oh < t.bottom; ++oh) {
            // The inputs under output columns lo..hi, contiguous when the stride is 1.
            const T* src = x_c + (oh * s.sh + t.ih0) * s.W + t.lo * s.sw + t.iw0;
            if (s.sw != 1) {
              for (int64_t ow = t.lo; ow < t.hi; ++ow)
                row[static_cast<std::size_t>(ow - t.lo)] = src[(ow - t.lo) * s.sw];
              src = row.data();
            }
            acc += detail::dot(g_c + oh * s.Wo + t.lo, src, t.hi - t.lo);
          }
          dw_c[tap] += acc;
        }
      }
    }
  });
}

}  // namespace lacoot::backend::cpu

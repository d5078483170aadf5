// lacoot/backend/cpu/pooling.hpp — CPU kernels for 2-D max, average and adaptive average pooling.
//
// Holds: Pool2dShape, pool_output_size (PyTorch's pooling_output_shape), the window of an
// output cell for each kind of pooling, and forward/backward loops for max_pool2d (with int64
// argmax indices), avg_pool2d and adaptive_avg_pool2d.
// Needs: core/.
// Leaves out: argument checks and autograd (ops/pooling.hpp); channels-last kernels (a plane
// at a time is simple and fast enough for the networks lacoot trains).
//
// Every kernel works on `planes` = N·C independent H×W images, split over threads. Each
// plane's gradient is written by the thread that owns the plane, summing overlapping windows
// in a fixed order, so the results do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "../../core/parallel.hpp"
#include "scratch.hpp"

namespace lacoot::backend::cpu {

// Sizes of a 2-D pooling call (PyTorch's names): planes of H×W in, Ho×Wo out, a kernel of
// kh×kw taps stepped by (sh, sw), padded by (ph, pw), taps spaced by (dh, dw).
struct Pool2dShape {
  int64_t planes = 0, H = 0, W = 0, Ho = 0, Wo = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

// Floor division for possibly negative numerators (C++'s / truncates toward zero).
inline int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

// The number of windows along one axis, as PyTorch's pooling_output_shape:
//     floor((in + 2·pad − dilation·(k − 1) − 1) / stride) + 1,
// rounded up instead when ceil_mode, but then the last window must still start inside the
// input or its left padding (a window lying wholly in the right padding is dropped).
inline int64_t pool_output_size(int64_t in, int64_t k, int64_t stride, int64_t pad,
                                int64_t dilation, bool ceil_mode) {
  const int64_t span = in + 2 * pad - dilation * (k - 1) - 1;
  int64_t out = floor_div(span + (ceil_mode ? stride - 1 : 0), stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// Runs fn(plane) for every plane, in parallel; `work` is the cost of one plane.
template <class Fn>
void for_each_plane(int64_t planes, int64_t work, Fn&& fn) {
  parallel_for(planes, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(work, 1)),
               [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) fn(p);
  });
}

// ---- max_pool2d ----

namespace detail {

// One input row's maxima over the column taps of every output column j: taps
// w = j·sw − pw + b·dw inside [0, W), first maximum kept (strict >), a NaN always taking over.
// `col` gets the winning column (-1 where no tap lies inside), if not null. Sw is the stride
// when known at compile time (1 or 2: the columns whose taps all lie inside then vectorise),
// or 0 to read it from the shape.
template <int Sw, class T>
void pool_row_max(const T* row, const Pool2dShape& s, T* best, int32_t* col) {
  const int64_t sw = Sw ? Sw : s.sw, span = (s.kw - 1) * s.dw;
  // Columns [j0, j1) have every tap inside the row.
  const int64_t j0 = std::min<int64_t>(s.Wo, (s.pw + sw - 1) / sw);
  const int64_t j1 = std::max<int64_t>(j0, std::min<int64_t>(s.Wo, s.W - span + s.pw > 0
                                                                    ? (s.W - span + s.pw - 1) / sw + 1 : 0));
  auto edge = [&](int64_t j) {
    int64_t w0 = j * sw - s.pw;
    const int64_t w1 = std::min(w0 + span + 1, s.W);
    while (w0 < 0) w0 += s.dw;
    T m = -std::numeric_limits<T>::infinity();
    int64_t arg = w0 < w1 ? w0 : -1;
    for (int64_t w = w0; w < w1; w += s.dw) {
      const T v = row[w];
      if (v > m || v != v) m = v, arg = w;
    }
    best[j] = m;
    if (col) col[j] = static_cast<int32_t>(arg);
  };
  for (int64_t j = 0; j < j0; ++j) edge(j);
  if (j1 > j0) {  // first tap, then the others in order, each compared as a select
    for (int64_t j = j0; j < j1; ++j) best[j] = row[j * sw - s.pw];
    if (col)
      for (int64_t j = j0; j < j1; ++j) col[j] = static_cast<int32_t>(j * sw - s.pw);
    for (int64_t b = 1; b < s.kw; ++b) {
      const T* r = row + b * s.dw - s.pw;
      if (col) {
        for (int64_t j = j0; j < j1; ++j) {
          const T v = r[j * sw];
          const bool take = v > best[j] || v != v;
          best[j] = take ? v : best[j];
          col[j] = take ? static_cast<int32_t>(j * sw - s.pw + b * s.dw) : col[j];
        }
      } else {
        for (int64_t j = j0; j < j1; ++j) {
          const T v = r[j * sw];
          best[j] = v > best[j] || v != v ? v : best[j];
        }
      }
    }
  }
  for (int64_t j = j1; j < s.Wo; ++j) edge(j);
}

struct PoolScratch;  // the family tag of one plane's row maxima (H·Wo values and their columns)

}  // namespace detail

// out[i, j] = max of the window's taps x[i·sh − ph + a·dh, j·sw − pw + b·dw] that fall inside
// the plane (padding never wins: it counts as −∞); indices[i, j] = the argmax as h·W + w
// within the plane, as PyTorch returns it (not written when `indices` is null: evaluation
// needs only the values). The first maximum in the window's row-major order wins ties
// (PyTorch's max_pool2d_kernel compares with >), and a NaN tap always takes over, so NaN
// propagates.
//
// Two passes per plane, each along rows: every input row's maxima over the
// column taps of each output column (detail::pool_row_max), then each output row's maximum
// over its kh rows of those. Scanning the rows in order, each row's columns in order, finds
// the same tap as the row-major scan of the window: the first row holding the maximum, and in
// it the first column (for NaN: the last NaN of the last row holding one). The window's
// kh·kw taps are read as H·kw + Ho·kh, and both loops vectorise: ResNet's 3×3 stride-2 pool,
// 64 planes of 32×32 per image, batch 128, went from 41 to 14 ms (2 threads) against one
// window at a time.
template <class T>
void max_pool2d_forward(const T* x, const Pool2dShape& s, T* out, int64_t* indices) {
  for_each_plane(s.planes, s.H * s.Wo * s.kw + s.Ho * s.Wo * s.kh, [&](int64_t p) {
    const T* xp = x + p * s.H * s.W;
    T* rows = thread_scratch<detail::PoolScratch, T>(0).get(s.H * s.Wo);
    int32_t* cols = indices ? thread_scratch<detail::PoolScratch, int32_t>(0).get(s.H * s.Wo) : nullptr;
    for (int64_t h = 0; h < s.H; ++h) {
      T* best = rows + h * s.Wo;
      int32_t* col = indices ? cols + h * s.Wo : nullptr;
      if (s.sw == 1) detail::pool_row_max<1>(xp + h * s.W, s, best, col);
      else if (s.sw == 2) detail::pool_row_max<2>(xp + h * s.W, s, best, col);
      else detail::pool_row_max<0>(xp + h * s.W, s, best, col);
    }
    for (int64_t i = 0; i < s.Ho; ++i) {
      // First tap inside the plane: step past the padding by whole dilations.
      int64_t h0 = i * s.sh - s.ph;
      const int64_t h1 = std::min(h0 + (s.kh - 1) * s.dh + 1, s.H);
      while (h0 < 0) h0 += s.dh;
      T* o = out + (p * s.Ho + i) * s.Wo;
      int64_t* idx = indices ? indices + (p * s.Ho + i) * s.Wo : nullptr;
      if (h0 >= h1) {  // no row inside (the checks exclude it): −∞, index −1
        std::fill_n(o, s.Wo, -std::numeric_limits<T>::infinity());
        if (idx) std::fill_n(idx, s.Wo, int64_t{-1});
        continue;
      }
      const T* first = rows + h0 * s.Wo;
      std::copy_n(first, s.Wo, o);
      if (idx)
        for (int64_t j = 0; j < s.Wo; ++j) {
          const int32_t c = cols[h0 * s.Wo + j];
          idx[j] = c < 0 ? -1 : h0 * s.W + c;
        }
      for (int64_t h = h0 + s.dh; h < h1; h += s.dh) {
        const T* r = rows + h * s.Wo;
        if (idx) {
          const int32_t* c = cols + h * s.Wo;
          for (int64_t j = 0; j < s.Wo; ++j) {
            const bool take = r[j] > o[j] || r[j] != r[j];
            o[j] = take ? r[j] : o[j];
            idx[j] = take ? h * s.W + c[j] : idx[j];
          }
        } else {
          for (int64_t j = 0; j < s.Wo; ++j) o[j] = r[j] > o[j] || r[j] != r[j] ? r[j] : o[j];
        }
      }
    }
  });
}

// dx (zeroed here) = each out cell's gradient sent to its argmax: d max(x_1..x_k)/dx_m is 1
// for the winning tap m and 0 for the others. A tap that wins several windows sums them.
template <class T>
void max_pool2d_backward(const T* g, const int64_t* indices, const Pool2dShape& s, T* dx) {
  for_each_plane(s.planes, s.H * s.W + s.Ho * s.Wo, [&](int64_t p) {
    T* dxp = dx + p * s.H * s.W;
    std::fill_n(dxp, s.H * s.W, T(0));
    const int64_t first = p * s.Ho * s.Wo;
    for (int64_t o = first; o < first + s.Ho * s.Wo; ++o)
      if (indices[o] >= 0) dxp[indices[o]] += g[o];
  });
}

// ---- avg_pool2d ----

// The part of out cell (i, j)'s window inside the plane, rows [h0, h1) × cols [w0, w1), and
// the divisor of its sum. As PyTorch's avg_pool2d: the window is first clipped to the padded
// plane (in ceil_mode it may overhang the padding, which is never counted), then to the plane.
// The divisor is divisor_override when given (non-zero), else the window's size including
// padding (count_include_pad) or only the taps inside the plane.
struct AvgWindow {
  int64_t h0, h1, w0, w1, divisor;
};

inline AvgWindow avg_pool_window(int64_t i, int64_t j, const Pool2dShape& s,
                                 bool count_include_pad, int64_t divisor_override) {
  int64_t h0 = i * s.sh - s.ph, w0 = j * s.sw - s.pw;
  int64_t h1 = std::min(h0 + s.kh, s.H + s.ph), w1 = std::min(w0 + s.kw, s.W + s.pw);
  const int64_t padded_size = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0), w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, s.H), w1 = std::min(w1, s.W);
  int64_t divisor = divisor_override != 0 ? divisor_override
                    : count_include_pad   ? padded_size
                                          : (h1 - h0) * (w1 - w0);
  return {h0, h1, w0, w1, divisor};
}

// out[i, j] = Σ_window x / divisor (0 for a window with no tap inside the plane).
template <class T>
void avg_pool2d_forward(const T* x, const Pool2dShape& s, bool count_include_pad,
                        int64_t divisor_override, T* out) {
  for_each_plane(s.planes, s.Ho * s.Wo * s.kh * s.kw, [&](int64_t p) {
    const T* xp = x + p * s.H * s.W;
    for (int64_t i = 0; i < s.Ho; ++i)
      for (int64_t j = 0; j < s.Wo; ++j) {
        const AvgWindow a = avg_pool_window(i, j, s, count_include_pad, divisor_override);
        T sum = 0;
        for (int64_t h = a.h0; h < a.h1; ++h)
          for (int64_t w = a.w0; w < a.w1; ++w) sum += xp[h * s.W + w];
        out[(p * s.Ho + i) * s.Wo + j] = a.h0 < a.h1 && a.w0 < a.w1 ? sum / static_cast<T>(a.divisor) : T(0);
      }
  });
}

// dx (zeroed here): each out cell's gradient divided by its divisor, added to every tap of
// its window inside the plane (d(Σx / D)/dx = 1 / D).
template <class T>
void avg_pool2d_backward(const T* g, const Pool2dShape& s, bool count_include_pad,
                         int64_t divisor_override, T* dx) {
  for_each_plane(s.planes, s.H * s.W + s.Ho * s.Wo * s.kh * s.kw, [&](int64_t p) {
    T* dxp = dx + p * s.H * s.W;
    std::fill_n(dxp, s.H * s.W, T(0));
    for (int64_t i = 0; i < s.Ho; ++i)
      for (int64_t j = 0; j < s.Wo; ++j) {
        const AvgWindow a = avg_pool_window(i, j, s, count_include_pad, divisor_override);
        if (a.h0 >= a.h1 || a.w0 >= a.w1) continue;
        const T share = g[(p * s.Ho + i) * s.Wo + j] / static_cast<T>(a.divisor);
        for (int64_t h = a.h0; h < a.h1; ++h)
          for (int64_t w = a.w0; w < a.w1; ++w) dxp[h * s.W + w] += share;
      }
  });
}

// ---- adaptive_avg_pool2d ----

// Output cell i of `out` cells over `in` inputs averages inputs [start, end) with
//     start = floor(i · in / out),   end = ceil((i + 1) · in / out)
// (PyTorch's start_index / end_index): windows cover the input, neighbours may share one row.
inline int64_t adaptive_start(int64_t i, int64_t out, int64_t in) { return (i * in) / out; }
inline int64_t adaptive_end(int64_t i, int64_t out, int64_t in) {
  return ((i + 1) * in + out - 1) / out;
}

// out[i, j] = mean of x over rows [start(i), end(i)) × cols [start(j), end(j)).
template <class T>
void adaptive_avg_pool2d_forward(const T* x, const Pool2dShape& s, T* out) {
  for_each_plane(s.planes, s.H * s.W + s.Ho * s.Wo, [&](int64_t p) {
    const T* xp = x + p * s.H * s.W;
    for (int64_t i = 0; i < s.Ho; ++i) {
      const int64_t h0 = adaptive_start(i, s.Ho, s.H), h1 = adaptive_end(i, s.Ho, s.H);
      for (int64_t j = 0; j < s.Wo; ++j) {
        const int64_t w0 = adaptive_start(j, s.Wo, s.W), w1 = adaptive_end(j, s.Wo, s.W);
        T sum = 0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) sum += xp[h * s.W + w];
        out[(p * s.Ho + i) * s.Wo + j] = sum / static_cast<T>((h1 - h0) * (w1 - w0));
      }
    }
  });
}

// dx (zeroed here): each out cell's gradient / its window's size, added to the window's taps.
template <class T>
void adaptive_avg_pool2d_backward(const T* g, const Pool2dShape& s, T* dx) {
  for_each_plane(s.planes, s.H * s.W + s.Ho * s.Wo, [&](int64_t p) {
    T* dxp = dx + p * s.H * s.W;
    std::fill_n(dxp, s.H * s.W, T(0));
    for (int64_t i = 0; i < s.Ho; ++i) {
      const int64_t h0 = adaptive_start(i, s.Ho, s.H), h1 = adaptive_end(i, s.Ho, s.H);
      for (int64_t j = 0; j < s.Wo; ++j) {
        const int64_t w0 = adaptive_start(j, s.Wo, s.W), w1 = adaptive_end(j, s.Wo, s.W);
        const T share = g[(p * s.Ho + i) * s.Wo + j] / static_cast<T>((h1 - h0) * (w1 - w0));
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) dxp[h * s.W + w] += share;
      }
    }
  });
}

}  // namespace lacoot::backend::cpu

// lacoot/backend/cpu/conv.hpp — 2-D convolution on the CPU: im2col + GEMM, and Winograd.
//
// Holds: the kernels conv2d_forward, conv2d_backward_input, conv2d_backward_weight and
// conv2d_backward_bias, and ConvTuning (how they group images).
// Needs: im2col.hpp (ConvShape, Im2col), gemm.hpp, depthwise.hpp (groups == C == O goes there),
// winograd.hpp (stride-1 3×3 convolutions of 32 channels or more, forward and input gradient,
// go there: 16 products of 4/9 the multiply-adds, driven by winograd_conv below).
// Leaves out: argument checking (ops/conv.hpp does it), transposed convolutions, FFT.
//
// With cols the im2col matrix of an image (im2col.hpp), the convolution is one product,
//     out[O, Ho·Wo] = weight[O, C·kh·kw] · cols[C·kh·kw, Ho·Wo]   (+ bias per row),
// and its gradients are two more:
//     dweight = dout · colsᵀ (summed over the batch),   dcols = weightᵀ · dout,
// col2im then adding dcols back onto the input positions each column was copied from. With
// groups, group g uses rows g·Kg.. of cols (its C/groups channels) and output channels g·Og...
//
// Making the products large: a layer late in a network has few output positions (2×2), so one
// image gives a GEMM only 4 columns wide, far from peak speed. The columns of several images
// are therefore laid side by side, cols[C·kh·kw, m·Ho·Wo] (column n·P + p is position p of
// image n), m chosen to reach ConvTuning::target_columns; the product is then [O, m·P] and is
// scattered back to NCHW. With one image per product (P large) the GEMM writes the output in
// place, and a 1×1, stride-1, unpadded convolution skips im2col: the image [C, H·W] is its own
// column matrix.
//
// Threads: the forward and input-gradient kernels give each thread whole groups of images
// ("tasks": im2col, GEMM and scatter stay in that core's cache); with fewer than
// min_parallel_tasks tasks (a batch of a few images) the tasks run one after the other, each
// split over the threads. The weight gradient is a sum over the batch; see
// conv2d_backward_weight. Every split depends on the shapes only, never on the thread count,
// so neither do the results.
//
// Packing: the weight, the GEMM's left operand in the forward and input-gradient products, is
// packed once per call for all tasks (pack_weight); the weight gradient of one group reads
// channels-last patches in place (conv2d_backward_weight).
//
// Measured with tools/bench_ops_torch.py (2 Sapphire Rapids cores, batch 128, ResNet-18-CIFAR
// shapes, alternating rounds): the float32 GEMMs (sgemm.hpp) run at 185-205 GFLOP/s per core
// on these shapes, 80-85% of the FMA peak, and im2col, packing and scatter bring the 3×3 layers
// to 260-300 GFLOP/s forward + backward on the two cores. Against PyTorch 1.13 (oneDNN, up to
// 90% of peak) that is 0.77-0.87× on the shape-preserving 3×3 layers at 8 and 4 pixels (the
// slowest), 0.9-1.1× at 16 pixels and on the strided ones, faster on the stem, the 2×2 layers
// and the 1×1 downsamples. With Eigen 3.4's kernel (63-68% of peak) these layers ran at
// 0.55-0.8×. PyTorch was faster there than a direct convolution can be at the GEMM's peak: it
// does fewer multiplications. With Winograd's F(2×2, 3×3) for those layers' forward and input
// gradient, on 2 Zen 4 cores (BENCHMARKS.md) the four stride-1 3×3 layers went from
// 0.77-1.18× to 1.01-1.19× forward + backward.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../../core/parallel.hpp"
#include "../../core/tensor.hpp"
#include "depthwise.hpp"
#include "gemm.hpp"
#include "im2col.hpp"
#include "scratch.hpp"
#include "winograd.hpp"

namespace lacoot::backend::cpu {

// How the kernels group images (see the header comment). The defaults were measured with
// tools/bench_ops.cpp; the tests change them to walk every path.
struct ConvTuning {
  int64_t target_columns = 256;                   // aim for GEMMs at least this wide
  int64_t task_buffer_bytes = int64_t{8} << 20;   // column buffer per task
  int64_t min_parallel_tasks = 2;                 // fewer tasks: split each one over threads
  // Weight gradients up to this size use slots (each extra slot holds a copy of dw). 4 MiB
  // sends ResNet-18's layer3 (1.2 and 2.4 MB weights) to slots: their weight gradients took
  // 4.9 and 9.1 ms there against 5.8 and 9.7 ms chunked (2 threads, batch 128, sgemm.hpp).
  int64_t weight_slot_bytes = int64_t{4} << 20;
  int64_t weight_slots = 8;                       // ... this many (a power of two: even shares)
  int64_t chunk_buffer_bytes = int64_t{16} << 20; // columns per chunk, larger weight gradients
  // The weight gradient from channels-last patches (see conv2d_backward_weight): for one group
  // of at least this many channels, and, if patches_in_place_only, only where the GEMM reads
  // the patches in place (float32, few output channels: sgemm.hpp).
  int64_t patches_min_channels = 16;
  bool patches_in_place_only = true;
  // Stride-1 3×3 convolutions with at least this many input and output channels go by
  // Winograd's F(2×2, 3×3) (winograd.hpp), forward and input gradient.
  int64_t winograd_min_channels = 32;
};
inline ConvTuning& conv_tuning() {
  static ConvTuning tuning;
  return tuning;
}

namespace detail {

struct ConvScratch;  // the family tag of the convolution's two buffers per thread: columns, and an
                    // output or gradient in column layout (at most task_buffer_bytes or
                    // chunk_buffer_bytes each)

// Images per task, of N, each giving `columns` columns of `column_bytes`: enough columns for an
// efficient product, within the task's buffer.
inline int64_t images_per_task(int64_t N, int64_t columns, int64_t column_bytes) {
  const int64_t P = std::max<int64_t>(columns, 1);
  const ConvTuning& tuning = conv_tuning();
  int64_t m = (tuning.target_columns + P - 1) / P;
  m = std::min(m, tuning.task_buffer_bytes / std::max<int64_t>(1, column_bytes * P));
  return std::clamp<int64_t>(m, 1, std::max<int64_t>(N, 1));
}
// ... for im2col: a column of rows() values per output position.
inline int64_t images_per_task(const ConvShape& s, int64_t elem_bytes) {
  return images_per_task(s.N, s.P(), s.rows() * elem_bytes);
}

// Calls task(n0, m, parallel, cols_buf, aux_buf) for the groups of `per` images covering the
// batch: one group per thread at a time (parallel = false), or, with few groups, one after the
// other with parallel = true (the task then splits its own work over the threads).
template <class T, class Task>
void for_each_task(int64_t N, int64_t per, Task&& task) {
  const int64_t tasks = (N + per - 1) / per;
  auto run = [&](int64_t t0, int64_t t1, bool parallel) {
    Scratch<T>& cols_buf = thread_scratch<ConvScratch, T>(0);
    Scratch<T>& aux_buf = thread_scratch<ConvScratch, T>(1);
    for (int64_t t = t0; t < t1; ++t)
      task(t * per, std::min(per, N - t * per), parallel, cols_buf, aux_buf);
  };
  if (tasks >= conv_tuning().min_parallel_tasks)
    parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) { run(t0, t1, false); });
  else
    run(0, tasks, true);
}

// The weight of every group as the GEMM's left operand op(w_g) (w_g itself [Og, Kg] for the
// forward, w_gᵀ for the input gradient), packed once per call on all threads, in the layout
// sgemm reads (sgemm_pack_a): every task multiplies by the same weight, and packing it again
// per task cost 5-10 % of a 3×3 layer. Null where the GEMM is not sgemm (float64, or a build
// without AVX2 + FMA): that GEMM packs as it goes.
template <class T>
struct PackedWeight {
  const T* data = nullptr;  // null: not packed
  int64_t group_stride = 0;
  const T* group(int64_t g) const { return data ? data + g * group_stride : nullptr; }
};
template <class T>
PackedWeight<T> pack_weight(const T* w, const ConvShape& s, bool transposed) {
#if defined(__AVX2__) && defined(__FMA__)
  if constexpr (std::is_same_v<T, float>) {
    const int64_t Og = s.Og(), Kg = s.Kg();
    const int64_t M = transposed ? Kg : Og, K = transposed ? Og : Kg;
    const int64_t size = sgemm_packed_a_size(M, K);
    float* packed = thread_scratch<ConvScratch, float>(2).get(size * s.groups);
    for (int64_t g = 0; g < s.groups; ++g)
      sgemm_pack_a(transposed, M, K, w + g * Og * Kg, Kg, packed + g * size, true);
    return {packed, size};
  }
#endif
  (void)w, (void)s, (void)transposed;
  return {};
}

// C = alpha · op(A) · op(B) + beta · C on this thread or, if `parallel`, on all of them.
// packed_a: op(A) from pack_weight (PackedWeight::group), or null.
template <class T>
void gemm_on(bool parallel, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
             const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc,
             const T* packed_a = nullptr) {
#if defined(__AVX2__) && defined(__FMA__)
  if constexpr (std::is_same_v<T, float>)
    if (packed_a)
      return sgemm(trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc,
                   parallel && M * N * K >= kGemmSerialWork, packed_a);
#endif
  (void)packed_a;
  (parallel ? gemm<T> : gemm_serial<T>)(trans_a, trans_b, M, N, K, T(1), A, lda, B, ldb, beta, C, ldc);
}

struct WinogradScratch;  // the Winograd path's buffers: the transformed filters (on the calling
                        // thread), and each task's images and outputs channels last

// out [N, s.O, Ho, Wo] = conv(x [N, s.C, H, W]) by Winograd's F(2×2, 3×3) (winograd.hpp), with
// the filters as winograd_weights reads them (flip: the input gradient's) and bias b (or null).
// Tasks of images as for im2col: each puts its images channels last, transforms them, runs the
// 16 products M[ξ] [tiles, O] = V[ξ] [tiles, C] · U[ξ]ᵀ (U[ξ] [O, C]), transforms their outputs and
// puts them back in NCHW, in that core's cache.
template <class T>
void winograd_conv(const T* x, const T* w, bool flip, const T* b, const ConvShape& s, T* out) {
  const int64_t C = s.C, O = s.O, tiles = winograd_tiles(s).count(), HW = s.H * s.W, P = s.P();
  const int64_t plane = winograd_plane(O, C);
  T* U = thread_scratch<WinogradScratch, T>(0).get(16 * plane);
  winograd_weights(w, O, C, flip, U);
  const std::vector<T> zeros(static_cast<std::size_t>(C), T(0));
  // A column per tile: 16 values per channel of the larger side in V or M.
  const int64_t per = images_per_task(s.N, tiles, 16 * std::max(C, O) * int64_t(sizeof(T)));
  for_each_task<T>(s.N, per, [&](int64_t n0, int64_t m, bool parallel, Scratch<T>& v_buf, Scratch<T>& m_buf) {
    const int64_t ld = m * tiles;
    T* x_cl = thread_scratch<WinogradScratch, T>(2).get(m * C * HW);
    T* y_cl = thread_scratch<WinogradScratch, T>(3).get(m * O * P);
    const int64_t v_plane = winograd_plane(ld, C), m_plane = winograd_plane(ld, O);
    T* V = v_buf.get(16 * v_plane);
    T* M = m_buf.get(16 * m_plane);
    auto inputs = [&](int64_t i0, int64_t i1) {
      to_channels_last(x + (n0 + i0) * C * HW, i1 - i0, C, HW, x_cl + i0 * C * HW);
      winograd_inputs(x_cl + i0 * C * HW, i1 - i0, s, zeros.data(), V + i0 * tiles * C, ld);
    };
    if (parallel) parallel_for(m, 1, inputs);
    else inputs(0, m);
    for (int xi = 0; xi < 16; ++xi)
      gemm_on(parallel, false, true, ld, O, C, V + xi * v_plane, C, U + xi * plane, C, T(0), M + xi * m_plane, O);
    auto outputs = [&](int64_t i0, int64_t i1) {
      winograd_outputs(M + i0 * tiles * O, i1 - i0, s, ld, b, y_cl + i0 * O * P);
      to_channels_last(y_cl + i0 * O * P, i1 - i0, P, O, out + (n0 + i0) * O * P);  // [P, O] -> [O, P]
    };
    if (parallel) parallel_for(m, 1, outputs);
    else outputs(0, m);
  });
}

}  // namespace detail

// ---- forward ----

// out [N, O, Ho, Wo] = conv(x [N, C, H, W], w [O, C/groups, kh, kw]) + b [O] (b may be null).
template <class T>
void conv2d_forward(const T* x, const T* w, const T* b, const ConvShape& s, T* out) {
  if (s.depthwise()) return depthwise_forward(x, w, b, s, out);
  if (winograd_applies(s, conv_tuning().winograd_min_channels)) return detail::winograd_conv(x, w, false, b, s, out);
  const int64_t P = s.P(), O = s.O, Og = s.Og(), Kg = s.Kg(), CHW = s.C * s.H * s.W;
  const Im2col im2col(s);
  const detail::PackedWeight<T> packed = detail::pack_weight(w, s, false);
  detail::for_each_task<T>(s.N, detail::images_per_task(s, sizeof(T)), [&](
      int64_t n0, int64_t m, bool parallel, Scratch<T>& cols_buf, Scratch<T>& y_buf) {
    const int64_t ld = m * P;
    const T* cols = x + n0 * CHW;  // a pointwise conv reads the image itself
    if (!(s.pointwise() && m == 1)) {
      T* c = cols_buf.get(s.rows() * ld);
      im2col.columns(x + n0 * CHW, m, c, parallel);
      cols = c;
    }
    // One image: the GEMM adds onto out[n] in place, filled with the bias first. Several:
    // the product y [O, m·P] is scattered to out[n0 .. n0 + m) with the bias added.
    T* y = m == 1 ? out + n0 * O * P : y_buf.get(O * ld);
    if (m == 1)
      for (int64_t o = 0; o < O; ++o) std::fill_n(y + o * P, P, b ? b[o] : T(0));
    for (int64_t g = 0; g < s.groups; ++g)  // y_g = w_g [Og, Kg] · cols_g [Kg, m·P]
      detail::gemm_on(parallel, false, false, Og, ld, Kg, w + g * Og * Kg, Kg, cols + g * Kg * ld,
                      ld, T(m == 1), y + g * Og * ld, ld, packed.group(g));
    if (m == 1) return;
    auto scatter = [&](int64_t i0, int64_t i1) {
      for (int64_t n = i0; n < i1; ++n)
        for (int64_t o = 0; o < O; ++o) {
          const T* src = y + o * ld + n * P;
          T* dst = out + ((n0 + n) * O + o) * P;
          const T bias = b ? b[o] : T(0);
          for (int64_t p = 0; p < P; ++p) dst[p] = src[p] + bias;
        }
    };
    if (parallel) parallel_for(m, 1, scatter);
    else scatter(0, m);
  });
}

// ---- backward ----
// Each kernel overwrites its output (dx, dw, db); the autograd engine sums contributions.

// dx [N, C, H, W] from dout [N, O, Ho, Wo]: dcols = wᵀ · dout per group, then col2im.
template <class T>
void conv2d_backward_input(const T* dout, const T* w, const ConvShape& s, T* dx) {
  if (s.depthwise()) return depthwise_backward_input(dout, w, s, dx);
  if (winograd_applies(s, conv_tuning().winograd_min_channels)) {
    // A stride-1 convolution of dout with the filters turned and transposed (winograd.hpp).
    ConvShape t = s;
    t.C = s.O, t.O = s.C, t.H = s.Ho, t.W = s.Wo, t.Ho = s.H, t.Wo = s.W, t.ph = 2 - s.ph, t.pw = 2 - s.pw;
    return detail::winograd_conv(dout, w, true, static_cast<const T*>(nullptr), t, dx);
  }
  const int64_t P = s.P(), O = s.O, Og = s.Og(), Kg = s.Kg(), CHW = s.C * s.H * s.W;
  const Im2col im2col(s);
  const detail::PackedWeight<T> packed = detail::pack_weight(w, s, true);
  detail::for_each_task<T>(s.N, detail::images_per_task(s, sizeof(T)), [&](
      int64_t n0, int64_t m, bool parallel, Scratch<T>& cols_buf, Scratch<T>& g_buf) {
    const int64_t ld = m * P;
    T* dx_n = dx + n0 * CHW;
    const T* g = dout + n0 * O * P;  // the gradient as columns [O, m·P]: for one image, it is
    if (m > 1) {
      T* gb = g_buf.get(O * ld);
      images_to_columns(g, m, O, P, gb, parallel);
      g = gb;
    }
    if (s.pointwise() && m == 1) {  // dx[n] = wᵀ · dout[n], no col2im
      for (int64_t gr = 0; gr < s.groups; ++gr)
        detail::gemm_on(parallel, true, false, Kg, P, Og, w + gr * Og * Kg, Kg, g + gr * Og * P, P,
                        T(0), dx_n + gr * Kg * P, P, packed.group(gr));
      return;
    }
    T* dcols = cols_buf.get(s.rows() * ld);
    for (int64_t gr = 0; gr < s.groups; ++gr)  // dcols_g [Kg, m·P] = w_gᵀ · dout_g
      detail::gemm_on(parallel, true, false, Kg, ld, Og, w + gr * Og * Kg, Kg, g + gr * Og * ld, ld,
                      T(0), dcols + gr * Kg * ld, ld, packed.group(gr));
    std::fill_n(dx_n, m * CHW, T(0));
    im2col.add_back(dcols, m, dx_n, parallel);
  });
}

// dw [O, C/groups, kh, kw] = Σ over images of dout_g · cols_gᵀ. A sum over the whole batch,
// shared out in one of two ways, each with a fixed order of additions:
//  - a small weight (up to weight_slot_bytes: early layers) gets weight_slots private sums:
//    slot k sums a fixed run of tasks on one thread, im2col and GEMM staying in that core's
//    cache, and the slots are added in order at the end;
//  - a large weight (late layers, where adding up copies would cost more than it saves) is
//    summed over chunks of images in order (columns up to chunk_buffer_bytes), each chunk's
//    product split over the threads by gemm().
//
// One group of patches_min_channels or more takes the patches of im2col.hpp (rows, built from
// the images channels-last) instead of the columns: the GEMM then reads its right operand as
// it lies, where colsᵀ had to be transposed into its panels, and the sums come out as
// [O, kh, kw, C], put in dw's order once at the end. On 2 Sapphire Rapids cores (batch 128)
// this took the weight gradient of the 128-channel 3×3 layer at 8×8 from 9.5-9.6 ms to
// 8.6-8.7 ms; with more output channels, where sgemm packs its right operand anyway, the
// columns stayed faster (256 at 4×4: 8.2 against 8.5 ms).
namespace detail {
template <class T>
bool weight_from_patches(const ConvShape& s) {
  const ConvTuning& tuning = conv_tuning();
  if (s.groups != 1 || s.pointwise() || s.C < tuning.patches_min_channels) return false;
  if (!tuning.patches_in_place_only) return true;
#if defined(__AVX2__) && defined(__FMA__)
  if constexpr (std::is_same_v<T, float>) return s.O <= kSgemmInPlaceRows;
#endif
  return false;
}
}  // namespace detail

template <class T>
void conv2d_backward_weight(const T* dout, const T* x, const ConvShape& s, T* dw) {
  if (s.depthwise()) return depthwise_backward_weight(dout, x, s, dw);
  const int64_t P = s.P(), O = s.O, Og = s.Og(), Kg = s.Kg(), CHW = s.C * s.H * s.W;
  const Im2col im2col(s);
  if (s.N == 0) std::fill_n(dw, O * Kg, T(0));
  const bool channels_last = detail::weight_from_patches<T>(s);
  // target (+)= Σ over images [n0, n0 + m) of dout_g · cols_gᵀ for every group g (beta = 0
  // overwrites target); channels last: target [O, kh, kw, C] (+)= dout · patches.
  auto add_images = [&](int64_t n0, int64_t m, T beta, T* target, Scratch<T>& cols_buf,
                        Scratch<T>& g_buf, bool parallel) {
    const int64_t ld = m * P;
    const T* g = dout + n0 * O * P;
    if (m > 1) {
      T* gb = g_buf.get(O * ld);
      images_to_columns(g, m, O, P, gb, parallel);
      g = gb;
    }
    if (channels_last) {
      T* x_cl = thread_scratch<detail::ConvScratch, T>(3).get(m * CHW);
      T* patches = cols_buf.get(ld * Kg);
      auto build = [&](int64_t i0, int64_t i1) {
        to_channels_last(x + (n0 + i0) * CHW, i1 - i0, s.C, s.H * s.W, x_cl + i0 * CHW);
        patches_channels_last(x_cl + i0 * CHW, i1 - i0, s, patches + i0 * P * Kg);
      };
      if (parallel) parallel_for(m, 1, build);
      else build(0, m);
      detail::gemm_on(parallel, false, false, O, Kg, ld, g, ld, patches, Kg, beta, target, Kg);
      return;
    }
    const T* cols = x + n0 * CHW;
    if (!(s.pointwise() && m == 1)) {
      T* c = cols_buf.get(s.rows() * ld);
      im2col.columns(x + n0 * CHW, m, c, parallel);
      cols = c;
    }
    for (int64_t gr = 0; gr < s.groups; ++gr)  // dw_g [Og, Kg] (+)= dout_g [Og, m·P] · cols_gᵀ
      detail::gemm_on(parallel, false, true, Og, Kg, ld, g + gr * Og * ld, ld, cols + gr * Kg * ld,
                      ld, beta, target + gr * Og * Kg, Kg);
  };

  // Channels last, the sums go to `sums` [O, kh, kw, C] and are put in dw's order at the end.
  const int64_t taps = s.kh * s.kw;
  auto to_weight_order = [&](const T* sums) {
    parallel_for(O, 1, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o)
        for (int64_t c = 0; c < s.C; ++c)
          for (int64_t t = 0; t < taps; ++t) dw[(o * s.C + c) * taps + t] = sums[(o * taps + t) * s.C + c];
    });
  };

  const ConvTuning& tuning = conv_tuning();
  if (O * Kg * static_cast<int64_t>(sizeof(T)) <= tuning.weight_slot_bytes) {
    const int64_t per = detail::images_per_task(s, sizeof(T)), tasks = (s.N + per - 1) / per;
    const int64_t slots = std::min(tasks, std::max<int64_t>(1, tuning.weight_slots));
    // Slot 0 sums into dw itself, unless its sums need reordering.
    const int64_t own = channels_last ? 0 : 1;
    // Uninitialised (each slot's first product overwrites) and kept between calls: a fresh
    // zeroed vector cost its megabytes' page faults and memset on every call.
    T* partial = thread_scratch<detail::ConvScratch, T>(2).get(std::max<int64_t>(slots - own, 1) * O * Kg);
    auto slot_sums = [&](int64_t k) { return k < own ? dw : partial + (k - own) * O * Kg; };
    parallel_for(slots, 1, [&](int64_t k0, int64_t k1) {
      Scratch<T>& cols_buf = thread_scratch<detail::ConvScratch, T>(0);
      Scratch<T>& g_buf = thread_scratch<detail::ConvScratch, T>(1);
      for (int64_t k = k0; k < k1; ++k) {
        const int64_t first = tasks * k / slots, last = tasks * (k + 1) / slots;
        for (int64_t t = first; t < last; ++t)
          add_images(t * per, std::min(per, s.N - t * per), T(t == first ? 0 : 1), slot_sums(k),
                     cols_buf, g_buf, false);
      }
    });
    T* total = slot_sums(0);
    parallel_for(O * Kg, 1 << 14, [&](int64_t i0, int64_t i1) {
      for (int64_t k = 1; k < slots; ++k) {  // in slot order
        const T* p = slot_sums(k);
        for (int64_t i = i0; i < i1; ++i) total[i] += p[i];
      }
    });
    if (channels_last) to_weight_order(total);
    return;
  }
  const int64_t per = std::clamp<int64_t>(
      tuning.chunk_buffer_bytes / std::max<int64_t>(1, s.rows() * P * int64_t(sizeof(T))), 1, s.N);
  Scratch<T>& cols_buf = thread_scratch<detail::ConvScratch, T>(0);
  Scratch<T>& g_buf = thread_scratch<detail::ConvScratch, T>(1);
  std::vector<T> sums(static_cast<std::size_t>(channels_last ? O * Kg : 0));
  T* target = channels_last ? sums.data() : dw;
  for (int64_t n0 = 0; n0 < s.N; n0 += per)
    add_images(n0, std::min(per, s.N - n0), T(n0 == 0 ? 0 : 1), target, cols_buf, g_buf, true);
  if (channels_last && s.N > 0) to_weight_order(target);
}

// db [O] = Σ over images and positions of dout [N, O, P]; parallel over channels, images in
// order.
template <class T>
void conv2d_backward_bias(const T* dout, const ConvShape& s, T* db) {
  const int64_t P = s.P();
  parallel_for(s.O, 1, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      T acc = 0;
      for (int64_t n = 0; n < s.N; ++n) acc += detail::sum(dout + (n * s.O + o) * P, P);
      db[o] = acc;
    }
  });
}

}  // namespace lacoot::backend::cpu

// lacoot/backend/cpu/conv.hpp — 2-D convolution on the CPU: im2col + GEMM.
//
// Holds: the kernels conv2d_forward, conv2d_backward_input, conv2d_backward_weight and
// conv2d_backward_bias, and ConvTuning (how they group images).
// Needs: im2col.hpp (ConvShape, Im2col), gemm.hpp, depthwise.hpp (groups == C == O goes there).
// Leaves out: argument checking (ops/conv.hpp does it), transposed convolutions, Winograd/FFT.
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
// Measured with tools/bench_ops_torch.py (2 Sapphire Rapids cores, batch 128, ResNet-18-CIFAR
// shapes): the float32 GEMMs (sgemm.hpp) run at 185-205 GFLOP/s per core on these shapes,
// 80-85% of the FMA peak, and im2col, packing and scatter bring the 3×3 layers to 240-270
// GFLOP/s forward + backward on the two cores. Against PyTorch 1.13 (oneDNN, up to 87% of
// peak) that is 0.7-0.95× on the 3×3 layers at 16 to 4 pixels (the 4×4 layer, 256 channels,
// is the slowest), faster on the stem, the 2×2 layers and the 1×1 downsamples. With Eigen
// 3.4's kernel (63-68% of peak) these layers ran at 0.55-0.8×.
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
};
inline ConvTuning& conv_tuning() {
  static ConvTuning tuning;
  return tuning;
}

namespace detail {

struct ConvScratch;  // the family tag of the convolution's two buffers per thread: columns, and an
                    // output or gradient in column layout (at most task_buffer_bytes or
                    // chunk_buffer_bytes each)

// Images per task: enough columns for an efficient product, within the task's buffer.
inline int64_t images_per_task(const ConvShape& s, int64_t elem_bytes) {
  const int64_t P = std::max<int64_t>(s.P(), 1);
  const ConvTuning& tuning = conv_tuning();
  int64_t m = (tuning.target_columns + P - 1) / P;
  m = std::min(m, tuning.task_buffer_bytes / std::max<int64_t>(1, s.rows() * P * elem_bytes));
  return std::clamp<int64_t>(m, 1, std::max<int64_t>(s.N, 1));
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

// C = alpha · op(A) · op(B) + beta · C on this thread or, if `parallel`, on all of them.
template <class T>
void gemm_on(bool parallel, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
             const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  (parallel ? gemm<T> : gemm_serial<T>)(trans_a, trans_b, M, N, K, T(1), A, lda, B, ldb, beta, C, ldc);
}

}  // namespace detail

// ---- forward ----

// out [N, O, Ho, Wo] = conv(x [N, C, H, W], w [O, C/groups, kh, kw]) + b [O] (b may be null).
template <class T>
void conv2d_forward(const T* x, const T* w, const T* b, const ConvShape& s, T* out) {
  if (s.depthwise()) return depthwise_forward(x, w, b, s, out);
  const int64_t P = s.P(), O = s.O, Og = s.Og(), Kg = s.Kg(), CHW = s.C * s.H * s.W;
  const Im2col im2col(s);
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
                      ld, T(m == 1), y + g * Og * ld, ld);
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
  const int64_t P = s.P(), O = s.O, Og = s.Og(), Kg = s.Kg(), CHW = s.C * s.H * s.W;
  const Im2col im2col(s);
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
                        T(0), dx_n + gr * Kg * P, P);
      return;
    }
    T* dcols = cols_buf.get(s.rows() * ld);
    for (int64_t gr = 0; gr < s.groups; ++gr)  // dcols_g [Kg, m·P] = w_gᵀ · dout_g
      detail::gemm_on(parallel, true, false, Kg, ld, Og, w + gr * Og * Kg, Kg, g + gr * Og * ld, ld,
                      T(0), dcols + gr * Kg * ld, ld);
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
template <class T>
void conv2d_backward_weight(const T* dout, const T* x, const ConvShape& s, T* dw) {
  if (s.depthwise()) return depthwise_backward_weight(dout, x, s, dw);
  const int64_t P = s.P(), O = s.O, Og = s.Og(), Kg = s.Kg(), CHW = s.C * s.H * s.W;
  const Im2col im2col(s);
  if (s.N == 0) std::fill_n(dw, O * Kg, T(0));
  // target (+)= Σ over images [n0, n0 + m) of dout_g · cols_gᵀ for every group g (beta = 0
  // overwrites target).
  auto add_images = [&](int64_t n0, int64_t m, T beta, T* target, Scratch<T>& cols_buf,
                        Scratch<T>& g_buf, bool parallel) {
    const int64_t ld = m * P;
    const T* cols = x + n0 * CHW;
    if (!(s.pointwise() && m == 1)) {
      T* c = cols_buf.get(s.rows() * ld);
      im2col.columns(x + n0 * CHW, m, c, parallel);
      cols = c;
    }
    const T* g = dout + n0 * O * P;
    if (m > 1) {
      T* gb = g_buf.get(O * ld);
      images_to_columns(g, m, O, P, gb, parallel);
      g = gb;
    }
    for (int64_t gr = 0; gr < s.groups; ++gr)  // dw_g [Og, Kg] (+)= dout_g [Og, m·P] · cols_gᵀ
      detail::gemm_on(parallel, false, true, Og, Kg, ld, g + gr * Og * ld, ld, cols + gr * Kg * ld,
                      ld, beta, target + gr * Og * Kg, Kg);
  };

  const ConvTuning& tuning = conv_tuning();
  if (O * Kg * static_cast<int64_t>(sizeof(T)) <= tuning.weight_slot_bytes) {
    const int64_t per = detail::images_per_task(s, sizeof(T)), tasks = (s.N + per - 1) / per;
    const int64_t slots = std::min(tasks, std::max<int64_t>(1, tuning.weight_slots));
    std::vector<T> partial(static_cast<std::size_t>(std::max<int64_t>(slots - 1, 0) * O * Kg));
    parallel_for(slots, 1, [&](int64_t k0, int64_t k1) {
      Scratch<T>& cols_buf = thread_scratch<detail::ConvScratch, T>(0);
      Scratch<T>& g_buf = thread_scratch<detail::ConvScratch, T>(1);
      for (int64_t k = k0; k < k1; ++k) {
        T* target = k == 0 ? dw : partial.data() + (k - 1) * O * Kg;
        const int64_t first = tasks * k / slots, last = tasks * (k + 1) / slots;
        for (int64_t t = first; t < last; ++t)
          add_images(t * per, std::min(per, s.N - t * per), T(t == first ? 0 : 1), target,
                     cols_buf, g_buf, false);
      }
    });
    parallel_for(O * Kg, 1 << 14, [&](int64_t i0, int64_t i1) {
      for (int64_t k = 1; k < slots; ++k) {  // in slot order
        const T* p = partial.data() + (k - 1) * O * Kg;
        for (int64_t i = i0; i < i1; ++i) dw[i] += p[i];
      }
    });
    return;
  }
  const int64_t per = std::clamp<int64_t>(
      tuning.chunk_buffer_bytes / std::max<int64_t>(1, s.rows() * P * int64_t(sizeof(T))), 1, s.N);
  Scratch<T>& cols_buf = thread_scratch<detail::ConvScratch, T>(0);
  Scratch<T>& g_buf = thread_scratch<detail::ConvScratch, T>(1);
  for (int64_t n0 = 0; n0 < s.N; n0 += per)
    add_images(n0, std::min(per, s.N - n0), T(n0 == 0 ? 0 : 1), dw, cols_buf, g_buf, true);
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

// lacoot/backend/cuda/kernels.hpp — the CUDA kernels' entry points, as plain C++ declarations.
//
// Holds: the host functions that launch lacoot's own kernels on a stream. Any translation unit
// may call them; their definitions are in kernels.cuh, compiled in exactly one CUDA translation
// unit of the program that defines LACOOT_CUDA_IMPLEMENTATION first (the single-header
// convention; this project's is tools/lacoot_cuda.cu):
//
//   #define LACOOT_CUDA_IMPLEMENTATION
//   #include <lacoot/backend/cuda/kernels.cuh>
//
// Needs: core/dtype.hpp, core/host_device.hpp (LACOOT_HD), backend/formulas.hpp (fn::Op), the
// CUDA runtime API.
// Leaves out: cuBLAS and cuDNN, which plain C++ calls directly.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "../../core/dtype.hpp"
#include "../../core/host_device.hpp"
#include "../../core/rng.hpp"
#include "../formulas.hpp"
#include "../optim_formulas.hpp"

namespace lacoot::cuda::kernels {

inline constexpr int kMaxDims = 8;

// Up to three inputs broadcast to an output of `nd` dimensions (NumPy's rules, as
// backend/cpu/elementwise.hpp): stride[k][d] steps input k along output dimension d, 0 where
// it is broadcast. `same`: every input has the output's shape (one flat loop).
struct Broadcast {
  int nd = 0;
  bool same = true;
  int64_t n = 0;  // output elements
  int64_t shape[kMaxDims] = {};
  int64_t stride[3][kMaxDims] = {};
};

// A gradient g of `nd` dimensions summed down to a broadcast operand's shape: each output
// element sums the elements of g at its index in the kept dimensions (out_shape, g_stride) and
// at every index of the reduced ones (reduced_size, reduced_stride: g's strides there).
struct SumTo {
  int nd = 0, nr = 0;
  int64_t n_out = 0;
  int64_t out_shape[kMaxDims] = {};
  int64_t g_stride[kMaxDims] = {};
  int64_t reduced_size[kMaxDims] = {};
  int64_t reduced_stride[kMaxDims] = {};
};

// A strided copy: for every multi-index k of `extent` (nd ≤ kMaxDims dims, n elements),
// dst[dst_base + Σ k_d · dst_stride[d]] = src[src_base + Σ k_d · src_stride[d]], in elements.
// permute (permuted strides), expand (stride 0) and the boxes of cat, narrow, slice, pad and
// roll are all such copies.
struct Strided {
  int nd = 0;
  int64_t n = 0;
  int64_t extent[kMaxDims] = {};
  int64_t src_base = 0, dst_base = 0;
  int64_t src_stride[kMaxDims] = {};
  int64_t dst_stride[kMaxDims] = {};
};

// dst[i] = value for i < n (value converted to dtype), on `stream`.
void fill(void* dst, DType dtype, int64_t n, double value, cudaStream_t stream);
// The strided copy of `layout` for elements of dtype (any dtype).
void copy_strided(const void* src, void* dst, DType dtype, const Strided& layout, cudaStream_t stream);
// dst[i] = static_cast<dst_dtype>(src[i]) for i < n, on `stream`.
void cast(void* dst, DType dst_dtype, const void* src, DType src_dtype, int64_t n, cudaStream_t stream);

// out[i] = f(x[i]) for the unary formula `op` with parameters p0, p1 (float32 and float64).
void unary(fn::Op op, double p0, double p1, const void* x, void* out, DType dtype, int64_t n, cudaStream_t stream);
// out = f(a, b) broadcast (`layout`, inputs 0 and 1): the arithmetic and comparisons for every
// dtype, the activations' backward formulas (g, s) for float32 and float64.
void binary(fn::Op op, double p0, double p1, const void* a, const void* b, void* out, DType dtype,
            const Broadcast& layout, cudaStream_t stream);
// out = c != 0 ? a : b broadcast (inputs 0, 1, 2 of `layout`), c of the same dtype as a and b.
void where(const void* c, const void* a, const void* b, void* out, DType dtype, const Broadcast& layout,
           cudaStream_t stream);
// out = g summed over the broadcast dimensions (float32 and float64; sums in float64).
void sum_to(const void* g, void* out, DType dtype, const SumTo& layout, cudaStream_t stream);

// ---- reductions, softmax and the class losses (reduce_kernels.cuh) ----
// A tensor reduced along one dim is seen as [outer, size, inner] around it: line (o, i) holds
// the `size` elements x[(o · size + j) · inner + i]. Sums are in float64, each in an order
// that depends on the shapes alone, so results are the same from run to run.

// out[j] = scale · Σ x over the elements that SumTo's layout sends to output j or, with
// `center` (float64, one per output), scale · Σ (x − center[j])². x has `dtype` (float32 or
// float64); out has `out_dtype`, which is dtype or float64.
void sum(const void* x, const double* center, double scale, void* out, DType dtype, DType out_dtype,
         const SumTo& layout, cudaStream_t stream);
// The best element of each line (size ≥ 1) and its first index: the largest for `largest`,
// else the smallest; NaN beats every number (PyTorch's max and min).
void arg_reduce(bool largest, const void* x, void* values, int64_t* indices, DType dtype, int64_t outer,
                int64_t size, int64_t inner, cudaStream_t stream);
// grad_input ([outer, size, inner]) = 0 except grad_input[o, indices[o, i], i] = g[o, i].
void scatter_picked(const void* g, const int64_t* indices, void* grad_input, DType dtype, int64_t outer,
                    int64_t size, int64_t inner, cudaStream_t stream);
// grad_input[j] = g / k where x[j] equals v (NaN matching NaN), 0 elsewhere, k the number of
// such j: the gradient of max(x) and min(x) over all n elements. v and g are device scalars,
// count one float64 of device memory the kernels use for k.
void distribute_evenly(const void* x, int64_t n, const void* v, const void* g, double* count, void* grad_input,
                       DType dtype, cudaStream_t stream);
// softmax (or log_softmax when `log`) of every line, and the backward pass from its output y
// and the gradient g (ops/softmax.hpp has the formulas).
void softmax(bool log, const void* x, void* y, DType dtype, int64_t outer, int64_t size, int64_t inner,
             cudaStream_t stream);
void softmax_backward(bool log, const void* y, const void* g, void* dx, DType dtype, int64_t outer, int64_t size,
                      int64_t inner, cudaStream_t stream);
// loss[n] = a · (−logp[n, t]) + b · (−Σ_c logp[n, c]) with t = target[n], 0 where t is
// ignore_index: cross_entropy's and nll_loss's per-sample terms (logp [N, C]).
void class_loss_terms(const void* logp, const int64_t* target, int64_t N, int64_t C, int64_t ignore_index,
                      double a, double b, void* loss, DType dtype, cudaStream_t stream);
// Their gradient, as backend/cpu/loss.hpp's class_loss_backward (g: N values when
// per_sample, else one).
void class_loss_backward(const void* logp, const int64_t* target, int64_t N, int64_t C, int64_t ignore_index,
                         const void* g, bool per_sample, double a, double b, bool logits, void* dx, DType dtype,
                         cudaStream_t stream);

// ---- pooling (pool_kernels.cuh) ----
// `planes` independent H×W planes pooled to Ho×Wo, as backend/cpu/pooling.hpp's Pool2dShape:
// kernel kh×kw, stride (sh, sw), padding (ph, pw), dilation (dh, dw). Each kernel computes
// what the CPU loop computes, in the same order, so results agree to the bit: the forward
// passes take one thread per output, the backward passes one thread per input element, which
// sums the outputs whose windows hold it in output order (no atomic additions).
struct PoolGeometry {
  int64_t planes = 0, H = 0, W = 0, Ho = 0, Wo = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

// out = the window maxima (the first in row-major order on ties, a NaN taking over), indices
// (may be null) = their positions h·W + w in the plane; dx = g gathered back to those positions.
void max_pool2d_forward(const void* x, void* out, int64_t* indices, DType dtype, const PoolGeometry& s,
                        cudaStream_t stream);
void max_pool2d_backward(const void* g, const int64_t* indices, void* dx, DType dtype, const PoolGeometry& s,
                         cudaStream_t stream);
// Average pooling (divisor_override 0: none) and adaptive average pooling to Ho×Wo.
void avg_pool2d_forward(const void* x, void* out, DType dtype, const PoolGeometry& s, bool count_include_pad,
                        int64_t divisor_override, cudaStream_t stream);
void avg_pool2d_backward(const void* g, void* dx, DType dtype, const PoolGeometry& s, bool count_include_pad,
                         int64_t divisor_override, cudaStream_t stream);
void adaptive_avg_pool2d_forward(const void* x, void* out, DType dtype, const PoolGeometry& s, cudaStream_t stream);
void adaptive_avg_pool2d_backward(const void* g, void* dx, DType dtype, const PoolGeometry& s, cudaStream_t stream);

// ---- normalisation (norm_kernels.cuh) ----
// batch norm over x [N, C, S] per channel, as backend/cpu/norm.hpp: the training forward writes
// y, the batch mean and invstd = 1 / √(var + eps) per channel and, when running_mean is not
// null, updates the running statistics with momentum; the evaluation forward takes mean and
// invstd from the running statistics. weight and bias may be null (1 and 0), and so may each
// gradient the backward pass is not asked for.
void batch_norm_forward_training(const void* x, const void* weight, const void* bias, double eps, double momentum,
                                 void* running_mean, void* running_var, void* y, void* mean, void* invstd,
                                 DType dtype, int64_t N, int64_t C, int64_t S, cudaStream_t stream);
void batch_norm_forward_eval(const void* x, const void* weight, const void* bias, const void* running_mean,
                             const void* running_var, double eps, void* y, void* mean, void* invstd, DType dtype,
                             int64_t N, int64_t C, int64_t S, cudaStream_t stream);
void batch_norm_backward(const void* g, const void* x, const void* weight, const void* mean, const void* invstd,
                         bool training, void* dx, void* dweight, void* dbias, DType dtype, int64_t N, int64_t C,
                         int64_t S, cudaStream_t stream);
// layer norm over `rows` rows of `cols` contiguous values.
void layer_norm_forward(const void* x, int64_t rows, int64_t cols, const void* weight, const void* bias, double eps,
                        void* y, void* mean, void* invstd, DType dtype, cudaStream_t stream);
void layer_norm_backward_input(const void* g, const void* x, int64_t rows, int64_t cols, const void* weight,
                               const void* mean, const void* invstd, void* dx, DType dtype, cudaStream_t stream);
void layer_norm_backward_params(const void* g, const void* x, int64_t rows, int64_t cols, const void* mean,
                                const void* invstd, void* dweight, void* dbias, DType dtype, cudaStream_t stream);

// ---- dropout (kernels.cuh) ----
// noise[i] = scale if gen.uniform(first + i) < keep_prob else 0, out[i] = x[i] · noise[i]:
// backend/cpu/activation.hpp's dropout_kernel, drawing the same numbers (core/rng.hpp).
void dropout(const void* x, void* out, void* noise, int64_t n, double keep_prob, double scale, const Generator& gen,
             uint64_t first, DType dtype, cudaStream_t stream);

// ---- 1-D optimal transport (ot_kernels.cuh) ----
inline constexpr int64_t kMaxOtPoints = 1024;  // points per sample the GPU kernel sorts in one block

// backend/cpu/wasserstein.hpp's wasserstein_1d_columns: W [K] = W_p^p of each column pair of
// U [n, K] and V [m, K] (a, b: weights or null for uniform) and, when gU is not null,
// gU = g_k ∂W_k/∂U, gV likewise; n, m ≤ kMaxOtPoints. scratch holds
// wasserstein_scratch_bytes(n, m, K, dtype) bytes of device memory.
std::size_t wasserstein_scratch_bytes(int64_t n, int64_t m, int64_t K, DType dtype);
void wasserstein_1d_columns(const void* U, const void* V, int64_t n, int64_t m, int64_t K, const void* a,
                            const void* b, double p, void* W, const void* g, void* gU, void* gV, void* scratch,
                            DType dtype, cudaStream_t stream);

// ---- indexing (index_kernels.cuh) ----
// backend/cpu/index.hpp's kernels, for every dtype; the index values are already checked to lie
// in range (ops/index.hpp does it on the host). Around the indexed dim a tensor is seen as
// [outer, size, inner]. Every output element is written by one thread; the adds take, for
// each output element, the list of what it receives (made on the host by
// backend/cuda/index.hpp) and add it in that order, the CPU loop's, so the sums equal the
// CPU's to the bit and do not depend on scheduling (no atomic additions).

// out [outer, k, inner] = x [outer, size, inner] at the positions index[0..k) of the middle dim.
void index_select(const void* x, int64_t outer, int64_t size, int64_t inner, const int64_t* index, int64_t k,
                  void* out, DType dtype, cudaStream_t stream);
// out [outer, size, inner] += src [outer, k, inner] at slots index[j] of the middle dim, where
// the j with index[j] = t are sources[begin[t] .. begin[t + 1]), increasing (begin: size + 1).
void index_add(void* out, int64_t outer, int64_t size, int64_t inner, const int64_t* begin, const int64_t* sources,
               int64_t k, const void* src, DType dtype, cudaStream_t stream);

// Where the positions of an index tensor land in a target tensor with as many dims (gather's
// input, scatter_add's output), as backend/cpu/index.hpp's IndexWalk: index position p, at
// coordinates c, holding value v, names the target element Σ_{e ≠ dim} c_e · target_stride[e]
// + v · target_stride[dim]. The index may be smaller than the target in every dim but dim.
struct IndexedAlong {
  int nd = 0, dim = 0;
  int64_t n = 0;  // index elements
  int64_t index_shape[kMaxDims] = {};
  int64_t target_stride[kMaxDims] = {};

  LACOOT_HD int64_t target(int64_t p, int64_t v) const {
    int64_t off = 0;
    for (int e = nd - 1; e >= 0; --e) {
      off += (e == dim ? v : p % index_shape[e]) * target_stride[e];
      p /= index_shape[e];
    }
    return off;
  }
};

// out[p] = x[layout.target(p, index[p])] for every index position p (out has the index's shape).
void gather(const void* x, const IndexedAlong& layout, const int64_t* index, void* out, DType dtype,
            cudaStream_t stream);
// out[e] += src[sources[q]] for q in [begin[e], begin[e + 1]), increasing, for every e < n_out:
// scatter_add, whose lists name the index positions p with target(p, index[p]) = e.
void scatter_add(void* out, int64_t n_out, const int64_t* begin, const int64_t* sources, const void* src,
                 DType dtype, cudaStream_t stream);

// ---- sorting (sort_kernels.cuh) ----
// backend/cpu/sort.hpp's topk_rows on `rows` contiguous rows of length n (float32, float64,
// int64): values and indices [rows, k] get the k smallest (or, with `largest`, largest)
// elements of each row and their positions, best first or, unless `sorted`, in input order.
// Stable, as the CPU: ties keep their input order, NaN sorts as the largest value, -0.0 ties
// with +0.0. A sort is the case k = n, sorted, with largest meaning descending. rows · n must
// be below 2^31 (CUB's segmented sort counts in int). scratch holds sort_scratch_bytes(...)
// bytes of device memory, 256-byte aligned.
std::size_t sort_scratch_bytes(int64_t rows, int64_t n, int64_t k, bool largest, bool sorted, DType dtype);
void topk_rows(const void* x, int64_t rows, int64_t n, int64_t k, bool largest, bool sorted, void* values,
               int64_t* indices, void* scratch, DType dtype, cudaStream_t stream);

// ---- optimiser updates (kernels.cuh) ----

// One SGD step on n elements (fn::SgdStep); buf is null without momentum, first says it is new.
void sgd_update(void* p, const void* grad, void* buf, bool first, int64_t n, DType dtype, const fn::SgdParams& o,
                cudaStream_t stream);
// One Adam or AdamW step on n elements (fn::AdamStep); vmax is null without amsgrad.
void adam_update(void* p, const void* grad, void* m, void* v, void* vmax, int64_t n, DType dtype,
                 const fn::AdamParams& c, cudaStream_t stream);

}  // namespace lacoot::cuda::kernels

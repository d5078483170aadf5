// lacoot/ops/matmul.hpp — matrix products: matmul and linear.
//
// Holds: matmul(a, b), as torch.matmul (1-D, 2-D and batched with broadcast batch dimensions),
// and linear(input, weight, bias), as torch.nn.functional.linear: input · weightᵀ + bias.
// Needs: ops/common.hpp, ops/elementwise.hpp (sum_to, for gradients of broadcast batches),
// backend/cpu/gemm.hpp (every product ends in one GEMM call or a batch of them); with CUDA,
// backend/cuda/blas.hpp (cuBLAS) for tensors on a GPU.
// Leaves out: integer matmul, out= arguments, and mm/bmm/mv/dot as separate names (matmul
// covers them all).
//
// Backward follows autograd/node.hpp. For C = A · B with L a scalar loss,
//     dL/dA = dL/dC · Bᵀ,   dL/dB = Aᵀ · dL/dC,
// and for batched operands each is summed over the batch dimensions that were broadcast.
#pragma once

#include <vector>

#include "../backend/cpu/gemm.hpp"
#include "common.hpp"
#include "elementwise.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/blas.hpp"
#endif

namespace lacoot {
namespace detail {

// The element offset of each matrix of a tensor whose batch dimensions `own` (right-aligned)
// broadcast to `batch`, with `matrix` elements per matrix: repeated offsets where broadcast.
inline std::vector<int64_t> batch_offsets(const Shape& own, const Shape& batch, int64_t matrix) {
  const int64_t count = numel(batch);
  std::vector<int64_t> offsets(static_cast<std::size_t>(count));
  const std::size_t lead = batch.size() - own.size();
  for (int64_t i = 0; i < count; ++i) {
    int64_t rem = i, offset = 0, stride = matrix;
    for (std::size_t d = batch.size(); d-- > lead;) {
      const int64_t size = own[d - lead], index = rem % batch[d];
      rem /= batch[d];
      if (size != 1) offset += index * stride;
      stride *= size;
    }
    offsets[static_cast<std::size_t>(i)] = offset;
  }
  return offsets;
}

inline std::vector<int64_t> contiguous_offsets(int64_t count, int64_t matrix) {
  std::vector<int64_t> offsets(static_cast<std::size_t>(count));
  for (int64_t i = 0; i < count; ++i) offsets[static_cast<std::size_t>(i)] = i * matrix;
  return offsets;
}

// C [rows, n] = op(A) · op(B) in a new tensor of `shape` (rows · n elements).
inline Tensor gemm_new(const Shape& shape, bool ta, bool tb, int64_t rows, int64_t n, int64_t k,
                       const Tensor& A, int64_t lda, const Tensor& B, int64_t ldb) {
  Tensor C = Tensor::empty(shape, A.dtype(), A.device());
  dispatch_floating(A.dtype(), "matmul", [&](auto tag) {
    using T = typename decltype(tag)::type;
#if LACOOT_WITH_CUDA
    if (A.device().is_cuda())
      return cuda::gemm(A.device().index, ta, tb, rows, n, k, T(1), A.data<T>(), lda, B.data<T>(), ldb, T(0),
                        C.data<T>(), n);
#endif
    backend::cpu::gemm(ta, tb, rows, n, k, T(1), A.data<T>(), lda, B.data<T>(), ldb, T(0),
                       C.data<T>(), n);
  });
  return C;
}

}  // namespace detail

// out = a @ b, as torch.matmul:
//   [K] @ [K]            -> []            (dot product)
//   [M, K] @ [K, N]      -> [M, N]
//   [K] @ [K, N]         -> [N]           (a is taken as [1, K], the 1 removed after)
//   [M, K] @ [K]         -> [M]           (b is taken as [K, 1])
//   [*a, M, K] @ [*b, K, N] -> [broadcast(*a, *b), M, N]   (batched; 1-D sides as above)
inline Tensor matmul(const Tensor& a, const Tensor& b) {
  detail::check_same("matmul", {a, b}, detail::Cuda::kernel);
  detail::check_floating("matmul", a, detail::Cuda::kernel);
  LACOOT_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need at least one "
               "dimension, got shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()));
  // a as [*ba, M, K], b as [*bb, K, N].
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  const bool a_vec = a.dim() == 1, b_vec = b.dim() == 1;
  const int64_t M = a_vec ? 1 : sa[sa.size() - 2], K = sa.back();
  const int64_t Kb = b_vec ? sb[0] : sb[sb.size() - 2], N = b_vec ? 1 : sb.back();
  LACOOT_CHECK(K == Kb, "matmul: shapes ", shape_str(sa), " and ", shape_str(sb),
               " cannot be multiplied (the last dimension of the first, ", K,
               ", must equal the ", b_vec ? "size" : "second-to-last dimension",
               " of the second, ", Kb, ")");
  const Shape ba(sa.begin(), sa.end() - (a_vec ? 1 : 2));
  const Shape bb(sb.begin(), sb.end() - (b_vec ? 1 : 2));
  const Shape batch = broadcast_shapes(ba, bb, "matmul");
  Shape out_shape = batch;
  if (!a_vec) out_shape.push_back(M);
  if (!b_vec) out_shape.push_back(N);

  if (bb.empty()) {
    // b is one matrix: fold a's batch into its rows, [B·M, K] · [K, N], one GEMM.
    const int64_t rows = numel(ba) * M;
    Tensor out = detail::gemm_new(out_shape, false, false, rows, N, K, a, K, b, N);
    autograd::record(out, "matmul", {a, b}, [a = a.detach(), b = b.detach(), rows, N, K](
                                                const Tensor& g, const std::vector<bool>& need) {
      // dA [B·M, K] = dC [B·M, N] · Bᵀ;  dB [K, N] = Aᵀ [K, B·M] · dC.
      Tensor da = need[0] ? detail::gemm_new(a.shape(), false, true, rows, K, N, g, N, b, N) : Tensor();
      Tensor db = need[1] ? detail::gemm_new(b.shape(), true, false, K, N, rows, a, K, g, N) : Tensor();
      return std::vector<Tensor>{da, db};
    });
    return out;
  }

  // General batched case: one product per batch element, broadcast operands repeating.
  const int64_t count = numel(batch);
  auto batched = [](const Shape& shape, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                    const Tensor& A, const std::vector<int64_t>& a_off, int64_t lda,
                    const Tensor& B, const std::vector<int64_t>& b_off, int64_t ldb) {
    Tensor C = Tensor::empty(shape, A.dtype(), A.device());
    dispatch_floating(A.dtype(), "matmul", [&](auto tag) {
      using T = typename decltype(tag)::type;
#if LACOOT_WITH_CUDA
      if (A.device().is_cuda())
        return cuda::gemm_batched(A.device().index, ta, tb, m, n, k, A.data<T>(), a_off, lda, B.data<T>(),
                                  b_off, ldb, C.data<T>());
#endif
      backend::cpu::gemm_batched(ta, tb, m, n, k, A.data<T>(), a_off, lda, B.data<T>(), b_off,
                                 ldb, C.data<T>());
    });
    return C;
  };
  Tensor out = batched(out_shape, false, false, M, N, K, a, detail::batch_offsets(ba, batch, M * K),
                       K, b, detail::batch_offsets(bb, batch, K * N), N);
  autograd::record(out, "matmul", {a, b}, [a = a.detach(), b = b.detach(), ba, bb, batch, M, N, K,
                                           count, batched](const Tensor& g, const std::vector<bool>& need) {
    const auto g_off = detail::contiguous_offsets(count, M * N);
    Shape full_a = batch, full_b = batch, own_a = ba, own_b = bb;
    for (int64_t d : {M, K}) full_a.push_back(d), own_a.push_back(d);
    for (int64_t d : {K, N}) full_b.push_back(d), own_b.push_back(d);
    Tensor da, db;
    if (need[0]) {  // dA_i = dC_i · B_iᵀ, then summed over a's broadcast batch dimensions
      Tensor full = batched(full_a, false, true, M, K, N, g, g_off, N, b,
                            detail::batch_offsets(bb, batch, K * N), N);
      da = alias_with_shape(sum_to(full, own_a), a.shape());
    }
    if (need[1]) {  // dB_i = A_iᵀ · dC_i
      Tensor full = batched(full_b, true, false, K, N, M, a, detail::batch_offsets(ba, batch, M * K),
                            K, g, g_off, N);
      db = alias_with_shape(sum_to(full, own_b), b.shape());
    }
    return std::vector<Tensor>{da, db};
  });
  return out;
}

// out [*, out_features] = input [*, in_features] · weightᵀ + bias, as
// torch.nn.functional.linear; weight is [out_features, in_features], bias [out_features] or
// an undefined Tensor for none.
inline Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = {}) {
  detail::check_same("linear", bias.defined() ? std::vector<Tensor>{input, weight, bias}
                                              : std::vector<Tensor>{input, weight}, detail::Cuda::kernel);
  detail::check_floating("linear", input, detail::Cuda::kernel);
  detail::check_dim("linear", weight, 2, "weight [out_features, in_features]", detail::Cuda::kernel);
  LACOOT_CHECK(input.dim() >= 1, "linear: the input needs at least one dimension (features)");
  const int64_t in = weight.size(1), out_f = weight.size(0);
  LACOOT_CHECK(input.size(-1) == in, "linear: the input has ", input.size(-1), " features (the "
               "last dimension of shape ", shape_str(input.shape()), ") but weight ",
               shape_str(weight.shape()), " = [out_features, in_features] expects ", in);
  LACOOT_CHECK(!bias.defined() || bias.shape() == Shape{out_f}, "linear: bias has shape ",
               bias.defined() ? shape_str(bias.shape()) : "", ", expected [", out_f,
               "] (one per output feature)");
  const int64_t rows = input.numel() / std::max<int64_t>(in, 1);
  Shape out_shape = input.shape();
  out_shape.back() = out_f;
  Tensor out = Tensor::empty(out_shape, input.dtype(), input.device());
  dispatch_floating(input.dtype(), "linear", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = out.data<T>();
#if LACOOT_WITH_CUDA
    if (input.device().is_cuda()) {  // the product, then the bias added to every row
      cuda::gemm(input.device().index, false, true, rows, out_f, in, T(1), input.data<T>(), in, weight.data<T>(),
                 in, T(0), o, out_f);
      if (bias.defined()) cuda::binary(fn::Add{}, out, bias, out);
      return;
    }
#endif
    // Start every row from the bias and let the GEMM add input · weightᵀ onto it.
    if (bias.defined())
      for (int64_t r = 0; r < rows; ++r) std::copy_n(bias.data<T>(), out_f, o + r * out_f);
    backend::cpu::gemm(false, true, rows, out_f, in, T(1), input.data<T>(), in, weight.data<T>(),
                       in, bias.defined() ? T(1) : T(0), o, out_f);
  });
  autograd::record(out, "linear", {input, weight, bias}, [x = input.detach(), w = weight.detach(),
                                                          rows, in, out_f](
                                                             const Tensor& g, const std::vector<bool>& need) {
    // Forward: out [R, out] = x [R, in] · wᵀ + b.
    Tensor dx = need[0] ? detail::gemm_new(x.shape(), false, false, rows, in, out_f, g, out_f, w, in)
                        : Tensor();  // dx = dout · w
    Tensor dw = need[1] ? detail::gemm_new(w.shape(), true, false, out_f, in, rows, g, out_f, x, in)
                        : Tensor();  // dw = doutᵀ · x
    Tensor db;
    if (need[2] && g.device().is_cuda()) {
      db = sum_to(alias_with_shape(g, {rows, out_f}), {out_f});
    } else if (need[2]) {  // db = Σ_rows dout, column by column, rows in order
      db = Tensor::empty({out_f}, g.dtype(), g.device());
      dispatch_floating(g.dtype(), "linear", [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* pg = g.data<T>();
        T* pb = db.data<T>();
        parallel_for(out_f, 64, [&](int64_t j0, int64_t j1) {
          std::fill(pb + j0, pb + j1, T(0));
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = j0; j < j1; ++j) pb[j] += pg[r * out_f + j];
        });
      });
    }
    return std::vector<Tensor>{dx, dw, db};
  });
  return out;
}

}  // namespace lacoot

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
// Needs: core/dtype.hpp, backend/formulas.hpp (fn::Op), the CUDA runtime API.
// Leaves out: cuBLAS and cuDNN, which plain C++ calls directly.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "../../core/dtype.hpp"
#include "../formulas.hpp"

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

// dst[i] = value for i < n (value converted to dtype), on `stream`.
void fill(void* dst, DType dtype, int64_t n, double value, cudaStream_t stream);
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

}  // namespace lacoot::cuda::kernels

// lacoot/ops/common.hpp — what every op header shares: argument checks and the includes.
//
// Holds: Cuda (whether an op has a CUDA kernel), check_device, check_defined, check_same (dtype
// and device of several tensors), check_floating, check_dim, raw_or_null, scalar_like.
// Needs: core/, autograd/node.hpp.
#pragma once

#include <string>
#include <vector>

#include "../autograd/grad_mode.hpp"
#include "../autograd/node.hpp"
#include "../core/factories.hpp"
#include "../core/tensor.hpp"

namespace lacoot::detail {

// Whether an op has a CUDA kernel yet: one without refuses a cuda tensor with a clear message.
enum class Cuda { none, kernel };

inline void check_device(const char* op, const Tensor& t, Cuda cuda) {
  LACOOT_CHECK(t.device().is_cpu() || cuda == Cuda::kernel, op, ": no kernel for ", t.device().str(),
               " yet (run this op on the CPU: .to(kCPU))");
}

inline void check_defined(const char* op, const Tensor& t, const char* what = "input", Cuda cuda = Cuda::none) {
  LACOOT_CHECK(t.defined(), op, ": ", what, " is an undefined tensor");
  check_device(op, t, cuda);
}

// The tensors of one op must share dtype and device; there is no implicit type promotion.
inline void check_same(const char* op, const std::vector<Tensor>& ts, Cuda cuda = Cuda::none) {
  for (const Tensor& t : ts) check_defined(op, t, "input", cuda);
  for (std::size_t i = 1; i < ts.size(); ++i) {
    LACOOT_CHECK(ts[i].dtype() == ts[0].dtype(), op, ": dtype mismatch: ",
                 dtype_name(ts[0].dtype()), " and ", dtype_name(ts[i].dtype()),
                 " (hint: convert one with .to(...))");
    LACOOT_CHECK(ts[i].device() == ts[0].device(), op, ": device mismatch: ",
                 ts[0].device().str(), " and ", ts[i].device().str());
  }
}

inline void check_floating(const char* op, const Tensor& t, Cuda cuda = Cuda::none) {
  check_defined(op, t, "input", cuda);
  LACOOT_CHECK(is_floating(t.dtype()), op, ": expected a float32 or float64 tensor, got ",
               dtype_name(t.dtype()));
}

inline void check_dim(const char* op, const Tensor& t, int64_t ndim, const char* layout, Cuda cuda = Cuda::none) {
  check_defined(op, t, "input", cuda);
  LACOOT_CHECK(t.dim() == ndim, op, ": expected a ", ndim, "-D input (", layout,
               "), got shape ", shape_str(t.shape()));
}

// An optional tensor's elements, untyped, or null when it is absent (for the CUDA kernels).
inline void* raw_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

// A 0-d tensor holding v, with t's dtype and device.
inline Tensor scalar_like(const Tensor& t, double v) { return full({}, v, t.dtype(), t.device()); }

}  // namespace lacoot::detail

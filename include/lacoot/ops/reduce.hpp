// lacoot/ops/reduce.hpp — reductions: sum, mean, var, max, min, argmax, argmin.
//
// Holds: DimList (the dims a reduction runs over), ValuesIndices (what max and min along a dim
// return) and the ops, with PyTorch 1.13's names, arguments, defaults and gradients
// (torch.sum, torch.mean, torch.var, torch.max, torch.min, torch.argmax, torch.argmin), for
// float32 and float64.
// Needs: ops/common.hpp, backend/cpu/reduce.hpp (the loops), backend/cpu/elementwise.hpp
// (broadcast_kernel, which spreads a gradient back over the reduced dims); with CUDA,
// backend/cuda/reduce.hpp (the same ops on the GPU, sums in double there too).
// Leaves out: integer sums, the dtype= argument, var's older `unbiased` flag (correction = 1 is
// unbiased = true), std, amax/amin, median, mode, prod, logsumexp, and double backward.
//
// Every reduction combines the elements of the reduced dims into one value per kept position.
// The output drops the reduced dims, or with keepdim = true keeps them with size 1; PyTorch's
// sum(x) over all elements returns a 0-d tensor. Sums accumulate in double whatever the dtype
// and do not depend on the thread count (backend/cpu/reduce.hpp says how).
//
// Backward follows autograd/node.hpp. The gradient g of the output has the output's shape;
// seen with the reduced dims kept as size 1 (keep_shape), it broadcasts against the input,
// which is how each backward below sends it back: dsum/dx = 1, dmean/dx = 1/N, and so on.
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "../backend/cpu/elementwise.hpp"
#include "../backend/cpu/reduce.hpp"
#include "common.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/reduce.hpp"
#endif

namespace lacoot {

// The dims a reduction runs over, like LibTorch's IntArrayRef: one dim (sum(x, 1)), a list
// (sum(x, {0, 2})), or the empty list, which means every dim (sum(x, {}) is sum(x), as in
// PyTorch 1.13). Negative dims count from the end: -1 is the last.
struct DimList {
  std::vector<int64_t> dims;
  DimList(int64_t dim) : dims{dim} {}  // implicit on purpose: sum(x, 1)
  DimList(std::initializer_list<int64_t> list) : dims(list) {}
  DimList(std::vector<int64_t> list) : dims(std::move(list)) {}
};

// What max(x, dim) and min(x, dim) return, as torch.return_types.max: the values, and the
// int64 positions along dim they were taken from.
struct ValuesIndices {
  Tensor values;
  Tensor indices;
};

namespace detail {

// Everything about a reduction of `input` over some dims that its forward and backward need,
// worked out once.
struct ReducePlan {
  Shape in_shape;
  Shape out_shape;   // what the op returns: reduced dims dropped, or kept as 1 with keepdim
  Shape keep_shape;  // reduced dims kept as 1: the shape g broadcasts from in backward
  int64_t n_reduced = 1;  // elements per output, the N of mean = sum / N
  backend::cpu::ReduceLayout layout;
};

inline ReducePlan plan_reduction(const char* op, const Tensor& input, const std::vector<int64_t>& dims,
                                 bool keepdim) {
  check_floating(op, input, Cuda::kernel);
  const int64_t nd = input.dim();
  std::vector<bool> reduce(static_cast<std::size_t>(nd), dims.empty());
  for (int64_t d : dims) {
    const auto w = static_cast<std::size_t>(wrap_dim(d, nd, op));
    if (nd == 0) continue;  // a 0-d tensor accepts dim 0 or -1, which names its one element
    LACOOT_CHECK(!reduce[w], op, ": dim ", w, " appears multiple times in the list of dims ",
                 shape_str(dims));
    reduce[w] = true;
  }
  ReducePlan p;
  p.in_shape = input.shape();
  for (std::size_t d = 0; d < reduce.size(); ++d) {
    p.keep_shape.push_back(reduce[d] ? 1 : p.in_shape[d]);
    if (!reduce[d] || keepdim) p.out_shape.push_back(p.keep_shape.back());
  }
  p.layout = backend::cpu::make_reduce_layout(p.in_shape, reduce);
  p.n_reduced = p.layout.n_reduced;
  return p;
}

// Per output (row-major over the kept positions), in double: Σ of its elements, or with
// `center` (one value per output) Σ (x − center)².
inline std::vector<double> sums_of(const char* op, const Tensor& input, const ReducePlan& p,
                                   const std::vector<double>* center = nullptr) {
  std::vector<double> sums(static_cast<std::size_t>(p.layout.n_out));
  dispatch_floating(input.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    backend::cpu::sum_kernel(input.data<T>(), p.layout, center ? center->data() : nullptr, sums.data());
  });
  return sums;
}

// scale · sums as a tensor of `shape` and `dtype`, rounded once at the end.
inline Tensor tensor_from_sums(const std::vector<double>& sums, double scale, const Shape& shape, DType dtype) {
  Tensor out = Tensor::empty(shape, dtype);
  dispatch_floating(dtype, "reduce", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = out.data<T>();
    for (std::size_t i = 0; i < sums.size(); ++i) o[i] = static_cast<T>(sums[i] * scale);
  });
  return out;
}

// scale · Σ of the reduced elements, per output, as a tensor of out_shape: sum and mean.
inline Tensor scaled_sum(const char* op, const Tensor& input, const ReducePlan& p, double scale) {
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda()) {
    Tensor out = Tensor::empty(p.out_shape, input.dtype(), input.device());
    cuda::sum(input, p.keep_shape, nullptr, scale, out);
    return out;
  }
#endif
  return tensor_from_sums(sums_of(op, input, p), scale, p.out_shape, input.dtype());
}

// grad_input = scale · g at every input element, g being the gradient of the output that
// element went into: the output's gradient seen in keep_shape, broadcast over the reduced dims.
inline Tensor expand_gradient(const Tensor& g, const ReducePlan& p, double scale) {
  Tensor gk = alias_with_shape(g, p.keep_shape);
  Tensor grad_input = Tensor::empty(p.in_shape, g.dtype(), g.device());
#if LACOOT_WITH_CUDA
  if (g.device().is_cuda()) {
    cuda::binary(fn::Mul{}, gk, scalar_like(g, scale), grad_input);
    return grad_input;
  }
#endif
  dispatch_floating(g.dtype(), "backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto k = static_cast<T>(scale);
    backend::cpu::broadcast_kernel<1>(std::array<const T*, 1>{gk.data<T>()}, std::array<Shape, 1>{p.keep_shape},
                                      grad_input.data<T>(), p.in_shape, [k](T gv) { return gv * k; });
  });
  return grad_input;
}

}  // namespace detail

// ---- sum and mean ----

// sum(input, dim, keepdim): Σ over the dims listed.   https://pytorch.org/docs/1.13/generated/torch.sum.html
// Backward: every element went into its output once, d(Σ x)/dx = 1, so it gets its output's g.
inline Tensor sum(const Tensor& input, DimList dim, bool keepdim = false) {
  detail::ReducePlan p = detail::plan_reduction("sum", input, dim.dims, keepdim);
  Tensor out = detail::scaled_sum("sum", input, p, 1.0);
  autograd::record(out, "sum", {input}, [p](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{detail::expand_gradient(g, p, 1.0)};
  });
  return out;
}

// sum(input): Σ of all elements, a 0-d tensor.
inline Tensor sum(const Tensor& input) { return sum(input, DimList{}, false); }

// mean(input, dim, keepdim) = sum / N, N the number of elements reduced into each output
// (NaN when N = 0, as PyTorch).   https://pytorch.org/docs/1.13/generated/torch.mean.html
// Backward: d(Σ x / N)/dx = 1/N.
inline Tensor mean(const Tensor& input, DimList dim, bool keepdim = false) {
  detail::ReducePlan p = detail::plan_reduction("mean", input, dim.dims, keepdim);
  const double inv_n = 1.0 / static_cast<double>(p.n_reduced);
  Tensor out = detail::scaled_sum("mean", input, p, inv_n);
  autograd::record(out, "mean", {input}, [p, inv_n](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{detail::expand_gradient(g, p, inv_n)};
  });
  return out;
}

inline Tensor mean(const Tensor& input) { return mean(input, DimList{}, false); }

// ---- var ----

// var(input, dim, correction, keepdim) = Σ (x − x̄)² / max(0, N − correction), x̄ the mean over
// the same dims.   https://pytorch.org/docs/1.13/generated/torch.var.html
// correction = 1 (the default) is Bessel's correction, the unbiased estimate; correction = 0
// the population variance, as batch norm uses. When N − correction ≤ 0 the division is by 0:
// inf, or NaN when also Σ (x − x̄)² = 0 (a single element), as in PyTorch.
// Two passes (the mean, then the squared deviations from it) in double: the one-pass
// Σx² − N x̄² cancels catastrophically when the mean is large against the spread.
// Backward: dvar/dx_i = 2 (x_i − x̄) / (N − correction); the terms through x̄ sum to zero
// because Σ (x − x̄) = 0. PyTorch's var_backward has the same formula.
inline Tensor var(const Tensor& input, DimList dim, double correction = 1, bool keepdim = false) {
  detail::ReducePlan p = detail::plan_reduction("var", input, dim.dims, keepdim);
  const auto n = static_cast<double>(p.n_reduced);
  const double divisor = std::max(0.0, n - correction);
  Tensor out, mean_keep;  // mean_keep: x̄ in keep_shape and the input's dtype, for backward
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda()) {
    Tensor center = Tensor::empty(p.keep_shape, kFloat64, input.device());  // x̄ in double
    cuda::sum(input, p.keep_shape, nullptr, 1.0 / n, center);
    out = Tensor::empty(p.out_shape, input.dtype(), input.device());
    cuda::sum(input, p.keep_shape, &center, 1.0 / divisor, out);
    mean_keep = center.to(input.dtype());
  }
#endif
  if (!out.defined()) {
    std::vector<double> center = detail::sums_of("var", input, p);  // x̄ in double, one per output
    for (double& c : center) c /= n;
    out = detail::tensor_from_sums(detail::sums_of("var", input, p, &center), 1.0 / divisor, p.out_shape,
                                   input.dtype());
    mean_keep = detail::tensor_from_sums(center, 1.0, p.keep_shape, input.dtype());
  }
  autograd::record(out, "var", {input}, [p, x = input.detach(), mean_keep, divisor](const Tensor& g, const std::vector<bool>&) {
    Tensor gk = alias_with_shape(g, p.keep_shape);
    Tensor grad_input = Tensor::empty(p.in_shape, x.dtype(), x.device());
#if LACOOT_WITH_CUDA
    if (x.device().is_cuda()) {  // (x − x̄) · g · 2 / divisor, one broadcast kernel each
      cuda::binary(fn::Sub{}, x, mean_keep, grad_input);
      cuda::binary(fn::Mul{}, grad_input, gk, grad_input);
      cuda::binary(fn::Mul{}, grad_input, detail::scalar_like(x, 2.0 / divisor), grad_input);
      return std::vector<Tensor>{grad_input};
    }
#endif
    dispatch_floating(x.dtype(), "var", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T k = static_cast<T>(2.0 / divisor);
      backend::cpu::broadcast_kernel<3>(
          std::array<const T*, 3>{x.data<T>(), mean_keep.data<T>(), gk.data<T>()},
          std::array<Shape, 3>{p.in_shape, p.keep_shape, p.keep_shape}, grad_input.data<T>(), p.in_shape,
          [k](T xv, T mv, T gv) { return gv * k * (xv - mv); });
    });
    return std::vector<Tensor>{grad_input};
  });
  return out;
}

// var(input): over all elements, unbiased (correction = 1).
inline Tensor var(const Tensor& input) { return var(input, DimList{}, 1, false); }

// ---- max, min, argmax, argmin ----

namespace detail {

// Which value wins a comparison: the larger for max, the smaller for min. NaN beats every
// number and the first NaN stays, so a NaN anywhere is the result (PyTorch propagates NaN).
// Both are strict, so on ties the first occurrence stays.
struct Larger {
  static constexpr bool largest = true;
  template <class T>
  bool operator()(T a, T best) const { return a > best || (a != a && best == best); }
};
struct Smaller {
  static constexpr bool largest = false;
  template <class T>
  bool operator()(T a, T best) const { return a < best || (a != a && best == best); }
};

// values and indices of the best element along dim d (split as [outer, size, inner]).
template <class Better>
ValuesIndices arg_reduce(const char* op, const Tensor& input, int64_t dim, bool keepdim, Better better) {
  check_floating(op, input, Cuda::kernel);
  const int64_t d = wrap_dim(dim, input.dim(), op);
  const backend::cpu::DimSplit s(input.shape(), d);
  LACOOT_CHECK(s.size > 0, op, ": expected reduction dim ", d, " to have non-zero size (input shape ",
               shape_str(input.shape()), ")");
  Shape out_shape;
  for (int64_t e = 0; e < input.dim(); ++e)
    if (e != d || keepdim) out_shape.push_back(e == d ? 1 : input.size(e));
  ValuesIndices out{Tensor::empty(out_shape, input.dtype(), input.device()),
                    Tensor::empty(out_shape, kInt64, input.device())};
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda()) {
    cuda::arg_reduce(Better::largest, input, {s.outer, s.size, s.inner}, out.values, out.indices);
    return out;
  }
#endif
  dispatch_floating(input.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    backend::cpu::arg_reduce_kernel(input.data<T>(), s, out.values.data<T>(), out.indices.data<int64_t>(), better);
  });
  return out;
}

// max / min along a dim, differentiable: the gradient of each value goes to the position it
// was taken from (PyTorch's value_selecting_reduction_backward), the other positions get 0.
template <class Better>
ValuesIndices select_along_dim(const char* op, const Tensor& input, int64_t dim, bool keepdim, Better better) {
  ValuesIndices out = arg_reduce(op, input, dim, keepdim, better);
  const backend::cpu::DimSplit s(input.shape(), wrap_dim(dim, input.dim(), op));
  autograd::record(out.values, op, {input}, [op, s, in_shape = input.shape(), indices = out.indices](
                                                const Tensor& g, const std::vector<bool>&) {
    Tensor grad_input = Tensor::empty(in_shape, g.dtype(), g.device());
#if LACOOT_WITH_CUDA
    if (g.device().is_cuda()) {
      cuda::scatter_picked(g, indices, {.outer = s.outer, .size = s.size, .inner = s.inner}, grad_input);
      return std::vector<Tensor>{grad_input};
    }
#endif
    dispatch_floating(g.dtype(), op, [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::scatter_picked(g.data<T>(), indices.data<int64_t>(), s, grad_input.data<T>());
    });
    return std::vector<Tensor>{grad_input};
  });
  return out;
}

// max / min over all elements (a 0-d tensor). PyTorch's backward here spreads g evenly over
// tied extremes (evenly_distribute_backward), unlike the dim form, which picks one.
template <class Better>
Tensor select_all(const char* op, const Tensor& input, Better better) {
  detail::check_floating(op, input, Cuda::kernel);
  LACOOT_CHECK(input.numel() > 0, op, ": the input has no elements (shape ", shape_str(input.shape()),
               "); specify a dim to reduce over, as PyTorch asks");
  Tensor flat = alias_with_shape(input, {input.numel()});
  Tensor out = alias_with_shape(arg_reduce(op, flat, 0, false, better).values, {});
  autograd::record(out, op, {input}, [op, x = input.detach(), v = out.detach()](const Tensor& g, const std::vector<bool>&) {
    Tensor grad_input = Tensor::empty(x.shape(), x.dtype(), x.device());
#if LACOOT_WITH_CUDA
    if (x.device().is_cuda()) {
      cuda::distribute_evenly(x, v, g, grad_input);
      return std::vector<Tensor>{grad_input};
    }
#endif
    dispatch_floating(x.dtype(), op, [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::distribute_evenly(x.data<T>(), x.numel(), v.data<T>()[0], g.data<T>()[0], grad_input.data<T>());
    });
    return std::vector<Tensor>{grad_input};
  });
  return out;
}

// The flat index of the extreme element, a 0-d int64 tensor.
template <class Better>
Tensor arg_all(const char* op, const Tensor& input, Better better) {
  check_floating(op, input, Cuda::kernel);
  LACOOT_CHECK(input.numel() > 0, op, ": the input has no elements (shape ", shape_str(input.shape()), ")");
  return alias_with_shape(arg_reduce(op, alias_with_shape(input, {input.numel()}), 0, false, better).indices, {});
}

}  // namespace detail

// max(input, dim, keepdim) -> {values, indices}: the largest element along dim and its
// position, the first one on ties; NaN counts as the largest.
//   https://pytorch.org/docs/1.13/generated/torch.max.html
// Backward: g goes to the selected position, 0 elsewhere.
inline ValuesIndices max(const Tensor& input, int64_t dim, bool keepdim = false) {
  return detail::select_along_dim("max", input, dim, keepdim, detail::Larger{});
}
// min(input, dim, keepdim) -> {values, indices}: as max, for the smallest.
inline ValuesIndices min(const Tensor& input, int64_t dim, bool keepdim = false) {
  return detail::select_along_dim("min", input, dim, keepdim, detail::Smaller{});
}

// max(input): the largest of all elements, 0-d. Backward: g / k to each of the k elements
// equal to it, 0 elsewhere.
inline Tensor max(const Tensor& input) { return detail::select_all("max", input, detail::Larger{}); }
inline Tensor min(const Tensor& input) { return detail::select_all("min", input, detail::Smaller{}); }

// argmax(input, dim, keepdim): max(input, dim, keepdim).indices, not differentiable.
//   https://pytorch.org/docs/1.13/generated/torch.argmax.html
inline Tensor argmax(const Tensor& input, int64_t dim, bool keepdim = false) {
  return detail::arg_reduce("argmax", input, dim, keepdim, detail::Larger{}).indices;
}
inline Tensor argmin(const Tensor& input, int64_t dim, bool keepdim = false) {
  return detail::arg_reduce("argmin", input, dim, keepdim, detail::Smaller{}).indices;
}
// argmax(input): the index of the largest element in the flattened input, 0-d int64.
inline Tensor argmax(const Tensor& input) { return detail::arg_all("argmax", input, detail::Larger{}); }
inline Tensor argmin(const Tensor& input) { return detail::arg_all("argmin", input, detail::Smaller{}); }

}  // namespace lacoot

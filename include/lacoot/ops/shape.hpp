// lacoot/ops/shape.hpp — changing how a tensor's elements are arranged, not their values.
//
// Holds: reshape, view, flatten, squeeze, unsqueeze (views: they share storage), permute,
// transpose, expand / broadcast_to, cat, stack, narrow, select, slice, split, chunk, pad
// (constant mode) and roll, with PyTorch's names, arguments and semantics.
// Needs: ops/common.hpp, ops/elementwise.hpp (sum_to, for expand's backward),
// backend/cpu/permute.hpp, backend/cpu/copy_box.hpp; with CUDA, backend/cuda/kernels.hpp (every
// copy here is one strided copy on the GPU).
// Leaves out: strided views. A lacoot tensor is always contiguous, so only the ops that keep
// the elements in the same row-major order (reshape and friends, and narrow when the kept
// part is one contiguous run) share storage; permute, transpose, expand, slice with a step
// and the rest copy. Also left out: pad modes other than "constant" (reflect, replicate,
// circular) and negative slice steps (PyTorch rejects them too).
//
// Backward follows autograd/node.hpp: each closure returns dL/dinput per input. Almost every
// backward here is the forward run the other way round: reshape back, permute by the inverse
// permutation, copy the gradient's box back to where the input's elements went (cat, narrow,
// slice, pad), roll by minus the shifts, and sum over what expand repeated.
#pragma once

#include <algorithm>
#include <numeric>
#include <optional>
#include <vector>

#include "../backend/cpu/copy_box.hpp"
#include "../backend/cpu/permute.hpp"
#include "common.hpp"
#include "elementwise.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/kernels.hpp"
#include "../backend/cuda/runtime.hpp"
#endif

namespace lacoot {
namespace detail {

using backend::cpu::box_along;
using backend::cpu::StridedBox;
using backend::cpu::whole_box;

// Replaces the one -1 of `shape` by the size that keeps the element count, as torch.reshape.
inline Shape infer_reshape(const char* op, const Shape& input, Shape shape) {
  const int64_t n = numel(input);
  int64_t known = 1;
  std::optional<std::size_t> infer_at;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      LACOOT_CHECK(!infer_at, op, ": only one dimension can be inferred (-1), got shape ",
                   shape_str(shape));
      infer_at = i;
    } else {
      LACOOT_CHECK(shape[i] >= 0, op, ": invalid size ", shape[i], " in shape ", shape_str(shape),
                   " (sizes must be >= 0, or -1 for the one size to infer)");
      known *= shape[i];
    }
  }
  if (infer_at) {
    LACOOT_CHECK(known != 0, op, ": cannot reshape a tensor of ", n, " elements into shape ",
                 shape_str(shape), ": the other sizes multiply to 0, so the -1 could be anything");
    LACOOT_CHECK(n % known == 0, op, ": shape ", shape_str(shape), " is invalid for an input of ",
                 n, " elements (shape ", shape_str(input), "): ", n, " is not a multiple of ", known);
    shape[*infer_at] = n / known;
  }
  LACOOT_CHECK(numel(shape) == n, op, ": shape ", shape_str(shape), " is invalid for an input of ",
               n, " elements (shape ", shape_str(input), ")");
  return shape;
}

// The shared body of reshape, view, flatten, squeeze and unsqueeze: same elements, same
// order, new shape; the output shares the input's storage.
inline Tensor alias_reshape(const char* op, const Tensor& input, Shape shape) {
  check_same(op, {input}, Cuda::kernel);  // a view: no elements are touched, on any device
  Tensor out = alias_with_shape(input, infer_reshape(op, input.shape(), std::move(shape)));
  autograd::record(out, op, {input}, [in_shape = input.shape()](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{alias_with_shape(g, in_shape)};  // the same elements, reshaped back
  });
  return out;
}

#if LACOOT_WITH_CUDA
// On the GPU, the copies of this header as one strided copy: extent's elements, read from src
// at src_base + Σ k_d · src_stride[d] and written to dst's contiguous layout (or its box).
inline void cuda_copy(const Tensor& src, int64_t src_base, const std::vector<int64_t>& src_stride, const Tensor& dst,
                      int64_t dst_base, const std::vector<int64_t>& dst_stride, const Shape& extent) {
  LACOOT_CHECK(extent.size() <= static_cast<std::size_t>(cuda::kernels::kMaxDims), "copy on ",
               src.device().str(), ": at most ", cuda::kernels::kMaxDims, " dimensions, got ", shape_str(extent));
  cuda::kernels::Strided L;
  L.nd = static_cast<int>(extent.size());
  L.n = lacoot::numel(extent);
  L.src_base = src_base, L.dst_base = dst_base;
  for (std::size_t d = 0; d < extent.size(); ++d) {
    L.extent[d] = extent[d];
    L.src_stride[d] = src_stride[d];
    L.dst_stride[d] = dst_stride[d];
  }
  cuda::kernels::copy_strided(src.raw_data(), dst.raw_data(), src.dtype(), L, cuda::stream(src.device().index));
}

// A box's first element and its per-dimension steps, in elements of its contiguous tensor.
inline std::pair<int64_t, std::vector<int64_t>> box_offsets(const StridedBox& b) {
  const std::vector<int64_t> c = contiguous_strides(b.shape);
  int64_t base = 0;
  std::vector<int64_t> step(c.size());
  for (std::size_t d = 0; d < c.size(); ++d) base += b.start[d] * c[d], step[d] = b.step[d] * c[d];
  return {base, step};
}
#endif

// dst's box `to` = src's box `from` (src and dst share a dtype): the typed call of the kernel.
inline void copy_tensor_box(const Tensor& src, const StridedBox& from, const Tensor& dst,
                            const StridedBox& to, const Shape& extent) {
#if LACOOT_WITH_CUDA
  if (src.device().is_cuda()) {
    const auto [src_base, src_step] = box_offsets(from);
    const auto [dst_base, dst_step] = box_offsets(to);
    cuda_copy(src, src_base, src_step, dst, dst_base, dst_step, extent);
    return;
  }
#endif
  dispatch_all(src.dtype(), "copy_box", [&](auto tag) {
    using T = typename decltype(tag)::type;
    backend::cpu::copy_box(src.data<T>(), from, dst.data<T>(), to, extent);
  });
}

inline int64_t numel_between(const Shape& s, std::size_t begin, std::size_t end) {
  int64_t p = 1;
  for (std::size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

}  // namespace detail

// ---- views: same elements, same order, new shape ----

// The elements of input in a new shape with the same number of elements; one size may be -1
// and is then inferred (torch.reshape). The result shares input's storage.
inline Tensor reshape(const Tensor& input, Shape shape) {
  return detail::alias_reshape("reshape", input, std::move(shape));
}

// As reshape: lacoot tensors are always contiguous, so every reshape is a view (Tensor.view).
inline Tensor view(const Tensor& input, Shape shape) {
  return detail::alias_reshape("view", input, std::move(shape));
}

// Merges dimensions start_dim..end_dim (inclusive) into one (torch.flatten); a 0-d tensor
// becomes shape [1]. flatten(x, 1) turns [N, C, H, W] into [N, C*H*W].
inline Tensor flatten(const Tensor& input, int64_t start_dim = 0, int64_t end_dim = -1) {
  detail::check_defined("flatten", input, "input", detail::Cuda::kernel);
  if (input.dim() == 0) return detail::alias_reshape("flatten", input, {1});
  const int64_t s = wrap_dim(start_dim, input.dim(), "flatten");
  const int64_t e = wrap_dim(end_dim, input.dim(), "flatten");
  LACOOT_CHECK(s <= e, "flatten: start_dim (", start_dim, ") cannot come after end_dim (", end_dim,
               ") for a tensor of shape ", shape_str(input.shape()));
  const Shape& in = input.shape();
  Shape out(in.begin(), in.begin() + s);
  out.push_back(detail::numel_between(in, static_cast<std::size_t>(s), static_cast<std::size_t>(e) + 1));
  out.insert(out.end(), in.begin() + e + 1, in.end());
  return detail::alias_reshape("flatten", input, std::move(out));
}

// Removes dimension dim if its size is 1; otherwise the shape is unchanged (torch.squeeze).
inline Tensor squeeze(const Tensor& input, int64_t dim) {
  detail::check_defined("squeeze", input, "input", detail::Cuda::kernel);
  Shape s = input.shape();
  if (input.dim() > 0) {
    const auto d = static_cast<std::size_t>(wrap_dim(dim, input.dim(), "squeeze"));
    if (s[d] == 1) s.erase(s.begin() + static_cast<std::ptrdiff_t>(d));
  }
  return detail::alias_reshape("squeeze", input, std::move(s));
}

// Removes every dimension of size 1.
inline Tensor squeeze(const Tensor& input) {
  detail::check_defined("squeeze", input, "input", detail::Cuda::kernel);
  Shape s;
  for (int64_t n : input.shape())
    if (n != 1) s.push_back(n);
  return detail::alias_reshape("squeeze", input, std::move(s));
}

// Inserts a dimension of size 1 at position dim, in [-input.dim() - 1, input.dim()]:
// unsqueeze of [3, 4] at 0 is [1, 3, 4], at -1 is [3, 4, 1] (torch.unsqueeze).
inline Tensor unsqueeze(const Tensor& input, int64_t dim) {
  detail::check_defined("unsqueeze", input, "input", detail::Cuda::kernel);
  const int64_t d = wrap_dim(dim, input.dim() + 1, "unsqueeze");
  Shape s = input.shape();
  s.insert(s.begin() + d, 1);
  return detail::alias_reshape("unsqueeze", input, std::move(s));
}

// ---- permute, transpose, expand: copies in a new order ----

// Output dimension k is input dimension dims[k]: permute of [N, C, H, W] by {0, 2, 3, 1} is
// [N, H, W, C] (torch.permute). Copies into a new contiguous tensor.
inline Tensor permute(const Tensor& input, std::vector<int64_t> dims) {
  detail::check_same("permute", {input}, detail::Cuda::kernel);
  const int64_t nd = input.dim();
  LACOOT_CHECK(static_cast<int64_t>(dims.size()) == nd, "permute: got dims ", shape_str(dims),
               " for a tensor of shape ", shape_str(input.shape()), " (expected each of its ", nd,
               " dimensions once)");
  Shape out_shape(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (std::size_t k = 0; k < dims.size(); ++k) {
    dims[k] = wrap_dim(dims[k], nd, "permute");
    const auto d = static_cast<std::size_t>(dims[k]);
    LACOOT_CHECK(!seen[d], "permute: dimension ", dims[k], " appears twice in dims ", shape_str(dims));
    seen[d] = true;
    out_shape[k] = input.shape()[d];
  }
  Tensor out = Tensor::empty(out_shape, input.dtype(), input.device());
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda()) {  // out[k] = in[Σ k_d · stride(dims[d])]
    const std::vector<int64_t> in_stride = contiguous_strides(input.shape());
    std::vector<int64_t> from(dims.size());
    for (std::size_t k = 0; k < dims.size(); ++k) from[k] = in_stride[static_cast<std::size_t>(dims[k])];
    detail::cuda_copy(input, 0, from, out, 0, contiguous_strides(out_shape), out_shape);
  } else
#endif
  dispatch_all(input.dtype(), "permute", [&](auto tag) {
    using T = typename decltype(tag)::type;
    backend::cpu::permute_kernel(input.data<T>(), input.shape(), dims, out.data<T>());
  });
  // Backward: the inverse permutation puts every gradient element back where it came from.
  std::vector<int64_t> inverse(dims.size());
  for (std::size_t k = 0; k < dims.size(); ++k) inverse[static_cast<std::size_t>(dims[k])] = static_cast<int64_t>(k);
  autograd::record(out, "permute", {input}, [inverse](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{permute(g, inverse)};
  });
  return out;
}

// Swaps dimensions dim0 and dim1 (torch.transpose); a copy, like permute.
inline Tensor transpose(const Tensor& input, int64_t dim0, int64_t dim1) {
  detail::check_defined("transpose", input, "input", detail::Cuda::kernel);
  const int64_t nd = input.dim();
  std::vector<int64_t> dims(static_cast<std::size_t>(nd));
  std::iota(dims.begin(), dims.end(), int64_t{0});
  if (nd > 0)
    std::swap(dims[static_cast<std::size_t>(wrap_dim(dim0, nd, "transpose"))],
              dims[static_cast<std::size_t>(wrap_dim(dim1, nd, "transpose"))]);
  return permute(input, dims);
}

// Repeats input along its size-1 dimensions (and new leading ones) up to `size`, where -1
// keeps a dimension's size (Tensor.expand). expand of [3, 1] to {2, 3, 4} is [2, 3, 4].
// A copy here; the backward sums over the repeats.
inline Tensor expand(const Tensor& input, Shape size) {
  detail::check_same("expand", {input}, detail::Cuda::kernel);
  const Shape& in = input.shape();
  LACOOT_CHECK(size.size() >= in.size(), "expand: the target shape ", shape_str(size), " has fewer "
               "dimensions than the tensor (shape ", shape_str(in), ")");
  const std::size_t lead = size.size() - in.size();
  for (std::size_t i = 0; i < size.size(); ++i) {
    if (i < lead) {
      LACOOT_CHECK(size[i] >= 0, "expand: size ", size[i], " is not allowed for the new leading "
                   "dimension ", i, " of target shape ", shape_str(size));
      continue;
    }
    const int64_t have = in[i - lead];
    if (size[i] == -1) size[i] = have;
    LACOOT_CHECK(size[i] >= 0 && (size[i] == have || have == 1), "expand: the expanded size ", size[i], " must match "
                 "the existing size ", have, " at non-singleton dimension ", i, " (target shape ",
                 shape_str(size), ", tensor shape ", shape_str(in), ")");
  }
  Tensor out = Tensor::empty(size, input.dtype(), input.device());
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda()) {  // stride 0 along the repeated dimensions
    const std::vector<int64_t> own = contiguous_strides(in);
    std::vector<int64_t> from(size.size(), 0);
    for (std::size_t i = lead; i < size.size(); ++i) from[i] = in[i - lead] == 1 ? 0 : own[i - lead];
    detail::cuda_copy(input, 0, from, out, 0, contiguous_strides(size), size);
  } else
#endif
  dispatch_all(input.dtype(), "expand", [&](auto tag) {
    using T = typename decltype(tag)::type;
    backend::cpu::broadcast_kernel<1>(std::array<const T*, 1>{input.data<T>()}, std::array<Shape, 1>{in},
                                      out.data<T>(), size, [](T v) { return v; });
  });
  autograd::record(out, "expand", {input}, [in](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{sum_to(g, in)};  // each input element got copied: sum the copies
  });
  return out;
}

// torch.broadcast_to: expand to a shape, as broadcasting would.
inline Tensor broadcast_to(const Tensor& input, Shape shape) { return expand(input, std::move(shape)); }

// ---- joining: cat, stack ----

// Joins tensors along an existing dimension dim (torch.cat); all other sizes must agree.
// cat of [2, 3] and [4, 3] along 0 is [6, 3].
inline Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0) {
  LACOOT_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  detail::check_same("cat", tensors, detail::Cuda::kernel);
  const Shape& first = tensors[0].shape();
  LACOOT_CHECK(!first.empty(), "cat: a zero-dimensional tensor cannot be concatenated (hint: "
               "use stack, or unsqueeze it first)");
  const int64_t d = wrap_dim(dim, static_cast<int64_t>(first.size()), "cat");
  const auto ud = static_cast<std::size_t>(d);
  Shape out_shape = first;
  out_shape[ud] = 0;
  std::vector<int64_t> offsets;  // where each input starts along dim in the output
  std::vector<Shape> shapes;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Shape& s = tensors[i].shape();
    LACOOT_CHECK(s.size() == first.size(), "cat: tensor ", i, " has shape ", shape_str(s),
                 " but tensor 0 has shape ", shape_str(first), " (expected the same number of dimensions)");
    for (std::size_t k = 0; k < s.size(); ++k)
      LACOOT_CHECK(k == ud || s[k] == first[k], "cat: sizes must match except in dimension ", d,
                   ", but tensor ", i, " has shape ", shape_str(s), " and tensor 0 has shape ",
                   shape_str(first), " (they differ in dimension ", k, ")");
    offsets.push_back(out_shape[ud]);
    shapes.push_back(s);
    out_shape[ud] += s[ud];
  }
  Tensor out = Tensor::empty(out_shape, tensors[0].dtype(), tensors[0].device());
  for (std::size_t i = 0; i < tensors.size(); ++i)  // input i -> its block of the output
    detail::copy_tensor_box(tensors[i], detail::whole_box(shapes[i]), out,
                            detail::box_along(out_shape, d, offsets[i]), shapes[i]);
  autograd::record(out, "cat", tensors, [shapes, offsets, d](const Tensor& g, const std::vector<bool>& need) {
    std::vector<Tensor> grads(shapes.size());
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      if (!need[i]) continue;  // input i's gradient is its block of g
      grads[i] = Tensor::empty(shapes[i], g.dtype(), g.device());
      detail::copy_tensor_box(g, detail::box_along(g.shape(), d, offsets[i]), grads[i],
                              detail::whole_box(shapes[i]), shapes[i]);
    }
    return grads;
  });
  return out;
}

// Joins tensors of one shape along a new dimension dim (torch.stack): stack of three [2, 5]
// tensors along 1 is [2, 3, 5]. It is cat of the tensors unsqueezed at dim.
inline Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0) {
  LACOOT_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  detail::check_same("stack", tensors, detail::Cuda::kernel);
  const int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    LACOOT_CHECK(tensors[i].shape() == tensors[0].shape(), "stack: expects tensors of equal shape, "
                 "but got ", shape_str(tensors[0].shape()), " at entry 0 and ",
                 shape_str(tensors[i].shape()), " at entry ", i);
    parts.push_back(unsqueeze(tensors[i], d));
  }
  return cat(parts, d);
}

// ---- taking parts: narrow, select, slice, split, chunk ----

// Elements start .. start + length - 1 along dim (torch.narrow); a negative start counts from
// the end. When the part is one contiguous run (every dimension before dim has size 1) the
// result shares input's storage, as PyTorch's view does; otherwise it is a copy.
inline Tensor narrow(const Tensor& input, int64_t dim, int64_t start, int64_t length) {
  detail::check_same("narrow", {input}, detail::Cuda::kernel);
  LACOOT_CHECK(input.dim() > 0, "narrow: cannot be applied to a 0-dim tensor");
  const int64_t d = wrap_dim(dim, input.dim(), "narrow");
  const Shape& in = input.shape();
  const auto ud = static_cast<std::size_t>(d);
  const int64_t size = in[ud];
  LACOOT_CHECK(start >= -size && start <= size, "narrow: start ", start, " is out of range for "
               "dimension ", d, " of size ", size, " (expected start in [", -size, ", ", size, "])");
  if (start < 0) start += size;
  LACOOT_CHECK(length >= 0 && start + length <= size, "narrow: start (", start, ") + length (",
               length, ") exceeds the size ", size, " of dimension ", d, " (shape ", shape_str(in), ")");
  Shape out_shape = in;
  out_shape[ud] = length;
  Tensor out;
  if (detail::numel_between(in, 0, ud) == 1) {  // one contiguous run: share the storage
    out = alias_with_shape(input, out_shape);
    out.impl().offset += start * detail::numel_between(in, ud + 1, in.size());
  } else {
    out = Tensor::empty(out_shape, input.dtype(), input.device());
    detail::copy_tensor_box(input, detail::box_along(in, d, start), out, detail::whole_box(out_shape), out_shape);
  }
  autograd::record(out, "narrow", {input}, [in, d, start](const Tensor& g, const std::vector<bool>&) {
    Tensor grad = zeros(in, g.dtype(), g.device());  // elements outside the part get no gradient
    detail::copy_tensor_box(g, detail::whole_box(g.shape()), grad, detail::box_along(in, d, start), g.shape());
    return std::vector<Tensor>{grad};
  });
  return out;
}

// The slice at `index` along dim, with that dimension removed (torch.select, x[:, index]).
inline Tensor select(const Tensor& input, int64_t dim, int64_t index) {
  detail::check_defined("select", input, "input", detail::Cuda::kernel);
  LACOOT_CHECK(input.dim() > 0, "select: cannot be applied to a 0-dim tensor");
  const int64_t d = wrap_dim(dim, input.dim(), "select"), size = input.size(d);
  LACOOT_CHECK(index >= -size && index < size, "select: index ", index, " is out of range for "
               "dimension ", d, " of size ", size);
  return squeeze(narrow(input, d, index < 0 ? index + size : index, 1), d);
}

// Python's x[start:end:step] along dim (torch.slice / Tensor.__getitem__): a missing start is
// 0 and a missing end the size; negative bounds count from the end; bounds past either end are
// clamped, so an empty range gives size 0, not an error. step must be positive.
// slice(x, 0, 1, std::nullopt, 2) on [5, ...] takes rows 1 and 3.
inline Tensor slice(const Tensor& input, int64_t dim = 0, std::optional<int64_t> start = std::nullopt,
                    std::optional<int64_t> end = std::nullopt, int64_t step = 1) {
  detail::check_same("slice", {input}, detail::Cuda::kernel);
  LACOOT_CHECK(input.dim() > 0, "slice: cannot be applied to a 0-dim tensor");
  LACOOT_CHECK(step > 0, "slice: step must be positive, got ", step);
  const int64_t d = wrap_dim(dim, input.dim(), "slice"), size = input.size(d);
  int64_t s = start.value_or(0), e = end.value_or(size);
  if (s < 0) s += size;
  if (e < 0) e += size;
  s = std::clamp<int64_t>(s, 0, size);
  e = std::clamp<int64_t>(e, s, size);
  if (step == 1) return narrow(input, d, s, e - s);
  const Shape& in = input.shape();
  Shape out_shape = in;
  out_shape[static_cast<std::size_t>(d)] = (e - s + step - 1) / step;
  Tensor out = Tensor::empty(out_shape, input.dtype(), input.device());
  detail::copy_tensor_box(input, detail::box_along(in, d, s, step), out, detail::whole_box(out_shape), out_shape);
  autograd::record(out, "slice", {input}, [in, d, s, step](const Tensor& g, const std::vector<bool>&) {
    Tensor grad = zeros(in, g.dtype(), g.device());  // every step-th element gets its gradient
    detail::copy_tensor_box(g, detail::whole_box(g.shape()), grad, detail::box_along(in, d, s, step), g.shape());
    return std::vector<Tensor>{grad};
  });
  return out;
}

// Pieces of the given sizes along dim, which must add up to its size (torch.split).
inline std::vector<Tensor> split(const Tensor& input, const std::vector<int64_t>& split_sizes, int64_t dim = 0) {
  detail::check_defined("split", input, "input", detail::Cuda::kernel);
  LACOOT_CHECK(input.dim() > 0, "split: cannot be applied to a 0-dim tensor");
  const int64_t d = wrap_dim(dim, input.dim(), "split");
  int64_t total = 0;
  for (int64_t s : split_sizes) {
    LACOOT_CHECK(s >= 0, "split: negative size ", s, " in split_sizes ", shape_str(split_sizes));
    total += s;
  }
  LACOOT_CHECK(total == input.size(d), "split: split_sizes ", shape_str(split_sizes), " add up to ",
               total, ", but dimension ", d, " has size ", input.size(d));
  std::vector<Tensor> parts;
  int64_t start = 0;
  for (int64_t s : split_sizes) {
    parts.push_back(narrow(input, d, start, s));
    start += s;
  }
  return parts;
}

// Pieces of split_size along dim, the last one smaller when the size does not divide.
inline std::vector<Tensor> split(const Tensor& input, int64_t split_size, int64_t dim = 0) {
  detail::check_defined("split", input, "input", detail::Cuda::kernel);
  LACOOT_CHECK(input.dim() > 0, "split: cannot be applied to a 0-dim tensor");
  LACOOT_CHECK(split_size > 0, "split: split_size must be positive, got ", split_size);
  const int64_t size = input.size(wrap_dim(dim, input.dim(), "split"));
  std::vector<int64_t> sizes;
  for (int64_t start = 0; start < size; start += split_size) sizes.push_back(std::min(split_size, size - start));
  if (sizes.empty()) sizes.push_back(0);  // an empty dimension gives one empty piece
  return split(input, sizes, dim);
}

// `chunks` pieces of ceil(size / chunks) along dim; fewer when the size runs out (torch.chunk).
inline std::vector<Tensor> chunk(const Tensor& input, int64_t chunks, int64_t dim = 0) {
  detail::check_defined("chunk", input, "input", detail::Cuda::kernel);
  LACOOT_CHECK(chunks > 0, "chunk: chunks must be positive, got ", chunks);
  LACOOT_CHECK(input.dim() > 0, "chunk: cannot be applied to a 0-dim tensor");
  const int64_t size = input.size(wrap_dim(dim, input.dim(), "chunk"));
  return split(input, std::max<int64_t>(1, (size + chunks - 1) / chunks), dim);
}

// ---- pad, roll ----

// Constant padding as torch.nn.functional.pad(input, pad, mode="constant", value): pad lists
// (before, after) counts for the last dimension first, then the one before it, and so on:
// {left, right} pads the width, {left, right, top, bottom} width and height. A negative count
// crops instead. pad of a [2, 3] tensor with {1, 0, -1, 2} is [2 - 1 + 2, 3 + 1] = [3, 4].
inline Tensor pad(const Tensor& input, const std::vector<int64_t>& pad, double value = 0.0) {
  detail::check_same("pad", {input}, detail::Cuda::kernel);
  const Shape& in = input.shape();
  const std::size_t nd = in.size(), pairs = pad.size() / 2;
  LACOOT_CHECK(pad.size() % 2 == 0, "pad: the padding list must hold (before, after) pairs, last "
               "dimension first; got ", pad.size(), " values ", shape_str(pad));
  LACOOT_CHECK(pairs <= nd, "pad: ", pairs, " (before, after) pairs were given for a tensor with ",
               nd, " dimensions (shape ", shape_str(in), ")");
  // The input part that survives (all of it unless cropped) goes from box `from` of the input
  // to box `to` of the output; the rest of the output is `value`.
  Shape out_shape = in, extent = in;
  detail::StridedBox from = detail::whole_box(in), to;
  for (std::size_t i = 0; i < pairs; ++i) {
    const std::size_t d = nd - 1 - i;
    const int64_t before = pad[2 * i], after = pad[2 * i + 1];
    out_shape[d] = in[d] + before + after;
    LACOOT_CHECK(out_shape[d] >= 0, "pad: dimension ", d, " of size ", in[d], " padded by (", before,
                 ", ", after, ") would have negative size ", out_shape[d], " (shape ", shape_str(in), ")");
    from.start[d] = std::max<int64_t>(0, -before);  // cropped elements are skipped
    extent[d] = std::max<int64_t>(0, in[d] - std::max<int64_t>(0, -before) - std::max<int64_t>(0, -after));
  }
  to = detail::whole_box(out_shape);
  for (std::size_t i = 0; i < pairs; ++i) to.start[nd - 1 - i] = std::max<int64_t>(0, pad[2 * i]);
  Tensor out = full(out_shape, value, input.dtype(), input.device());
  detail::copy_tensor_box(input, from, out, to, extent);
  autograd::record(out, "pad", {input}, [in, from, to, extent](const Tensor& g, const std::vector<bool>&) {
    Tensor grad = zeros(in, g.dtype(), g.device());  // cropped elements get no gradient
    detail::copy_tensor_box(g, to, grad, from, extent);
    return std::vector<Tensor>{grad};
  });
  return out;
}

namespace detail {

// x rolled by `shift` along dimension d: out[(i + shift) mod n] = x[i], as two box copies.
inline Tensor roll_once(const Tensor& x, int64_t shift, int64_t d) {
  const Shape& s = x.shape();
  const int64_t n = s[static_cast<std::size_t>(d)];
  Tensor out = Tensor::empty(s, x.dtype(), x.device());
  if (n == 0) return out;
  const int64_t k = ((shift % n) + n) % n;
  Shape head = s, tail = s;
  head[static_cast<std::size_t>(d)] = n - k;  // x[0, n - k) -> out[k, n)
  tail[static_cast<std::size_t>(d)] = k;      // x[n - k, n) -> out[0, k)
  copy_tensor_box(x, detail::box_along(s, d, 0), out, detail::box_along(s, d, k), head);
  copy_tensor_box(x, detail::box_along(s, d, n - k), out, detail::box_along(s, d, 0), tail);
  return out;
}

}  // namespace detail

// Shifts elements along dims by shifts, wrapping around (torch.roll): roll of [1, 2, 3, 4] by
// {1} is [4, 1, 2, 3]. With no dims the tensor is rolled as if flattened (one shift).
inline Tensor roll(const Tensor& input, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims = {}) {
  detail::check_same("roll", {input}, detail::Cuda::kernel);
  Tensor out;
  if (dims.empty()) {
    LACOOT_CHECK(shifts.size() == 1, "roll: without dims the tensor is rolled as if flattened and "
                 "takes one shift, got ", shifts.size(), " shifts");
    Tensor flat = alias_with_shape(input, {input.numel()});
    out = alias_with_shape(detail::roll_once(flat, shifts[0], 0), input.shape());
  } else {
    LACOOT_CHECK(shifts.size() == dims.size(), "roll: shifts and dims must have the same length, got ",
                 shifts.size(), " shifts ", shape_str(shifts), " and ", dims.size(), " dims ", shape_str(dims));
    LACOOT_CHECK(input.dim() > 0, "roll: dims were given for a 0-dim tensor");
    out = input;
    for (std::size_t i = 0; i < dims.size(); ++i)  // one dimension at a time
      out = detail::roll_once(out, shifts[i], wrap_dim(dims[i], input.dim(), "roll"));
  }
  autograd::record(out, "roll", {input}, [shifts, dims](const Tensor& g, const std::vector<bool>&) {
    std::vector<int64_t> back(shifts.size());  // rolling back by -shift undoes the roll
    for (std::size_t i = 0; i < shifts.size(); ++i) back[i] = -shifts[i];
    return std::vector<Tensor>{roll(g, back, dims)};
  });
  return out;
}

}  // namespace lacoot

// lacoot/ops/index.hpp — picking elements with an index tensor, and adding them back.
//
// Holds: index_select, gather, embedding (reads through int64 indices) and index_add,
// scatter_add (adds through them), with PyTorch's names, arguments and semantics.
// Needs: ops/common.hpp, backend/cpu/index.hpp; with CUDA, backend/cuda/index.hpp (the same
// ops on the GPU, the adds equal to the CPU's to the bit).
// Leaves out: scatter (overwrite) and reductions other than add, index_add's alpha,
// scatter_add with a src larger than its index (PyTorch allows it; here src must have index's
// shape), embedding's padding_idx / max_norm / sparse options, negative index values (PyTorch
// rejects them in these ops too). Index values are checked on every call; a bad one is an
// error that names it and the size it had to fit. The index lives on the device of the tensor
// it indexes; for a GPU index the check reads a copy of it on the host, so each call waits for
// the device's work, and that copy is also what the GPU adds list their contributions from.
//
// Backward follows autograd/node.hpp: each closure returns dL/dinput per input. A read through
// an index sends its gradient back with the matching add into zeros, so an element picked twice
// receives both gradients: index_select <-> index_add, gather <-> scatter_add, and embedding's
// weight gradient is index_add of the output gradient's rows.
#pragma once

#include <string>
#include <vector>

#include "../backend/cpu/index.hpp"
#include "common.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/index.hpp"
#endif

namespace lacoot {

Tensor index_select(const Tensor& input, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& input, int64_t dim, const Tensor& index);

namespace detail {

// The index must be on the device of the tensor t it indexes, where the kernels read it.
inline void check_index_device(const char* op, const Tensor& index, const Tensor& t, const char* what = "index") {
  LACOOT_CHECK(index.device() == t.device(), op, ": ", what, " on ", index.device().str(),
               " but the tensor indexed on ", t.device().str(), " (hint: move the ", what,
               " there with .to(tensor.device()))");
}

inline void check_index_tensor(const char* op, const Tensor& index, const Tensor& t) {
  check_defined(op, index, "index", Cuda::kernel);
  LACOOT_CHECK(index.dtype() == kInt64, op, ": expected an int64 index tensor, got ",
               dtype_name(index.dtype()), " (hint: convert it with .to(lacoot::kInt64))");
  check_index_device(op, index, t);
}

// Every value of `index` must lie in [0, size); the error names the first one that does not.
// `what` says what the values index ("dimension 1 of size 4"). host_index is the index on the
// host (index.to(kCPU): the index itself for a CPU one).
inline void check_index_values(const char* op, const Tensor& host_index, int64_t size, const std::string& what) {
  const int64_t* p = host_index.data<int64_t>();
  for (int64_t i = 0; i < host_index.numel(); ++i)
    LACOOT_CHECK(p[i] >= 0 && p[i] < size, op, ": index ", p[i], " is out of range for ", what,
                 " (expected values in [0, ", size - 1, "]; at flat position ", i, " of the index)");
}

// The [outer, size, inner] view of a shape around dimension d.
struct AroundDim {
  int64_t outer = 1, size = 1, inner = 1;
  AroundDim(const Shape& s, int64_t d) {
    for (std::size_t e = 0; e < s.size(); ++e) {
      if (static_cast<int64_t>(e) < d) outer *= s[e];
      else if (static_cast<int64_t>(e) == d) size = s[e];
      else inner *= s[e];
    }
  }
};

// The checks shared by gather and scatter_add: `index` has the tensor's number of dimensions
// and fits inside it in every dimension but d, where its values must be valid positions.
// Returns the index on the host, which the value check has read.
inline Tensor check_gather_index(const char* op, const Tensor& t, int64_t d, const Tensor& index) {
  check_index_tensor(op, index, t);
  LACOOT_CHECK(index.dim() == t.dim(), op, ": index (shape ", shape_str(index.shape()), ") must have "
               "as many dimensions as the tensor (shape ", shape_str(t.shape()), ")");
  for (int64_t e = 0; e < t.dim(); ++e)
    LACOOT_CHECK(e == d || index.size(e) <= t.size(e), op, ": index (shape ", shape_str(index.shape()),
                 ") is larger than the tensor (shape ", shape_str(t.shape()), ") in dimension ", e,
                 " (only dimension ", d, " may differ)");
  Tensor host_index = index.to(kCPU);
  check_index_values(op, host_index, t.size(d), concat("dimension ", d, " of size ", t.size(d)));
  return host_index;
}

}  // namespace detail

// ---- whole slices: index_select, index_add ----

// out = input + source added at slots index along dim: out.select(dim, index[j]) +=
// source.select(dim, j) for every j (Tensor.index_add). source has input's shape with dim
// resized to index.numel(); a repeated index adds twice.
inline Tensor index_add(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& source) {
  detail::check_same("index_add", {input, source}, detail::Cuda::kernel);
  detail::check_index_tensor("index_add", index, input);
  LACOOT_CHECK(input.dim() > 0 && index.dim() <= 1, "index_add: expected a tensor with at least one "
               "dimension and a 1-D index, got shapes ", shape_str(input.shape()), " and ", shape_str(index.shape()));
  const int64_t d = wrap_dim(dim, input.dim(), "index_add"), k = index.numel();
  Shape expected = input.shape();
  expected[static_cast<std::size_t>(d)] = k;
  LACOOT_CHECK(source.shape() == expected, "index_add: source has shape ", shape_str(source.shape()),
               ", expected ", shape_str(expected), " (input's shape with dimension ", d, " resized to the ", k, " indices)");
  const Tensor host_index = index.to(kCPU);
  detail::check_index_values("index_add", host_index, input.size(d), detail::concat("dimension ", d, " of size ", input.size(d)));
  Tensor out = input.clone();
  const detail::AroundDim v(input.shape(), d);
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda()) cuda::index_add(out, v.outer, v.size, v.inner, host_index, source);
  else
#endif
  dispatch_all(input.dtype(), "index_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    backend::cpu::index_add_kernel(out.data<T>(), v.outer, v.size, v.inner, index.data<int64_t>(), k, source.data<T>());
  });
  autograd::record(out, "index_add", {input, source}, [d, index](const Tensor& g, const std::vector<bool>& need) {
    // d out / d input = identity; d out / d source[j] = the slot it was added to: index_select.
    return std::vector<Tensor>{need[0] ? g : Tensor(), need[1] ? index_select(g, d, index) : Tensor()};
  });
  return out;
}

// The slices index[0], index[1], ... of input along dim (torch.index_select): for input [N, C]
// and dim 0, out[j, :] = input[index[j], :]. index is 1-D int64 with values in [0, size).
inline Tensor index_select(const Tensor& input, int64_t dim, const Tensor& index) {
  detail::check_same("index_select", {input}, detail::Cuda::kernel);
  detail::check_index_tensor("index_select", index, input);
  LACOOT_CHECK(input.dim() > 0, "index_select: cannot be applied to a 0-dim tensor");
  LACOOT_CHECK(index.dim() <= 1, "index_select: index must be 1-D, got shape ", shape_str(index.shape()));
  const int64_t d = wrap_dim(dim, input.dim(), "index_select"), k = index.numel();
  detail::check_index_values("index_select", index.to(kCPU), input.size(d),
                             detail::concat("dimension ", d, " of size ", input.size(d)));
  Shape out_shape = input.shape();
  out_shape[static_cast<std::size_t>(d)] = k;
  Tensor out = Tensor::empty(out_shape, input.dtype(), input.device());
  const detail::AroundDim v(input.shape(), d);
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda()) cuda::index_select(input, v.outer, v.size, v.inner, index, out);
  else
#endif
  dispatch_all(input.dtype(), "index_select", [&](auto tag) {
    using T = typename decltype(tag)::type;
    backend::cpu::index_select_kernel(input.data<T>(), v.outer, v.size, v.inner, index.data<int64_t>(), k, out.data<T>());
  });
  autograd::record(out, "index_select", {input}, [in = input.shape(), d, index](const Tensor& g, const std::vector<bool>&) {
    // Each selected slice sends its gradient back to the slice it came from; repeats add up.
    return std::vector<Tensor>{index_add(zeros(in, g.dtype(), g.device()), d, index, g)};
  });
  return out;
}

// ---- single elements: gather, scatter_add ----

// out = input + src added at the positions index names along dim (Tensor.scatter_add): for
// dim 1 of a 2-D tensor, out[i][index[i][j]] += src[i][j]. index and src share a shape that
// fits inside input except along dim; repeated positions accumulate.
inline Tensor scatter_add(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& src) {
  detail::check_same("scatter_add", {input, src}, detail::Cuda::kernel);
  LACOOT_CHECK(input.dim() > 0, "scatter_add: cannot be applied to a 0-dim tensor");
  const int64_t d = wrap_dim(dim, input.dim(), "scatter_add");
  const Tensor host_index = detail::check_gather_index("scatter_add", input, d, index);
  LACOOT_CHECK(src.shape() == index.shape(), "scatter_add: src has shape ", shape_str(src.shape()),
               " but index has shape ", shape_str(index.shape()), " (expected the same)");
  Tensor out = input.clone();
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda()) cuda::scatter_add(out, d, host_index, src);
  else
#endif
  dispatch_all(input.dtype(), "scatter_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    backend::cpu::scatter_add_kernel(out.data<T>(), input.shape(), d, index.data<int64_t>(), index.shape(), src.data<T>());
  });
  autograd::record(out, "scatter_add", {input, src}, [d, index](const Tensor& g, const std::vector<bool>& need) {
    // d out / d input = identity; src[p] was added to one element of out: gather it back.
    return std::vector<Tensor>{need[0] ? g : Tensor(), need[1] ? gather(g, d, index) : Tensor()};
  });
  return out;
}

// Picks along dim with an index of input's number of dimensions (torch.gather): for dim 1 of a
// 2-D tensor, out[i][j] = input[i][index[i][j]]. out has index's shape, which must fit inside
// input in every dimension but dim.
inline Tensor gather(const Tensor& input, int64_t dim, const Tensor& index) {
  detail::check_same("gather", {input}, detail::Cuda::kernel);
  LACOOT_CHECK(input.dim() > 0, "gather: cannot be applied to a 0-dim tensor");
  const int64_t d = wrap_dim(dim, input.dim(), "gather");
  detail::check_gather_index("gather", input, d, index);
  Tensor out = Tensor::empty(index.shape(), input.dtype(), input.device());
#if LACOOT_WITH_CUDA
  if (input.device().is_cuda()) cuda::gather(input, d, index, out);
  else
#endif
  dispatch_all(input.dtype(), "gather", [&](auto tag) {
    using T = typename decltype(tag)::type;
    backend::cpu::gather_kernel(input.data<T>(), input.shape(), d, index.data<int64_t>(), index.shape(), out.data<T>());
  });
  autograd::record(out, "gather", {input}, [in = input.shape(), d, index](const Tensor& g, const std::vector<bool>&) {
    // Each picked element sends its gradient back to where it was read; repeats add up.
    return std::vector<Tensor>{scatter_add(zeros(in, g.dtype(), g.device()), d, index, g)};
  });
  return out;
}

// ---- embedding ----

// Rows of a lookup table (torch.nn.functional.embedding): weight is [V, D] (num_embeddings,
// embedding_dim), indices int64 of any shape [...] with values in [0, V); out is [..., D] with
// out[..., :] = weight[indices[...], :]. Note the argument order: weight first, then indices
// (F.embedding takes (input, weight)). The weight's gradient adds the output gradient's rows
// into the rows they were read from, so a row used twice gets both.
inline Tensor embedding(const Tensor& weight, const Tensor& indices) {
  detail::check_same("embedding", {weight}, detail::Cuda::kernel);
  detail::check_defined("embedding", indices, "indices", detail::Cuda::kernel);
  LACOOT_CHECK(indices.dtype() == kInt64, "embedding: indices must be int64, got ",
               dtype_name(indices.dtype()), weight.dtype() == kInt64
                   ? " (hint: the arguments are (weight, indices); torch's F.embedding takes (input, weight))"
                   : " (hint: convert them with .to(lacoot::kInt64))");
  detail::check_index_device("embedding", indices, weight, "indices");
  LACOOT_CHECK(weight.dim() == 2, "embedding: expected weight of shape [num_embeddings, embedding_dim], "
               "got shape ", shape_str(weight.shape()));
  const int64_t V = weight.size(0), D = weight.size(1), K = indices.numel();
  detail::check_index_values("embedding", indices.to(kCPU), V, detail::concat("a weight of ", V,
                             " rows (num_embeddings = ", V, ", weight shape ", shape_str(weight.shape()), ")"));
  Shape out_shape = indices.shape();
  out_shape.push_back(D);
  Tensor out = Tensor::empty(out_shape, weight.dtype(), weight.device());
#if LACOOT_WITH_CUDA
  if (weight.device().is_cuda()) cuda::index_select(weight, 1, V, D, indices, out);  // weight as [1, V, D]
  else
#endif
  dispatch_all(weight.dtype(), "embedding", [&](auto tag) {
    using T = typename decltype(tag)::type;  // weight as [1, V, D], rows picked along V
    backend::cpu::index_select_kernel(weight.data<T>(), 1, V, D, indices.data<int64_t>(), K, out.data<T>());
  });
  Tensor flat = alias_with_shape(indices, {K});
  autograd::record(out, "embedding", {weight}, [V, D, K, flat](const Tensor& g, const std::vector<bool>&) {
    // dL/dweight[v] = sum of dL/dout[p] over the positions p with indices[p] == v.
    Tensor rows = alias_with_shape(g, {K, D});
    return std::vector<Tensor>{index_add(zeros({V, D}, g.dtype(), g.device()), 0, flat, rows)};
  });
  return out;
}

}  // namespace lacoot

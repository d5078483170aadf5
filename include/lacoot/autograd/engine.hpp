// lacoot/autograd/engine.hpp — running the graph backwards.
//
// Holds: autograd::backward(root, grad_output, retain_graph) and the Tensor::backward members.
// Needs: node.hpp, core/parallel.hpp.
//
// The engine visits the nodes reachable from root in reverse topological order (Kahn's
// algorithm on consumer counts, so a node runs only once every consumer has sent it its
// gradient), sums the gradients arriving at each node, and accumulates into the .grad of
// leaves. Unless retain_graph is set, each node drops its closure and edges once it has run,
// which frees what the forward pass saved; a second backward through the same graph is an error.
#pragma once

#include <cstring>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "../core/parallel.hpp"
#include "node.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/pointwise.hpp"
#endif

namespace lacoot::autograd {
namespace detail {

// a + b into a new tensor (gradients are never summed in place: a closure may hand the same
// gradient tensor to two inputs).
inline Tensor add_gradients(const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
#if LACOOT_WITH_CUDA
  if (a.device().is_cuda()) {
    cuda::binary(fn::Add{}, a, b, out);
    return out;
  }
#endif
  dispatch_floating(a.dtype(), "backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    parallel_for(a.numel(), 1 << 15, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) po[i] = pa[i] + pb[i];
    });
  });
  return out;
}

inline void check_gradient(const Node& node, std::size_t i, const Tensor& g, const Shape& expected) {
  LACOOT_CHECK(g.shape() == expected, "autograd: the backward of ", node.name,
               " returned a gradient of shape ", shape_str(g.shape()), " for input ", i,
               ", whose shape is ", shape_str(expected), " (a bug in that op)");
}

}  // namespace detail

inline void backward(const Tensor& root, const Tensor& grad_output, bool retain_graph = false) {
  LACOOT_CHECK(root.requires_grad(), "backward: the tensor does not require grad and has no "
               "grad_fn (hint: call requires_grad_() on the parameters before the forward pass, "
               "and do not run it under NoGradGuard)");
  LACOOT_CHECK(grad_output.shape() == root.shape(), "backward: grad_output has shape ",
               shape_str(grad_output.shape()), " but the tensor has shape ", shape_str(root.shape()));
  LACOOT_CHECK(grad_output.dtype() == root.dtype(), "backward: grad_output is ",
               dtype_name(grad_output.dtype()), " but the tensor is ", dtype_name(root.dtype()));
  NoGradGuard no_grad;

  auto accumulate_leaf = [](TensorImpl& leaf, const Tensor& g) {
    leaf.grad = leaf.grad ? detail::add_gradients(Tensor(leaf.grad), g).impl_ptr()
                          : g.clone().impl_ptr();
  };
  if (!root.grad_fn()) {  // backward on a leaf: its gradient is grad_output
    accumulate_leaf(root.impl(), grad_output);
    return;
  }

  // Count, for every reachable node, how many edges point to it.
  std::unordered_map<Node*, int> consumers;
  std::vector<Node*> stack{root.grad_fn().get()};
  std::unordered_set<Node*> seen{root.grad_fn().get()};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    LACOOT_CHECK(n->backward, "backward: trying to go back through the graph of ", n->name,
                 " a second time; its saved tensors were freed by the first backward "
                 "(hint: pass retain_graph = true to the first call)");
    for (const Edge& e : n->edges) {
      if (!e.fn) continue;
      ++consumers[e.fn.get()];
      if (seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
    }
  }

  std::unordered_map<Node*, Tensor> grads{{root.grad_fn().get(), grad_output}};
  std::deque<Node*> ready{root.grad_fn().get()};
  std::vector<std::shared_ptr<Node>> keep_alive;  // edges released below must not free nodes early
  while (!ready.empty()) {
    Node* n = ready.front();
    ready.pop_front();
    Tensor g = std::move(grads[n]);
    grads.erase(n);
    std::vector<Tensor> in_grads = n->backward(g, n->needs_grad);
    LACOOT_CHECK(in_grads.size() == n->edges.size(), "autograd: the backward of ", n->name,
                 " returned ", in_grads.size(), " gradients for ", n->edges.size(), " inputs");
    for (std::size_t i = 0; i < n->edges.size(); ++i) {
      const Edge& e = n->edges[i];
      if (e.fn) {
        if (in_grads[i].defined()) {
          detail::check_gradient(*n, i, in_grads[i], e.shape);
          auto it = grads.find(e.fn.get());
          if (it == grads.end()) grads.emplace(e.fn.get(), in_grads[i]);
          else it->second = detail::add_gradients(it->second, in_grads[i]);
        }
        if (--consumers[e.fn.get()] == 0) ready.push_back(e.fn.get());
      } else if (e.leaf && in_grads[i].defined()) {
        detail::check_gradient(*n, i, in_grads[i], e.shape);
        accumulate_leaf(*e.leaf, in_grads[i]);
      }
    }
    if (!retain_graph) {
      for (Edge& e : n->edges)
        if (e.fn) keep_alive.push_back(std::move(e.fn));
      n->edges.clear();
      n->backward = nullptr;
    }
  }
}

}  // namespace lacoot::autograd

namespace lacoot {

inline void Tensor::backward(const Tensor& grad_output) const {
  autograd::backward(*this, grad_output);
}

inline void Tensor::backward() const {
  LACOOT_CHECK(numel() == 1, "backward: without a grad_output the tensor must hold one element "
               "(a loss), but it has shape ", shape_str(shape()),
               " (hint: reduce it with sum() or mean(), or pass grad_output)");
  Tensor one = Tensor::empty(shape(), dtype(), device());
  lacoot::detail::fill(one.raw_data(), dtype(), 1, 1.0, device());
  autograd::backward(*this, one);
}

}  // namespace lacoot

// lacoot/autograd/engine.hpp — running the graph backwards.
//
// Holds: autograd::backward(root, grad_output, retain_graph), the Tensor::backward members and
// register_post_accumulate_grad_hook (torch.Tensor.register_post_accumulate_grad_hook).
// Needs: node.hpp, core/parallel.hpp.
//
// The engine visits the nodes reachable from root in reverse topological order (Kahn's
// algorithm on consumer counts, so a node runs only once every consumer has sent it its
// gradient), sums the gradients arriving at each node, and accumulates into the .grad of
// leaves. Unless retain_graph is set, each node drops its closure and edges once it has run,
// which frees what the forward pass saved; a second backward through the same graph is an error.
//
// A leaf's post-accumulate-grad hooks run once per backward, right after the last gradient this
// pass sends it has been added to its .grad (the engine counts the edges that reach each such
// leaf), while the rest of the graph is still to run: distributed data parallel starts reducing
// a bucket of gradients as soon as its last one is final, overlapping communication with the
// remaining backward. A leaf the pass reaches only through undefined gradients still gets its
// hooks called (its .grad as it was); a leaf the pass does not reach does not.
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

// Runs leaf's post-accumulate-grad hooks (a copy of the list: a hook may remove itself).
inline void run_post_accumulate_grad_hooks(const std::shared_ptr<TensorImpl>& leaf) {
  const auto hooks = leaf->post_accumulate_grad_hooks;
  const Tensor t(leaf);
  for (const auto& [id, hook] : hooks) hook(t);
}

}  // namespace detail

// What register_post_accumulate_grad_hook returns: remove() takes the hook off again (torch's
// RemovableHandle). Holds the tensor weakly: removing from a freed tensor does nothing.
class RemovableHandle {
 public:
  RemovableHandle() = default;
  RemovableHandle(std::weak_ptr<TensorImpl> leaf, int64_t id) : leaf_(std::move(leaf)), id_(id) {}
  void remove() {
    if (auto leaf = leaf_.lock()) std::erase_if(leaf->post_accumulate_grad_hooks, [&](auto& h) { return h.first == id_; });
    leaf_.reset();
  }

 private:
  std::weak_ptr<TensorImpl> leaf_;
  int64_t id_ = 0;
};

// hook(leaf) runs in every backward, with grad mode off, once leaf's .grad holds the pass's
// last contribution (see the header). leaf must be a tensor that requires grad and has no
// grad_fn (a parameter).
inline RemovableHandle register_post_accumulate_grad_hook(const Tensor& leaf, std::function<void(const Tensor&)> hook) {
  LACOOT_CHECK(leaf.defined() && leaf.requires_grad() && !leaf.grad_fn(), "register_post_accumulate_grad_hook: "
               "expected a leaf tensor that requires grad (a parameter), got ",
               !leaf.defined() ? "an undefined tensor" : leaf.grad_fn() ? "the output of an op" : "a tensor without requires_grad");
  static int64_t next_id = 0;
  const int64_t id = ++next_id;
  leaf.impl().post_accumulate_grad_hooks.emplace_back(id, std::move(hook));
  return RemovableHandle(leaf.impl_ptr(), id);
}

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
    detail::run_post_accumulate_grad_hooks(root.impl_ptr());
    return;
  }

  // Count, for every reachable node, how many edges point to it; and for every reachable leaf
  // with hooks, how many edges reach it.
  std::unordered_map<Node*, int> consumers;
  std::unordered_map<TensorImpl*, int> leaf_edges;
  std::vector<Node*> stack{root.grad_fn().get()};
  std::unordered_set<Node*> seen{root.grad_fn().get()};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    LACOOT_CHECK(n->backward, "backward: trying to go back through the graph of ", n->name,
                 " a second time; its saved tensors were freed by the first backward "
                 "(hint: pass retain_graph = true to the first call)");
    for (const Edge& e : n->edges) {
      if (e.leaf && !e.leaf->post_accumulate_grad_hooks.empty()) ++leaf_edges[e.leaf.get()];
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
      } else if (e.leaf) {
        if (in_grads[i].defined()) {
          detail::check_gradient(*n, i, in_grads[i], e.shape);
          accumulate_leaf(*e.leaf, in_grads[i]);
        }
        auto it = leaf_edges.find(e.leaf.get());
        if (it != leaf_edges.end() && --it->second == 0) detail::run_post_accumulate_grad_hooks(e.leaf);
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

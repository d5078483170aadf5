// lacoot/autograd/node.hpp — the define-by-run graph: one Node per op that needs a gradient.
//
// Holds: Node, Edge, BackwardFn and record(), which every op calls right after computing its
// output, with the closure that sends the gradient back.
// Needs: core/tensor.hpp, grad_mode.hpp, scope.hpp (the module whose forward is running).
//
// The backward contract (every op in ops/ follows it):
//   backward(grad_output, needs_grad) receives dL/d(output), with the output's shape, and
//   returns one tensor per recorded input: dL/d(input_i) with input_i's shape, or an undefined
//   Tensor where needs_grad[i] is false (the op may skip that work). It must not modify
//   grad_output, and it runs with grad mode off. The engine adds up contributions: an input used
//   twice, or by two ops, receives the sum.
//
// What a closure captures it keeps alive until backward has run (or the graph is dropped), so
// capture only what the gradient needs, and capture outputs as out.detach(): the output holds
// the node, and a node holding its own output would be a reference cycle.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../core/tensor.hpp"
#include "grad_mode.hpp"
#include "scope.hpp"

namespace lacoot::autograd {

// Where an input's gradient goes: to the node that made it, or into a leaf's .grad.
struct Edge {
  std::shared_ptr<Node> fn;
  std::shared_ptr<TensorImpl> leaf;
  Shape shape;  // the input's shape, to check what backward returns
};

using BackwardFn =
    std::function<std::vector<Tensor>(const Tensor& grad_output, const std::vector<bool>& needs_grad)>;

struct Node {
  std::string name;               // the op, for error messages: "conv2d"
  std::vector<Edge> edges;        // one per recorded input (empty where no grad is needed)
  std::vector<bool> needs_grad;   // needs_grad[i]: input i leads to a tensor requiring grad
  BackwardFn backward;            // null once the graph has been released
  // The innermost module whose forward recorded this op (autograd/scope.hpp), an opaque
  // address: graph::trace maps it to a dotted path. Backward never reads it. Each edge's
  // shape is the shape of the tensor it came from, so a traced graph needs no other field.
  const void* scope = nullptr;
};

// Records that `out` was made by op `name` from `inputs`. Does nothing under NoGradGuard or
// when no input requires grad; otherwise `out` gets a grad_fn and requires grad.
inline void record(Tensor& out, const char* name, const std::vector<Tensor>& inputs,
                   BackwardFn backward) {
  if (!GradMode::is_enabled()) return;
  auto node = std::make_shared<Node>();
  bool any = false;
  for (const Tensor& in : inputs) {
    bool needs = in.defined() && in.requires_grad();
    node->needs_grad.push_back(needs);
    Edge e;
    if (needs) {
      e.shape = in.shape();
      if (in.grad_fn()) e.fn = in.grad_fn();
      else e.leaf = in.impl_ptr();
    }
    node->edges.push_back(std::move(e));
    any = any || needs;
  }
  if (!any) return;
  node->name = name;
  node->scope = current_scope();  // one thread-local read: what module made this op
  node->backward = std::move(backward);
  out.impl().requires_grad = true;
  out.impl().grad_fn = std::move(node);
}

}  // namespace lacoot::autograd

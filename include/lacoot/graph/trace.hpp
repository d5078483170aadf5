// lacoot/graph/trace.hpp — running a model once and reading its autograd graph as a Graph.
//
// Holds: trace(model, sample_shape).
// Needs: graph/graph.hpp, nn/module.hpp and nn/block.hpp (paths, parameters, block marks),
// autograd/node.hpp (Node::edges and Node::scope), core/factories.hpp.
// Leaves out: models (graph sees only Modules, STYLE.md's reading order), data-dependent
// control flow (the graph is the one path the traced input took) and ops that do not record.
//
// How: every op calls autograd::record, which makes a Node with an edge to the node (or the
// leaf tensor) of each input that requires grad, and, since nn::Module::operator() wraps
// forward in an autograd::ScopeGuard, with the address of the innermost module running
// (autograd/scope.hpp). So trace runs one forward pass in which everything records — the input
// requires grad, and so does every parameter for the duration — then walks the graph back from
// the output: an edge to a node is a data input, an edge to the input tensor is the graph
// input, an edge to a leaf that is a registered parameter is a parameter read, and module
// addresses become dotted paths through model.named_modules(). Each edge also carries the
// shape of the tensor it came from, which gives every op's output shape, the conv / linear
// weight shapes and the matmul operand shapes that MACs need. This is torch.jit.trace's idea (record what one example input
// does) on the ordinary define-by-run graph, so models need no annotation beyond their marks.
//
// Conventions. `sample_shape` is ONE sample without the batch dim ({3, 32, 32} for CIFAR,
// {16} for an MLP on 16 features); the model runs on a batch of 1, [1, ...sample_shape], filled
// with zeros, so every count derived from the graph is per image (METHOD.md §3). The call is
// nn::Module::traced_call: model(x), or for a model that needs more than x what it supplies
// (DiT: timestep 0 and the null class; ops on those alone, the timestep MLP, count too). The forward
// runs in eval mode (BatchNorm uses running statistics and updates nothing, dropout is off),
// with grad mode on; the model's train/eval flags and its parameters' requires_grad flags
// are restored afterwards, also when forward throws. Forward hooks run as in any forward pass;
// what they compute does not reach the output and so is not in the graph.
//
// Failing loudly: an op run under NoGradGuard, or on a detached tensor, records nothing, so the
// ops after it no longer reach the input. trace throws when the output does not depend on the
// input through recorded ops, naming the ops where recording restarted; a branch that is cut
// while another path still connects shows as Graph::unused_parameters instead. An op made by a
// module that is not registered in the model (a temporary in forward) or reading a leaf tensor
// that requires grad but is not a registered parameter is an error too: its scope or its size
// could not be named.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../autograd/node.hpp"
#include "../core/factories.hpp"
#include "../nn/block.hpp"
#include "../nn/module.hpp"
#include "graph.hpp"

namespace lacoot::detail {

// Puts the model in eval mode, turns grad mode on and makes every floating parameter require
// grad, and undoes all three when it dies (a forward that throws leaves the model as it was).
class TraceSession {
 public:
  explicit TraceSession(nn::Module& model) : grad_was_(autograd::GradMode::is_enabled()) {
    for (auto& [path, m] : model.named_modules()) modes_.emplace_back(m, m->is_training());
    for (auto& [name, p] : model.named_parameters())
      if (is_floating(p.dtype()) && !p.requires_grad()) {
        p.requires_grad_(true);
        frozen_.push_back(p);
      }
    model.eval();
    autograd::GradMode::set_enabled(true);
  }
  ~TraceSession() {
    autograd::GradMode::set_enabled(grad_was_);
    for (Tensor& p : frozen_) p.requires_grad_(false);
    // Pre-order: a parent's train() sets its children, then each child's own flag comes back.
    for (auto& [m, on] : modes_) m->train(on);
  }
  TraceSession(const TraceSession&) = delete;
  TraceSession& operator=(const TraceSession&) = delete;

 private:
  bool grad_was_;
  std::vector<std::pair<nn::Module*, bool>> modes_;
  std::vector<Tensor> frozen_;
};

// The nodes reachable from `root` through Edge::fn, inputs before consumers (an iterative
// depth-first post-order, so that a deep network cannot overflow the stack).
inline std::vector<autograd::Node*> topological_nodes(autograd::Node* root) {
  std::vector<autograd::Node*> order;
  std::unordered_set<autograd::Node*> seen{root};
  std::vector<std::pair<autograd::Node*, std::size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    autograd::Node* n = stack.back().first;
    const std::size_t i = stack.back().second;
    if (i < n->edges.size()) {
      ++stack.back().second;
      autograd::Node* producer = n->edges[i].fn.get();
      if (producer && seen.insert(producer).second) stack.emplace_back(producer, 0);
      continue;
    }
    order.push_back(n);
    stack.pop_back();
  }
  return order;
}

// "relu in \"layer1.0\", conv2d in \"\"": where recording restarted after a break.
inline std::string describe_sources(const graph::Graph& g, const std::vector<bool>& reaches) {
  std::string s;
  int listed = 0;
  for (std::size_t i = 0; i < g.ops.size() && listed < 5; ++i) {
    const graph::Op& op = g.ops[i];
    bool from_ops = false;
    for (int in : op.inputs) from_ops = from_ops || in != graph::kInput;
    if (reaches[i] || from_ops) continue;
    if (listed++) s += ", ";
    s += op.name + " in \"" + op.scope + "\"";
  }
  return s.empty() ? "none" : s;
}

// Builds the Graph of `y` = model(x) from its autograd nodes (see the header comment).
inline graph::Graph graph_from_autograd(nn::Module& model, const Tensor& x, const Tensor& y) {
  graph::Graph g;
  g.input_shape = x.shape();
  for (auto& [path, m] : nn::blocks(model)) g.blocks.push_back(path);

  std::unordered_map<const void*, std::string> scope_of;  // a shared module keeps its first path
  for (auto& [path, m] : model.named_modules()) scope_of.emplace(m, path);
  std::unordered_map<const TensorImpl*, std::string> param_of;  // a shared parameter: first name
  std::vector<std::string> param_names;
  for (auto& [name, p] : model.named_parameters())
    if (param_of.emplace(p.impl_ptr().get(), name).second) param_names.push_back(name);

  if (y.impl_ptr() == x.impl_ptr()) {  // the model returned its input: no op at all
    g.unused_parameters = param_names;
    return g;
  }
  LACOOT_CHECK(y.grad_fn() != nullptr, "trace: the output of ", model.type_name(), " (shape ",
               shape_str(y.shape()), ") was not recorded by autograd, so its graph cannot be read; "
               "expected the output to be computed from the input with grad mode on (hint: an op in forward "
               "runs under NoGradGuard or on a detached tensor, or the output is a constant)");

  const std::vector<autograd::Node*> nodes = topological_nodes(y.grad_fn().get());
  std::unordered_map<const autograd::Node*, int> id_of;
  for (std::size_t i = 0; i < nodes.size(); ++i) id_of.emplace(nodes[i], static_cast<int>(i));
  std::unordered_map<std::string, Shape> param_shape;
  std::unordered_set<std::string> read;
  g.ops.resize(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const autograd::Node& n = *nodes[i];
    graph::Op& op = g.ops[i];
    op.name = n.name;
    auto scope = scope_of.find(n.scope);
    LACOOT_CHECK(scope != scope_of.end(), "trace: the op ", n.name, " was recorded in the forward of a "
                 "module that is not registered in ", model.type_name(), ", so its place in the model has no "
                 "name; expected every module that forward calls to be a registered child (hint: create it "
                 "in the constructor with register_module, not inside forward)");
    op.scope = scope->second;
    for (const autograd::Edge& e : n.edges) {
      if (e.fn) {
        const int producer = id_of.at(e.fn.get());
        op.inputs.push_back(producer);
        g.ops[static_cast<std::size_t>(producer)].shape = e.shape;  // what the producer output
      } else if (e.leaf.get() == x.impl_ptr().get()) {
        op.inputs.push_back(graph::kInput);
      } else if (e.leaf) {
        auto p = param_of.find(e.leaf.get());
        LACOOT_CHECK(p != param_of.end(), "trace: the op ", n.name, " in \"", op.scope, "\" reads a tensor "
                     "of shape ", shape_str(e.shape), " that requires grad but is not a parameter of ",
                     model.type_name(), ", so its size cannot be counted; expected only the input and "
                     "registered parameters as leaves (hint: register it with register_parameter, or "
                     "detach it if it is a constant)");
        op.params.push_back(p->second);
        param_shape.emplace(p->second, e.shape);
        if (read.insert(p->second).second) g.parameters.emplace_back(p->second, e.shape);
      }
    }
    if (op.name == "conv2d" || op.name == "linear") {  // record(out, name, {input, weight, bias})
      LACOOT_CHECK(n.edges.size() >= 2 && (n.edges[1].fn || n.edges[1].leaf), "trace: the ", op.name,
                   " in \"", op.scope, "\" has a weight that is neither a parameter nor computed from one, "
                   "so its MACs cannot be counted (hint: register the weight with register_parameter)");
      op.weight_shape = n.edges[1].shape;
      op.bias = n.edges.size() > 2 && (n.edges[2].fn || n.edges[2].leaf);
    }
    if (op.name == "matmul") {  // record(out, "matmul", {a, b}): K from an operand that was recorded
      const Shape& a = n.edges[0].shape;
      const Shape& b = n.edges[1].shape;  // a constant operand has no edge shape
      op.inner = !a.empty() ? a.back() : b.size() == 1 ? b[0] : b[b.size() - 2];
    }
  }
  g.output = static_cast<int>(nodes.size()) - 1;  // post-order: the root comes last
  g.ops.back().shape = y.shape();

  // Connected: does the output depend on the input through recorded ops?
  std::vector<bool> reaches(g.ops.size(), false);
  for (std::size_t i = 0; i < g.ops.size(); ++i)
    for (int in : g.ops[i].inputs)
      if (in == graph::kInput || reaches[static_cast<std::size_t>(in)]) reaches[i] = true;
  LACOOT_CHECK(reaches.back(), "trace: the output of ", model.type_name(), " does not depend on its input "
               "through recorded ops: the graph is cut. Recording restarted at: ", describe_sources(g, reaches),
               ". Expected every op between input and output to record (hint: an op in forward runs under "
               "NoGradGuard or on a detached tensor; trace turns grad mode on and makes the input and all "
               "parameters require grad, so the cut is inside the model)");

  for (const std::string& name : param_names)
    if (!read.count(name)) g.unused_parameters.push_back(name);
  return g;
}

}  // namespace lacoot::detail

namespace lacoot::graph {

// Runs `model` once on a zero batch of one sample of `sample_shape` (no batch dim: {3, 32, 32})
// and returns its graph; see the header comment for the conventions and the errors.
inline Graph trace(nn::Module& model, const Shape& sample_shape) {
  LACOOT_CHECK(!sample_shape.empty(), "trace: expected the shape of one sample without the batch dim, "
               "e.g. {3, 32, 32}, got an empty shape");
  for (int64_t d : sample_shape)
    LACOOT_CHECK(d > 0, "trace: every dimension of the sample shape must be positive, got ", shape_str(sample_shape),
                 " (hint: give one sample's shape, C, H, W, without the batch dim)");
  DType dtype = kFloat32;  // the input takes the parameters' dtype (float64 models trace too)
  for (auto& [name, p] : model.named_parameters())
    if (is_floating(p.dtype())) {
      dtype = p.dtype();
      break;
    }
  Shape batched{1};
  batched.insert(batched.end(), sample_shape.begin(), sample_shape.end());
  detail::TraceSession session(model);
  Tensor x = zeros(batched, dtype, nn::device_of(model)).requires_grad_();  // on the model's device
  Tensor y = model.traced_call(x);  // model(x); DiT adds its timestep and label
  return detail::graph_from_autograd(model, x, y);
}

}  // namespace lacoot::graph

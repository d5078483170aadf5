// lacoot/graph/graph.hpp — a traced model as plain data: ops, their module scopes, their edges.
//
// Holds: Op, Graph, kInput, in_scope(scope, path).
// Needs: core/shape.hpp.
// Leaves out: how a Graph is made (graph/trace.hpp), what is measured on it (analysis.hpp), the
// collapse transform (collapse.hpp). A Graph cannot be executed: it describes a model's
// forward pass for analysis; the model itself runs.
//
// The graph is as plain as ggml's op nodes (STYLE.md, "The method knows no model"): a list of
// ops in topological order (every op after the ops it reads), each with the name its op gave
// autograd::record ("conv2d", "batch_norm", "add", ...), the dotted path of the module whose
// forward made it, its data inputs (earlier ops or the graph's input), the parameters it reads
// and its output shape. The analyses and the transform need nothing else, and they see no
// model class: a removable block is only a path ("layer3.1") whose ops all carry that path or
// one below it ("layer3.1.conv1").
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "../core/shape.hpp"

namespace lacoot::graph {

// The producer id of the graph's input (ops are numbered 0, 1, ... in Graph::ops).
inline constexpr int kInput = -1;

struct Op {
  std::string name;                 // the op as ops/ records it: "conv2d", "linear", "add", "relu"
  std::string scope;                // innermost module whose forward made it: "layer1.0.conv1";
                                    // "" for the traced model's own forward (ResNet's flatten)
  std::vector<int> inputs;          // data inputs in argument order: ids of earlier ops, or kInput
  std::vector<std::string> params;  // parameters read directly, by state_dict name, argument order
  Shape shape;                      // output shape, batch dim (1) included: [1, 64, 32, 32]
  Shape weight_shape;               // conv2d [O, C / groups, kH, kW], linear [out, in]; else empty
  bool bias = false;                // conv2d / linear: whether a bias was added
  int64_t inner = 0;                // matmul [.., M, K] · [.., K, N]: K, the length summed over
};

struct Graph {
  Shape input_shape;  // the traced input, batch dim (1) included: [1, 3, 32, 32]
  std::vector<Op> ops;  // topological order: an op's inputs have smaller ids
  int output = kInput;  // the op producing the model's output (kInput: the model is the identity)
  // Every parameter some op reads, once each (shared weights count once), in first-use order.
  std::vector<std::pair<std::string, Shape>> parameters;
  // The model's removable blocks (modules marked with mark_block(), nn/block.hpp) that are still
  // in the graph, in the model's pre-order: what collapse() accepts.
  std::vector<std::string> blocks;
  // Parameters the model registers that no op read during the trace (by name). Empty for the
  // models of models/; a parameter listed here is either really unused or was read by an op
  // that did not record (under NoGradGuard or on a detached tensor): the analyses cannot see it.
  std::vector<std::string> unused_parameters;

  // The shape of what producer `id` outputs (the input's for kInput).
  const Shape& shape_of(int id) const {
    return id == kInput ? input_shape : ops[static_cast<std::size_t>(id)].shape;
  }
};

// Whether an op of `scope` belongs to the module at `path`: the module itself or below it
// ("layer1.1.conv1" is in "layer1.1", "layer1.10" is not). The empty path is the whole model.
inline bool in_scope(const std::string& scope, const std::string& path) {
  if (path.empty() || scope == path) return true;
  return scope.size() > path.size() && scope.compare(0, path.size(), path) == 0 && scope[path.size()] == '.';
}

}  // namespace lacoot::graph

// lacoot/graph/collapse.hpp — layer collapse as a graph transform, and its module counterpart.
//
// Holds: collapse(graph, blocks), which removes each named block's subgraph and rewires its
// consumers to the block's input, and collapse_model(model, blocks), which replaces each named
// block of the model by an Identity (nn::replace_with_identity) after checking every name. The
// same removal of any set of ops, detail::collapse_ops, also serves graph/discover.hpp.
// Needs: graph/graph.hpp, nn/block.hpp.
// Leaves out: choosing the blocks (Algorithm 1, METHOD.md §3, lives in lacoot/method) and
// re-training after removal (healing).
//
// The two agree by construction, and the tests check it: MACs, parameters and CPL of
// collapse(trace(model), B) equal those of trace(collapse_model(model, B)), and for ResNet-18
// removing layer{1..4}.1 equals the ResNet built with stages {1, 1, 1, 1} (specs/architectures.md
// §1.5, where the reference code removes blocks exactly so).
//
// A block's subgraph is every op whose scope is the block's path or below it (graph/graph.hpp,
// in_scope). Removing it is only meaningful for a block that maps one tensor to one tensor of
// the same shape (what makes it removable, METHOD.md §8), so collapse checks that the subgraph
// reads exactly one tensor from outside (the block's input) and that exactly one of its ops is
// read from outside (the block's output), of the input's shape. Every consumer of that output,
// and the graph's output if it was that op, then reads the input instead: y = T(x) becomes y = x.
// A block may also read side inputs of other shapes — DiT's conditioning c [1, D] beside its
// tokens [1, T, D] — and then its input is the one tensor it reads of its output's shape; what
// only removed blocks read (a conditioning no block uses any more) goes with them.
#pragma once

#include <algorithm>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "../nn/block.hpp"
#include "graph.hpp"

namespace lacoot::detail {

// Every requested name is one of `removable`, none repeats, none lies inside another one.
inline void check_block_names(const char* what, const std::vector<std::string>& removable,
                              const std::vector<std::string>& requested) {
  for (std::size_t i = 0; i < requested.size(); ++i) {
    const std::string& b = requested[i];
    LACOOT_CHECK(std::find(removable.begin(), removable.end(), b) != removable.end(), what, ": \"", b,
                 "\" is not a removable block of this model; expected one of the removable blocks: ",
                 join(removable, ", ", "none"), " (hint: a model marks them with mark_block(); a block already "
                 "removed is no longer listed)");
    for (std::size_t j = 0; j < i; ++j) {
      LACOOT_CHECK(requested[j] != b, what, ": block \"", b, "\" is listed twice; expected each block once");
      LACOOT_CHECK(!graph::in_scope(b, requested[j]) && !graph::in_scope(requested[j], b), what, ": blocks \"",
                   requested[j], "\" and \"", b, "\" are nested, so removing one removes the other; "
                   "expected blocks that do not contain each other (hint: list only the outer one)");
    }
  }
}

// The ops of the block at `path`: every op whose scope is the path or below it.
inline std::vector<bool> ops_in_scope(const graph::Graph& g, const std::string& path) {
  std::vector<bool> inside(g.ops.size());
  for (std::size_t i = 0; i < g.ops.size(); ++i) inside[i] = graph::in_scope(g.ops[i].scope, path);
  return inside;
}

// The edges that cross the border of the ops marked `inside`: what they read from outside (op
// ids or kInput) and which of them are read from outside (or are the graph's output).
struct Border {
  std::set<int> sources, outputs;
};
inline Border border(const graph::Graph& g, const std::vector<bool>& inside) {
  using graph::kInput;
  Border b;
  for (std::size_t i = 0; i < g.ops.size(); ++i)
    for (int in : g.ops[i].inputs) {
      const bool from_inside = in != kInput && inside[static_cast<std::size_t>(in)];
      if (inside[i] && !from_inside) b.sources.insert(in);
      if (!inside[i] && from_inside) b.outputs.insert(in);
    }
  if (g.output != kInput && inside[static_cast<std::size_t>(g.output)]) b.outputs.insert(g.output);
  return b;
}

// Removes the ops marked `inside` (see the header comment), which must read one tensor from
// outside and have one result used outside, of that tensor's shape; `what` names them in errors
// ("block \"layer1.1\""). Graph::blocks is copied unchanged: the caller knows which blocks went.
inline graph::Graph collapse_ops(const graph::Graph& g, const std::vector<bool>& inside, const std::string& what) {
  using graph::kInput;
  const std::size_t n = g.ops.size();
  const auto [sources, outputs] = border(g, inside);  // what it reads from outside, what outside reads
  LACOOT_CHECK(std::find(inside.begin(), inside.end(), true) != inside.end(), "collapse: ", what,
               " recorded no op in the trace, so there is nothing to remove; expected its ops to carry its "
               "scope (hint: call submodules as (*m)(x), which opens their scope, not m->forward(x))");
  // With side inputs (a conditioning), the input is the one source of the output's shape.
  std::vector<int> like_output;
  if (outputs.size() == 1)
    for (int s : sources)
      if (g.shape_of(s) == g.shape_of(*outputs.begin())) like_output.push_back(s);
  LACOOT_CHECK(outputs.size() == 1 && (sources.size() == 1 || like_output.size() == 1), "collapse: ", what, " reads ",
               sources.size(), " tensor(s) from outside", sources.size() > 1 ? " (" + std::to_string(like_output.size()) +
               " of them of its output's shape)" : std::string(), " and ", outputs.size(), " of its results are used "
               "outside; expected one input and one output, as a module's forward has (besides side inputs of "
               "other shapes, such as a conditioning), so that the block can become y = x");
  const int source = sources.size() == 1 ? *sources.begin() : like_output.front(), result = *outputs.begin();
  LACOOT_CHECK(g.shape_of(source) == g.shape_of(result), "collapse: ", what, " maps ",
               shape_str(g.shape_of(source)), " to ", shape_str(g.shape_of(result)), "; only a block whose "
               "input and output have the same shape can be replaced by the identity (METHOD.md §8)");

  // Keep the ops outside the block that still reach the output once `result` reads as `source`.
  auto redirect = [&](int id) { return id == result ? source : id; };
  const int out = redirect(g.output);
  std::vector<bool> live(n, false);
  if (out != kInput) live[static_cast<std::size_t>(out)] = true;
  for (std::size_t i = n; i-- > 0;)
    if (live[i])
      for (int in : g.ops[i].inputs)
        if (redirect(in) != kInput) live[static_cast<std::size_t>(redirect(in))] = true;

  graph::Graph c;
  c.input_shape = g.input_shape;
  c.unused_parameters = g.unused_parameters;
  c.blocks = g.blocks;
  std::vector<int> new_id(n, kInput);
  for (std::size_t i = 0; i < n; ++i) {
    if (!live[i]) continue;
    graph::Op op = g.ops[i];
    for (int& in : op.inputs) in = redirect(in) == kInput ? kInput : new_id[static_cast<std::size_t>(redirect(in))];
    new_id[i] = static_cast<int>(c.ops.size());
    c.ops.push_back(std::move(op));
  }
  c.output = out == kInput ? kInput : new_id[static_cast<std::size_t>(out)];
  std::unordered_set<std::string> read;
  for (const graph::Op& op : c.ops) read.insert(op.params.begin(), op.params.end());
  for (const auto& p : g.parameters)
    if (read.count(p.first)) c.parameters.push_back(p);
  return c;
}

// collapse() for one block (its name already checked): see the header comment.
inline graph::Graph collapse_block(const graph::Graph& g, const std::string& path) {
  graph::Graph c = collapse_ops(g, ops_in_scope(g, path), "block \"" + path + "\"");
  c.blocks.clear();
  for (const std::string& b : g.blocks)
    if (!graph::in_scope(b, path)) c.blocks.push_back(b);  // the block and any block inside it go
  return c;
}

}  // namespace lacoot::detail

namespace lacoot::graph {

// `g` with each named block's subgraph removed and its consumers rewired to its input. Names
// must be among g.blocks (the error lists them); the order does not change the result.
inline Graph collapse(const Graph& g, const std::vector<std::string>& blocks) {
  detail::check_block_names("collapse", g.blocks, blocks);
  Graph out = g;
  for (const std::string& b : blocks) out = detail::collapse_block(out, b);
  return out;
}

// Replaces each named block of `model` by an Identity, in place: afterwards the model computes
// what collapse() describes, and its state_dict no longer holds the blocks' tensors. Every name
// is checked against nn::blocks(model) before the model is touched.
inline void collapse_model(nn::Module& model, const std::vector<std::string>& blocks) {
  std::vector<std::string> removable;
  for (auto& [path, m] : nn::blocks(model)) removable.push_back(path);
  detail::check_block_names("collapse_model", removable, blocks);
  for (const std::string& b : blocks) nn::replace_with_identity(model, b);
}

}  // namespace lacoot::graph

// lacoot/graph/discover.hpp — removable regions found in the traced graph itself, without marks.
//
// Holds: Region, discover_removable(graph), collapse_region(graph, region),
// collapse_discovered(graph, paths) and collapse_model_discovered(model, sample_shape, paths).
// Needs: graph/graph.hpp, analysis.hpp (macs, cpl), collapse.hpp (the removal itself), trace.hpp
// and nn/block.hpp (for the model-level removal).
// Leaves out: choosing among the regions (Algorithm 1 and the regulariser see only marked
// blocks: mark a discovered module with mark_block() to train and collapse with it), regions
// whose output has another shape than their input, and regions that cost no MACs.
//
// A model marks its removable blocks (nn/block.hpp); a user's model that marks none still has
// regions that collapse could remove, and the graph shows them. A region is a set of ops that
// reads one tensor x from outside (its entry: an op, or kInput), of which one op's output y is
// used outside (its exit: read by later ops, or the graph's output), with y's shape equal to x's:
// what collapse needs to make it y = x (graph/collapse.hpp). Two kinds of candidate are tried:
//
//   residual: y = x + f(x). An "add" op with two data inputs p and v, where v and everything it
//     depends on back to p (the ops of f) read nothing but p and each other, no op of f is read
//     outside f and the add, and the add's shape is p's: the region is f and the add, entry p.
//   module: every module path that appears in the ops' scopes (all of "layer1", "layer1.0",
//     "layer1.0.conv1" for an op of layer1.0.conv1; not the model itself): the ops in its scope
//     (graph::in_scope), when they form a region. Such a region can also be removed from the
//     model, by putting an Identity at that path (collapse_model_discovered). Modules with the
//     same ops (a wrapper around one child; layer1 once layer1.0 is gone) give one region, named
//     by a declared block among them, else by the outermost path.
//
// A module region is "residual" when it is a residual region from the same entry plus ops that
// cost no MACs (ResNet's BasicBlock ends with a ReLU after its addition), else "shape-preserving"
// (MobileNetV2's stride-1 depthwise conv-BN-ReLU6 unit, one 3x3 conv of 64→64 channels).
//
// To keep the list short and useful: a region must cost MACs (removing a lone ReLU or BN saves
// nothing that METHOD.md §3 counts), and a region is left out when a larger one contains it at the
// same MACs — the conv inside MobileNetV2's conv-BN-ReLU6 unit, the branch features.3.conv of
// features.3, a BasicBlock's residual without its final ReLU — unless that larger one has no
// module path and it has (removing the module is then the way to remove it from the model).
//
// For resnet18-cifar this finds every declared block layer{1..4}.1 as "residual", and layer1.0
// too (in the CIFAR variant it keeps 64x16x16), the whole stage layer1, and each 3x3 conv whose
// input and output shapes agree; not layer2.0 and the other downsampling blocks. For
// mobilenet_v2-cifar: the 10 InvertedResiduals with a skip connection (features.3, .5, ...) and
// every stride-1 depthwise unit, the 13 declared ones among them.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <unordered_set>
#include <vector>

#include "../nn/block.hpp"
#include "analysis.hpp"
#include "collapse.hpp"
#include "graph.hpp"
#include "trace.hpp"

namespace lacoot::graph {

struct Region {
  std::string path;        // the module whose ops are exactly the region's ("layer1.0"); "" if none.
                           // Of several: a declared block, else the outermost
  int entry = kInput;      // the producer of x, what the region reads (kInput: the graph's input)
  int exit = kInput;       // the op producing y, the region's only result used outside
  std::string kind;        // "residual" (y = x + f(x), up to ops without MACs) or "shape-preserving"
  Shape shape;             // of x and of y, batch dim (1) included: [1, 64, 16, 16]
  int64_t macs = 0;        // the MACs its removal saves, for one image
  int64_t cpl_saved = 0;   // how much shorter the critical path gets without it
  bool declared = false;   // its ops are exactly those of one of Graph::blocks
  std::vector<int> ops;    // its op ids, ascending
};

}  // namespace lacoot::graph

namespace lacoot::detail {

// For each op, the ops that read it.
inline std::vector<std::vector<int>> consumers(const graph::Graph& g) {
  std::vector<std::vector<int>> readers(g.ops.size());
  for (std::size_t i = 0; i < g.ops.size(); ++i)
    for (int in : g.ops[i].inputs)
      if (in != graph::kInput) readers[static_cast<std::size_t>(in)].push_back(static_cast<int>(i));
  return readers;
}

inline std::vector<bool> mask_of(const graph::Graph& g, const std::vector<int>& ops) {
  std::vector<bool> inside(g.ops.size(), false);
  for (int id : ops) inside[static_cast<std::size_t>(id)] = true;
  return inside;
}

inline std::vector<int> ids_of(const std::vector<bool>& inside) {
  std::vector<int> ids;
  for (std::size_t i = 0; i < inside.size(); ++i)
    if (inside[i]) ids.push_back(static_cast<int>(i));
  return ids;
}

inline int64_t macs_of(const graph::Graph& g, const std::vector<int>& ops) {
  int64_t total = 0;
  for (int id : ops) total += graph::macs(g.ops[static_cast<std::size_t>(id)]);
  return total;
}

// The ops of f in y = p + f(p), for the add whose other input is v: v and every op it depends on
// back to p, ascending; empty when one of them reads something else (then y is not x + f(x)).
inline std::vector<int> residual_branch(const graph::Graph& g, int p, int v) {
  std::vector<int> stack{v}, branch;
  std::unordered_set<int> seen{v};
  bool reads_p = false;
  while (!stack.empty()) {
    const int op = stack.back();
    stack.pop_back();
    branch.push_back(op);
    for (int in : g.ops[static_cast<std::size_t>(op)].inputs) {
      if (in == p) {
        reads_p = true;
        continue;
      }
      if (in == graph::kInput || in < p) return {};  // ops are topological: below p cannot descend from p
      if (seen.insert(in).second) stack.push_back(in);
    }
  }
  if (!reads_p) return {};
  std::sort(branch.begin(), branch.end());
  return branch;
}

// The residual region ending at the add `a` (see the header comment), or one with no ops.
inline graph::Region residual_at(const graph::Graph& g, int a, const std::vector<std::vector<int>>& readers) {
  const graph::Op& add = g.ops[static_cast<std::size_t>(a)];
  if (add.name != "add" || add.inputs.size() != 2 || add.inputs[0] == add.inputs[1]) return {};
  for (int side = 0; side < 2; ++side) {
    const int p = add.inputs[static_cast<std::size_t>(side)], v = add.inputs[static_cast<std::size_t>(1 - side)];
    if (v == graph::kInput || g.shape_of(p) != add.shape) continue;
    std::vector<int> ops = residual_branch(g, p, v);
    bool closed = !ops.empty();  // no op of f is read outside f and the add
    for (int op : ops) {
      closed = closed && op != g.output;
      for (int r : readers[static_cast<std::size_t>(op)])
        closed = closed && (r == a || std::binary_search(ops.begin(), ops.end(), r));
    }
    if (!closed) continue;
    ops.push_back(a);  // a comes after every op of f
    return {"", p, a, "residual", add.shape, macs_of(g, ops), 0, false, ops};
  }
  return {};
}

// Every module path in the ops' scopes, each dotted prefix too ("layer1", "layer1.0", ...), once.
inline std::vector<std::string> module_paths(const graph::Graph& g) {
  std::vector<std::string> paths;
  std::unordered_set<std::string> seen;
  for (const graph::Op& op : g.ops) {
    if (op.scope.empty()) continue;  // the model's own forward: the model is not a region
    for (std::size_t dot = op.scope.find('.');; dot = op.scope.find('.', dot + 1)) {
      std::string path = op.scope.substr(0, dot);
      if (seen.insert(path).second) paths.push_back(std::move(path));
      if (dot == std::string::npos) break;
    }
  }
  return paths;
}

// The module region at `path` (see the header comment), or one with no ops.
inline graph::Region module_region(const graph::Graph& g, const std::string& path) {
  const std::vector<bool> inside = ops_in_scope(g, path);
  const auto [sources, outputs] = border(g, inside);
  if (sources.size() != 1 || outputs.size() != 1) return {};
  const int entry = *sources.begin(), exit = *outputs.begin();
  if (g.shape_of(entry) != g.shape_of(exit)) return {};
  std::vector<int> ops = ids_of(inside);
  return {path, entry, exit, "shape-preserving", g.shape_of(exit), macs_of(g, ops), 0, false, std::move(ops)};
}

// Whether region `small` is left out because `large` covers it (see the header comment).
inline bool covered_by(const graph::Region& small, const graph::Region& large) {
  const bool named_as_well = !large.path.empty() || small.path.empty();
  return large.ops.size() > small.ops.size() && large.macs == small.macs && named_as_well &&
         std::includes(large.ops.begin(), large.ops.end(), small.ops.begin(), small.ops.end());
}

inline bool is_declared(const graph::Graph& g, const std::string& path) {
  return std::find(g.blocks.begin(), g.blocks.end(), path) != g.blocks.end();
}

// Which of two modules with the same ops names their region: a declared block, else the outer one.
inline bool better_name(const graph::Graph& g, const std::string& a, const std::string& b) {
  if (is_declared(g, a) != is_declared(g, b)) return is_declared(g, a);
  return a.size() < b.size();
}

// Every candidate with MACs: module regions (one per op set, see better_name), then residual ones.
inline std::vector<graph::Region> candidate_regions(const graph::Graph& g) {
  std::map<std::vector<int>, graph::Region> by_ops;
  for (const std::string& path : module_paths(g)) {
    graph::Region r = module_region(g, path);
    if (r.macs > 0 && (!by_ops.count(r.ops) || better_name(g, path, by_ops.at(r.ops).path))) by_ops[r.ops] = r;
  }
  std::vector<graph::Region> residuals;
  const std::vector<std::vector<int>> readers = consumers(g);
  for (std::size_t a = 0; a < g.ops.size(); ++a) {
    graph::Region r = residual_at(g, static_cast<int>(a), readers);
    if (r.macs > 0) residuals.push_back(std::move(r));
  }
  std::vector<graph::Region> all;
  for (auto& [ops, m] : by_ops) {
    for (const graph::Region& r : residuals)  // a residual plus ops without MACs is residual too
      if (r.entry == m.entry && r.macs == m.macs && std::includes(ops.begin(), ops.end(), r.ops.begin(), r.ops.end()))
        m.kind = "residual";
    all.push_back(m);
  }
  for (graph::Region& r : residuals)
    if (!by_ops.count(r.ops)) all.push_back(std::move(r));
  return all;
}

}  // namespace lacoot::detail

namespace lacoot::graph {

// The removable regions of `g` (see the header comment), in forward order: by first op, a region
// before the ones inside it. Each has MACs, and collapse_region(g, r) removes it.
inline std::vector<Region> discover_removable(const Graph& g) {
  const std::vector<Region> all = detail::candidate_regions(g);
  std::vector<std::vector<int>> declared;
  for (const std::string& b : g.blocks) declared.push_back(detail::ids_of(detail::ops_in_scope(g, b)));
  const int64_t dense_cpl = cpl(g);
  std::vector<Region> kept;
  for (const Region& r : all) {
    auto covers_r = [&](const Region& large) { return detail::covered_by(r, large); };
    if (std::any_of(all.begin(), all.end(), covers_r)) continue;
    Region k = r;
    k.declared = std::find(declared.begin(), declared.end(), r.ops) != declared.end();
    k.cpl_saved = dense_cpl - cpl(detail::collapse_ops(g, detail::mask_of(g, r.ops), "a discovered region"));
    kept.push_back(std::move(k));
  }
  std::sort(kept.begin(), kept.end(), [](const Region& a, const Region& b) {
    if (a.ops.front() != b.ops.front()) return a.ops.front() < b.ops.front();
    if (a.ops.size() != b.ops.size()) return a.ops.size() > b.ops.size();
    return a.path < b.path;
  });
  return kept;
}

// `g` with region `r` (one of discover_removable(g)) removed: its consumers read its entry. A
// module region goes as collapse() removes a block, so that the result equals the trace of the
// model with an Identity at r.path; a declared block goes from Graph::blocks with its ops.
inline Graph collapse_region(const Graph& g, const Region& r) {
  if (!r.path.empty()) return detail::collapse_block(g, r.path);
  const std::vector<bool> inside = detail::mask_of(g, r.ops);
  const std::string what = "the region from op " + std::to_string(r.entry) + " to op " + std::to_string(r.exit);
  Graph c = detail::collapse_ops(g, inside, what);
  c.blocks.clear();
  auto removed = [&](int id) { return inside[static_cast<std::size_t>(id)]; };
  for (const std::string& b : g.blocks) {  // a block goes when all its ops went
    const std::vector<int> ops = detail::ids_of(detail::ops_in_scope(g, b));
    if (ops.empty() || !std::all_of(ops.begin(), ops.end(), removed)) c.blocks.push_back(b);
  }
  return c;
}

}  // namespace lacoot::graph

namespace lacoot::detail {

// The names collapse_discovered accepts: the declared blocks, then the discovered module paths.
inline std::vector<std::string> removable_paths(const graph::Graph& g) {
  std::vector<std::string> names = g.blocks;
  for (const graph::Region& r : graph::discover_removable(g))
    if (!r.path.empty() && std::find(names.begin(), names.end(), r.path) == names.end()) names.push_back(r.path);
  return names;
}

// Every requested path is a declared block or a discovered module region of `g`; none repeats or nests.
inline void check_discovered_names(const char* what, const graph::Graph& g, const std::vector<std::string>& paths) {
  const std::vector<std::string> names = removable_paths(g);
  std::vector<std::string> discovered(names.begin() + static_cast<std::ptrdiff_t>(g.blocks.size()), names.end());
  for (const std::string& p : paths)
    LACOOT_CHECK(std::find(names.begin(), names.end(), p) != names.end(), what, ": \"", p, "\" is neither a "
                 "removable block of this model nor a removable module found in its graph; expected a declared "
                 "block (", join(g.blocks, ", ", "none"), ") or a discovered module (", join(discovered, ", ", "none"), ") (hint: "
                 "a discovered module maps its input to an output of the same shape and costs MACs; `lacoot "
                 "profile` lists them)");
  check_block_names(what, names, paths);
}

}  // namespace lacoot::detail

namespace lacoot::graph {

// collapse(), also accepting the module paths of discover_removable(g): `lacoot profile --remove`.
inline Graph collapse_discovered(const Graph& g, const std::vector<std::string>& paths) {
  auto declared = [&](const std::string& p) { return detail::is_declared(g, p); };
  if (std::all_of(paths.begin(), paths.end(), declared)) return collapse(g, paths);  // nothing to discover
  detail::check_discovered_names("collapse", g, paths);
  Graph out = g;
  for (const std::string& p : paths) out = detail::collapse_block(out, p);
  return out;
}

// Replaces each named module of `model` by an Identity, in place: its declared blocks or the
// module paths discover_removable finds in its trace on one sample of `sample_shape` (no batch
// dim). Afterwards the model computes what collapse_discovered describes. Every name is checked
// before the model is touched, and the model is traced again after: a parent whose forward calls
// the module through a member handle (BasicBlock's conv1) would still run the removed one, so
// then every module is put back and the error says so. Sequential calls its children by name.
inline void collapse_model_discovered(nn::Module& model, const Shape& sample_shape,
                                      const std::vector<std::string>& paths) {
  detail::check_discovered_names("collapse_model_discovered", trace(model, sample_shape), paths);
  struct Replaced {
    nn::Module* parent;
    std::string name;
    nn::ModulePtr module;
  };
  std::vector<Replaced> replaced;
  for (const std::string& p : paths) {  // nn::replace_with_identity, which takes only marked blocks
    const std::size_t dot = p.rfind('.');
    nn::Module& parent = dot == std::string::npos ? model : *model.submodule(p.substr(0, dot));
    replaced.push_back({&parent, dot == std::string::npos ? p : p.substr(dot + 1), model.submodule(p)});
    parent.replace_child(replaced.back().name, std::make_shared<nn::Identity>());
  }
  try {
    trace(model, sample_shape);
  } catch (const Error& e) {
    for (auto r = replaced.rbegin(); r != replaced.rend(); ++r) r->parent->replace_child(r->name, r->module);
    throw Error(detail::concat("collapse_model_discovered: with an Identity at ", detail::join(paths, ", ", "none"),
                               " the model no longer traces, so it is left as it was: ", e.what(), " (hint: a "
                               "forward that calls a removed module through a member handle keeps running it; "
                               "call it by name, (*child(\"conv1\"))(x), as Sequential does)"));
  }
}

}  // namespace lacoot::graph

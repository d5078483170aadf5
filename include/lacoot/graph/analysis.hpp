// lacoot/graph/analysis.hpp — what a traced graph costs: MACs, parameters, critical path length.
//
// Holds: macs(op), macs(graph), params(graph), counts_as_layer(op), cpl(graph), LayerRow and
// layers(graph).
// Needs: graph/graph.hpp.
// Leaves out: latency (it is measured by running the model, not read off the graph) and FLOPs
// of the ops not counted below.
//
// The conventions are the paper's (METHOD.md §3, specs/architectures.md §0), all for ONE image:
//
//   MACs: multiply-accumulates of conv2d, linear and matmul. A conv2d with weight
//     [O, C/g, kH, kW] producing [1, O, Ho, Wo] costs O·Ho·Wo · (C/g·kH·kW); a linear with
//     weight [out, in] producing [1, ..., out] costs numel(output) · in. A bias adds 1 per output
//     element. A matmul [.., M, K] · [.., K, N] costs numel(output) · K: in the models it is
//     attention's two products, q·kᵀ and weights·v (DESIGN.md's profile contract counts them
//     for transformers). BatchNorm, LayerNorm, activations, softmax, additions, pooling, reshapes
//     cost 0. This reproduces every figure of specs/architectures.md exactly: 140,186,634 for the
//     CIFAR ResNet-18, 87,976,458 for the CIFAR MobileNetV2, 1,814,074,344 for torchvision's
//     resnet18 at 224 px, 4,503,738,856 for swin_t at 224 px (4,363,597,288 of conv2d and linear
//     — qkv and proj on the zero-padded windows included — and 140,141,568 of attention). The
//     graph is traced with batch 1, so numel(output) is already per image.
//
//   Parameters: the sum of numel over the parameters some op of the graph reads, each counted
//     once. For a traced model this is the model's own count (11,173,962 for the CIFAR
//     ResNet-18); after collapse() it drops the removed blocks' parameters.
//
//   Critical path length (CPL): the largest number of conv2d and linear ops (not matmul: an
//     attention's products hold no weights) on any directed path from the graph's input to its output — the model's depth in weight layers, the
//     "longest input→output path counted in layers" of METHOD.md §3. Ops that are not conv2d or
//     linear count 0, so BN, activations and additions do not lengthen a path, and a residual
//     addition takes the longer of its two branches. ResNet-18: conv1, 2 convs in each of the 8
//     BasicBlocks, fc = 18 (a downsample shortcut holds one 1x1 conv and so never decides it);
//     each BasicBlock removed shortens it by 2. A model that is the identity has CPL 0. Paths
//     that do not start at the input (a weight computed from parameters) are not input→output
//     paths and are ignored.
#pragma once

#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

#include "graph.hpp"

namespace lacoot::graph {

// The MACs of one op for one image (see the header comment): nonzero for conv2d, linear, matmul.
inline int64_t macs(const Op& op) {
  const int64_t out = numel(op.shape);
  const int64_t bias = op.bias ? 1 : 0;
  if (op.name == "conv2d" && op.weight_shape.size() == 4)  // per output: (C/g)·kH·kW products
    return out * (op.weight_shape[1] * op.weight_shape[2] * op.weight_shape[3] + bias);
  if (op.name == "linear" && op.weight_shape.size() == 2)  // per output: `in` products
    return out * (op.weight_shape[1] + bias);
  if (op.name == "matmul") return out * op.inner;  // per output: K products
  return 0;
}

// The MACs of the whole graph, for one image.
inline int64_t macs(const Graph& g) {
  int64_t total = 0;
  for (const Op& op : g.ops) total += macs(op);
  return total;
}

// The parameters the graph reads, each once.
inline int64_t params(const Graph& g) {
  int64_t total = 0;
  for (const auto& [name, shape] : g.parameters) total += numel(shape);
  return total;
}

// The ops that count one layer on the critical path: the weight layers conv2d and linear.
inline bool counts_as_layer(const Op& op) { return op.name == "conv2d" || op.name == "linear"; }

// The critical path length, in conv2d / linear layers (see the header comment). A longest path
// in a DAG, by dynamic programming over the topological order: depth(op) = [op is a layer] +
// the largest depth among its data inputs, the input having depth 0 and ops that do not descend
// from the input having none.
inline int64_t cpl(const Graph& g) {
  if (g.output == kInput) return 0;
  constexpr int64_t kUnreached = -1;
  std::vector<int64_t> depth(g.ops.size(), kUnreached);
  for (std::size_t i = 0; i < g.ops.size(); ++i) {
    int64_t best = kUnreached;
    for (int in : g.ops[i].inputs)
      best = std::max(best, in == kInput ? int64_t{0} : depth[static_cast<std::size_t>(in)]);
    if (best != kUnreached) depth[i] = best + (counts_as_layer(g.ops[i]) ? 1 : 0);
  }
  return std::max<int64_t>(depth[static_cast<std::size_t>(g.output)], 0);
}

// One row of the per-layer table: an op that costs MACs or reads parameters.
struct LayerRow {
  std::string scope;  // "layer1.0.conv1"
  std::string op;     // "conv2d"
  Shape shape;        // one sample's output shape, without the batch dim: [64, 16, 16]
  int64_t macs = 0;   // for one image
  int64_t params = 0; // numel of the parameters it reads directly (a shared one in each reader)
};

// The per-layer table in forward order: every op with MACs or parameters (conv2d, linear,
// batch_norm, layer_norm, ...); activations, additions and reshapes are left out.
inline std::vector<LayerRow> layers(const Graph& g) {
  std::unordered_map<std::string, int64_t> size_of;
  for (const auto& [name, shape] : g.parameters) size_of.emplace(name, numel(shape));
  std::vector<LayerRow> rows;
  for (const Op& op : g.ops) {
    LayerRow row{op.scope, op.name, Shape(op.shape.begin() + (op.shape.empty() ? 0 : 1), op.shape.end()), macs(op), 0};
    for (const std::string& p : op.params) row.params += size_of.at(p);
    if (row.macs > 0 || !op.params.empty()) rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace lacoot::graph

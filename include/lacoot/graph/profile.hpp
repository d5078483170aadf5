// lacoot/graph/profile.hpp — a model's cost in one call: MACs, parameters, CPL, layers.
//
// Holds: Profile, Discovery, profile(graph), profile(model, sample_shape, remove), to_json(profile),
// to_text(profile), and the number formats they use (with_commas, human).
// Needs: graph/trace.hpp, analysis.hpp, collapse.hpp, discover.hpp.
// Leaves out: latency, and the command line (tools/profile_command.hpp prints these for
// `lacoot profile`, DESIGN.md's contract).
//
// profile(model, {3, 32, 32}, {"layer4.1"}) traces the model, collapses the graph (the model is
// not modified: the transform works on the graph, graph/collapse.hpp) and measures the result
// with graph/analysis.hpp's conventions, for one image. What to remove may be a declared block
// or a module that graph/discover.hpp finds removable ("layer1.0"). Asked with Discovery::on
// (as `lacoot profile` does), the profile lists those regions of the result too, marked or not;
// by default it does not search for them, since Algorithm 1 measures every step. The JSON is one
// object,
//   {"macs": 121312266, "params": 6453322, "cpl": 16, "removable": ["layer1.1", ...],
//    "layers": [{"scope": "conv1", "op": "conv2d", "shape": [64, 32, 32], "macs": 1769472,
//                "params": 1728}, ...],
//    "discovered": [{"path": "layer1", "kind": "shape-preserving", "macs": 37748736, "cpl_saved": 4,
//                    "shape": [64, 16, 16], "entry": 3, "exit": 17, "declared": false}, ...]}
// written by hand: io/json.hpp comes after graph/ in the reading order (STYLE.md).
#pragma once

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "analysis.hpp"
#include "collapse.hpp"
#include "discover.hpp"
#include "trace.hpp"

namespace lacoot::graph {

struct Profile {
  int64_t macs = 0;    // conv2d + linear + matmul multiply-accumulates for one image, bias included
  int64_t params = 0;  // parameters the (collapsed) graph reads
  int64_t cpl = 0;     // critical path length in conv2d / linear layers
  std::vector<std::string> removable;  // the blocks still removable, in the model's order
  std::vector<LayerRow> layers;        // the per-layer table, forward order
  std::vector<Region> discovered;      // the removable regions the graph shows (Discovery::on only)
};

// Whether a profile also searches the graph for removable regions (graph/discover.hpp).
enum class Discovery { off, on };

inline Profile profile(const Graph& g, Discovery discovery = Discovery::off) {
  return {macs(g), params(g), cpl(g), g.blocks, layers(g),
          discovery == Discovery::on ? discover_removable(g) : std::vector<Region>{}};
}

// Traces `model` on one sample of `sample_shape` (C, H, W for images; no batch dim), removes
// the `remove` blocks (declared, or discovered modules) from the graph, and measures what is
// left. The model is left unchanged.
inline Profile profile(nn::Module& model, const Shape& sample_shape, const std::vector<std::string>& remove = {},
                       Discovery discovery = Discovery::off) {
  return profile(collapse_discovered(trace(model, sample_shape), remove), discovery);
}

// 140186634 → "140,186,634".
inline std::string with_commas(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

// 140186634 → "140.19 M", 1814074344 → "1.81 G": the paper's way of quoting MACs (METHOD.md §6).
inline std::string human(int64_t v) {
  const char* units[] = {"", " K", " M", " G", " T"};
  double x = static_cast<double>(v);
  int u = 0;
  while (x >= 1000.0 && u < 4) x /= 1000.0, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.2f%s", x, units[u]);
  return buf;
}

}  // namespace lacoot::graph

namespace lacoot::detail {

// JSON and table formatting for to_json / to_text.
inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      continue;
    }
    out += c;
  }
  return out + "\"";
}
inline std::string json_shape(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}
// "64x32x32"
inline std::string shape_x(const Shape& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += 'x';
    out += std::to_string(s[i]);
  }
  return out.empty() ? "scalar" : out;
}
// One sample's shape: [1, 64, 16, 16] → [64, 16, 16].
inline Shape without_batch(const Shape& s) { return Shape(s.begin() + (s.empty() ? 0 : 1), s.end()); }

// One discovered region as a JSON object (the "discovered" array of to_json).
inline std::string json_region(const graph::Region& r) {
  return "{\"path\": " + json_string(r.path) + ", \"kind\": " + json_string(r.kind) + ", \"macs\": " +
         std::to_string(r.macs) + ", \"cpl_saved\": " + std::to_string(r.cpl_saved) + ", \"shape\": " +
         json_shape(without_batch(r.shape)) + ", \"entry\": " + std::to_string(r.entry) + ", \"exit\": " +
         std::to_string(r.exit) + ", \"declared\": " + (r.declared ? "true" : "false") + "}";
}

// The discovered regions for to_text, one per line, a region inside another indented below it:
//   layer1              shape-preserving  64x16x16       37,748,736 MACs  CPL -4
//     layer1.0          residual          64x16x16       18,874,368 MACs  CPL -2
// A region that is no module is named by its ends: "(op 12 -> op 19)"; "*" marks a declared block.
inline std::string discovered_text(const std::vector<graph::Region>& regions) {
  std::string s = "discovered  " + std::to_string(regions.size()) +
                  " removable regions found in the graph, marked or not (* = also a declared block)" +
                  (regions.empty() ? "\n" : ":\n");
  std::vector<std::string> labels;
  std::size_t width = 0;
  for (const graph::Region& r : regions) {
    std::size_t depth = 0;  // how many listed regions hold this one
    for (const graph::Region& outer : regions)
      depth += outer.ops.size() > r.ops.size() &&
               std::includes(outer.ops.begin(), outer.ops.end(), r.ops.begin(), r.ops.end());
    const std::string entry = r.entry == graph::kInput ? "input" : "op " + std::to_string(r.entry);
    labels.push_back(std::string(2 + 2 * depth, ' ') +
                     (r.path.empty() ? "(" + entry + " -> op " + std::to_string(r.exit) + ")" : r.path) +
                     (r.declared ? " *" : ""));
    width = std::max(width, labels.back().size());
  }
  char line[512];
  for (std::size_t i = 0; i < regions.size(); ++i) {
    const graph::Region& r = regions[i];
    std::snprintf(line, sizeof line, "%-*s  %-16s  %-10s %14s MACs  CPL -%lld\n", static_cast<int>(width),
                  labels[i].c_str(), r.kind.c_str(), shape_x(without_batch(r.shape)).c_str(),
                  graph::with_commas(r.macs).c_str(), static_cast<long long>(r.cpl_saved));
    s += line;
  }
  return s;
}

}  // namespace lacoot::detail

namespace lacoot::graph {

// One JSON object with the keys macs, params, cpl, removable, layers (one line per layer) and
// discovered (one line per region).
inline std::string to_json(const Profile& p) {
  std::string s = "{\"macs\": " + std::to_string(p.macs) + ", \"params\": " + std::to_string(p.params) +
                  ", \"cpl\": " + std::to_string(p.cpl) + ", \"removable\": [";
  for (std::size_t i = 0; i < p.removable.size(); ++i) {
    if (i) s += ", ";
    s += lacoot::detail::json_string(p.removable[i]);
  }
  s += "], \"layers\": [";
  for (std::size_t i = 0; i < p.layers.size(); ++i) {
    const LayerRow& r = p.layers[i];
    if (i) s += ',';
    s += "\n  {\"scope\": " + lacoot::detail::json_string(r.scope) + ", \"op\": " +
         lacoot::detail::json_string(r.op) + ", \"shape\": " + lacoot::detail::json_shape(r.shape) + ", \"macs\": " +
         std::to_string(r.macs) + ", \"params\": " + std::to_string(r.params) + "}";
  }
  s += p.layers.empty() ? "], \"discovered\": [" : "\n], \"discovered\": [";
  for (std::size_t i = 0; i < p.discovered.size(); ++i)
    s += (i ? ",\n  " : "\n  ") + lacoot::detail::json_region(p.discovered[i]);
  return s + (p.discovered.empty() ? "]}" : "\n]}");
}

// The summary (MACs, parameters, CPL, removable blocks), the discovered regions, then the
// per-layer table.
inline std::string to_text(const Profile& p) {
  std::string s = "MACs        " + with_commas(p.macs) + " (" + human(p.macs) + ")\n" +
                  "parameters  " + with_commas(p.params) + " (" + human(p.params) + ")\n" +
                  "CPL         " + std::to_string(p.cpl) + " (conv2d / linear layers on the longest input-output path)\n" +
                  "removable   " + std::to_string(p.removable.size()) + ":";
  for (const std::string& b : p.removable) s += " " + b;
  s += "\n" + lacoot::detail::discovered_text(p.discovered) + "\n";
  std::size_t width = 5;  // "scope"
  for (const LayerRow& r : p.layers) width = std::max(width, r.scope.size());
  char line[512];
  auto row = [&](const std::string& scope, const std::string& op, const std::string& shape, const std::string& m,
                 const std::string& n) {
    std::snprintf(line, sizeof line, "%-*s  %-12s %-16s %16s %14s\n", static_cast<int>(width),
                  scope.empty() ? "(model)" : scope.c_str(), op.c_str(), shape.c_str(), m.c_str(), n.c_str());
    s += line;
  };
  row("scope", "op", "output", "MACs", "params");
  for (const LayerRow& r : p.layers) row(r.scope, r.op, lacoot::detail::shape_x(r.shape), with_commas(r.macs), with_commas(r.params));
  return s;
}

}  // namespace lacoot::graph

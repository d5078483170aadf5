// lacoot/method/algorithm1.hpp — LaCoOT's Algorithm 1: remove blocks while accuracy holds,
// with the two baselines of the paper's ablation.
//
// Holds: Ranking (maxswd, block-influence, random), Algorithm1Options, CollapseStep,
// CollapseResult, swap_block and algorithm1.
// Needs: method/regulariser.hpp (block_distances), nn/block.hpp, train/epoch.hpp (evaluate).
// Leaves out: MACs, parameters, CPL and latency of each step (the caller measures them with
// graph::profile through Algorithm1Options::measure), healing (lacoot collapse fine-tunes the
// chosen model), and the plots.
//
// Algorithm 1 (METHOD.md §3), with R̂_k the MaxSWD_2 of block k on validation data:
//     dense ← Eval(w, D_val);  cur ← dense
//     while dense − cur ≤ δ and removable blocks remain:
//         R̂_k ← MaxSWD_2 of each remaining block on validation data
//         l ← argmin_k R̂_k;  T_l ← Identity;  cur ← Eval(w, D_val)
//     return the last model within δ
// Baselines: block influence (remove the block whose removal lowers validation top-1 least:
// each candidate is tried and put back — the paper's "theoretical best" ranking) and random
// order (seeded). With `full_trajectory` the loop goes on past δ until no block is left, so the
// trajectory covers every depth (the paper's accuracy-vs-blocks-removed curves); the model is
// then returned to the last step within δ.
#pragma once

#include <algorithm>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "../core/rng.hpp"
#include "../nn/block.hpp"
#include "../train/epoch.hpp"
#include "regulariser.hpp"

namespace lacoot::method {

enum class Ranking { MaxSWD, BlockInfluence, Random };

inline Ranking parse_ranking(const std::string& name) {
  if (name == "maxswd") return Ranking::MaxSWD;
  if (name == "block-influence") return Ranking::BlockInfluence;
  if (name == "random") return Ranking::Random;
  throw Error("unknown removal method \"" + name + "\" (expected maxswd, block-influence or random)");
}
inline const char* ranking_name(Ranking r) {
  switch (r) {
    case Ranking::MaxSWD: return "maxswd";
    case Ranking::BlockInfluence: return "block-influence";
    case Ranking::Random: return "random";
  }
  return "";
}

// One row of the trajectory: the model after `removed` (in removal order).
struct CollapseStep {
  std::vector<std::string> removed;
  double val_top1 = 0, test_top1 = 0;
  std::vector<std::pair<std::string, double>> distances;  // R̂_k of the blocks still there (maxswd ranking)
  std::vector<std::pair<std::string, double>> metrics;    // what Algorithm1Options::measure added
};

struct CollapseResult {
  std::vector<CollapseStep> trajectory;  // step 0 is the dense model
  std::size_t chosen = 0;                // the last step within δ of the dense validation top-1
};

struct Algorithm1Options {
  double delta = 1.0;            // δ: allowed drop of validation top-1, in percentage points
  Ranking ranking = Ranking::MaxSWD;
  int64_t n_projections = 50;    // directions for R̂_k
  uint64_t seed = 0;             // of the directions (and of the random ranking)
  bool full_trajectory = true;   // go on past δ to the last block (then restore the chosen model)
  // Called on the model of every step (after its removal) to add metrics: MACs, CPL, latency.
  std::function<std::vector<std::pair<std::string, double>>(nn::Module&)> measure = {};
  // Called after each step, for progress output.
  std::function<void(const CollapseStep&)> on_step = {};
};

// Puts `replacement` where the module at `path` is and returns what was there (so a trial
// removal can be undone: block influence tries every candidate).
inline nn::ModulePtr swap_block(nn::Module& model, const std::string& path, nn::ModulePtr replacement) {
  const std::size_t dot = path.rfind('.');
  nn::Module& parent = dot == std::string::npos ? model : *model.submodule(path.substr(0, dot));
  const std::string name = dot == std::string::npos ? path : path.substr(dot + 1);
  nn::ModulePtr old = parent.child(name);
  parent.replace_child(name, std::move(replacement));
  return old;
}

// Runs Algorithm 1 on `model` in place (its removable blocks are those marked), ranking by
// `o.ranking`, evaluating on `val` and reporting `test` top-1 at every step.
template <class Loader>
CollapseResult algorithm1(nn::Module& model, Loader& val, Loader& test, const Algorithm1Options& o = {}) {
  CollapseResult result;
  std::vector<std::pair<std::string, nn::ModulePtr>> taken;  // removed blocks, to restore the chosen model
  auto record = [&](std::vector<std::string> removed, std::vector<std::pair<std::string, double>> distances) {
    CollapseStep step;
    step.removed = std::move(removed);
    step.val_top1 = train::evaluate(model, val).top1;
    step.test_top1 = train::evaluate(model, test).top1;
    step.distances = std::move(distances);
    if (o.measure) step.metrics = o.measure(model);
    if (o.on_step) o.on_step(step);
    result.trajectory.push_back(std::move(step));
  };
  record({}, {});
  const double dense = result.trajectory[0].val_top1;
  Generator gen(o.seed);
  std::vector<std::string> removed;
  while (true) {
    std::vector<std::string> remaining;
    for (auto& [path, m] : nn::blocks(model)) remaining.push_back(path);
    if (remaining.empty()) break;
    if (!o.full_trajectory && dense - result.trajectory.back().val_top1 > o.delta) break;

    std::string pick;
    std::vector<std::pair<std::string, double>> distances;
    if (o.ranking == Ranking::MaxSWD) {
      distances = block_distances(model, val, o.n_projections, o.seed);
      pick = std::min_element(distances.begin(), distances.end(),
                              [](const auto& x, const auto& y) { return x.second < y.second; })->first;
    } else if (o.ranking == Ranking::Random) {
      pick = remaining[static_cast<std::size_t>(gen.bits(gen.advance(1)) % remaining.size())];
    } else {  // block influence: try each, keep the one whose removal costs least
      double best = -std::numeric_limits<double>::infinity();
      for (const std::string& path : remaining) {
        nn::ModulePtr original = swap_block(model, path, std::make_shared<nn::Identity>());
        const double acc = train::evaluate(model, val).top1;
        swap_block(model, path, original);
        distances.emplace_back(path, acc);  // for BI, the "distance" column holds the trial top-1
        if (acc > best) best = acc, pick = path;
      }
    }
    taken.emplace_back(pick, swap_block(model, pick, std::make_shared<nn::Identity>()));
    removed.push_back(pick);
    record(removed, std::move(distances));
  }
  // The chosen model: the last step (in removal order) still within δ of the dense accuracy.
  for (std::size_t s = 0; s < result.trajectory.size(); ++s)
    if (dense - result.trajectory[s].val_top1 <= o.delta) result.chosen = s;
    else break;
  // Put back the blocks removed after it, latest first.
  for (std::size_t s = taken.size(); s > result.chosen; --s) swap_block(model, taken[s - 1].first, taken[s - 1].second);
  return result;
}

}  // namespace lacoot::method

// lacoot/method/algorithm1.hpp — LaCoOT's Algorithm 1: remove blocks while accuracy holds,
// with the baselines of the paper's ablation and the other rankings of method/ranking.hpp.
//
// Holds: Algorithm1Options, CollapseStep, CollapseResult, swap_block and algorithm1.
// Needs: method/ranking.hpp (the scores), nn/block.hpp, train/epoch.hpp (evaluate).
// Leaves out: MACs, parameters, CPL and latency of each step (the caller measures them with
// graph::profile through Algorithm1Options::measure, and may stop on them through
// Algorithm1Options::stop), healing (lacoot collapse fine-tunes the chosen model), the plots.
//
// Algorithm 1 (METHOD.md §3), with R̂_k the MaxSWD_2 of block k on validation data:
//     dense ← Eval(w, D_val);  cur ← dense
//     while dense − cur ≤ δ and removable blocks remain:
//         R̂_k ← MaxSWD_2 of each remaining block on validation data
//         l ← argmin_k R̂_k;  T_l ← Identity;  cur ← Eval(w, D_val)
//     return the last model within δ
// The ranking is a parameter: any score of ranking.hpp in place of R̂_k (the scores are taken
// again after every removal, except zscore's, fixed on the dense model), block influence
// (remove the block whose removal lowers validation top-1 least: each candidate is tried and
// put back — the paper's "theoretical best" ranking), a seeded random order or the user's
// order (Algorithm1Options::order; blocks it does not name stay). With `full_trajectory` the
// loop goes on past δ until no block is left, so the trajectory covers every depth (the
// paper's accuracy-vs-blocks-removed curves); the model is then returned to the last step
// within δ. A `stop` rule (a latency budget, say) ends the loop at the first step it accepts.
#pragma once

#include <algorithm>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "../core/rng.hpp"
#include "../nn/block.hpp"
#include "../train/epoch.hpp"
#include "ranking.hpp"

namespace lacoot::method {

// One row of the trajectory: the model after `removed` (in removal order).
struct CollapseStep {
  std::vector<std::string> removed;
  double val_top1 = 0, test_top1 = 0;
  // The ranking's score of each block still there before this step's removal (R̂_k for
  // maxswd; for block influence the validation top-1 with that block removed); empty for the
  // dense step and for the random and user orders.
  std::vector<std::pair<std::string, double>> distances;
  std::vector<std::pair<std::string, double>> metrics;    // what Algorithm1Options::measure added
};

struct CollapseResult {
  std::vector<CollapseStep> trajectory;  // step 0 is the dense model
  std::size_t chosen = 0;                // the last step within δ of the dense validation top-1
  bool stopped = false;                  // Algorithm1Options::stop accepted the last step
};

struct Algorithm1Options {
  double delta = 1.0;            // δ: allowed drop of validation top-1, in percentage points
  Ranking ranking = Ranking::MaxSWD;
  int64_t n_projections = 50;    // directions for R̂_k
  uint64_t seed = 0;             // of the directions (and of the random ranking)
  std::vector<std::string> order = {};  // Ranking::UserOrder: the blocks to remove, first first
  bool full_trajectory = true;   // go on past δ to the last block (then restore the chosen model)
  // Called on the model of every step (after its removal) to add metrics: MACs, CPL, latency.
  std::function<std::vector<std::pair<std::string, double>>(nn::Module&)> measure = {};
  // Called after each step, for progress output.
  std::function<void(const CollapseStep&)> on_step = {};
  // A stopping rule: when it accepts a step (say, its latency is within a budget) no further
  // block is removed, and that step is chosen if it is within δ.
  std::function<bool(const CollapseStep&)> stop = {};
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

namespace detail {
// The paths of `scores`, by increasing score (ties in the model's order).
inline std::vector<std::string> by_score(const std::vector<std::pair<std::string, double>>& scores) {
  std::vector<std::pair<std::string, double>> sorted = scores;
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  std::vector<std::string> paths;
  for (auto& [path, s] : sorted) paths.push_back(path);
  return paths;
}
// The first path of `order` still among `remaining` ("" if none).
inline std::string first_remaining(const std::vector<std::string>& order, const std::vector<std::string>& remaining) {
  for (const std::string& path : order)
    if (std::find(remaining.begin(), remaining.end(), path) != remaining.end()) return path;
  return "";
}
inline std::string block_list(nn::Module& model) {
  std::vector<std::string> paths;
  for (auto& [path, m] : nn::blocks(model)) paths.push_back(path);
  return lacoot::detail::join(paths, ", ", "none");
}
}  // namespace detail

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
  std::vector<std::string> removed, fixed_order;
  if (o.ranking == Ranking::UserOrder) {
    LACOOT_CHECK(!o.order.empty(), "algorithm1: the user order names no block");
    for (const std::string& path : o.order) {
      bool known = false;
      for (auto& [p, m] : nn::blocks(model)) known = known || p == path;
      LACOOT_CHECK(known, "algorithm1: \"", path, "\" in the user order is not a removable block of the model (",
                   "removable: ", detail::block_list(model), ")");
    }
  }
  result.stopped = o.stop && o.stop(result.trajectory[0]);  // the dense model may already do
  while (!result.stopped) {
    std::vector<std::string> remaining;
    for (auto& [path, m] : nn::blocks(model)) remaining.push_back(path);
    if (remaining.empty()) break;
    if (!o.full_trajectory && dense - result.trajectory.back().val_top1 > o.delta) break;

    std::string pick;
    std::vector<std::pair<std::string, double>> distances;
    if (is_score_ranking(o.ranking)) {
      if (o.ranking != Ranking::ZScore || fixed_order.empty()) {
        distances = block_scores(model, val, o.ranking, o.n_projections, o.seed);
        if (o.ranking == Ranking::ZScore) fixed_order = detail::by_score(distances);
      }
      if (o.ranking == Ranking::ZScore) pick = detail::first_remaining(fixed_order, remaining);
      else pick = detail::by_score(distances).front();
    } else if (o.ranking == Ranking::Random) {
      pick = remaining[static_cast<std::size_t>(gen.bits(gen.advance(1)) % remaining.size())];
    } else if (o.ranking == Ranking::UserOrder) {
      pick = detail::first_remaining(o.order, remaining);
      if (pick.empty()) break;  // the blocks the user did not name stay
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
    result.stopped = o.stop && o.stop(result.trajectory.back());
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

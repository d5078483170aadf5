// lacoot/method/ranking.hpp — how Algorithm 1 orders the removable blocks: one interface over
// the rankings of the paper, of its reference code and of the layer-pruning literature.
//
// Holds: Ranking, parse_ranking, ranking_name, cosine_influence, block_cosine_influence,
// zscore_scores and block_scores.
// Needs: method/regulariser.hpp (block_pair_means, block_distances).
// Leaves out: the rankings that are no score of a block — block influence by accuracy (each
// candidate removed and evaluated, in algorithm1.hpp, which owns the evaluation), a random
// order and a user-given order.
//
// A score-based ranking gives every remaining block k a number s_k on validation data, X_k and
// Y_k being its input and output over a batch flattened to one row per sample, and Algorithm 1
// removes the block of the smallest:
//   maxswd  s_k = R̂_k, the mean over batches of MaxSWD_2(X_k, Y_k) with 50 fresh directions
//           per batch: the metric the regulariser trains (the default).
//   sliced  s_k = the mean over batches of SW_2(X_k, Y_k), the mean over the directions: the
//           reference code's validation ranking for ResNet (directions from seed 0).
//   zscore  the reference's rule for Swin-T, on the maxswd distances d_1..d_K of the dense
//           model: s_k = |d_k − mean(d)| / std(d) + pct_k / 100, std the population one and
//           pct_k the percentile rank of d_k (scipy's percentileofscore, kind "rank": the
//           mean of the percentages of values < d_k and ≤ d_k, ties counted once each way).
//           The order is fixed once on the dense model, as the reference does; a block close to
//           the mean distance and of a low rank goes first.
//   cosine  ShortGPT's block influence (Men et al., 2024): s_k = 1 − mean_i cos(x_i, y_i)
//           over the rows: a block whose output points where its input does changes least.
//           (ShortGPT takes a transformer's token vectors as rows; here a row is one sample's
//           whole activation, as the regulariser flattens it.)
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "regulariser.hpp"

namespace lacoot::method {

enum class Ranking { MaxSWD, Sliced, ZScore, Cosine, BlockInfluence, Random, UserOrder };

inline constexpr const char* kRankingNames = "maxswd, sliced, zscore, cosine, block-influence, random or order";

inline Ranking parse_ranking(const std::string& name) {
  if (name == "maxswd") return Ranking::MaxSWD;
  if (name == "sliced") return Ranking::Sliced;
  if (name == "zscore") return Ranking::ZScore;
  if (name == "cosine") return Ranking::Cosine;
  if (name == "block-influence") return Ranking::BlockInfluence;
  if (name == "random") return Ranking::Random;
  if (name == "order") return Ranking::UserOrder;
  throw Error("unknown removal method \"" + name + "\" (expected " + kRankingNames + ")");
}

inline const char* ranking_name(Ranking r) {
  switch (r) {
    case Ranking::MaxSWD: return "maxswd";
    case Ranking::Sliced: return "sliced";
    case Ranking::ZScore: return "zscore";
    case Ranking::Cosine: return "cosine";
    case Ranking::BlockInfluence: return "block-influence";
    case Ranking::Random: return "random";
    case Ranking::UserOrder: return "order";
  }
  return "";
}

// Whether the ranking scores each block on validation data (and Algorithm 1 removes the least).
inline bool is_score_ranking(Ranking r) {
  return r == Ranking::MaxSWD || r == Ranking::Sliced || r == Ranking::ZScore || r == Ranking::Cosine;
}

// 1 − mean_i cos(x_i, y_i) over the rows of X and Y [N, d]. A zero row has no direction: its
// cosine is taken as 1 when both rows are zero (nothing changed) and 0 otherwise.
inline double cosine_influence(const Tensor& X, const Tensor& Y) {
  const Tensor x = X.to(kFloat64).cpu(), y = Y.to(kFloat64).cpu();  // summed here, on the host
  const int64_t n = x.size(0), d = x.size(1);
  const double* xs = x.data<double>();
  const double* ys = y.data<double>();
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    double xy = 0, xx = 0, yy = 0;
    for (int64_t j = 0; j < d; ++j) {
      const double a = xs[i * d + j], b = ys[i * d + j];
      xy += a * b, xx += a * a, yy += b * b;
    }
    total += xx > 0 && yy > 0 ? xy / std::sqrt(xx * yy) : (xx == 0 && yy == 0 ? 1.0 : 0.0);
  }
  return n ? 1.0 - total / static_cast<double>(n) : 0.0;
}

// ShortGPT's block influence of every removable block, averaged over the batches of `loader`.
template <class Loader>
std::vector<std::pair<std::string, double>> block_cosine_influence(nn::Module& model, Loader& loader) {
  return block_pair_means(model, loader,
                          [](std::size_t, const Tensor& X, const Tensor& Y) { return cosine_influence(X, Y); });
}

// The reference's Swin-T score |z_k| + pct_k / 100 of each distance (see the top of the file).
inline std::vector<std::pair<std::string, double>> zscore_scores(const std::vector<std::pair<std::string, double>>& d) {
  const double n = static_cast<double>(d.size());
  double mean = 0, var = 0;
  for (auto& [k, v] : d) mean += v / n;
  for (auto& [k, v] : d) var += (v - mean) * (v - mean) / n;
  const double sd = std::sqrt(var);
  std::vector<std::pair<std::string, double>> out;
  for (auto& [k, v] : d) {
    double below = 0, at_most = 0;
    for (auto& [k2, w] : d) below += w < v, at_most += w <= v;
    const double pct = (below + at_most + (at_most > below ? 1 : 0)) * 50.0 / n;
    out.emplace_back(k, (sd > 0 ? std::abs(v - mean) / sd : 0.0) + pct / 100.0);
  }
  return out;
}

// The scores of a score-based ranking for every removable block of `model` on `loader`; the
// directions (maxswd, sliced, zscore) come from Generator(seed), n_projections per batch.
template <class Loader>
std::vector<std::pair<std::string, double>> block_scores(nn::Module& model, Loader& loader, Ranking r,
                                                         int64_t n_projections = 50, uint64_t seed = 0) {
  switch (r) {
    case Ranking::MaxSWD: return block_distances(model, loader, n_projections, seed);
    case Ranking::Sliced: return block_distances(model, loader, n_projections, seed, /*mean_sliced=*/true);
    case Ranking::ZScore: return zscore_scores(block_distances(model, loader, n_projections, seed));
    case Ranking::Cosine: return block_cosine_influence(model, loader);
    default: break;
  }
  throw Error(std::string("block_scores: the ") + ranking_name(r) + " ranking gives no score per block");
}

}  // namespace lacoot::method

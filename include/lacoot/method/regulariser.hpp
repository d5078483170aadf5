// lacoot/method/regulariser.hpp — LaCoOT's regulariser R: how far each removable block moves
// its input's distribution, in max-sliced Wasserstein distance (METHOD.md §2).
//
// Holds: RegulariserOptions, MaxSWDRegulariser (collects every block's input and output during
// the forward pass, and turns them into λ·R), block_pair_means (a score of every block's input
// and output, averaged over held-out batches) and block_distances (R̂_k on held-out data, the
// ranking Algorithm 1 removes blocks by).
// Needs: nn/module.hpp and nn/block.hpp (the marks), ot/sliced_wasserstein.hpp.
// Leaves out: which blocks exist — the model marks them (nn::Module::mark_block); this code
// holds no per-model list (STYLE.md, "The method knows no model").
//
// For blocks T_1..T_K with input x_k and output y_k of the same shape, over a minibatch of N
// samples flattened to rows X_k, Y_k [N, d_k]:
//     R = (1/K) Σ_k MaxSWD_2(X_k, Y_k),            J = CE + λ R,
// with MaxSWD over n_projections fresh random directions per block and step (the reference
// calls POT's max_sliced_wasserstein_distance(X_s, X_t, n_projections = 50, p = 2) every step).
// R_k sends gradient to the block's own weights through Y_k and, through X_k, to every block
// before it. For ResNet the pair is (output of layer_s.0, output of layer_s.1) — exactly
// layer_s.1's input and output, as the reference hooks them. y_k is the block's output unless
// its mark names a descendant that stands in for it (nn::BlockPairHooks): Swin-T marked with
// the reference's pair compares each block's input with its MLP branch's output.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "../nn/block.hpp"
#include "../ops/shape.hpp"
#include "../ot/sliced_wasserstein.hpp"

namespace lacoot::method {

struct RegulariserOptions {
  double lambda = 1.0;          // λ: weight of R in the loss
  int64_t n_projections = 50;   // random directions per block per step
  double p = 2;                 // the Wasserstein order (the paper: 2)
  uint64_t seed = 0;            // of the directions' own generator (reproducible runs)
  // Data-parallel training: maps this process's rows X_k [n, d] to every process's [R·n, d],
  // differentiably (distributed::functional::all_gather), so that each distance is measured on
  // the global batch, as one process with all of it would; every rank then computes the same R
  // (the directions come from the same seed). Unset: each process's own rows (the reference's
  // per-GPU batches), whose gradients distributed data parallel averages.
  std::function<Tensor(const Tensor&)> gather_rows = {};
};

// Flattens an activation [N, ...] to N points of d = the rest.
inline Tensor as_rows(const Tensor& t) { return reshape(t, {t.size(0), t.numel() / t.size(0)}); }

class MaxSWDRegulariser {
 public:
  MaxSWDRegulariser(nn::Module& model, const RegulariserOptions& o = {})
      : options_(o), gen_(o.seed), hooks_(model, [this](std::size_t k, const Tensor& in, const Tensor& out) {
          if (!recording_) return;
          LACOOT_CHECK(in.shape() == out.shape(), "MaxSWDRegulariser: block ", hooks_.paths()[k], " maps ",
                       shape_str(in.shape()), " to ", shape_str(out.shape()), "; a removable block must keep the shape");
          pairs_[k] = {in, out};
        }) {
    LACOOT_CHECK(!hooks_.paths().empty(), "MaxSWDRegulariser: the model (", model.type_name(), ") marks no removable "
                 "block (hint: mark the shape-preserving modules with mark_block())");
    pairs_.resize(hooks_.paths().size());
    last_.assign(hooks_.paths().size(), 0.0);
  }
  MaxSWDRegulariser(const MaxSWDRegulariser&) = delete;
  MaxSWDRegulariser& operator=(const MaxSWDRegulariser&) = delete;

  // λ·R for the pairs recorded by the last forward pass (a 0-d tensor in the graph), which it
  // then forgets. Each block's MaxSWD_2 is kept for logging (distances()).
  Tensor penalty() {
    Tensor total;
    for (std::size_t k = 0; k < pairs_.size(); ++k) {
      auto& [x, y] = pairs_[k];
      LACOOT_CHECK(x.defined(), "MaxSWDRegulariser: block ", hooks_.paths()[k], " was not run by the last forward pass "
                   "(call penalty() once per forward, after it)");
      Tensor X = as_rows(x), Y = as_rows(y);
      if (options_.gather_rows) X = options_.gather_rows(X), Y = options_.gather_rows(Y);
      // The directions are drawn on the CPU (the same ones whatever the device) and sent to X's.
      Tensor P = random_projections(X.size(1), options_.n_projections, gen_, X.dtype()).to(X.device());
      Tensor d = max_sliced_wasserstein(X, Y, P, {.p = options_.p});
      last_[k] = d.item();
      total = total.defined() ? total + d : d;
      x = y = Tensor();
    }
    return total * (options_.lambda / static_cast<double>(pairs_.size()));
  }

  // The removable blocks (their paths) and each one's MaxSWD_2 at the last penalty().
  const std::vector<std::string>& blocks() const { return hooks_.paths(); }
  const std::vector<double>& distances() const { return last_; }
  // Off: forward passes record nothing (evaluation, or another regulariser's turn).
  void set_recording(bool on) { recording_ = on; }
  // The directions' generator: a checkpoint saves its state so that a resumed run draws on.
  Generator& generator() { return gen_; }

 private:
  RegulariserOptions options_;
  Generator gen_;
  std::vector<std::pair<Tensor, Tensor>> pairs_;  // (X_k, Y_k) of the last forward, until penalty()
  nn::BlockPairHooks hooks_;
  std::vector<double> last_;
  bool recording_ = true;
};

// Walks `loader` once in evaluation mode, without gradients, and gives score(k, X_k, Y_k) for
// every removable block k on every batch (X_k, Y_k its input and output flattened to rows);
// returns each block's path with the mean of its scores over the batches. Blocks are scored
// in the model's order within a batch, so a score that draws directions draws them in a fixed
// order.
template <class Loader, class Score>
std::vector<std::pair<std::string, double>> block_pair_means(nn::Module& model, Loader& loader, Score&& score) {
  model.eval();
  NoGradGuard no_grad;
  std::vector<std::pair<Tensor, Tensor>> pairs;
  nn::BlockPairHooks hooks(model, [&pairs](std::size_t k, const Tensor& in, const Tensor& o) { pairs[k] = {in, o}; });
  const std::size_t n = hooks.paths().size();
  pairs.resize(n);
  std::vector<double> sums(n, 0.0);
  int64_t batches = 0;
  const Device device = nn::device_of(model);
  for (auto& batch : loader) {
    model(batch.images.to(device, /*non_blocking=*/true));
    for (std::size_t k = 0; k < n; ++k) sums[k] += score(k, as_rows(pairs[k].first), as_rows(pairs[k].second));
    ++batches;
  }
  std::vector<std::pair<std::string, double>> out;
  for (std::size_t k = 0; k < n; ++k)
    out.emplace_back(hooks.paths()[k], batches ? sums[k] / static_cast<double>(batches) : 0.0);
  return out;
}

// R̂_k for every removable block of `model` on the batches of `loader`: the mean over batches
// of MaxSWD_2(X_k, Y_k), each batch with fresh directions from Generator(seed) — the same
// directions for a given seed, so two models or two steps of Algorithm 1 are compared on equal
// terms. `mean_sliced` gives the reference's validation variant (the mean over directions,
// SW_2) instead.
template <class Loader>
std::vector<std::pair<std::string, double>> block_distances(nn::Module& model, Loader& loader, int64_t n_projections = 50,
                                                            uint64_t seed = 0, bool mean_sliced = false) {
  Generator gen(seed);
  return block_pair_means(model, loader, [&](std::size_t, const Tensor& X, const Tensor& Y) {
    Tensor P = random_projections(X.size(1), n_projections, gen, X.dtype()).to(X.device());
    return (mean_sliced ? sliced_wasserstein(X, Y, P) : max_sliced_wasserstein(X, Y, P)).item();
  });
}

}  // namespace lacoot::method

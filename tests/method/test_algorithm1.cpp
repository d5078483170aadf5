// Tests for method/algorithm1.hpp on a model whose answer is known.
//
// Three residual blocks y = x + α·tanh(W x) with α = 0.001, 1 and 0.01, labels given by the
// dense model: the MaxSWD ranking must remove them in the order of their α (the distance
// between a block's input and output grows with α), block influence must remove first a block
// whose removal keeps validation top-1, and the model must come back as the last step within δ.
// The other rankings of method/ranking.hpp (sliced, cosine) must find the same order, zscore's
// scores equal hand-computed ones, a user order is followed and a stopping rule ends the loop.
#include <doctest/doctest.h>

#include "../check.hpp"
#include "lacoot/method/algorithm1.hpp"
#include "lacoot/nn/activation.hpp"
#include "lacoot/nn/linear.hpp"
#include "lacoot/ops/reduce.hpp"

#include <algorithm>
#include <cmath>

using namespace lacoot;
using namespace lacoot::test;

namespace {

class Residual : public nn::Module {
 public:
  Residual(int64_t d, double alpha) : Module("Residual"), alpha(alpha) {
    fc = register_module("fc", std::make_shared<nn::Linear>(d, d));
    mark_block();
  }
  Tensor forward(const Tensor& x) override { return x + lacoot::tanh((*fc)(x)) * alpha; }
  double alpha;
  std::shared_ptr<nn::Linear> fc;
};

struct ToyBatch {
  Tensor images, labels;
};

// Labels given by the dense model itself, so it scores 100 % and each removal costs what it
// changes.
std::vector<ToyBatch> make_data(int64_t batches, int64_t n, int64_t d, uint64_t seed, nn::Module& teacher) {
  NoGradGuard no_grad;
  Generator g(seed);
  std::vector<ToyBatch> out;
  for (int64_t b = 0; b < batches; ++b) {
    Tensor x = randn({n, d}, kFloat32, g);
    out.push_back({x, argmax(teacher(x), 1)});
  }
  return out;
}

}  // namespace

TEST_CASE("Algorithm 1 removes blocks by increasing MaxSWD, keeps the last model within δ") {
  manual_seed(1);
  const int64_t d = 8;
  nn::Sequential model{std::make_shared<Residual>(d, 0.001), std::make_shared<Residual>(d, 1.0),
                       std::make_shared<Residual>(d, 0.01), std::make_shared<nn::Linear>(d, 4)};
  auto val = make_data(4, 64, d, 10, model), test = make_data(4, 64, d, 11, model);

  int steps_seen = 0;
  method::CollapseResult r = method::algorithm1(model, val, test, {.delta = 1.0, .n_projections = 20,
      .measure = [](nn::Module& m) { return std::vector<std::pair<std::string, double>>{{"blocks", static_cast<double>(nn::blocks(m).size())}}; },
      .on_step = [&](const method::CollapseStep&) { ++steps_seen; }});
  REQUIRE(r.trajectory.size() == 4);
  CHECK(steps_seen == 4);
  CHECK(r.trajectory[3].removed == std::vector<std::string>{"0", "2", "1"});  // α = 0.001, then 0.01, then 1
  CHECK(r.trajectory[1].distances.size() == 3);
  CHECK(r.trajectory[2].distances.size() == 2);
  CHECK(r.trajectory[0].metrics[0].second == 3);
  CHECK(r.trajectory[3].metrics[0].second == 0);
  // Removing the two near-identity blocks keeps the accuracy; the α = 1 block matters.
  const double dense = r.trajectory[0].val_top1;
  CHECK(dense - r.trajectory[2].val_top1 <= 1.0);
  CHECK(dense - r.trajectory[3].val_top1 > 1.0);
  CHECK(r.chosen == 2);
  // The model is back at the chosen step: only block "1" is still there.
  auto left = nn::blocks(model);
  REQUIRE(left.size() == 1);
  CHECK(left[0].first == "1");
}

TEST_CASE("the baselines: block influence tries each block; random order is seeded") {
  manual_seed(2);
  const int64_t d = 6;
  auto dense = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<Residual>(d, 1.0), std::make_shared<Residual>(d, 0.001), std::make_shared<nn::Linear>(d, 3)});
  auto val = make_data(2, 64, d, 20, *dense), test = make_data(2, 64, d, 21, *dense);
  nn::StateDict weights;
  for (auto& [k, t] : dense->state_dict()) weights.emplace_back(k, t.clone());
  auto build = [&] {
    auto m = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
        std::make_shared<Residual>(d, 1.0), std::make_shared<Residual>(d, 0.001), std::make_shared<nn::Linear>(d, 3)});
    m->load_state_dict(weights);
    return m;
  };
  auto bi_model = build();
  method::CollapseResult bi = method::algorithm1(*bi_model, val, test, {.delta = 100, .ranking = method::Ranking::BlockInfluence});
  REQUIRE(bi.trajectory.size() == 3);
  // Its first choice keeps validation top-1 at least as high as the other candidate would.
  const auto& tried = bi.trajectory[1].distances;
  REQUIRE(tried.size() == 2);
  const double kept = bi.trajectory[1].val_top1;
  for (auto& [path, acc] : tried) CHECK(acc <= kept + 1e-9);
  CHECK(bi.trajectory[1].removed == std::vector<std::string>{"1"});  // the α = 0.001 block costs nothing
  CHECK(bi.chosen == 2);  // δ = 100 points: everything may go

  auto r1 = build(), r2 = build();
  auto a = method::algorithm1(*r1, val, test, {.ranking = method::Ranking::Random, .seed = 5, .full_trajectory = true});
  auto b = method::algorithm1(*r2, val, test, {.ranking = method::Ranking::Random, .seed = 5, .full_trajectory = true});
  CHECK(a.trajectory.back().removed == b.trajectory.back().removed);
  CHECK_THROWS_WITH_AS(method::parse_ranking("greedy"), doctest::Contains("expected maxswd, sliced, zscore, cosine, block-influence, random or order"), Error);
}

TEST_CASE("the sliced and cosine rankings order blocks by how much they move their input") {
  manual_seed(3);
  const int64_t d = 8;
  nn::Sequential model{std::make_shared<Residual>(d, 0.001), std::make_shared<Residual>(d, 1.0),
                       std::make_shared<Residual>(d, 0.01), std::make_shared<nn::Linear>(d, 4)};
  auto val = make_data(3, 64, d, 30, model), test = make_data(2, 64, d, 31, model);
  nn::StateDict weights;
  for (auto& [k, t] : model.state_dict()) weights.emplace_back(k, t.clone());
  for (method::Ranking r : {method::Ranking::Sliced, method::Ranking::Cosine}) {
    CAPTURE(method::ranking_name(r));
    nn::Sequential m{std::make_shared<Residual>(d, 0.001), std::make_shared<Residual>(d, 1.0),
                     std::make_shared<Residual>(d, 0.01), std::make_shared<nn::Linear>(d, 4)};
    m.load_state_dict(weights);
    auto scores = method::block_scores(m, val, r, 20, 0);
    REQUIRE(scores.size() == 3);
    CHECK(scores[0].second < scores[2].second);
    CHECK(scores[2].second < scores[1].second);
    auto res = method::algorithm1(m, val, test, {.delta = 100, .ranking = r, .n_projections = 20});
    CHECK(res.trajectory.back().removed == std::vector<std::string>{"0", "2", "1"});
    CHECK(res.trajectory[1].distances.size() == 3);
  }
}

TEST_CASE("cosine_influence: 1 - mean cosine of the rows") {
  Tensor X = tensor(std::vector<double>{1.0, 0.0, 2.0, 2.0}, {2, 2});
  CHECK(method::cosine_influence(X, X * 3.0) == doctest::Approx(0.0).epsilon(1e-12));
  CHECK(method::cosine_influence(X, X * -1.0) == doctest::Approx(2.0));
  // Row 1 turned by 90 degrees (cos 0), row 2 kept (cos 1): 1 - 1/2.
  CHECK(method::cosine_influence(X, tensor(std::vector<double>{0.0, 5.0, 1.0, 1.0}, {2, 2})) == doctest::Approx(0.5));
  // A zero row: unchanged counts as cos 1, from or to zero as cos 0.
  CHECK(method::cosine_influence(tensor(std::vector<double>{0.0, 0.0}, {1, 2}), tensor(std::vector<double>{0.0, 0.0}, {1, 2})) == doctest::Approx(0.0));
  CHECK(method::cosine_influence(tensor(std::vector<double>{0.0, 0.0}, {1, 2}), tensor(std::vector<double>{1.0, 0.0}, {1, 2})) == doctest::Approx(1.0));
}

TEST_CASE("zscore_scores: the reference's |z| + percentile / 100, by hand") {
  // d = 1, 2, 3, 4: mean 2.5, population std sqrt(1.25); percentile ranks 25, 50, 75, 100.
  const double sd = std::sqrt(1.25);
  auto s = method::zscore_scores({{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}});
  REQUIRE(s.size() == 4);
  CHECK(s[0].second == doctest::Approx(1.5 / sd + 0.25));
  CHECK(s[1].second == doctest::Approx(0.5 / sd + 0.50));
  CHECK(s[2].second == doctest::Approx(0.5 / sd + 0.75));
  CHECK(s[3].second == doctest::Approx(1.5 / sd + 1.00));
  // Ties (1, 1, 2): scipy's "rank" percentile is (left + right + 1) * 50 / n = 50 for the 1s and
  // 100 for the 2; mean 4/3, std sqrt(2/9).
  auto t = method::zscore_scores({{"a", 1}, {"b", 1}, {"c", 2}});
  const double sd3 = std::sqrt(2.0 / 9.0);
  CHECK(t[0].second == doctest::Approx((1.0 / 3.0) / sd3 + 0.5));
  CHECK(t[2].second == doctest::Approx((2.0 / 3.0) / sd3 + 1.0));
  // All equal: no spread, so z = 0; the percentile of a value tied with all n is (n + 1) * 50 / n.
  auto u = method::zscore_scores({{"a", 2}, {"b", 2}});
  CHECK(u[0].second == doctest::Approx(0.75));
}

TEST_CASE("the zscore ranking fixes its order on the dense model; the user order; a stopping rule") {
  manual_seed(4);
  const int64_t d = 8;
  auto build = [&] {
    return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
        std::make_shared<Residual>(d, 0.001), std::make_shared<Residual>(d, 1.0), std::make_shared<Residual>(d, 0.01),
        std::make_shared<Residual>(d, 0.1), std::make_shared<nn::Linear>(d, 4)});
  };
  auto dense = build();
  auto val = make_data(3, 64, d, 40, *dense), test = make_data(2, 64, d, 41, *dense);
  nn::StateDict weights;
  for (auto& [k, t] : dense->state_dict()) weights.emplace_back(k, t.clone());
  auto fresh = [&] {
    auto m = build();
    m->load_state_dict(weights);
    return m;
  };

  // zscore: scores once, on the dense model; the removal order is that of zscore_scores.
  auto zm = fresh();
  auto expected_scores = method::zscore_scores(method::block_distances(*zm, val, 20, 0));
  auto z = method::algorithm1(*zm, val, test, {.delta = 100, .ranking = method::Ranking::ZScore, .n_projections = 20});
  REQUIRE(z.trajectory.size() == 5);
  REQUIRE(z.trajectory[1].distances.size() == 4);
  CHECK(z.trajectory[2].distances.empty());
  std::vector<std::pair<double, std::string>> sorted;
  for (auto& [path, v] : expected_scores) sorted.emplace_back(v, path);
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::string> order;
  for (auto& [v, path] : sorted) order.push_back(path);
  CHECK(z.trajectory.back().removed == order);
  for (std::size_t k = 0; k < 4; ++k) CHECK(z.trajectory[1].distances[k].second == doctest::Approx(expected_scores[k].second));

  // The user's order: only the blocks named go, in the order given.
  auto um = fresh();
  auto u = method::algorithm1(*um, val, test, {.delta = 100, .ranking = method::Ranking::UserOrder, .order = {"3", "0"}});
  REQUIRE(u.trajectory.size() == 3);
  CHECK(u.trajectory.back().removed == std::vector<std::string>{"3", "0"});
  CHECK(nn::blocks(*um).size() == 2);
  auto bad = fresh();
  CHECK_THROWS_WITH_AS(method::algorithm1(*bad, val, test, {.ranking = method::Ranking::UserOrder, .order = {"7"}}),
                       doctest::Contains("\"7\" in the user order is not a removable block of the model (removable: 0, 1, 2, 3)"),
                       Error);

  // A stopping rule: stop once two blocks are gone; that step is chosen (it is within δ).
  auto sm = fresh();
  auto st = method::algorithm1(*sm, val, test, {.delta = 100, .stop = [](const method::CollapseStep& s) { return s.removed.size() >= 2; }});
  CHECK(st.stopped);
  REQUIRE(st.trajectory.size() == 3);
  CHECK(st.chosen == 2);
  CHECK(nn::blocks(*sm).size() == 2);
  // A rule the dense model already meets removes nothing.
  auto dm = fresh();
  auto none = method::algorithm1(*dm, val, test, {.stop = [](const method::CollapseStep&) { return true; }});
  CHECK(none.stopped);
  CHECK(none.trajectory.size() == 1);
  CHECK(nn::blocks(*dm).size() == 4);
}

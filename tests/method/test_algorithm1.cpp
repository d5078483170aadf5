// Tests for method/algorithm1.hpp on a model whose answer is known.
//
// Three residual blocks y = x + α·tanh(W x) with α = 0.001, 1 and 0.01, labels given by the
// dense model: the MaxSWD ranking must remove them in the order of their α (the distance
// between a block's input and output grows with α), block influence must remove first a block
// whose removal keeps validation top-1, and the model must come back as the last step within δ.
#include <doctest/doctest.h>

#include "../check.hpp"
#include "lacoot/method/algorithm1.hpp"
#include "lacoot/nn/activation.hpp"
#include "lacoot/nn/linear.hpp"
#include "lacoot/ops/reduce.hpp"

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

struct Batch {
  Tensor images, labels;
};

// Labels given by the dense model itself, so it scores 100 % and each removal costs what it
// changes.
std::vector<Batch> make_data(int64_t batches, int64_t n, int64_t d, uint64_t seed, nn::Module& teacher) {
  NoGradGuard no_grad;
  Generator g(seed);
  std::vector<Batch> out;
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
  CHECK_THROWS_WITH_AS(method::parse_ranking("greedy"), doctest::Contains("expected maxswd, block-influence or random"), Error);
}

// Tests for method/regulariser.hpp.
//
// References: the definition R = (1/K) Σ_k MaxSWD_2(X_k, Y_k) computed by hand from the blocks'
// inputs and outputs (running the stages one by one) with the same directions; identities (a
// ResNet whose residual branches start at zero is the identity on every block: R = 0); where
// the gradient of R goes (to the blocks and everything before them, never to the classifier).
#include <doctest/doctest.h>

#include "../check.hpp"
#include "lacoot/autograd/engine.hpp"
#include "lacoot/method/regulariser.hpp"
#include "lacoot/models/resnet.hpp"

using namespace lacoot;
using namespace lacoot::test;

namespace {
auto small_resnet(bool zero_init = false) {
  return models::resnet18_cifar({.num_classes = 10, .in_channels = 1, .width = 4, .zero_init_residual = zero_init});
}
}  // namespace

TEST_CASE("penalty = λ · mean over blocks of MaxSWD_2(block input, block output), same directions") {
  auto model = small_resnet();
  model->to(kFloat64);
  method::MaxSWDRegulariser reg(*model, {.lambda = 0.5, .n_projections = 7, .seed = 3});
  REQUIRE(reg.blocks() == std::vector<std::string>{"layer1.1", "layer2.1", "layer3.1", "layer4.1"});
  Tensor x = randn({6, 1, 16, 16}, kFloat64);
  (*model)(x);
  const double penalty = reg.penalty().item();

  // By hand: run the stem, then each stage's two blocks, taking the second block's input/output.
  NoGradGuard no_grad;
  Generator gen(3);
  Tensor h = (*model->maxpool)((*model->relu)((*model->bn1)((*model->conv1)(x))));
  double total = 0;
  for (auto& stage : model->stages) {
    Tensor in = (*(*stage)[0])(h), out = (*(*stage)[1])(in);
    Tensor X = method::as_rows(in), Y = method::as_rows(out);
    total += max_sliced_wasserstein(X, Y, random_projections(X.size(1), 7, gen, kFloat64)).item();
    h = out;
  }
  // BN in training mode: the hand pass sees the same batch, so the same statistics.
  CHECK(penalty == doctest::Approx(0.5 * total / 4).epsilon(1e-12));
  for (double d : reg.distances()) CHECK(d > 0);
}

TEST_CASE("the gradient of R reaches the blocks and the layers before them, not the classifier") {
  auto model = small_resnet();
  method::MaxSWDRegulariser reg(*model, {.lambda = 1.0});
  (*model)(randn({8, 1, 16, 16}));
  reg.penalty().backward();
  auto grad_norm = [&](const std::string& name) {
    for (auto& [n, p] : model->named_parameters())
      if (n == name) return p.grad().defined() ? sum(p.grad() * p.grad()).item() : 0.0;
    FAIL("no parameter ", name);
    return 0.0;
  };
  CHECK(grad_norm("layer4.1.conv2.weight") > 0);  // the last block's own weights
  CHECK(grad_norm("layer1.0.conv1.weight") > 0);  // before a block: moves X_k
  CHECK(grad_norm("conv1.weight") > 0);           // the stem
  CHECK(grad_norm("fc.weight") == 0);             // after every block: R does not depend on it
}

TEST_CASE("a ResNet with zero-initialised residual branches is the identity on its blocks: R = 0") {
  // zero_init_residual sets each block's last BN weight to 0, so block(x) = relu(0 + x) = x for
  // the non-negative x that a previous block's ReLU produced.
  auto model = small_resnet(/*zero_init=*/true);
  method::MaxSWDRegulariser reg(*model);
  (*model)(randn({5, 1, 16, 16}));
  Tensor r = reg.penalty();
  CHECK(r.item() == 0.0);
  r.backward();  // and finite: the gradient at 0 is 0, not NaN
  for (auto& [name, p] : model->named_parameters())
    if (p.grad().defined())
      for (double g : values_of(p.grad())) REQUIRE(std::isfinite(g));
}

TEST_CASE("block_distances on held-out batches; errors for models without blocks or skipped blocks") {
  auto model = small_resnet();
  struct Batch {
    Tensor images;
  };
  std::vector<Batch> loader{{randn({4, 1, 16, 16})}, {randn({4, 1, 16, 16})}};
  auto d = method::block_distances(*model, loader, 10, 0);
  REQUIRE(d.size() == 4);
  CHECK(d[2].first == "layer3.1");
  for (auto& [name, v] : d) CHECK(v > 0);
  // Deterministic for a seed.
  auto again = method::block_distances(*model, loader, 10, 0);
  for (std::size_t k = 0; k < 4; ++k) CHECK(again[k].second == d[k].second);
  auto sliced = method::block_distances(*model, loader, 10, 0, /*mean_sliced=*/true);
  for (std::size_t k = 0; k < 4; ++k) CHECK(sliced[k].second <= d[k].second + 1e-12);  // a mean is below the max

  nn::Sequential plain{std::make_shared<nn::Linear>(3, 3)};
  CHECK_THROWS_WITH_AS(method::MaxSWDRegulariser(plain, {}), doctest::Contains("marks no removable block"), Error);
  method::MaxSWDRegulariser reg(*model);
  CHECK_THROWS_WITH_AS(reg.penalty(), doctest::Contains("was not run by the last forward pass"), Error);
}

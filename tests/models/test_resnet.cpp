// Tests for models/resnet.hpp.
//
// References: torchvision 0.14's resnet18 (with the LaCoOT reference's CIFAR stem for the CIFAR
// variant) filled with the same deterministic weights, in tests/fixtures/models_fixtures.hpp
// (gen_models.py): state_dict keys and shapes, eval and train logits, the input gradient and a
// projection of every parameter gradient; parameter counts from specs/architectures.md §1; and
// the identity "collapse, then forward = skip the block".
#include <doctest/doctest.h>

#include "reference.hpp"
#include "lacoot/models/resnet.hpp"

using namespace lacoot;
using namespace lacoot::test;

TEST_CASE("resnet18_cifar: torchvision's state_dict names and shapes, and the paper's parameter count") {
  auto model = models::resnet18_cifar();
  check_keys<fixtures::models::resnet18_cifar>(*model);
  CHECK(model->state_dict().size() == 122);
  CHECK(count_parameters(*model) == 11173962);  // specs/architectures.md §1.3
  CHECK(count_parameters(*models::resnet18()) == 11689512);  // torchvision resnet18, 1000 classes
  auto tiny = models::resnet18({.num_classes = 200});
  check_keys<fixtures::models::resnet18_tiny>(*tiny);
  CHECK(count_parameters(*tiny) == 11279112);  // the Tiny-ImageNet model, §1.3
}

TEST_CASE("resnet18_cifar equals torchvision's model with the CIFAR stem (float64 and float32)") {
  using Case = fixtures::models::resnet18_cifar;
  SUBCASE("float64, with gradients") { check_against_torchvision<Case>(*models::resnet18_cifar(), kFloat64, 1e-9, 1e-9); }
  // float32: logits within 1e-4 (the `lacoot run` contract); gradients sum over a whole batch
  // of activations and so carry more rounding.
  SUBCASE("float32") { check_against_torchvision<Case>(*models::resnet18_cifar(), kFloat32, 1e-4, 2e-3); }  // well conditioned here
}

TEST_CASE("resnet18 (ImageNet stem, 200 classes, 64x64) equals torchvision's") {
  using Case = fixtures::models::resnet18_tiny;
  check_against_torchvision<Case>(*models::resnet18({.num_classes = 200}), kFloat64, 1e-9, 1e-9);
}

TEST_CASE("resnet18_cifar: the removable blocks are layer{1..4}.1; removing them gives the paper's model") {
  auto model = models::resnet18_cifar();
  auto marked = nn::blocks(*model);
  REQUIRE(marked.size() == 4);
  for (int s = 0; s < 4; ++s) CHECK(marked[static_cast<std::size_t>(s)].first == "layer" + std::to_string(s + 1) + ".1");

  fill_state(*model);
  const nn::StateDict dense = model->state_dict();
  nn::StateDict dense_copy;
  for (auto& [name, t] : dense) dense_copy.emplace_back(name, t.clone());
  model->eval();
  Tensor x = alias_with_shape(hash_uniform(2 * 3 * 32 * 32, 7), {2, 3, 32, 32}).to(kFloat32);

  for (auto& [path, m] : marked) nn::replace_with_identity(*model, path);
  CHECK(nn::blocks(*model).empty());
  CHECK(count_parameters(*model) == 4903242);  // stages [1, 1, 1, 1], specs/architectures.md §1.5
  for (auto& [name, t] : model->state_dict())
    for (int s = 1; s <= 4; ++s) CHECK(name.rfind("layer" + std::to_string(s) + ".1.", 0) == std::string::npos);

  // Collapse, then forward = the dense model with each stage's second block skipped.
  auto reference = models::resnet18_cifar();
  reference->load_state_dict(dense_copy);
  reference->eval();
  Tensor h = (*reference->maxpool)((*reference->relu)((*reference->bn1)((*reference->conv1)(x))));
  for (auto& stage : reference->stages) h = (*(*stage)[0])(h);
  Tensor skipped = (*reference->fc)(flatten((*reference->avgpool)(h), 1));
  CHECK(max_abs_diff((*model)(x), skipped) == 0.0);

  // The dense weights load into the collapsed model with strict = false; the removed blocks'
  // keys come back as unexpected.
  nn::LoadResult r = model->load_state_dict(dense_copy, /*strict=*/false);
  CHECK(r.missing_keys.empty());
  CHECK(r.unexpected_keys.size() == 4 * 12);  // per block: conv1.weight, bn1 (5 keys), conv2.weight, bn2 (5)
  CHECK_THROWS_WITH_AS(model->load_state_dict(dense_copy), doctest::Contains("layer4.1.conv2.weight"), Error);
}

TEST_CASE("resnet18_cifar with width 32, one input channel: the Fashion-MNIST model of the acceptance run") {
  auto model = models::resnet18_cifar({.num_classes = 10, .in_channels = 1, .width = 32});
  CHECK(model->conv1->weight.shape() == Shape{32, 1, 3, 3});
  CHECK(model->fc->weight.shape() == Shape{10, 256});
  Tensor y = (*model)(randn({4, 1, 32, 32}));
  CHECK(y.shape() == Shape{4, 10});
}

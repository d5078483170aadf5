// Tests for models/mobilenet_v2.hpp and models/vgg.hpp.
//
// References: torchvision 0.14's mobilenet_v2 (and the LaCoOT reference's CIFAR variant, made
// from it by setting two strides to 1), vgg16 and vgg16_bn, filled with the same deterministic
// weights (tests/fixtures/gen_models.py); parameter counts and removable units from
// specs/architectures.md §2-3.
#include <doctest/doctest.h>

#include "lacoot/models/mobilenet_v2.hpp"
#include "lacoot/models/vgg.hpp"
#include "reference.hpp"

using namespace lacoot;
using namespace lacoot::test;

TEST_CASE("mobilenet_v2: torchvision's keys, parameter counts, and logits and gradients in float64") {
  auto model = models::mobilenet_v2({.num_classes = 10, .dropout = 0.0});
  check_keys<fixtures::models::mobilenet_v2>(*model);
  CHECK(model->state_dict().size() == 314);
  CHECK(count_parameters(*models::mobilenet_v2()) == 3504872);  // 1000 classes, §2.2
  check_against_torchvision<fixtures::models::mobilenet_v2>(*model, kFloat64, 1e-9, 1e-9);
}

TEST_CASE("mobilenet_v2_cifar: the reference's CIFAR model, its 13 removable depthwise units") {
  auto model = models::mobilenet_v2_cifar({.num_classes = 10, .dropout = 0.0});
  check_keys<fixtures::models::mobilenet_v2_cifar>(*model);
  CHECK(count_parameters(*model) == 2236682);  // §2.2
  SUBCASE("float64") { check_against_torchvision<fixtures::models::mobilenet_v2_cifar>(*model, kFloat64, 1e-9, 1e-9); }
  SUBCASE("float32") { check_against_torchvision<fixtures::models::mobilenet_v2_cifar>(*model, kFloat32, 1e-4, 0); }

  // §2.4: features.i.conv.1 for i in {2, 3, 5, 6, 8, 9, 10, 11, 12, 13, 15, 16, 17} (CIFAR);
  // features.2 has stride 2 in torchvision's model, which leaves 12.
  std::vector<std::string> expected;
  for (int i : {2, 3, 5, 6, 8, 9, 10, 11, 12, 13, 15, 16, 17}) expected.push_back("features." + std::to_string(i) + ".conv.1");
  std::vector<std::string> found;
  for (auto& [path, m] : nn::blocks(*model)) found.push_back(path);
  CHECK(found == expected);
  CHECK(nn::blocks(*models::mobilenet_v2()).size() == 12);
  CHECK(nn::blocks(*models::mobilenet_v2()).front().first == "features.3.conv.1");

  // Removing a unit keeps the model runnable: the depthwise ConvBNReLU6 becomes the identity
  // and its 6 state_dict entries (conv weight, 5 BN keys) leave.
  model->to(kFloat32);
  nn::replace_with_identity(*model, "features.11.conv.1");
  CHECK(model->state_dict().size() == 314 - 6);
  model->eval();
  CHECK((*model)(randn({1, 3, 32, 32})).shape() == Shape{1, 10});
}

TEST_CASE("vgg16: torchvision's keys and counts, logits equal in float32") {
  auto model = models::vgg16({.num_classes = 10, .dropout = 0.0});
  check_keys<fixtures::models::vgg16>(*model);
  CHECK(count_parameters(*model) == 134301514);  // 10 classes, §3
  check_against_torchvision<fixtures::models::vgg16>(*model, kFloat32, 1e-4, 0);
}

TEST_CASE("vgg16_bn: torchvision's keys and counts, logits equal in float32; the CIFAR head") {
  auto model = models::vgg16_bn({.num_classes = 10, .dropout = 0.0});
  check_keys<fixtures::models::vgg16_bn>(*model);
  CHECK(count_parameters(*model) == 134309962);  // 10 classes, §3
  check_against_torchvision<fixtures::models::vgg16_bn>(*model, kFloat32, 1e-4, 0);
  auto cifar = models::vgg16({.num_classes = 10, .cifar_head = true});
  CHECK(cifar->classifier->size() == 1);
  CHECK((*cifar)(randn({2, 3, 32, 32})).shape() == Shape{2, 10});
}

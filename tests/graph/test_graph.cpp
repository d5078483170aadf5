// Tests for graph/ (trace, analyses, collapse, profile) and tools/profile_command.hpp.
//
// References: the exact MACs and parameter counts of specs/architectures.md (§1.2, §1.3, §1.5,
// §2.2, §2.4, §3), which reproduce the paper's figures (METHOD.md §6: ResNet-18-CIFAR 140.19 M
// dense, 121.31 / 102.44 / 83.56 / 64.69 M with 1-4 blocks removed, MobileNetV2-CIFAR 87.98 M,
// ResNet-18 at 224 px 1.81 G, ResNet-18 Tiny-ImageNet 148.15 M). The critical path lengths are
// derived in the comments next to them, with graph/analysis.hpp's definition (conv2d and
// linear ops on the longest input→output path). Swin-T's figures (§4.2) are in
// tests/models/test_swin.cpp. And identities (STYLE.md): collapsing the
// graph equals tracing the collapsed model, equals tracing the model built without the blocks;
// collapse-then-forward equals the forward that skips the block.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "../check.hpp"
#include "lacoot/graph/profile.hpp"
#include "lacoot/models/zoo.hpp"
#include "lacoot/nn/linear.hpp"
#include "lacoot/ops/reduce.hpp"
#include "tools/profile_command.hpp"

using namespace lacoot;
using namespace lacoot::test;

namespace {

using Names = std::vector<std::string>;

struct Figures {
  int64_t macs, params, cpl;
};
Figures figures(const graph::Graph& g) { return {graph::macs(g), graph::params(g), graph::cpl(g)}; }
void check_figures(const graph::Graph& g, int64_t macs, int64_t params, int64_t cpl) {
  CHECK(graph::macs(g) == macs);
  CHECK(graph::params(g) == params);
  CHECK(graph::cpl(g) == cpl);
}

// Two graphs describe the same computation, op by op.
void check_same_graph(const graph::Graph& a, const graph::Graph& b) {
  REQUIRE(a.ops.size() == b.ops.size());
  CHECK(a.output == b.output);
  CHECK(a.input_shape == b.input_shape);
  CHECK(a.blocks == b.blocks);
  CHECK(a.parameters == b.parameters);
  for (std::size_t i = 0; i < a.ops.size(); ++i) {
    CAPTURE(i);
    CAPTURE(a.ops[i].scope);
    CHECK(a.ops[i].name == b.ops[i].name);
    CHECK(a.ops[i].scope == b.ops[i].scope);
    CHECK(a.ops[i].inputs == b.ops[i].inputs);
    CHECK(a.ops[i].params == b.ops[i].params);
    CHECK(a.ops[i].shape == b.ops[i].shape);
    CHECK(a.ops[i].weight_shape == b.ops[i].weight_shape);
    CHECK(a.ops[i].bias == b.ops[i].bias);
  }
}

// MACs and parameters of the per-layer rows inside `path`.
Figures sum_rows(const std::vector<graph::LayerRow>& rows, const std::string& path) {
  Figures f{0, 0, 0};
  for (const auto& r : rows)
    if (graph::in_scope(r.scope, path)) f.macs += r.macs, f.params += r.params;
  return f;
}

std::shared_ptr<models::ResNet<models::BasicBlock>> resnet_stages(std::vector<int64_t> stages, models::ResNetOptions o) {
  return std::make_shared<models::ResNet<models::BasicBlock>>(stages, o);
}

// A user's model (no model class of models/): stem conv → a marked residual block → head.
//   x [N, 1, 6, 6] → conv 1→4 (3x3, pad 1) [N, 4, 6, 6] → block: y + relu(conv 4→4 (y))
//   → flatten [N, 144] → linear 144→3.
// MACs: stem 144 outputs · (1·3·3 + 1 bias) = 1,440; block conv 144 · (4·9 + 1) = 5,328;
// head 3 · (144 + 1) = 435; total 7,203. Parameters 40 + 148 + 435 = 623. CPL 3 (stem, block
// conv, head); without the block 1,875 MACs, 475 parameters, CPL 2.
struct ConvResidual : nn::Module {
  ConvResidual() : nn::Module("Residual") {
    conv = register_module("conv", std::make_shared<nn::Conv2d>(4, 4, 3, nn::Conv2dModuleOptions{.padding = 1}));
  }
  Tensor forward(const Tensor& x) override { return x + relu((*conv)(x)); }
  std::shared_ptr<nn::Conv2d> conv;
};
struct TinyNet : nn::Module {
  TinyNet() : nn::Module("TinyNet") {
    stem = register_module("stem", std::make_shared<nn::Conv2d>(1, 4, 3, nn::Conv2dModuleOptions{.padding = 1}));
    body = register_module("body", std::make_shared<ConvResidual>());
    body->mark_block();
    head = register_module("head", std::make_shared<nn::Linear>(144, 3));
  }
  // The block is looked up by name, not through the `body` handle, so that after
  // collapse_model the Identity in its place runs (the handle still holds the removed block).
  Tensor forward(const Tensor& x) override { return (*head)(flatten((*child("body"))((*stem)(x)), 1)); }
  std::shared_ptr<nn::Conv2d> stem;
  nn::ModulePtr body;
  std::shared_ptr<nn::Linear> head;
};

// Runs f with stdout going to a temporary file; returns what it printed.
template <class F>
std::string capture_stdout(F&& f) {
  std::fflush(stdout);
  std::FILE* tmp = std::tmpfile();
  REQUIRE(tmp != nullptr);
  const int saved = dup(fileno(stdout));
  dup2(fileno(tmp), fileno(stdout));
  try {
    f();
  } catch (...) {
    std::fflush(stdout);
    dup2(saved, fileno(stdout));
    close(saved);
    std::fclose(tmp);
    throw;
  }
  std::fflush(stdout);
  dup2(saved, fileno(stdout));
  close(saved);
  std::rewind(tmp);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, tmp)) > 0;) out.append(buf, n);
  std::fclose(tmp);
  return out;
}

int run_profile(std::vector<std::string> words) {
  std::vector<char*> argv;
  std::string prog = "lacoot", command = "profile";
  argv.push_back(prog.data());
  argv.push_back(command.data());
  for (std::string& w : words) argv.push_back(w.data());
  return profile_command(train::Args(static_cast<int>(argv.size()), argv.data(), 2,
                                     {"model", "input-shape", "remove", "num-classes", "width"}, {"json"}));
}

}  // namespace

TEST_CASE("Module::operator() opens its scope: recorded nodes carry the module, and the scope closes after") {
  auto lin = std::make_shared<nn::Linear>(3, 2);
  Tensor y = (*lin)(randn({1, 3}));
  REQUIRE(y.grad_fn() != nullptr);
  CHECK(y.grad_fn()->scope == lin.get());
  CHECK(autograd::current_scope() == nullptr);
  {
    autograd::ScopeGuard outer(&y);
    CHECK_THROWS_AS((*lin)(randn({1, 4})), Error);  // a forward that throws restores the scope
    CHECK(autograd::current_scope() == &y);
  }
  CHECK(autograd::current_scope() == nullptr);
}


TEST_CASE("trace: resnet18-cifar's ops, their scopes and shapes; the model's flags are restored") {
  auto model = models::resnet18_cifar();
  model->train();
  model->fc->bias.requires_grad_(false);  // a frozen parameter is still read, and counted
  const graph::Graph g = graph::trace(*model, {3, 32, 32});
  CHECK(model->is_training());  // trace ran in eval mode, then put the flags back
  CHECK(model->bn1->is_training());
  CHECK_FALSE(model->fc->bias.requires_grad());
  CHECK(model->fc->weight.requires_grad());

  CHECK(g.input_shape == Shape{1, 3, 32, 32});
  CHECK(g.blocks == Names{"layer1.1", "layer2.1", "layer3.1", "layer4.1"});
  CHECK(g.unused_parameters.empty());
  int convs = 0, linears = 0, norms = 0;
  for (std::size_t i = 0; i < g.ops.size(); ++i) {
    for (int in : g.ops[i].inputs) CHECK(in < static_cast<int>(i));  // topological order
    convs += g.ops[i].name == "conv2d", linears += g.ops[i].name == "linear", norms += g.ops[i].name == "batch_norm";
  }
  CHECK(convs == 20);  // conv1, 2 per BasicBlock (16), 3 downsample convs
  CHECK(linears == 1);
  CHECK(norms == 20);

  const graph::Op& stem = g.ops.front();
  CHECK(stem.name == "conv2d");
  CHECK(stem.scope == "conv1");
  CHECK(stem.inputs == std::vector<int>{graph::kInput});
  CHECK(stem.params == Names{"conv1.weight"});
  CHECK(stem.weight_shape == Shape{64, 3, 3, 3});
  CHECK_FALSE(stem.bias);
  CHECK(stem.shape == Shape{1, 64, 32, 32});
  const graph::Op& fc = g.ops[static_cast<std::size_t>(g.output)];
  CHECK(fc.name == "linear");
  CHECK(fc.scope == "fc");
  CHECK(fc.params == Names{"fc.weight", "fc.bias"});
  CHECK(fc.weight_shape == Shape{10, 512});
  CHECK(fc.bias);
  CHECK(fc.shape == Shape{1, 10});
  // The residual addition belongs to the block's own forward; flatten to the model's.
  bool add_in_block = false, flatten_in_model = false, downsample = false;
  for (const graph::Op& op : g.ops) {
    add_in_block = add_in_block || (op.name == "add" && op.scope == "layer1.0" && op.shape == Shape{1, 64, 16, 16});
    flatten_in_model = flatten_in_model || (op.name == "flatten" && op.scope.empty());
    downsample = downsample || (op.scope == "layer2.0.downsample.0" && op.weight_shape == Shape{128, 64, 1, 1});
  }
  CHECK(add_in_block);
  CHECK(flatten_in_model);
  CHECK(downsample);
}

TEST_CASE("resnet18-cifar: 140,186,634 MACs, 11,173,962 parameters, CPL 18, and the per-layer table") {
  auto model = models::resnet18_cifar();
  const graph::Graph g = graph::trace(*model, {3, 32, 32});
  // CPL: conv1 + 2 convs in each of the 8 BasicBlocks + fc = 18. A downsample shortcut holds one
  // 1x1 conv against the two of its block's main branch, so it never lies on the longest path.
  check_figures(g, 140186634, 11173962, 18);  // specs/architectures.md §1.3; the paper's 140.19 M

  // The table of specs/architectures.md §1.3, module by module.
  const auto rows = graph::layers(g);
  CHECK(rows.front().scope == "conv1");
  CHECK(rows.front().shape == Shape{64, 32, 32});
  CHECK(rows.front().macs == 1769472);
  CHECK(rows.front().params == 1728);
  CHECK(sum_rows(rows, "bn1").params == 128);
  CHECK(rows.back().scope == "fc");
  CHECK(rows.back().macs == 5130);
  CHECK(rows.back().params == 5130);
  const int64_t block_macs[4][2] = {{18874368, 18874368}, {14680064, 18874368}, {14680064, 18874368}, {14680064, 18874368}};
  const int64_t block_params[4][2] = {{73984, 73984}, {230144, 295424}, {919040, 1180672}, {3673088, 4720640}};
  for (int s = 0; s < 4; ++s)
    for (int b = 0; b < 2; ++b) {
      const std::string path = "layer" + std::to_string(s + 1) + "." + std::to_string(b);
      CAPTURE(path);
      CHECK(sum_rows(rows, path).macs == block_macs[s][b]);
      CHECK(sum_rows(rows, path).params == block_params[s][b]);
    }
  CHECK(sum_rows(rows, "").macs == 140186634);  // every MAC is in some row
  CHECK(sum_rows(rows, "layer2.0.downsample.0").macs == 524288);  // §1.3: 128·8·8 · 64
}

TEST_CASE("resnet18-cifar: removing any one block gives 121,312,266 MACs and CPL 16") {
  auto model = models::resnet18_cifar();
  const graph::Graph g = graph::trace(*model, {3, 32, 32});
  // §1.5: a layer{s}.1 block costs 18,874,368 MACs in every stage (channels double as the
  // side halves); its parameters differ. Each BasicBlock holds 2 path convs: CPL 18 − 2 = 16.
  const int64_t params[4] = {11099978, 10878538, 9993290, 6453322};
  for (int s = 1; s <= 4; ++s) {
    const std::string block = "layer" + std::to_string(s) + ".1";
    CAPTURE(block);
    const graph::Graph c = graph::collapse(g, {block});
    check_figures(c, 121312266, params[s - 1], 16);
    CHECK(c.blocks.size() == 3);
    // The transform equals re-tracing the model with the block replaced by the identity.
    auto collapsed = models::resnet18_cifar();
    graph::collapse_model(*collapsed, {block});
    check_same_graph(c, graph::trace(*collapsed, {3, 32, 32}));
  }
}

TEST_CASE("resnet18-cifar: the paper's trajectory, deepest block first: 121.31 / 102.44 / 83.56 / 64.69 M") {
  auto model = models::resnet18_cifar();
  const graph::Graph g = graph::trace(*model, {3, 32, 32});
  // §1.5 (cumulative runs remove layer4.1, then layer3.1, layer2.1, layer1.1); CPL drops by 2 each.
  const Names order{"layer4.1", "layer3.1", "layer2.1", "layer1.1"};
  const int64_t macs[4] = {121312266, 102437898, 83563530, 64689162};
  const int64_t params[4] = {6453322, 5272650, 4977226, 4903242};
  for (std::size_t k = 1; k <= 4; ++k) {
    const Names removed(order.begin(), order.begin() + static_cast<long>(k));
    CAPTURE(k);
    const graph::Graph c = graph::collapse(g, removed);
    check_figures(c, macs[k - 1], params[k - 1], 18 - 2 * static_cast<int64_t>(k));
    auto collapsed = models::resnet18_cifar();
    graph::collapse_model(*collapsed, removed);
    check_same_graph(c, graph::trace(*collapsed, {3, 32, 32}));
  }
  // Collapsing one block at a time, or in another order, gives the same graph.
  check_same_graph(graph::collapse(graph::collapse(g, {"layer1.1"}), {"layer4.1", "layer2.1", "layer3.1"}),
                   graph::collapse(g, order));
}

TEST_CASE("resnet18-cifar without its 4 blocks equals ResNet with stages {1, 1, 1, 1}: 64,689,162 MACs, CPL 10") {
  auto model = models::resnet18_cifar();
  const graph::Graph c = graph::collapse(graph::trace(*model, {3, 32, 32}), {"layer1.1", "layer2.1", "layer3.1", "layer4.1"});
  // The model built without the blocks (the reference code's way, §1.5): the same ops, scopes and
  // parameter names, so the same MACs, parameters and CPL (conv1 + 4 blocks · 2 + fc = 10).
  auto shallow = resnet_stages({1, 1, 1, 1}, {.num_classes = 10, .stem = models::ResNetStem::Cifar});
  const graph::Graph s = graph::trace(*shallow, {3, 32, 32});
  check_figures(s, 64689162, 4903242, 10);
  check_same_graph(c, s);
  // Removing only layer2.1 equals stages {2, 1, 2, 2}, down to the blocks still marked.
  const graph::Graph c2 = graph::collapse(graph::trace(*model, {3, 32, 32}), {"layer2.1"});
  const graph::Graph s2 = graph::trace(*resnet_stages({2, 1, 2, 2}, {.num_classes = 10, .stem = models::ResNetStem::Cifar}), {3, 32, 32});
  CHECK(figures(c2).macs == figures(s2).macs);
  CHECK(figures(c2).params == figures(s2).params);
  CHECK(figures(c2).cpl == figures(s2).cpl);
  check_same_graph(c2, s2);
}

TEST_CASE("resnet18-cifar: collapse, then forward = the dense forward with the block skipped") {
  auto model = models::resnet18_cifar();
  auto reference = models::resnet18_cifar();
  reference->load_state_dict(model->state_dict());
  model->eval();
  reference->eval();
  graph::collapse_model(*model, {"layer2.1"});
  CHECK(nn::blocks(*model).size() == 3);
  Tensor x = randn({2, 3, 32, 32});
  Tensor h = (*reference->maxpool)((*reference->relu)((*reference->bn1)((*reference->conv1)(x))));
  h = (*reference->stages[0])(h);
  h = (*(*reference->stages[1])[0])(h);  // layer2.0 only
  h = (*reference->stages[3])((*reference->stages[2])(h));
  Tensor skipped = (*reference->fc)(flatten((*reference->avgpool)(h), 1));
  CHECK(max_abs_diff((*model)(x), skipped) == 0.0);
}

TEST_CASE("resnet18 at 224 px (1000 classes): 1,814,074,344 MACs, 11,689,512 parameters, CPL 18") {
  auto model = models::resnet18();
  check_figures(graph::trace(*model, {3, 224, 224}), 1814074344, 11689512, 18);  // §1.2; the paper's 1.81 G
}

TEST_CASE("resnet18 Tiny-ImageNet (64x64, 200 classes, ImageNet stem): 148,148,424 MACs; stages {1,1,1,1}: 72,650,952") {
  auto model = models::resnet18({.num_classes = 200});
  const graph::Graph g = graph::trace(*model, {3, 64, 64});
  check_figures(g, 148148424, 11279112, 18);  // §1.3; the paper's 148.15 M
  const graph::Graph c = graph::collapse(g, {"layer1.1", "layer2.1", "layer3.1", "layer4.1"});
  check_figures(c, 72650952, 5008392, 10);
  check_same_graph(c, graph::trace(*resnet_stages({1, 1, 1, 1}, {.num_classes = 200}), {3, 64, 64}));
}

TEST_CASE("mobilenet_v2-cifar: 87,976,458 MACs, 2,236,682 parameters, CPL 53; removing the 13 depthwise units") {
  auto model = models::mobilenet_v2_cifar();
  const graph::Graph g = graph::trace(*model, {3, 32, 32});
  // CPL: the stem conv (1); features.1, t = 1: depthwise + project (2); features.2..17, t = 6:
  // expand + depthwise + project (16 · 3 = 48); features.18's 1x1 conv (1); the classifier (1):
  // 53. A residual addition takes its longer branch, the block's 3 convs.
  check_figures(g, 87976458, 2236682, 53);  // §2.2; the paper's 87.98 M
  Names units;
  for (int i : {2, 3, 5, 6, 8, 9, 10, 11, 12, 13, 15, 16, 17}) units.push_back("features." + std::to_string(i) + ".conv.1");
  CHECK(g.blocks == units);
  const auto rows = graph::layers(g);
  CHECK(sum_rows(rows, "features.3").macs == 8404992);  // §2.2's table
  CHECK(sum_rows(rows, "features.17").macs == 7511040);
  CHECK(sum_rows(rows, "classifier").macs == 12810);

  // §2.4: removing one unit saves hidden · 9 · H · W (the depthwise 3x3) and one layer of CPL.
  const int64_t saved[13] = {884736, 1327104, 442368, 442368, 221184, 221184, 221184,
                             221184, 331776, 331776, 138240, 138240, 138240};
  for (std::size_t k = 0; k < units.size(); ++k) {
    CAPTURE(units[k]);
    const graph::Graph c = graph::collapse(g, {units[k]});
    CHECK(graph::macs(c) == 87976458 - saved[k]);
    CHECK(graph::cpl(c) == 52);
  }
  // All 13: 82,916,874 MACs, 2,168,570 parameters (§2.4), CPL 53 − 13 = 40; the same as
  // re-tracing the model whose units are Identities.
  const graph::Graph c = graph::collapse(g, units);
  check_figures(c, 82916874, 2168570, 40);
  CHECK(c.blocks.empty());
  auto collapsed = models::mobilenet_v2_cifar();
  graph::collapse_model(*collapsed, units);
  check_same_graph(c, graph::trace(*collapsed, {3, 32, 32}));
}

TEST_CASE("mobilenet_v2-cifar: collapse features.3.conv.1, then forward = the block computed without it") {
  auto model = models::mobilenet_v2_cifar();
  auto reference = models::mobilenet_v2_cifar();
  reference->load_state_dict(model->state_dict());
  model->eval();
  reference->eval();
  graph::collapse_model(*model, {"features.3.conv.1"});
  Tensor x = randn({2, 3, 32, 32});
  const auto& f = *reference->features;
  Tensor h = x;
  for (std::size_t i = 0; i < 3; ++i) h = (*f[i])(h);
  auto* block = dynamic_cast<models::InvertedResidual*>(f[3].get());
  REQUIRE(block != nullptr);
  const auto& conv = *block->conv;  // expand, (depthwise skipped), project, BN; then the residual
  h = h + (*conv[3])((*conv[2])((*conv[0])(h)));
  for (std::size_t i = 4; i < f.size(); ++i) h = (*f[i])(h);
  Tensor skipped = (*reference->classifier)(mean(h, DimList{2, 3}));
  CHECK(max_abs_diff((*model)(x), skipped) == 0.0);
}

TEST_CASE("mobilenet_v2 at 224 px (1000 classes): 300,775,272 MACs, 3,504,872 parameters, 12 units") {
  // specs/architectures.md §2.2 counts torchvision's model with the paper's convention; the paper
  // quotes 299.51 M for it (METHOD.md §6). CPL 53 as for the CIFAR variant (strides differ only).
  auto model = models::mobilenet_v2();
  const graph::Graph g = graph::trace(*model, {3, 224, 224});
  check_figures(g, 300775272, 3504872, 53);
  CHECK(g.blocks.size() == 12);
}

TEST_CASE("vgg16 at 224 px: 15,483,821,032 MACs, 138,357,544 parameters, CPL 16; vgg16_bn at 32 px") {
  // §3: conv 15,346,630,656 + linear 123,633,664 + bias 13,556,712. CPL: 13 convs + 3 linears,
  // one chain. No module of VGG is marked removable.
  auto model = models::vgg16();
  const graph::Graph g = graph::trace(*model, {3, 224, 224});
  check_figures(g, 15483821032, 138357544, 16);
  CHECK(g.blocks.empty());
  // vgg16_bn with 10 classes at 32x32: AdaptiveAvgPool2d(7) replicates the 1x1 map, 433,059,850
  // MACs, as for vgg16 (BN costs none), and 134,309,962 parameters.
  auto bn = models::vgg16_bn({.num_classes = 10});
  check_figures(graph::trace(*bn, {3, 32, 32}), 433059850, 134309962, 16);
}

TEST_CASE("a user's model with a marked block: figures by hand, collapse = re-trace = skip") {
  auto model = std::make_shared<TinyNet>();
  const graph::Graph g = graph::trace(*model, {1, 6, 6});
  check_figures(g, 7203, 623, 3);  // worked in TinyNet's comment
  CHECK(g.blocks == Names{"body"});
  const graph::Graph c = graph::collapse(g, {"body"});
  check_figures(c, 1875, 475, 2);
  // The head now reads the stem's output directly.
  REQUIRE(c.ops.size() == 3);
  CHECK(c.ops[1].name == "flatten");
  CHECK(c.ops[1].inputs == std::vector<int>{0});

  auto reference = std::make_shared<TinyNet>();
  reference->load_state_dict(model->state_dict());
  graph::collapse_model(*model, {"body"});
  check_same_graph(c, graph::trace(*model, {1, 6, 6}));
  Tensor x = randn({3, 1, 6, 6});
  CHECK(max_abs_diff((*model)(x), (*reference->head)(flatten((*reference->stem)(x), 1))) == 0.0);
  CHECK(model->state_dict().size() == 4);  // stem and head: weight and bias each
}

namespace {

// Attention scores on the tokens of x [1, 5, 4], then two products with constants: q = Wq x and
// k = Wk x cost 5·3·(4 + 1) = 75 MACs each, the scores q·kᵀ [1, 5, 5] 25 · 3 = 75, s · c for a
// constant c [5, 2] 10 · 5 = 50 (K read from s) and c' · that for c' [3, 5] 6 · 5 = 30 (K read
// from the recorded right operand): 305. CPL 1: q and k side by side, a matmul is no layer.
struct Scores : nn::Module {
  Scores() : nn::Module("Scores") {
    q = register_module("q", std::make_shared<nn::Linear>(4, 3));
    k = register_module("k", std::make_shared<nn::Linear>(4, 3));
  }
  Tensor forward(const Tensor& x) override {
    Tensor s = matmul((*q)(x), transpose((*k)(x), -2, -1));
    return matmul(ones({3, 5}), matmul(s, ones({5, 2})));
  }
  std::shared_ptr<nn::Linear> q, k;
};

}  // namespace

TEST_CASE("matmul: numel(output) · K MACs, K from whichever operand was recorded; no layer of the CPL") {
  Scores model;
  const graph::Graph g = graph::trace(model, {5, 4});
  check_figures(g, 305, 30, 1);
  int64_t products = 0;
  for (const graph::Op& op : g.ops)
    if (op.name == "matmul") products += graph::macs(op);
  CHECK(products == 75 + 50 + 30);
  CHECK(graph::layers(g).size() == 5);  // the 2 linears and the 3 matmuls
}

TEST_CASE("collapse: a model that is one block collapses to the identity") {
  auto block = std::make_shared<ConvResidual>();
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{block});
  block->mark_block();
  const graph::Graph c = graph::collapse(graph::trace(*model, {4, 3, 3}), {"0"});
  CHECK(c.ops.empty());
  CHECK(c.output == graph::kInput);
  check_figures(c, 0, 0, 0);
  graph::collapse_model(*model, {"0"});
  check_same_graph(c, graph::trace(*model, {4, 3, 3}));
}

TEST_CASE("collapse errors: an unknown or unmarked block lists the removable ones; twice, nested") {
  auto model = models::resnet18_cifar();
  const graph::Graph g = graph::trace(*model, {3, 32, 32});
  const char* listing = "layer1.1, layer2.1, layer3.1, layer4.1";
  CHECK_THROWS_WITH_AS(graph::collapse(g, {"layer5.1"}), doctest::Contains(listing), Error);
  CHECK_THROWS_WITH_AS(graph::collapse(g, {"layer1.0"}), doctest::Contains("\"layer1.0\" is not a removable block"), Error);
  CHECK_THROWS_WITH_AS(graph::collapse(g, {"layer1.1", "layer1.1"}), doctest::Contains("listed twice"), Error);
  // A block already removed is no longer removable.
  CHECK_THROWS_WITH_AS(graph::collapse(graph::collapse(g, {"layer3.1"}), {"layer3.1"}),
                       doctest::Contains("layer1.1, layer2.1, layer4.1"), Error);
  // collapse_model checks every name before it touches the model.
  CHECK_THROWS_WITH_AS(graph::collapse_model(*model, {"layer1.1", "fc"}), doctest::Contains(listing), Error);
  CHECK(nn::blocks(*model).size() == 4);
  // Nested marks: removing the outer one removes the inner one.
  auto nested = std::make_shared<TinyNet>();
  std::dynamic_pointer_cast<ConvResidual>(nested->body)->conv->mark_block();
  const graph::Graph gn = graph::trace(*nested, {1, 6, 6});
  CHECK(gn.blocks == Names{"body", "body.conv"});
  CHECK_THROWS_WITH_AS(graph::collapse(gn, {"body", "body.conv"}), doctest::Contains("nested"), Error);
  CHECK(graph::collapse(gn, {"body"}).blocks.empty());
  CHECK(graph::collapse(gn, {"body.conv"}).blocks == Names{"body"});
}

namespace {
// forward cuts the graph: the head runs on a tensor computed under NoGradGuard.
struct CutNet : nn::Module {
  CutNet() : nn::Module("CutNet") {
    stem = register_module("stem", std::make_shared<nn::Linear>(4, 4));
    head = register_module("head", std::make_shared<nn::Linear>(4, 2));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h;
    {
      NoGradGuard no_grad;
      h = (*stem)(x);
    }
    return (*head)(h);
  }
  std::shared_ptr<nn::Linear> stem, head;
};
// A residual branch computed under NoGradGuard: the output still depends on the input.
struct CutBranch : nn::Module {
  CutBranch() : nn::Module("CutBranch") { branch = register_module("branch", std::make_shared<nn::Linear>(4, 4)); }
  Tensor forward(const Tensor& x) override {
    Tensor b;
    {
      NoGradGuard no_grad;
      b = (*branch)(x);
    }
    return x + b;
  }
  std::shared_ptr<nn::Linear> branch;
};
struct Temporary : nn::Module {
  Temporary() : nn::Module("Temporary") {}
  Tensor forward(const Tensor& x) override { return (*std::make_shared<nn::ReLU>())(x * 2.0); }
};
struct Unregistered : nn::Module {
  Unregistered() : nn::Module("Unregistered") { w = ones({4}).requires_grad_(); }
  Tensor forward(const Tensor& x) override { return x * w; }
  Tensor w;
};
// Calls its block through a handle that collapse_model does not update.
struct StaleHandle : TinyNet {
  Tensor forward(const Tensor& x) override { return (*head)(flatten((*body)((*stem)(x)), 1)); }
};
struct Constant : nn::Module {
  Constant() : nn::Module("Constant") {}
  Tensor forward(const Tensor&) override { return zeros({1, 2}); }
};
}  // namespace

TEST_CASE("trace errors: a cut graph, an unrecorded output, unregistered modules and tensors") {
  auto cut = std::make_shared<CutNet>();
  CHECK_THROWS_WITH_AS(graph::trace(*cut, {4}), doctest::Contains("does not depend on its input"), Error);
  CHECK_THROWS_WITH_AS(graph::trace(*cut, {4}), doctest::Contains("linear in \"head\""), Error);
  CHECK(autograd::GradMode::is_enabled());
  CHECK(cut->is_training());  // restored after the throw
  // A cut branch beside a live path: the trace stands, and says what it could not see.
  auto branch = std::make_shared<CutBranch>();
  const graph::Graph gb = graph::trace(*branch, {4});
  CHECK(graph::macs(gb) == 0);
  CHECK(gb.unused_parameters == Names{"branch.weight", "branch.bias"});
  CHECK(graph::trace(*models::resnet18_cifar(), {3, 32, 32}).unused_parameters.empty());

  CHECK_THROWS_WITH_AS(graph::trace(*std::make_shared<Constant>(), {4}), doctest::Contains("was not recorded"), Error);
  CHECK_THROWS_WITH_AS(graph::trace(*std::make_shared<Temporary>(), {4}), doctest::Contains("not registered"), Error);
  CHECK_THROWS_WITH_AS(graph::trace(*std::make_shared<Unregistered>(), {4}),
                       doctest::Contains("not a parameter of Unregistered"), Error);
  // Regression: a forward that keeps calling a collapsed block through its old handle runs the
  // removed module; trace notices, since that module is no longer in the model.
  auto stale = std::make_shared<StaleHandle>();
  graph::collapse_model(*stale, {"body"});
  CHECK_THROWS_WITH_AS(graph::trace(*stale, {1, 6, 6}), doctest::Contains("not registered in TinyNet"), Error);
  CHECK_THROWS_WITH_AS(graph::trace(*models::resnet18_cifar(), {}), doctest::Contains("without the batch dim"), Error);
  // The wrong number of channels is conv2d's own error, raised during the forward.
  CHECK_THROWS_WITH_AS(graph::trace(*models::resnet18_cifar(), {1, 32, 32}), doctest::Contains("channels"), Error);
}

TEST_CASE("profile: the figures, the removable blocks and the layers; the model is left as it was") {
  auto model = models::resnet18_cifar();
  const graph::Profile p = graph::profile(*model, {3, 32, 32}, {"layer4.1"});
  CHECK(p.macs == 121312266);
  CHECK(p.params == 6453322);
  CHECK(p.cpl == 16);
  CHECK(p.removable == Names{"layer1.1", "layer2.1", "layer3.1"});
  CHECK(nn::blocks(*model).size() == 4);  // the graph was collapsed, not the model
  CHECK(p.layers.size() == 41 - 4);       // 20 convs, 20 BNs, fc; layer4.1 held 2 of each
  // Discovery is asked for: a plain profile (what Algorithm 1 measures each step) skips it.
  CHECK(p.discovered.empty());
  const graph::Profile searched = graph::profile(*model, {3, 32, 32}, {"layer4.1"}, graph::Discovery::on);
  CHECK(searched.macs == p.macs);
  CHECK_FALSE(searched.discovered.empty());
  const std::string json = graph::to_json(p);
  CHECK(json.rfind("{\"macs\": 121312266, \"params\": 6453322, \"cpl\": 16, \"removable\": "
                   "[\"layer1.1\", \"layer2.1\", \"layer3.1\"], \"layers\": [", 0) == 0);
  CHECK(json.find("{\"scope\": \"conv1\", \"op\": \"conv2d\", \"shape\": [64, 32, 32], \"macs\": 1769472, "
                  "\"params\": 1728}") != std::string::npos);
  CHECK(json.back() == '}');
  const std::string text = graph::to_text(p);
  CHECK(text.find("121,312,266 (121.31 M)") != std::string::npos);
  CHECK(text.find("6,453,322") != std::string::npos);
  CHECK(text.find("layer2.0.downsample.0") != std::string::npos);
  CHECK(graph::human(1814074344) == "1.81 G");
  CHECK(graph::with_commas(15483821032) == "15,483,821,032");
  CHECK(graph::with_commas(0) == "0");
}

TEST_CASE("lacoot profile: text and JSON, defaults per model, and usage errors") {
  std::string out = capture_stdout([] {
    CHECK(run_profile({"--model", "resnet18-cifar", "--input-shape", "3,32,32", "--remove", "layer4.1,layer3.1", "--json"}) == 0);
  });
  CHECK(out.rfind("{\"macs\": 102437898, \"params\": 5272650, \"cpl\": 14, \"removable\": [\"layer1.1\", \"layer2.1\"]", 0) == 0);
  out = capture_stdout([] { CHECK(run_profile({"--model", "resnet18", "--input-shape", "3,64,64", "--num-classes", "200"}) == 0); });
  CHECK(out.find("148,148,424 (148.15 M)") != std::string::npos);
  CHECK(out.find("11,279,112") != std::string::npos);
  CHECK(out.find("CPL         18") != std::string::npos);
  // One input channel (Fashion-MNIST's ResNet, width 32): C of --input-shape sets in_channels.
  out = capture_stdout([] {
    CHECK(run_profile({"--model", "resnet18-cifar", "--input-shape", "1,32,32", "--width", "32", "--json"}) == 0);
  });
  CHECK(out.find("\"cpl\": 18") != std::string::npos);
  CHECK(out.find("\"shape\": [32, 32, 32]") != std::string::npos);

  CHECK_THROWS_AS(run_profile({"--model", "resnet18-cifar", "--input-shape", "3,32"}), train::UsageError);
  CHECK_THROWS_AS(run_profile({"--model", "resnet18-cifar", "--input-shape", "3,x,32"}), train::UsageError);
  CHECK_THROWS_AS(run_profile({"--model", "resnet18-cifar", "--input-shape", "3,32,32", "--remove", "a,,b"}), train::UsageError);
  CHECK_THROWS_AS(run_profile({"--model", "mobilenet_v2-cifar", "--input-shape", "1,32,32"}), train::UsageError);
  CHECK_THROWS_WITH_AS(run_profile({"--model", "resnet18-cifar", "--input-shape", "3,32,32", "--remove", "layer9.1"}),
                       doctest::Contains("layer1.1, layer2.1, layer3.1, layer4.1"), Error);
  CHECK_THROWS_WITH_AS(run_profile({"--model", "resnet99", "--input-shape", "3,32,32"}), doctest::Contains("unknown model"), Error);
}

// ---- graph/discover.hpp: removable regions found in the graph, without marks ----

namespace {

// An unmarked user's model (no mark_block anywhere), a Sequential of
//   "0" stem conv 1→4 (3x3, pad 1)             [N, 1, 6, 6] → [N, 4, 6, 6]   shape changes
//   "1" y = x + conv2(relu(conv1(x))), 4→4 3x3   [N, 4, 6, 6] → same           residual
//   "2" conv 4→8 (3x3, stride 2, pad 1)         → [N, 8, 3, 3]                shape changes
//   "3" conv 8→8 (3x3, pad 1) → BN → ReLU       → same                        shape-preserving
//   "4" flatten → linear 72→3                   → [N, 3]                      shape changes
// MACs, a bias one per output: "0" 144·(9 + 1) = 1,440; "1.conv1" = "1.conv2" = 144·(36 + 1) =
// 5,328, so "1" 10,656; "2" 72·(36 + 1) = 2,664; "3" 72·(72 + 1) = 5,256; "4" 3·(72 + 1) = 219;
// total 20,235. Parameters: 40 + 2·148 + 296 + 584 + 16 (BN's weight and bias) + 219 = 1,451.
// CPL 6 (0, 1.conv1, 1.conv2, 2, 3.0, 4.1); without "1" the longest path skips both of its convs
// (CPL 4), without one of its convs or without "3" it is 5.
struct UnmarkedResidual : nn::Module {
  UnmarkedResidual() : nn::Module("UnmarkedResidual") {
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(4, 4, 3, nn::Conv2dModuleOptions{.padding = 1}));
    conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(4, 4, 3, nn::Conv2dModuleOptions{.padding = 1}));
  }
  // By name, not through the handles, so that an Identity put in a conv's place runs.
  Tensor forward(const Tensor& x) override { return x + (*child("conv2"))(relu((*child("conv1"))(x))); }
  std::shared_ptr<nn::Conv2d> conv1, conv2;
};
std::shared_ptr<nn::Sequential> unmarked_net() {
  using nn::ModulePtr;
  auto unit = std::make_shared<nn::Sequential>(std::initializer_list<ModulePtr>{
      std::make_shared<nn::Conv2d>(8, 8, 3, nn::Conv2dModuleOptions{.padding = 1}), std::make_shared<nn::BatchNorm2d>(8),
      std::make_shared<nn::ReLU>()});
  auto head = std::make_shared<nn::Sequential>(
      std::initializer_list<ModulePtr>{std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(72, 3)});
  return std::make_shared<nn::Sequential>(std::initializer_list<ModulePtr>{
      std::make_shared<nn::Conv2d>(1, 4, 3, nn::Conv2dModuleOptions{.padding = 1}), std::make_shared<UnmarkedResidual>(),
      std::make_shared<nn::Conv2d>(4, 8, 3, nn::Conv2dModuleOptions{.stride = 2, .padding = 1}), unit, head});
}

// The residual is written in the model's own forward: no module holds the addition.
//   h = stem(x) [N, 4, 6, 6];  y = head(flatten(h + branch(h)))   (TinyNet's figures)
struct InlineResidual : nn::Module {
  InlineResidual() : nn::Module("InlineResidual") {
    stem = register_module("stem", std::make_shared<nn::Conv2d>(1, 4, 3, nn::Conv2dModuleOptions{.padding = 1}));
    branch = register_module("branch", std::make_shared<nn::Conv2d>(4, 4, 3, nn::Conv2dModuleOptions{.padding = 1}));
    head = register_module("head", std::make_shared<nn::Linear>(144, 3));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = (*stem)(x);
    return (*head)(flatten(h + (*branch)(h), 1));
  }
  std::shared_ptr<nn::Conv2d> stem, branch;
  std::shared_ptr<nn::Linear> head;
};

// `model` with an Identity at `path`, put there by hand (not by the code under test).
void put_identity(nn::Module& model, const std::string& path) {
  const std::size_t dot = path.rfind('.');
  nn::Module& parent = dot == std::string::npos ? model : *model.submodule(path.substr(0, dot));
  parent.replace_child(dot == std::string::npos ? path : path.substr(dot + 1), std::make_shared<nn::Identity>());
}

// The id of the only op of `scope` named `name`.
int op_id(const graph::Graph& g, const std::string& scope, const std::string& name) {
  int found = -2;
  for (std::size_t i = 0; i < g.ops.size(); ++i)
    if (g.ops[i].scope == scope && g.ops[i].name == name) {
      REQUIRE(found == -2);
      found = static_cast<int>(i);
    }
  REQUIRE(found != -2);
  return found;
}

Names region_paths(const std::vector<graph::Region>& regions) {
  Names paths;
  for (const auto& r : regions) paths.push_back(r.path);
  return paths;
}

const graph::Region* find_region(const std::vector<graph::Region>& regions, const std::string& path) {
  for (const auto& r : regions)
    if (r.path == path) return &r;
  return nullptr;
}

// What every discovered region must be, checked on the graph: one entry, one exit, equal shapes.
void check_is_region(const graph::Graph& g, const graph::Region& r) {
  CAPTURE(r.path);
  REQUIRE(!r.ops.empty());
  CHECK(std::is_sorted(r.ops.begin(), r.ops.end()));
  CHECK(g.shape_of(r.entry) == r.shape);
  CHECK(g.shape_of(r.exit) == r.shape);
  CHECK(std::binary_search(r.ops.begin(), r.ops.end(), r.exit));
  auto inside = [&](int id) { return id != graph::kInput && std::binary_search(r.ops.begin(), r.ops.end(), id); };
  for (std::size_t i = 0; i < g.ops.size(); ++i)
    for (int in : g.ops[i].inputs) {
      if (inside(static_cast<int>(i)) && !inside(in)) CHECK(in == r.entry);
      if (!inside(static_cast<int>(i)) && inside(in)) CHECK(in == r.exit);
    }
  if (!r.path.empty())
    for (std::size_t i = 0; i < g.ops.size(); ++i) CHECK(inside(static_cast<int>(i)) == graph::in_scope(g.ops[i].scope, r.path));
  int64_t m = 0;
  for (int id : r.ops) m += graph::macs(g.ops[static_cast<std::size_t>(id)]);
  CHECK(r.macs == m);
}

}  // namespace

TEST_CASE("discover: an unmarked user model gives its residual module and shape-preserving modules, no others") {
  auto model = unmarked_net();
  const graph::Graph g = graph::trace(*model, {1, 6, 6});
  REQUIRE(g.blocks.empty());
  check_figures(g, 20235, 1451, 6);  // worked in unmarked_net's comment
  const std::vector<graph::Region> found = graph::discover_removable(g);
  // Not "0", "2", "4" (shape changes), "3.0" (the unit "3" holds it at the same MACs), "3.1" or
  // "3.2" (BN and ReLU cost no MACs), "1"'s residual without a module (the module has it).
  REQUIRE(region_paths(found) == Names{"1", "1.conv1", "1.conv2", "3"});
  const int stem = op_id(g, "0", "conv2d"), add = op_id(g, "1", "add"), conv1 = op_id(g, "1.conv1", "conv2d");
  const graph::Region& res = found[0];
  CHECK(res.kind == "residual");
  CHECK(res.entry == stem);
  CHECK(res.exit == add);
  CHECK(res.shape == Shape{1, 4, 6, 6});
  CHECK(res.macs == 10656);
  CHECK(res.cpl_saved == 2);
  CHECK(found[1].kind == "shape-preserving");
  CHECK(found[1].entry == stem);
  CHECK(found[1].exit == conv1);
  CHECK(found[1].macs == 5328);
  CHECK(found[2].macs == 5328);
  CHECK(found[3].kind == "shape-preserving");
  CHECK(found[3].entry == op_id(g, "2", "conv2d"));
  CHECK(found[3].exit == op_id(g, "3.2", "relu"));
  CHECK(found[3].shape == Shape{1, 8, 3, 3});
  CHECK(found[3].macs == 5256);
  for (const auto& r : found) {
    check_is_region(g, r);
    CHECK_FALSE(r.declared);
    if (r.path != "1") CHECK(r.cpl_saved == 1);
  }

  // Removing each one from the graph equals tracing the model with an Identity in its place.
  for (const auto& r : found) {
    CAPTURE(r.path);
    const graph::Graph c = graph::collapse_discovered(g, {r.path});
    CHECK(graph::macs(c) == 20235 - r.macs);
    CHECK(graph::cpl(c) == 6 - r.cpl_saved);
    auto reference = unmarked_net();
    put_identity(*reference, r.path);
    check_same_graph(c, graph::trace(*reference, {1, 6, 6}));
    check_same_graph(c, graph::collapse_region(g, r));
  }
  CHECK(graph::macs(graph::collapse_discovered(g, {"1", "3"})) == 20235 - 10656 - 5256);

  // The model itself: forward = the Sequential run without "1".
  auto reference = unmarked_net();
  reference->load_state_dict(model->state_dict());
  graph::collapse_model_discovered(*model, {1, 6, 6}, {"1"});
  check_same_graph(graph::trace(*model, {1, 6, 6}), graph::collapse_discovered(g, {"1"}));
  Tensor x = randn({2, 1, 6, 6});
  Tensor y = x;
  for (const char* step : {"0", "2", "3", "4"}) y = (*reference->child(step))(y);
  CHECK(max_abs_diff((*model)(x), y) == 0.0);

  // Only discovered modules are accepted, and the error lists them.
  CHECK_THROWS_WITH_AS(graph::collapse_discovered(g, {"2"}), doctest::Contains("1, 1.conv1, 1.conv2, 3"), Error);
  CHECK_THROWS_WITH_AS(graph::collapse_discovered(g, {"3.1"}), doctest::Contains("\"3.1\" is neither"), Error);
  CHECK_THROWS_WITH_AS(graph::collapse_discovered(g, {"1", "1.conv2"}), doctest::Contains("nested"), Error);
  CHECK_THROWS_WITH_AS(graph::collapse_discovered(g, {"3", "3"}), doctest::Contains("listed twice"), Error);
  auto untouched = unmarked_net();
  CHECK_THROWS_AS(graph::collapse_model_discovered(*untouched, {1, 6, 6}, {"3", "4"}), Error);
  CHECK(untouched->child("3")->type_name() == "Sequential");  // checked before the model is touched
  // collapse() itself still takes only declared blocks.
  CHECK_THROWS_WITH_AS(graph::collapse(g, {"1"}), doctest::Contains("is not a removable block"), Error);
}

TEST_CASE("discover: a residual written in the model's own forward is a region of ops, beside its branch module") {
  auto model = std::make_shared<InlineResidual>();
  const graph::Graph g = graph::trace(*model, {1, 6, 6});
  check_figures(g, 7203, 623, 3);  // TinyNet's figures: the same layers
  const std::vector<graph::Region> found = graph::discover_removable(g);
  // The region {branch, add} has the module "branch" inside at the same MACs, but no module path
  // of its own, so both are listed: the module is the one the model can lose, y = h + h.
  REQUIRE(found.size() == 2);
  const int stem = op_id(g, "stem", "conv2d"), add = op_id(g, "", "add");
  const graph::Region& res = found[0];
  CHECK(res.path.empty());
  CHECK(res.kind == "residual");
  CHECK(res.entry == stem);
  CHECK(res.exit == add);
  CHECK(res.ops == std::vector<int>{op_id(g, "branch", "conv2d"), add});
  CHECK(res.macs == 5328);
  CHECK(found[1].path == "branch");
  CHECK(found[1].kind == "shape-preserving");
  for (const auto& r : found) check_is_region(g, r);

  // Without the residual: TinyNet without its block, 1,875 MACs, 475 parameters, CPL 2, and the
  // flatten reads the stem.
  const graph::Graph c = graph::collapse_region(g, res);
  check_figures(c, 1875, 475, 2);
  CHECK(res.cpl_saved == 1);
  REQUIRE(c.ops.size() == 3);
  CHECK(c.ops[1].name == "flatten");
  CHECK(c.ops[1].inputs == std::vector<int>{0});
  // Without the branch module the addition stays and reads the stem twice: h + h.
  const graph::Graph b = graph::collapse_discovered(g, {"branch"});
  check_figures(b, 1875, 475, 2);
  REQUIRE(b.ops.size() == 4);
  CHECK(b.ops[1].name == "add");
  CHECK(b.ops[1].inputs == std::vector<int>{0, 0});
}

TEST_CASE("discover: resnet18-cifar — every declared block is a residual region, the downsampling blocks are not") {
  auto model = models::resnet18_cifar();
  const graph::Graph g = graph::trace(*model, {3, 32, 32});
  const std::vector<graph::Region> found = graph::discover_removable(g);
  // A 3x3 conv C→C on HxW costs C·H·W outputs · 9C = 9·C²·H·W, the same in every stage (C
  // doubles as H·W quarters): 9·64²·16² = 9,437,184. A BasicBlock is 2 such convs, 18,874,368
  // (= 140,186,634 − 121,312,266, the paper's figures); the stage layer1 (64x16x16 in and out in
  // the CIFAR variant) is 2 blocks. Stages 2-4 begin with a block whose conv1 has stride 2 and a
  // downsample: only its conv2 keeps the shape.
  const Names expected{"layer1",         "layer1.0",       "layer1.0.conv1", "layer1.0.conv2", "layer1.1",
                       "layer1.1.conv1", "layer1.1.conv2", "layer2.0.conv2", "layer2.1",       "layer2.1.conv1",
                       "layer2.1.conv2", "layer3.0.conv2", "layer3.1",       "layer3.1.conv1", "layer3.1.conv2",
                       "layer4.0.conv2", "layer4.1",       "layer4.1.conv1", "layer4.1.conv2"};
  CHECK(region_paths(found) == expected);
  for (const auto& r : found) {
    CAPTURE(r.path);
    check_is_region(g, r);
    const bool block = r.path.size() == 8;  // "layerS.B"
    CHECK(r.kind == (block ? "residual" : "shape-preserving"));
    CHECK(r.macs == (r.path == "layer1" ? 37748736 : block ? 18874368 : 9437184));
    CHECK(r.cpl_saved == (r.path == "layer1" ? 4 : block ? 2 : 1));
    CHECK(r.declared == (block && r.path.back() == '1'));
  }
  for (const std::string& b : g.blocks) {
    const graph::Region* r = find_region(found, b);
    REQUIRE_MESSAGE(r != nullptr, b);
    CHECK(r->kind == "residual");
    CHECK(r->declared);
  }
  for (const char* changing : {"conv1", "layer2", "layer2.0", "layer3.0", "layer4.0", "layer2.0.downsample", "fc"})
    CHECK_MESSAGE(find_region(found, changing) == nullptr, changing);

  // Removing discovered modules equals the trace with an Identity there; layer1.0 and a declared
  // block together: the paper's figure for two blocks removed, 102,437,898.
  const graph::Graph c = graph::collapse_discovered(g, {"layer1.0"});
  check_figures(c, 121312266, 11173962 - 2 * 64 * 64 * 9 - 2 * 2 * 64, 16);
  auto reference = models::resnet18_cifar();
  put_identity(*reference, "layer1.0");
  check_same_graph(c, graph::trace(*reference, {3, 32, 32}));
  CHECK(graph::macs(graph::collapse_discovered(g, {"layer1"})) == 140186634 - 2 * 18874368);
  CHECK(graph::macs(graph::collapse_discovered(g, {"layer2.0.conv2"})) == 140186634 - 9437184);
  // ResNet calls its stages and a BasicBlock its convs through member handles, so an Identity
  // put at layer1 or layer2.0.conv2 would not run: the model-level removal notices, and puts the
  // modules back. A BasicBlock in its stage (a Sequential) goes.
  auto handles = models::resnet18_cifar();
  CHECK_THROWS_WITH_AS(graph::collapse_model_discovered(*handles, {3, 32, 32}, {"layer1.0", "layer2.0.conv2"}),
                       doctest::Contains("member handle"), Error);
  check_same_graph(graph::trace(*handles, {3, 32, 32}), g);
  graph::collapse_model_discovered(*handles, {3, 32, 32}, {"layer1.0"});
  check_same_graph(graph::trace(*handles, {3, 32, 32}), graph::collapse_discovered(g, {"layer1.0"}));
  const graph::Graph two = graph::collapse_discovered(g, {"layer1.0", "layer4.1"});
  check_figures(two, 102437898, graph::params(two), 14);
  CHECK(two.blocks == Names{"layer1.1", "layer2.1", "layer3.1"});
  // With layer1.0 gone, layer1 holds only layer1.1's ops: one region, named by the declared block.
  const std::vector<graph::Region> after = graph::discover_removable(graph::collapse_discovered(g, {"layer1.0"}));
  CHECK(find_region(after, "layer1") == nullptr);
  REQUIRE(find_region(after, "layer1.1") != nullptr);
  CHECK(find_region(after, "layer1.1")->declared);
}

TEST_CASE("discover: mobilenet_v2-cifar — the 10 residual InvertedResiduals and the 13 declared depthwise units") {
  auto model = models::mobilenet_v2_cifar();
  const graph::Graph g = graph::trace(*model, {3, 32, 32});
  const std::vector<graph::Region> found = graph::discover_removable(g);
  // (t, c, n, s) = (1,16,1,1), (6,24,2,1), (6,32,3,2), (6,64,4,2), (6,96,3,1), (6,160,3,2),
  // (6,320,1,1) in the CIFAR variant: features.1..17. A block has its skip connection when its
  // stride is 1 and its channels stay: all but the first of each group.
  Names residual;
  for (const auto& r : found) {
    check_is_region(g, r);
    if (r.kind == "residual") residual.push_back(r.path);
  }
  CHECK(residual == Names{"features.3", "features.5", "features.6", "features.8", "features.9", "features.10",
                          "features.12", "features.13", "features.15", "features.16"});
  // Every declared unit, and the depthwise unit of the t = 1 block, features.1.conv.0 (32x32x32).
  REQUIRE(g.blocks.size() == 13);
  for (const std::string& b : g.blocks) {
    const graph::Region* r = find_region(found, b);
    REQUIRE_MESSAGE(r != nullptr, b);
    CHECK(r->kind == "shape-preserving");
    CHECK(r->declared);
  }
  REQUIRE(find_region(found, "features.1.conv.0") != nullptr);
  CHECK_FALSE(find_region(found, "features.1.conv.0")->declared);
  CHECK(found.size() == 10 + 13 + 1);
  for (const char* changing : {"features.0", "features.1", "features.2", "features.4", "features.7", "features.14",
                               "features.17", "features.18", "classifier", "features.4.conv.1"})
    CHECK_MESSAGE(find_region(found, changing) == nullptr, changing);
  // features.3 at 32x32, 24 → 144 → 24 channels: expand 1,024·144·24 = 3,538,944, depthwise
  // 144·1,024·9 = 1,327,104, project 3,538,944; 8,404,992 in all, 3 layers on the path.
  const graph::Region* f3 = find_region(found, "features.3");
  CHECK(f3->macs == 8404992);
  CHECK(f3->cpl_saved == 3);
  CHECK(find_region(found, "features.3.conv.1")->macs == 1327104);
  CHECK(find_region(found, "features.3.conv") == nullptr);  // the branch: features.3 holds it at the same MACs
  const graph::Graph c = graph::collapse_discovered(g, {"features.3"});
  CHECK(graph::macs(c) == 87976458 - 8404992);
  auto reference = models::mobilenet_v2_cifar();
  put_identity(*reference, "features.3");
  check_same_graph(c, graph::trace(*reference, {3, 32, 32}));
}

TEST_CASE("profile: the discovered regions in text and JSON; --remove takes a discovered module") {
  std::string out = capture_stdout([] {
    CHECK(run_profile({"--model", "resnet18-cifar", "--input-shape", "3,32,32", "--remove", "layer1.0", "--json"}) == 0);
  });
  // The keys before "discovered" are as they were: 11,173,962 − 2·(64·64·9) − 2·(2·64) parameters.
  // layer1.0 is gone, and layer1 now holds only layer1.1's ops: one region, named layer1.1.
  CHECK(out.rfind("{\"macs\": 121312266, \"params\": 11099978, \"cpl\": 16, \"removable\": [\"layer1.1\", \"layer2.1\", "
                  "\"layer3.1\", \"layer4.1\"], \"layers\": [", 0) == 0);
  CHECK(out.find("\"discovered\": [\n  {\"path\": \"layer1.1\", \"kind\": \"residual\", \"macs\": 18874368, "
                 "\"cpl_saved\": 2, \"shape\": [64, 16, 16], ") != std::string::npos);
  CHECK(out.find("\"path\": \"layer1.0\"") == std::string::npos);
  CHECK(out.find("\"path\": \"layer2.0.conv2\", \"kind\": \"shape-preserving\", \"macs\": 9437184") != std::string::npos);
  CHECK(out.find("\"declared\": true") != std::string::npos);
  CHECK(out.ends_with("false}\n]}\n"));

  out = capture_stdout([] { CHECK(run_profile({"--model", "resnet18-cifar", "--input-shape", "3,32,32"}) == 0); });
  CHECK(out.find("removable   4: layer1.1 layer2.1 layer3.1 layer4.1\ndiscovered  19 removable regions") != std::string::npos);
  auto line_of = [&](const std::string& label) {
    const std::size_t at = out.find("  " + label + " ");
    return at == std::string::npos ? std::string() : out.substr(at, out.find('\n', at) - at);
  };
  CHECK(line_of("layer1.0").find("residual") != std::string::npos);
  CHECK(line_of("layer1.0").find("18,874,368 MACs  CPL -2") != std::string::npos);
  CHECK(line_of("layer1.1 *").find("residual") != std::string::npos);  // also declared
  CHECK(line_of("layer2.0.conv2").find("shape-preserving  128x8x8") != std::string::npos);
  CHECK(line_of("layer2.0").empty());

  CHECK_THROWS_WITH_AS(run_profile({"--model", "resnet18-cifar", "--input-shape", "3,32,32", "--remove", "layer2.0"}),
                       doctest::Contains("(layer1, layer1.0, layer1.0.conv1,"), Error);
  // A profile of a graph with no region says so.
  CHECK(graph::to_text(graph::profile(graph::Graph{})).find("discovered  0 removable regions") != std::string::npos);
  CHECK(graph::to_json(graph::profile(graph::Graph{})).find("\"discovered\": []}") != std::string::npos);
}

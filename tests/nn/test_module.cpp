// Tests for nn/ (module.hpp, the layers, init.hpp, block.hpp).
//
// References: PyTorch's naming and ordering rules for state_dict (own parameters, own buffers,
// then children; Sequential children "0", "1", ...), worked by hand below; torch.nn.init's
// formulas for the bounds and standard deviations (checked statistically on large tensors);
// gradcheck through a small network.
#include <doctest/doctest.h>

#include "../check.hpp"
#include "lacoot/autograd/engine.hpp"
#include "lacoot/nn/activation.hpp"
#include "lacoot/nn/block.hpp"
#include "lacoot/nn/container.hpp"
#include "lacoot/nn/linear.hpp"
#include "lacoot/nn/normalization.hpp"
#include "lacoot/nn/pooling.hpp"
#include "lacoot/ops/reduce.hpp"

using namespace lacoot;
using namespace lacoot::test;
using namespace lacoot::nn;

namespace {

// conv → bn → relu, with a buffer of its own, to check the order of state_dict.
class Tiny : public Module {
 public:
  Tiny() : Module("Tiny") {
    scale = register_parameter("scale", ones({1}));
    step = register_buffer("step", zeros({}, kInt64));
    body = register_module("body", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
        std::make_shared<Conv2d>(2, 3, 3, Conv2dModuleOptions{.padding = 1, .bias = false}),
        std::make_shared<BatchNorm2d>(3), std::make_shared<ReLU>()}));
    head = register_module("head", std::make_shared<Linear>(3, 2));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = mean((*body)(x) * scale, DimList{2, 3});
    return (*head)(h);
  }
  Tensor scale, step;
  std::shared_ptr<Sequential> body;
  std::shared_ptr<Linear> head;
};

std::vector<std::string> names_of(const StateDict& sd) {
  std::vector<std::string> out;
  for (auto& [n, t] : sd) out.push_back(n);
  return out;
}

double stddev(const Tensor& t) { return std::sqrt(var(t.to(kFloat64)).item()); }

}  // namespace

TEST_CASE("state_dict: PyTorch's dotted names in PyTorch's order") {
  Tiny m;
  // Own parameters, own buffers, then children in registration order; Sequential's children
  // are "0", "1", "2"; ReLU has none.
  const std::vector<std::string> expected{
      "scale", "step", "body.0.weight", "body.1.weight", "body.1.bias", "body.1.running_mean",
      "body.1.running_var", "body.1.num_batches_tracked", "head.weight", "head.bias"};
  CHECK(names_of(m.state_dict()) == expected);
  CHECK(names_of(m.named_parameters()) ==
        std::vector<std::string>{"scale", "body.0.weight", "body.1.weight", "body.1.bias", "head.weight", "head.bias"});
  CHECK(names_of(m.named_buffers()) == std::vector<std::string>{"step", "body.1.running_mean", "body.1.running_var",
                                                                 "body.1.num_batches_tracked"});
  CHECK(names_of(m.named_parameters(/*recurse=*/false)) == std::vector<std::string>{"scale"});
  // The registered tensor is the member: one TensorImpl.
  CHECK(m.head->weight.is_same(m.named_parameters().back().second) == false);  // back() is head.bias
  CHECK(m.head->weight.impl_ptr() == m.state_dict()[8].second.impl_ptr());
  auto modules = m.named_modules();
  REQUIRE(modules.size() == 6);
  CHECK(modules[0].first == "");
  CHECK(modules[3].first == "body.1");
  CHECK(m.submodule("body.1")->type_name() == "BatchNorm2d");
  CHECK_THROWS_WITH_AS(m.submodule("body.7"), doctest::Contains("no child \"7\" (children: 0, 1, 2)"), Error);
}

TEST_CASE("registration rejects duplicate names and dotted names") {
  Tiny m;
  CHECK_THROWS_WITH_AS(m.register_parameter("scale", ones({1})), doctest::Contains("already registered"), Error);
  CHECK_THROWS_WITH_AS(m.register_buffer("body", ones({1})), doctest::Contains("already registered"), Error);
  CHECK_THROWS_WITH_AS(m.register_buffer("a.b", ones({1})), doctest::Contains("contain no '.'"), Error);
}

TEST_CASE("load_state_dict copies in place, converts dtypes, and reports every mismatch") {
  Tiny a, b;
  StateDict sd;
  for (auto& [n, t] : a.state_dict()) sd.emplace_back(n, t.to(t.dtype() == kInt64 ? kInt64 : kFloat64));
  Tensor held = b.head->weight;  // a handle taken before the load sees the new values
  b.load_state_dict(sd);
  CHECK(max_abs_diff(held, a.head->weight) == 0.0);
  CHECK(held.dtype() == kFloat32);

  SUBCASE("missing and unexpected keys, strict and not") {
    StateDict partial(sd.begin() + 1, sd.end());
    partial.emplace_back("extra.weight", ones({2}));
    CHECK_THROWS_WITH_AS(b.load_state_dict(partial), doctest::Contains("missing keys (1): scale"), Error);
    CHECK_THROWS_WITH_AS(b.load_state_dict(partial), doctest::Contains("unexpected keys (1): extra.weight"), Error);
    LoadResult r = b.load_state_dict(partial, /*strict=*/false);
    CHECK(r.missing_keys == std::vector<std::string>{"scale"});
    CHECK(r.unexpected_keys == std::vector<std::string>{"extra.weight"});
  }
  SUBCASE("a shape mismatch is an error even when not strict, and changes nothing") {
    StateDict bad = sd;
    bad[8].second = zeros({5, 3});  // head.weight is [2, 3]
    bad[2].second = zeros({3, 2, 1, 1});
    Tensor before = b.head->bias.clone();
    bad[9].second = full({2}, 42.0);
    CHECK_THROWS_WITH_AS(b.load_state_dict(bad, false), doctest::Contains("head.weight: the checkpoint has [5, 3], the model [2, 3]"), Error);
    CHECK_THROWS_WITH_AS(b.load_state_dict(bad, false), doctest::Contains("body.0.weight"), Error);
    CHECK(max_abs_diff(b.head->bias, before) == 0.0);  // head.bias was not written either
  }
}

TEST_CASE("train / eval reach every child; BatchNorm2d counts batches only in training") {
  Tiny m;
  auto bn = std::dynamic_pointer_cast<BatchNorm2d>((*m.body)[1]);
  REQUIRE(bn);
  Tensor x = randn({4, 2, 5, 5});
  m(x);
  m(x);
  CHECK(bn->num_batches_tracked.item() == 2);
  Tensor rm = bn->running_mean.clone();
  m.eval();
  CHECK_FALSE(bn->is_training());
  Tensor y1 = m(x), y2 = m(x);
  CHECK(bn->num_batches_tracked.item() == 2);
  CHECK(max_abs_diff(bn->running_mean, rm) == 0.0);
  CHECK(max_abs_diff(y1, y2) == 0.0);
  Dropout drop(0.5);
  drop.eval();
  CHECK(drop(x).is_same(x));
  m.train();
  CHECK(bn->is_training());
}

TEST_CASE("BatchNorm2d with a cross-replica sum (SyncBatchNorm in a world of one) equals BatchNorm2d") {
  // The synchronised path (statistics from two sums over the replicas) with the identity as
  // the sum: output, gradients and running statistics as the fused batch_norm's.
  BatchNorm2d plain(3), synced(3);
  plain.to(kFloat64), synced.to(kFloat64);
  int sums = 0;
  synced.cross_replica_sum = [&sums](const Tensor& t) {
    ++sums;
    return t * 1.0;  // what a world of one sums to (a new tensor in the graph)
  };
  Tensor x = (randn({4, 3, 5, 2}, kFloat64) * 3.0 + 1.5).requires_grad_();
  Tensor x2 = x.detach().clone().requires_grad_();
  Tensor w = randn({4, 3, 5, 2}, kFloat64);
  for (auto* bn : {&plain, &synced}) {
    bn->weight.detach().data<double>()[1] = 0.5;
    bn->bias.detach().data<double>()[2] = -1.0;
  }
  Tensor y1 = plain(x), y2 = synced(x2);
  CHECK(sums == 2);
  CHECK(max_abs_diff(y1, y2) < 1e-12);
  sum(y1 * w).backward();
  sum(y2 * w).backward();
  CHECK(max_abs_diff(x.grad(), x2.grad()) < 1e-12);
  CHECK(max_abs_diff(plain.weight.grad(), synced.weight.grad()) < 1e-12);
  CHECK(max_abs_diff(plain.bias.grad(), synced.bias.grad()) < 1e-12);
  CHECK(max_abs_diff(plain.running_mean, synced.running_mean) < 1e-12);
  CHECK(max_abs_diff(plain.running_var, synced.running_var) < 1e-12);
  CHECK(synced.num_batches_tracked.item() == 1);
  // And against finite differences, in x, weight and bias together.
  check_grad([&synced](const V& in) {
    synced.weight = in[1], synced.bias = in[2];
    return synced(in[0]);
  }, {randn({3, 3, 2, 2}, kFloat64), randn({3}, kFloat64), randn({3}, kFloat64)});
  synced.eval();  // evaluation: the running statistics, no sum
  sums = 0;
  synced(x2.detach());
  CHECK(sums == 0);
  Tensor one = randn({1, 3, 1, 1}, kFloat64);
  synced.train();
  CHECK_THROWS_WITH_AS(synced(one), doctest::Contains("more than 1 value per channel"), Error);
}

TEST_CASE("forward hooks see each call's input and output, and can be removed") {
  Linear lin(3, 2);
  int calls = 0;
  Shape seen_in, seen_out;
  int id = lin.register_forward_hook([&](Module& mod, const Tensor& in, const Tensor& out) {
    CHECK(mod.type_name() == "Linear");
    seen_in = in.shape(), seen_out = out.shape();
    ++calls;
  });
  lin(randn({5, 3}));
  CHECK(calls == 1);
  CHECK(seen_in == Shape{5, 3});
  CHECK(seen_out == Shape{5, 2});
  lin.remove_forward_hook(id);
  lin(randn({5, 3}));
  CHECK(calls == 1);
}

TEST_CASE("gradients flow through a module tree (gradcheck on the input, float64)") {
  Tiny m;
  m.to(kFloat64);
  CHECK(m.head->weight.dtype() == kFloat64);
  CHECK(m.step.dtype() == kInt64);
  m.eval();  // batch statistics would couple the samples; eval keeps it a plain function
  check_grad([&](const V& in) { return m(in[0]); }, {randn({2, 2, 4, 4}, kFloat64)});
  // And the parameters get the gradient that backward computes.
  Tensor y = sum(m(randn({2, 2, 4, 4}, kFloat64)));
  y.backward();
  for (auto& [name, p] : m.named_parameters()) {
    CAPTURE(name);
    REQUIRE(p.grad().defined());
    CHECK(p.grad().shape() == p.shape());
  }
  m.zero_grad();
  for (auto& [name, p] : m.named_parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("default initialisation follows torch.nn: bounds 1/sqrt(fan_in), Kaiming normal's std") {
  Linear lin(400, 300);
  const double bound = 1.0 / std::sqrt(400.0);
  CHECK(max(abs(lin.weight)).item() <= bound);
  CHECK(max(abs(lin.bias)).item() <= bound);
  CHECK(stddev(lin.weight) == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.02));  // U(−b, b): b/√3
  Conv2d conv(16, 32, 3);
  const double cbound = 1.0 / std::sqrt(16.0 * 9.0);
  CHECK(max(abs(conv.weight)).item() <= cbound);
  Tensor w = Tensor::empty({256, 128, 3, 3});
  init::kaiming_normal_(w, 0, "fan_out", "relu");  // std = √(2 / (256 · 9))
  CHECK(stddev(w) == doctest::Approx(std::sqrt(2.0 / (256.0 * 9.0))).epsilon(0.01));
  CHECK(std::abs(mean(w.to(kFloat64)).item()) < 1e-3);
  Tensor t = Tensor::empty({100000});
  init::trunc_normal_(t, 0, 1, -1, 1);
  CHECK(max(abs(t)).item() <= 1.0);
  // The truncated standard normal on [−1, 1] has variance 1 − 2φ(1)/(Φ(1) − Φ(−1)) = 0.2911.
  CHECK(var(t.to(kFloat64)).item() == doctest::Approx(0.2911).epsilon(0.02));
  CHECK_THROWS_WITH_AS(init::kaiming_normal_(w, 0, "fan_sideways"), doctest::Contains("fan_in or fan_out"), Error);
}

TEST_CASE("blocks: marked modules are found and replaced by the identity") {
  Sequential net{std::make_shared<Linear>(4, 4), std::make_shared<ReLU>(), std::make_shared<Linear>(4, 4)};
  net[2]->mark_block();
  auto found = blocks(net);
  REQUIRE(found.size() == 1);
  CHECK(found[0].first == "2");
  Tensor x = randn({3, 4});
  Tensor expected = (*net[1])((*net[0])(x));
  replace_with_identity(net, "2");
  CHECK(net[2]->type_name() == "Identity");
  CHECK(max_abs_diff(net(x), expected) == 0.0);
  CHECK(net.state_dict().size() == 2);
  CHECK_THROWS_WITH_AS(replace_with_identity(net, "0"), doctest::Contains("not a removable block"), Error);
}

namespace {

// y = x + branch(x) that can skip its branch, to check a mark's compared output.
class Residual : public Module {
 public:
  Residual() : Module("Residual") {
    branch = register_module("branch", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
        std::make_shared<Linear>(4, 4), std::make_shared<ReLU>()}));
  }
  Tensor forward(const Tensor& x) override { return skip ? x * 1.0 : x + (*branch)(x); }
  std::shared_ptr<Sequential> branch;
  bool skip = false;
};

}  // namespace

TEST_CASE("BlockPairHooks: the block's input with its output, or with the output its mark names") {
  auto a = std::make_shared<Residual>(), b = std::make_shared<Residual>();
  Sequential net{a, b};
  a->mark_block();
  b->mark_block(true, "branch.1");  // compare b's input with its ReLU's output
  CHECK(a->compared_output().empty());
  CHECK(b->compared_output() == "branch.1");
  Tensor relu_out, a_out;
  (*b->branch)[1]->register_forward_hook([&](Module&, const Tensor&, const Tensor& out) { relu_out = out; });
  std::vector<std::pair<Tensor, Tensor>> seen(2);
  {
    BlockPairHooks hooks(net, [&](std::size_t k, const Tensor& x, const Tensor& y) { seen[k] = {x, y}; });
    CHECK(hooks.paths() == std::vector<std::string>{"0", "1"});
    a->register_forward_hook([&](Module&, const Tensor&, const Tensor& out) { a_out = out; });
    Tensor x = randn({3, 4});
    net(x);
    CHECK(seen[0].first.is_same(x));
    CHECK(seen[0].second.is_same(a_out));
    CHECK(seen[1].first.is_same(a_out));  // b's input
    CHECK(seen[1].second.is_same(relu_out));
    b->skip = true;  // the named descendant did not run: an error that says so
    CHECK_THROWS_WITH_AS(net(x), doctest::Contains("ran without running \"branch.1\""), Error);
  }
  // Gone with the object: a forward calls nothing.
  b->skip = false;
  seen.assign(2, {});
  net(randn({3, 4}));
  CHECK_FALSE(seen[0].first.defined());
  b->mark_block(false, "branch.1");  // unmarking forgets the compared output
  CHECK(b->compared_output().empty());
}

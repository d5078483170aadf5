// Tests for autograd/: the engine, accumulation, detach, no-grad, graph release, gradcheck.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lacoot/autograd/gradcheck.hpp"
#include "lacoot/ops/elementwise.hpp"

using namespace lacoot;

TEST_CASE("backward on a scalar: y = sum-free product x1 * x2 + x1") {
  Tensor x1 = tensor({3.0}).requires_grad_();
  Tensor x2 = tensor({-2.0}).requires_grad_();
  Tensor y = x1 * x2 + x1;  // dy/dx1 = x2 + 1 = -1, dy/dx2 = x1 = 3
  y.backward();
  CHECK(x1.grad().item() == -1.0);
  CHECK(x2.grad().item() == 3.0);
}

TEST_CASE("gradients accumulate into leaves across backward calls and uses") {
  Tensor x = tensor({2.0}).requires_grad_();
  Tensor y = x * x * x;  // x used three times in one graph: dy/dx = 3x^2 = 12
  y.backward();
  CHECK(x.grad().item() == 12.0);
  (x * 5.0).backward();  // a second graph adds 5
  CHECK(x.grad().item() == 17.0);
  x.set_grad(Tensor());  // zero_grad as optimisers do it
  (x + x).backward();
  CHECK(x.grad().item() == 2.0);
}

TEST_CASE("post-accumulate-grad hooks run once per backward, after the leaf's last gradient, before the rest") {
  Tensor w = tensor({2.0}).requires_grad_();  // near the loss, used three times
  Tensor v = tensor({3.0}).requires_grad_();  // at the far end of the graph
  Tensor u = tensor({5.0}).requires_grad_();  // never reached
  std::vector<std::string> calls;
  double w_grad_seen = 0;
  bool v_grad_defined_then = true;
  auto hw = autograd::register_post_accumulate_grad_hook(w, [&](const Tensor& t) {
    calls.push_back("w");
    w_grad_seen = t.grad().item();
    v_grad_defined_then = v.grad().defined();
  });
  auto hv = autograd::register_post_accumulate_grad_hook(v, [&](const Tensor&) { calls.push_back("v"); });
  auto hu = autograd::register_post_accumulate_grad_hook(u, [&](const Tensor&) { calls.push_back("u"); });
  Tensor deep = v;
  for (int i = 0; i < 6; ++i) deep = exp(deep * 0.1);  // six ops between v and the loss
  Tensor y = deep * w + w * w + w;  // dy/dw = deep + 2w + 1
  const double deep_value = deep.item();
  y.backward();
  REQUIRE(calls == std::vector<std::string>{"w", "v"});
  CHECK(w_grad_seen == doctest::Approx(deep_value + 5.0));
  CHECK(!v_grad_defined_then);  // w's hook ran while v's gradient was still on its way
  CHECK(w.grad().item() == doctest::Approx(deep_value + 5.0));

  calls.clear();
  hw.remove();
  (w * v).backward();
  CHECK(calls == std::vector<std::string>{"v"});
  calls.clear();
  u.backward();  // backward on the leaf itself
  CHECK(calls == std::vector<std::string>{"u"});
  hv.remove();
  hu.remove();
  CHECK_THROWS_WITH_AS(autograd::register_post_accumulate_grad_hook(y, [](const Tensor&) {}),
                       doctest::Contains("expected a leaf tensor"), Error);
}

TEST_CASE("backward with an explicit output gradient (vector-Jacobian product)") {
  Tensor x = tensor({1, 2, 3}).requires_grad_();
  Tensor y = x * x;
  y.backward(tensor({1, 10, 100}));  // grad = 2x * v
  CHECK(x.grad().at<float>({0}) == 2.f);
  CHECK(x.grad().at<float>({1}) == 40.f);
  CHECK(x.grad().at<float>({2}) == 600.f);
  Tensor z = x * 2.0;
  CHECK_THROWS_AS(z.backward(), Error);               // not a scalar
  CHECK_THROWS_AS(z.backward(tensor({1, 2})), Error);  // wrong shape
}

TEST_CASE("a diamond graph sums both paths before going further back") {
  Tensor x = tensor({0.5}, kFloat64).requires_grad_();
  Tensor a = exp(x);
  Tensor y = a * a + sqrt(a);  // d/dx = 2 e^{2x} + e^{x/2} / 2
  y.backward();
  CHECK(x.grad().item() == doctest::Approx(2 * std::exp(1.0) + std::exp(0.25) / 2).epsilon(1e-12));
}

TEST_CASE("detach and NoGradGuard cut the graph") {
  Tensor x = tensor({2.0}).requires_grad_();
  Tensor d = x.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.raw_data() == x.raw_data());  // shares storage
  Tensor y = x * d;                      // only the first factor is differentiated
  y.backward();
  CHECK(x.grad().item() == 2.0);
  {
    NoGradGuard guard;
    Tensor z = x * x;
    CHECK_FALSE(z.requires_grad());
    CHECK(z.grad_fn() == nullptr);
  }
  CHECK((x * x).requires_grad());
  Tensor c = tensor({1.0});
  CHECK_THROWS_AS((c * 2.0).backward(), Error);  // nothing requires grad
  CHECK_THROWS_AS(arange(3, kInt64).requires_grad_(), Error);
  CHECK_THROWS_AS((x * 2.0).requires_grad_(), Error);  // not a leaf
}

TEST_CASE("the graph is released after backward, unless retained") {
  Tensor x = tensor({3.0}).requires_grad_();
  Tensor y = x * x;
  autograd::backward(y, ones({1}), /*retain_graph=*/true);
  y.backward();  // allowed: the graph was retained
  CHECK(x.grad().item() == 12.0);
  CHECK_THROWS_AS(y.backward(), Error);  // released by the previous call
  // Released means freed: the node holds no closure any more.
  CHECK(y.grad_fn()->backward == nullptr);
  CHECK(y.grad_fn()->edges.empty());
}

TEST_CASE("a deep chain does not overflow the stack") {
  Tensor x = tensor({1.0}, kFloat64).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = y * 1.0;
  y.backward();
  CHECK(x.grad().item() == 1.0);
}

TEST_CASE("gradcheck passes a correct gradient and reports a wrong one") {
  auto ok = gradcheck([](const std::vector<Tensor>& x) { return x[0] * x[0]; }, {randn({3, 2})});
  CHECK_MESSAGE(ok.ok, ok.report);
  // A deliberately wrong backward: claims d(x^2)/dx = x.
  auto wrong = [](const std::vector<Tensor>& x) {
    Tensor out = Tensor::empty(x[0].shape(), x[0].dtype());
    for (int64_t i = 0; i < out.numel(); ++i) out.data<double>()[i] = x[0].data<double>()[i] * x[0].data<double>()[i];
    autograd::record(out, "bad_square", {x[0]}, [x0 = x[0].detach()](const Tensor& g, const std::vector<bool>&) {
      return std::vector<Tensor>{g * x0};
    });
    return out;
  };
  auto bad = gradcheck(wrong, {tensor({1.0, 2.0, 3.0})});
  CHECK_FALSE(bad.ok);
  // Whichever element is worst, the true gradient 2x is twice the claimed x.
  REQUIRE(bad.worst_index >= 0);
  CHECK(bad.worst_numeric == doctest::Approx(2 * bad.worst_analytic).epsilon(1e-6));
  CHECK(bad.report.find("gradcheck failed: input 0 (shape [3]) element [" +
                        std::to_string(bad.worst_index) + "]") == 0);
}

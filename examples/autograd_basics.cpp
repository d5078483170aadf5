// Example 1 — autograd in 30 lines: tensors, a tiny MLP by hand, backward, gradient steps.
// Read first: include/lacoot/lacoot.hpp (the overview), then autograd/node.hpp (the backward
// contract). Next: the Max-SWD examples, which use the same machinery for optimal transport.
#include <lacoot/lacoot.hpp>

#include <iostream>

using namespace lacoot;

int main() {
  manual_seed(0);
  // Data: y = sin(3x) on 64 points of [-1, 1], as a column [64, 1].
  Tensor x = reshape(arange(-1, 1, 2.0 / 64), {64, 1});
  Tensor y = Tensor::empty({64, 1});
  for (int64_t i = 0; i < 64; ++i) y.at<float>({i, 0}) = std::sin(3 * x.at<float>({i, 0}));

  // A 1-32-1 MLP: parameters are leaves that require grad.
  Tensor w1 = (randn({1, 32}) * 1.0).requires_grad_(), b1 = zeros({32}).requires_grad_();
  Tensor w2 = (randn({32, 1}) * 0.2).requires_grad_(), b2 = zeros({1}).requires_grad_();
  std::vector<Tensor*> params{&w1, &b1, &w2, &b2};

  for (int step = 0; step <= 2000; ++step) {
    Tensor h = tanh(matmul(x, w1) + b1);        // [64, 32], b1 broadcasts over rows
    Tensor loss = mse_loss(matmul(h, w2) + b2, y);  // mean of squared errors, a scalar
    loss.backward();                            // fills p->grad() for every parameter
    NoGradGuard no_grad;                        // the update itself is not part of the graph
    for (Tensor* p : params) {                  // plain gradient descent, learning rate 0.1
      *p = (*p - p->grad() * 0.1).requires_grad_();
    }
    if (step % 500 == 0) std::cout << "step " << step << "  loss " << loss.item() << "\n";
  }
}

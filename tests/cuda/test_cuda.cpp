// Tests for backend/cuda/: device memory, copies, the caching allocator, streams and events,
// modules on a GPU, and every op with a CUDA kernel against the CPU op. Built only with CUDA;
// every case skips, saying so, where no GPU is usable.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>

#include "../check.hpp"
#include "lacoot/backend/cuda/allocator.hpp"
#include "lacoot/backend/cuda/blas.hpp"
#include "lacoot/core/print.hpp"
#include "lacoot/diffusion/gaussian_diffusion.hpp"
#include "lacoot/io/safetensors.hpp"
#include "lacoot/method/regulariser.hpp"
#include "lacoot/models/dit.hpp"
#include "lacoot/models/resnet.hpp"
#include "lacoot/models/swin.hpp"
#include "lacoot/ops/activation.hpp"
#include "lacoot/ops/conv.hpp"
#include "lacoot/ops/dropout.hpp"
#include "lacoot/ops/elementwise.hpp"
#include "lacoot/ops/index.hpp"
#include "lacoot/ops/loss.hpp"
#include "lacoot/ops/matmul.hpp"
#include "lacoot/ops/norm.hpp"
#include "lacoot/ops/pooling.hpp"
#include "lacoot/ops/reduce.hpp"
#include "lacoot/ops/shape.hpp"
#include "lacoot/ops/softmax.hpp"
#include "lacoot/ops/sort.hpp"
#include "lacoot/ops/transformer.hpp"
#include "lacoot/optim/adam.hpp"
#include "lacoot/optim/clip_grad.hpp"
#include "lacoot/optim/sgd.hpp"
#include "lacoot/ot/sliced_wasserstein.hpp"

using namespace lacoot;
using lacoot::test::values_of;

namespace {
// True when a GPU is there; otherwise reports the skip and why.
bool have_gpu() {
  if (cuda::is_available()) return true;
  MESSAGE("skipped: no CUDA device (" << cuda::unavailable_reason() << ")");
  return false;
}

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
using Compare = std::function<void(const Tensor& on_gpu, const Tensor& on_cpu)>;

// f run on the CPU and on the GPU from the same inputs: `agree` holds for the outputs, and for
// the gradients of every floating input for one random output gradient.
void compare_with_cpu(const std::string& what, const Fn& f, const std::vector<Tensor>& inputs, const Compare& agree) {
  CAPTURE(what);
  std::vector<Tensor> on_cpu, on_gpu;
  for (const Tensor& x : inputs) {
    Tensor c = x.clone(), g = x.to(kCUDA);
    if (is_floating(x.dtype())) {
      c.requires_grad_();
      g.requires_grad_();
    }
    on_cpu.push_back(c);
    on_gpu.push_back(g);
  }
  Tensor yc = f(on_cpu), yg = f(on_gpu);
  REQUIRE(yg.device() == kCUDA);
  REQUIRE(yg.shape() == yc.shape());
  agree(yg, yc);
  if (!yc.requires_grad()) return;
  Tensor w = randn(yc.shape(), yc.dtype());
  yc.backward(w);
  yg.backward(w.to(kCUDA));
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!on_cpu[i].grad().defined()) continue;
    CAPTURE(i);
    REQUIRE(on_gpu[i].grad().defined());
    CHECK(on_gpu[i].grad().device() == kCUDA);
    agree(on_gpu[i].grad(), on_cpu[i].grad());
  }
}

// The outputs and gradients agree within tol relative.
void check_against_cpu(const std::string& what, const Fn& f, const std::vector<Tensor>& inputs, double tol) {
  compare_with_cpu(what, f, inputs, [tol](const Tensor& g, const Tensor& c) {
    lacoot::test::check_close(g, values_of(c), tol);
  });
}

// The outputs and gradients are the CPU's bit for bit (dtype, NaN payloads and the sign of
// zero included): for ops that must add in the CPU's order, and for sorts with NaN.
void check_bits_against_cpu(const std::string& what, const Fn& f, const std::vector<Tensor>& inputs) {
  compare_with_cpu(what, f, inputs, [](const Tensor& g, const Tensor& c) {
    const Tensor back = g.to(kCPU);
    CHECK_MESSAGE(lacoot::test::bitwise_equal(back, c), "GPU: " << to_string(back) << "\nCPU: " << to_string(c));
  });
}

// The message of the lacoot::Error that call throws ("no error" if it throws none).
template <class Call>
std::string error_of(Call call) {
  try {
    call();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST_CASE("cuda: without a GPU, device memory is an error naming why, and the runtime probe does not throw") {
  if (cuda::is_available()) return;
  CHECK(cuda::device_count() == 0);
  CHECK(!cuda::unavailable_reason().empty());
  CHECK_THROWS_WITH_AS(Tensor::empty({4}, kFloat32, kCUDA),
                       doctest::Contains(cuda::unavailable_reason().c_str()), Error);
  CHECK_THROWS_WITH_AS(cuda::memory_stats(0), doctest::Contains("cuda:0 is not available"), Error);
}

TEST_CASE("cuda: tensors go to the device and back unchanged, every dtype, empty ones too") {
  if (!have_gpu()) return;
  for (DType dt : {kFloat32, kFloat64, kInt64}) {
    Tensor h = arange(0, 1000, 1, dt);
    Tensor d = h.to(kCUDA);
    CHECK(d.device() == kCUDA);
    CHECK(d.dtype() == dt);
    CHECK(d.to(kCUDA).is_same(d));  // already there: the tensor itself
    Tensor back = d.to(kCPU);
    CHECK(back.device() == kCPU);
    CHECK(std::memcmp(back.raw_data(), h.raw_data(), h.nbytes()) == 0);
  }
  Tensor e = zeros({0, 3}).to(kCUDA);
  CHECK(e.to(kCPU).numel() == 0);
  CHECK_THROWS_WITH_AS(ones({1}).to(kCUDA).at<float>({0}), doctest::Contains("copy it to the host"), Error);
}

TEST_CASE("cuda: full, clone, item, to(dtype) and printing run on the device") {
  if (!have_gpu()) return;
  Tensor f = full({3, 5}, 2.5, kFloat64, kCUDA);
  CHECK(values_of(f) == std::vector<double>(15, 2.5));
  Tensor c = f.clone();
  CHECK(c.device() == kCUDA);
  CHECK(c.raw_data() != f.raw_data());
  CHECK(values_of(c) == std::vector<double>(15, 2.5));
  CHECK(full({}, -7, kInt64, kCUDA).item() == -7.0);
  Tensor x = tensor({-1.5, 0.25, 2.75, 1e6}).to(kCUDA);
  Tensor as_int = x.to(kInt64);
  CHECK(as_int.device() == kCUDA);
  CHECK(values_of(as_int) == std::vector<double>{-1, 0, 2, 1000000});  // truncation, as static_cast
  CHECK(values_of(x.to(kFloat64)) == std::vector<double>{-1.5, 0.25, 2.75, 1e6});
  // NaN, infinities and values beyond int64: the CPU's conversion (0, then saturation).
  const double inf = std::numeric_limits<double>::infinity();
  Tensor odd = tensor({std::nan(""), inf, -inf, 1e30, -1e30}).to(kFloat64);
  CHECK(values_of(odd.to(kCUDA).to(kInt64)) == values_of(odd.to(kInt64)));
  CHECK(full({}, std::nan(""), kInt64, kCUDA).item() == 0.0);
  const std::string s = to_string(x);
  CHECK(s.find("device=cuda:0") != std::string::npos);
  CHECK(s.find("2.7500") != std::string::npos);
}

TEST_CASE("cuda: the caching allocator reuses freed blocks and counts what is in use") {
  if (!have_gpu()) return;
  cuda::synchronize(0);
  cuda::empty_cache(0);
  const std::size_t base = cuda::memory_allocated(0);
  const void* first = nullptr;
  {
    Tensor t = Tensor::empty({1000}, kFloat32, kCUDA);  // 4000 bytes, rounded up to 4096
    first = t.raw_data();
    CHECK(cuda::memory_allocated(0) == base + 4096);
    CHECK(reinterpret_cast<std::uintptr_t>(first) % 256 == 0);
  }
  CHECK(cuda::memory_allocated(0) == base);
  CHECK(cuda::memory_stats(0).cached_bytes >= 4096);
  const int64_t hits = cuda::memory_stats(0).hits;
  {
    Tensor again = Tensor::empty({900}, kFloat32, kCUDA);  // 3600 → 4096: the same block
    CHECK(again.raw_data() == first);
    CHECK(cuda::memory_stats(0).hits == hits + 1);
  }
  cuda::empty_cache(0);
  CHECK(cuda::memory_stats(0).cached_bytes == 0);
  // Asking for more than the device holds is an out-of-memory error, not a crash.
  CHECK_THROWS_WITH_AS(Tensor::empty({int64_t{1} << 50}, kFloat32, kCUDA), doctest::Contains("out of memory"), Error);
  CHECK_THROWS_WITH_AS(Tensor::empty({1}, kFloat32, Device{DeviceType::CUDA, cuda::device_count()}),
                       doctest::Contains("does not exist"), Error);
}

TEST_CASE("cuda: events time the stream") {
  if (!have_gpu()) return;
  cuda::Event start(0), end(0);
  start.record();
  Tensor t = full({1 << 22}, 1.0, kFloat32, kCUDA);
  end.record();
  CHECK(cuda::Event::elapsed_ms(start, end) >= 0.0f);
}

TEST_CASE("cuda: pinned memory copies both ways; a pinned block is not reused while a copy still reads it") {
  if (!have_gpu()) return;
  Tensor x = randn({3, 5}).pin_memory();
  CHECK(x.is_pinned());
  const std::size_t pinned_in_use = cuda::pinned_memory_stats().in_use_bytes;
  CHECK(pinned_in_use >= x.nbytes());
  Tensor back = x.to(kCUDA, /*non_blocking=*/true).to(kCPU);
  CHECK(test::bitwise_equal(back, x));
  // 64 MiB of ones copied without blocking, the source freed at once: its block must not go
  // to the next pinned tensor (which overwrites it with twos) before the copy has read it.
  const int64_t n = int64_t{1} << 24;
  Tensor on_gpu;
  const void* block = nullptr;
  {
    Tensor ones_pinned = Tensor::empty({n}, kFloat32, kCPU, /*pin_memory=*/true);
    std::fill_n(ones_pinned.data<float>(), n, 1.0f);
    block = ones_pinned.raw_data();
    on_gpu = ones_pinned.to(kCUDA, /*non_blocking=*/true);
  }
  Tensor twos = Tensor::empty({n}, kFloat32, kCPU, /*pin_memory=*/true);
  CHECK(twos.raw_data() == block);  // the cache gave the same block back
  std::fill_n(twos.data<float>(), n, 2.0f);
  CHECK(sum(on_gpu).item() == static_cast<double>(n));  // every element still 1
  // A GPU tensor cannot be pinned.
  CHECK_THROWS_WITH_AS(on_gpu.pin_memory(), doctest::Contains("only CPU tensors"), Error);
}

TEST_CASE("cuda: Module::to moves parameters and buffers; a GPU model saves and loads like a CPU one") {
  if (!have_gpu()) return;
  manual_seed(0);
  auto model = models::resnet18_cifar({.num_classes = 10, .in_channels = 1, .width = 8});
  nn::StateDict before = model->state_dict();
  std::vector<std::vector<double>> values;
  for (auto& [name, t] : before) values.push_back(values_of(t));
  Tensor w = model->named_parameters().front().second;  // a handle held outside the module
  model->to(kCUDA);
  CHECK(w.device() == kCUDA);
  std::size_t i = 0;
  for (auto& [name, t] : model->state_dict()) {
    CHECK_MESSAGE(t.device() == kCUDA, name);
    CHECK_MESSAGE(values_of(t) == values[i++], name);
  }
  const std::string path = "test_cuda_model.safetensors";
  save_safetensors(path, model->state_dict());
  auto cpu_model = models::resnet18_cifar({.num_classes = 10, .in_channels = 1, .width = 8});
  cpu_model->load_state_dict(load_safetensors(path).tensors);
  i = 0;
  for (auto& [name, t] : cpu_model->state_dict()) CHECK_MESSAGE(values_of(t) == values[i++], name);
  // And back: loading CPU values into the GPU model copies them to the device.
  model->load_state_dict(cpu_model->state_dict());
  CHECK(model->state_dict().front().second.device() == kCUDA);
  std::remove(path.c_str());
}

TEST_CASE("cuda: arithmetic with broadcasting, comparisons and where equal the CPU, forward and backward") {
  if (!have_gpu()) return;
  manual_seed(1);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = dt == kFloat32 ? 1e-5 : 1e-12;
    Tensor a = randn({3, 1, 4}, dt), b = randn({5, 1}, dt), c = randn({3, 5, 4}, dt);
    Tensor pos = add(abs(randn({2, 3}, dt)), 0.5);
    check_against_cpu("add", [](auto& v) { return add(v[0], v[1]); }, {a, b}, tol);
    check_against_cpu("sub", [](auto& v) { return sub(v[0], v[1]); }, {b, a}, tol);
    check_against_cpu("mul", [](auto& v) { return mul(v[0], v[1]); }, {a, c}, tol);
    check_against_cpu("div", [](auto& v) { return div(v[0], v[1]); }, {c, add(abs(b), 1.0)}, tol);
    check_against_cpu("scalar ops", [](auto& v) { return (2.0 - v[0] * 3.0) / 4.0 + 1.0; }, {a}, tol);
    check_against_cpu("neg", [](auto& v) { return neg(v[0]); }, {a}, tol);
    check_against_cpu("pow", [](auto& v) { return pow(v[0], 2.5); }, {pos}, tol);
    check_against_cpu("exp", [](auto& v) { return exp(v[0]); }, {a}, tol);
    check_against_cpu("log", [](auto& v) { return log(v[0]); }, {pos}, tol);
    check_against_cpu("sqrt", [](auto& v) { return sqrt(v[0]); }, {pos}, tol);
    check_against_cpu("abs", [](auto& v) { return abs(v[0]); }, {c}, tol);
    check_against_cpu("clamp", [](auto& v) { return clamp(v[0], -0.5, 0.25); }, {c}, tol);
    check_against_cpu("clamp min only", [](auto& v) { return clamp(v[0], 0.0, std::nullopt); }, {c}, tol);
    check_against_cpu("comparisons", [](auto& v) { return add(add(lt(v[0], v[1]), ge(v[0], 0.0)), eq(v[0], v[0])); },
                      {a, b}, tol);
    check_against_cpu("where", [](auto& v) { return where(gt(v[0], 0.0), v[1], v[2]); }, {a, b, c}, tol);
  }
  check_against_cpu("int64", [](auto& v) { return add(mul(v[0], v[1]), ne(v[0], v[1])); },
                    {reshape(arange(0, 12, 1, kInt64), {3, 4}), arange(0, 4, 1, kInt64)}, 0);
}

TEST_CASE("cuda: every activation equals the CPU, forward and backward, float32 and float64") {
  if (!have_gpu()) return;
  manual_seed(2);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = dt == kFloat32 ? 1e-5 : 1e-12;
    Tensor x = mul(randn({4, 257}, dt), 3.0);
    check_against_cpu("relu", [](auto& v) { return relu(v[0]); }, {x}, tol);
    check_against_cpu("relu6", [](auto& v) { return relu6(mul(v[0], 3.0)); }, {x}, tol);
    check_against_cpu("leaky_relu", [](auto& v) { return leaky_relu(v[0], 0.2); }, {x}, tol);
    check_against_cpu("gelu", [](auto& v) { return gelu(v[0]); }, {x}, tol);
    check_against_cpu("gelu tanh", [](auto& v) { return gelu(v[0], "tanh"); }, {x}, tol);
    check_against_cpu("silu", [](auto& v) { return silu(v[0]); }, {x}, tol);
    check_against_cpu("sigmoid", [](auto& v) { return sigmoid(v[0]); }, {x}, tol);
    check_against_cpu("tanh", [](auto& v) { return tanh(v[0]); }, {x}, tol);
  }
}

TEST_CASE("cuda: sin, cos and the transformer ops (attention, windows, patch merging, timestep embedding, modulate) equal the CPU") {
  if (!have_gpu()) return;
  manual_seed(4);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = dt == kFloat32 ? 1e-5 : 1e-12;
    Tensor x = mul(randn({4, 33}, dt), 3.0);
    check_against_cpu("sin", [](auto& v) { return sin(v[0]); }, {x}, tol);
    check_against_cpu("cos", [](auto& v) { return cos(v[0]); }, {x}, tol);
    Tensor q = randn({2, 3, 7, 8}, dt), k = randn({2, 3, 9, 8}, dt), v = randn({2, 3, 9, 5}, dt);
    Tensor bias = randn({3, 7, 9}, dt);
    check_against_cpu("attention, bias", [](auto& a) { return scaled_dot_product_attention(a[0], a[1], a[2], a[3]); },
                      {q, k, v, bias}, tol);
    check_against_cpu("attention, causal",
                      [](auto& a) { return scaled_dot_product_attention(a[0], a[1], a[2], {}, 0.0, true); }, {q, k, v}, tol);
    Tensor map = randn({2, 6, 4, 3}, dt);
    check_against_cpu("windows", [](auto& a) { return window_reverse(mul(window_partition(a[0], 3, 2), 2.0), 3, 2, 6, 4); },
                      {map}, tol);
    check_against_cpu("merge_patches", [](auto& a) { return merge_patches(a[0]); }, {randn({2, 5, 3, 4}, dt)}, tol);
    check_against_cpu("timestep_embedding", [](auto& a) { return timestep_embedding(a[0], 16); },
                      {mul(rand({5}, dt), 999.0)}, dt == kFloat32 ? 1e-4 : 1e-12);
    check_against_cpu("modulate", [](auto& a) { return modulate(a[0], a[1], a[2]); },
                      {randn({2, 3, 4}, dt), randn({2, 4}, dt), randn({2, 4}, dt)}, tol);
  }
}

TEST_CASE("cuda: matmul (one GEMM, strided batches, broadcast batches, vectors, k = 0) and linear equal the CPU") {
  if (!have_gpu()) return;
  manual_seed(3);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = dt == kFloat32 ? 1e-4 : 1e-12;
    auto mm = [](auto& v) { return matmul(v[0], v[1]); };
    check_against_cpu("2-D", mm, {randn({7, 5}, dt), randn({5, 3}, dt)}, tol);
    check_against_cpu("batch folded into rows", mm, {randn({2, 3, 4}, dt), randn({4, 5}, dt)}, tol);
    check_against_cpu("strided batches", mm, {randn({3, 4, 5}, dt), randn({3, 5, 2}, dt)}, tol);
    check_against_cpu("broadcast batches", mm, {randn({2, 1, 3, 4}, dt), randn({5, 4, 6}, dt)}, tol);
    check_against_cpu("vector @ matrix", mm, {randn({4}, dt), randn({4, 3}, dt)}, tol);
    check_against_cpu("matrix @ vector", mm, {randn({3, 4}, dt), randn({4}, dt)}, tol);
    check_against_cpu("k = 0", mm, {randn({3, 0}, dt), randn({0, 4}, dt)}, tol);
    check_against_cpu("linear", [](auto& v) { return linear(v[0], v[1], v[2]); },
                      {randn({2, 3, 6}, dt), randn({4, 6}, dt), randn({4}, dt)}, tol);
    check_against_cpu("linear, no bias", [](auto& v) { return linear(v[0], v[1]); },
                      {randn({5, 6}, dt), randn({4, 6}, dt)}, tol);
  }
  cuda::set_allow_tf32(true);  // TF32 inputs: about 3 decimal digits
  check_against_cpu("matmul in TF32", [](auto& v) { return matmul(v[0], v[1]); }, {randn({64, 64}), randn({64, 64})},
                    2e-2);
  cuda::set_allow_tf32(false);
}

TEST_CASE("cuda: sum, mean, var, max, min and argmax over dims equal the CPU, forward and backward") {
  if (!have_gpu()) return;
  manual_seed(4);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = dt == kFloat32 ? 1e-5 : 1e-12;
    // Few elements per output (one thread each) and many (one block each: 3 · 700 > 256).
    for (Tensor x : {randn({4, 3, 5, 6}, dt), add(randn({3, 700, 2}, dt), 10.0)}) {
      check_against_cpu("sum, all", [](auto& v) { return sum(v[0]); }, {x}, tol);
      check_against_cpu("sum, dim 1", [](auto& v) { return sum(v[0], 1); }, {x}, tol);
      check_against_cpu("sum, dims 0 and 2, keepdim", [](auto& v) { return sum(v[0], {0, 2}, true); }, {x}, tol);
      check_against_cpu("mean, last", [](auto& v) { return mean(v[0], -1); }, {x}, tol);
      check_against_cpu("mean, all", [](auto& v) { return mean(v[0]); }, {x}, tol);
      check_against_cpu("var, dim 1", [](auto& v) { return var(v[0], 1); }, {x}, tol);
      check_against_cpu("var, dims 0 and 2, population", [](auto& v) { return var(v[0], {0, 2}, 0, true); }, {x},
                        tol);
      check_against_cpu("max along 1", [](auto& v) { return max(v[0], 1).values; }, {x}, tol);
      check_against_cpu("min along 0, keepdim", [](auto& v) { return min(v[0], 0, true).values; }, {x}, tol);
      check_against_cpu("max, all", [](auto& v) { return max(v[0]); }, {x}, tol);
      check_against_cpu("argmax along 1", [](auto& v) { return argmax(v[0], 1); }, {x}, 0);
      check_against_cpu("argmin, all", [](auto& v) { return argmin(v[0]); }, {x}, 0);
    }
    // Ties go to the first index, a NaN wins, and max over all spreads the gradient over ties.
    Tensor ties = tensor(std::vector<double>{1, 3, 3, 0, 2, 2}, {2, 3}).to(dt);
    check_against_cpu("ties", [](auto& v) { return argmax(v[0], 1); }, {ties}, 0);
    check_against_cpu("tied max, all", [](auto& v) { return max(v[0]); }, {ties}, tol);
    Tensor with_nan = tensor({1.0, NAN, 3.0, NAN}, dt);
    CHECK(argmax(with_nan.to(kCUDA)).item<int64_t>() == 1);
    CHECK(argmax(mul(ones({1000}, dt), 2.0).to(kCUDA)).item<int64_t>() == 0);  // one block, all tied
  }
}

TEST_CASE("cuda: softmax, log_softmax, cross_entropy, nll_loss and mse_loss equal the CPU, forward and backward") {
  if (!have_gpu()) return;
  manual_seed(5);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = dt == kFloat32 ? 1e-5 : 1e-12;
    for (Tensor x : {mul(randn({6, 10}, dt), 4.0), randn({2, 300, 3}, dt)}) {  // a thread and a block per line
      check_against_cpu("softmax, dim 1", [](auto& v) { return softmax(v[0], 1); }, {x}, tol);
      check_against_cpu("log_softmax, dim 1", [](auto& v) { return log_softmax(v[0], 1); }, {x}, tol);
      check_against_cpu("softmax, last", [](auto& v) { return softmax(v[0], -1); }, {x}, tol);
      check_against_cpu("log_softmax, dim 0", [](auto& v) { return log_softmax(v[0], 0); }, {x}, tol);
    }
    Tensor logits = mul(randn({8, 5}, dt), 2.0);
    Tensor target = tensor(std::vector<int64_t>{0, 4, 2, -100, 1, 1, 3, 0}, {8});
    for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
      CAPTURE(static_cast<int>(r));
      check_against_cpu("cross_entropy", [r](auto& v) { return cross_entropy(v[0], v[1], {.reduction = r}); },
                        {logits, target}, tol);
      check_against_cpu("cross_entropy, label smoothing",
                        [r](auto& v) { return cross_entropy(v[0], v[1], {.reduction = r, .label_smoothing = 0.1}); },
                        {logits, target}, tol);
      check_against_cpu("nll_loss", [r](auto& v) { return nll_loss(log_softmax(v[0], 1), v[1], {.reduction = r}); },
                        {logits, target}, tol);
      check_against_cpu("mse_loss", [r](auto& v) { return mse_loss(v[0], v[1], r); }, {logits, randn({8, 5}, dt)},
                        tol);
    }
    // A target out of range is found on the GPU too, and the devices must match.
    CHECK_THROWS_WITH_AS(cross_entropy(logits.to(kCUDA), tensor(std::vector<int64_t>{0, 7, 0, 0, 0, 0, 0, 0}, {8}).to(kCUDA)),
                         doctest::Contains("target[1] = 7 is out of range"), Error);
    CHECK_THROWS_WITH_AS(cross_entropy(logits.to(kCUDA), target), doctest::Contains("but target on cpu"), Error);
  }
}

TEST_CASE("cuda: SGD (momentum, Nesterov, weight decay), Adam and AdamW (amsgrad) steps equal the CPU's") {
  if (!have_gpu()) return;
  manual_seed(6);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = dt == kFloat32 ? 1e-5 : 1e-12;
    // Three steps of each optimiser from the same start and gradients, on both devices.
    auto run = [&](auto make, Device device) {
      Tensor p = arange(-3.0, 3.0, 0.25, dt).to(device);
      p.requires_grad_();
      auto opt = make(std::vector<Tensor>{p});
      for (int step = 0; step < 3; ++step) {
        opt.zero_grad(/*set_to_none=*/step == 0);
        sum(mul(p, p)).backward();  // gradient 2p
        opt.step();
      }
      return p.detach();
    };
    auto compare = [&](const char* what, auto make) {
      CAPTURE(what);
      Tensor on_cpu = run(make, kCPU), on_gpu = run(make, kCUDA);
      CHECK(on_gpu.device() == kCUDA);
      lacoot::test::check_close(on_gpu, values_of(on_cpu), tol);
    };
    compare("SGD", [](std::vector<Tensor> ps) { return optim::SGD(ps, {.lr = 0.1}); });
    compare("SGD momentum, decay", [](std::vector<Tensor> ps) {
      return optim::SGD(ps, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 1e-2});
    });
    compare("SGD Nesterov", [](std::vector<Tensor> ps) {
      return optim::SGD(ps, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
    });
    compare("Adam", [](std::vector<Tensor> ps) { return optim::Adam(ps, {.lr = 0.01, .weight_decay = 0.1}); });
    compare("AdamW amsgrad", [](std::vector<Tensor> ps) {
      return optim::AdamW(ps, {.lr = 0.01, .amsgrad = true, .maximize = true});
    });
  }
}

TEST_CASE("cuda: clip_grad_norm_ (norms 2, 1, 3, infinity) and clip_grad_value_ on GPU gradients equal the CPU's") {
  if (!have_gpu()) return;
  manual_seed(8);
  for (double q : {2.0, 1.0, 3.0, std::numeric_limits<double>::infinity()}) {
    CAPTURE(q);
    Tensor a = randn({40, 3}, kFloat64), b = randn({7}, kFloat64);
    std::vector<Tensor> cpu{a.clone(), b.clone()}, gpu{a.to(kCUDA), b.to(kCUDA)};
    for (auto* set : {&cpu, &gpu})
      for (Tensor& p : *set) {
        p.requires_grad_();
        sum(p * p * 3.0).backward();  // grad = 6 p
      }
    const double n_cpu = optim::clip_grad_norm_(cpu, 1.5, q), n_gpu = optim::clip_grad_norm_(gpu, 1.5, q);
    CHECK(n_gpu == doctest::Approx(n_cpu).epsilon(1e-12));
    for (std::size_t i = 0; i < cpu.size(); ++i) lacoot::test::check_close(gpu[i].grad(), values_of(cpu[i].grad()), 1e-12);
    optim::clip_grad_value_(cpu, 0.5);
    optim::clip_grad_value_(gpu, 0.5);
    for (std::size_t i = 0; i < cpu.size(); ++i) CHECK(test::bitwise_equal(gpu[i].grad().to(kCPU), cpu[i].grad()));
  }
}

TEST_CASE("cuda: conv2d on cuDNN (stride, padding, dilation, groups, depthwise, 1x1, unbatched) equals the CPU") {
  if (!have_gpu()) return;
#if !LACOOT_WITH_CUDNN
  CHECK_THROWS_WITH_AS(conv2d(ones({1, 1, 3, 3}).to(kCUDA), ones({1, 1, 1, 1}).to(kCUDA)),
                       doctest::Contains("no kernel for cuda:0"), Error);
#else
  manual_seed(7);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = dt == kFloat32 ? 1e-4 : 1e-12;
    auto conv = [](Conv2dOptions o) { return [o](auto& v) { return conv2d(v[0], v[1], v[2], o); }; };
    check_against_cpu("3x3, padding 1", conv({.padding = 1}),
                      {randn({2, 3, 9, 8}, dt), randn({4, 3, 3, 3}, dt), randn({4}, dt)}, tol);
    check_against_cpu("stride 2, dilation 2, no bias", [](auto& v) { return conv2d(v[0], v[1], {}, {.stride = 2, .padding = 2, .dilation = 2}); },
                      {randn({2, 4, 11, 10}, dt), randn({6, 4, 3, 3}, dt)}, tol);
    check_against_cpu("groups 2, 5x3 kernel", conv({.padding = {2, 1}, .groups = 2}),
                      {randn({1, 4, 7, 7}, dt), randn({6, 2, 5, 3}, dt), randn({6}, dt)}, tol);
    check_against_cpu("depthwise", conv({.stride = 2, .padding = 1, .groups = 8}),
                      {randn({2, 8, 8, 8}, dt), randn({8, 1, 3, 3}, dt), randn({8}, dt)}, tol);
    check_against_cpu("1x1", conv({}), {randn({3, 16, 4, 4}, dt), randn({8, 16, 1, 1}, dt), randn({8}, dt)}, tol);
    check_against_cpu("unbatched", conv({.padding = 1}), {randn({3, 6, 6}, dt), randn({2, 3, 3, 3}, dt), randn({2}, dt)},
                      tol);
    // Empty sizes, which cuDNN refuses: no images (the filter's gradient is 0), no input
    // channels (the output is the bias), no output channels.
    check_against_cpu("no images", conv({.padding = 1}), {randn({0, 3, 5, 5}, dt), randn({4, 3, 3, 3}, dt), randn({4}, dt)},
                      tol);
    check_against_cpu("no input channels", conv({}), {randn({2, 0, 5, 5}, dt), randn({4, 0, 3, 3}, dt), randn({4}, dt)},
                      tol);
    check_against_cpu("no output channels", conv({}), {randn({2, 3, 5, 5}, dt), randn({0, 3, 3, 3}, dt), randn({0}, dt)},
                      tol);
  }
  // The same forward and backward twice give the same bits: the algorithms chosen are
  // deterministic (no atomic additions in the backward passes).
  Tensor x = randn({8, 16, 16, 16}).to(kCUDA), w = randn({32, 16, 3, 3}).to(kCUDA);
  auto run = [&] {
    Tensor xi = x.clone(), wi = w.clone();
    xi.requires_grad_();
    wi.requires_grad_();
    Tensor y = conv2d(xi, wi, {}, {.padding = 1});
    sum(mul(y, y)).backward();
    return std::vector<std::vector<double>>{values_of(y), values_of(xi.grad()), values_of(wi.grad())};
  };
  CHECK(run() == run());
#endif
}

TEST_CASE("cuda: max, average and adaptive average pooling equal the CPU to the bit, forward and backward") {
  if (!have_gpu()) return;
  manual_seed(8);
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = randn({2, 3, 9, 10}, dt);
    // Overlapping windows (stride < kernel) make the backward sum several outputs per input.
    check_against_cpu("max 3, stride 2, padding 1", [](auto& v) { return max_pool2d(v[0], 3, {.stride = 2, .padding = 1}); },
                      {x}, 0);
    check_against_cpu("max 2, dilation 2, ceil_mode",
                      [](auto& v) { return max_pool2d(v[0], 2, {.stride = 1, .dilation = 2, .ceil_mode = true}); }, {x}, 0);
    check_against_cpu("max indices", [](auto& v) { return std::get<1>(max_pool2d_with_indices(v[0], {3, 2})); }, {x}, 0);
    check_against_cpu("avg 3, stride 2, padding 1", [](auto& v) { return avg_pool2d(v[0], 3, {.stride = 2, .padding = 1}); },
                      {x}, 0);
    check_against_cpu("avg, ceil_mode, count_include_pad off",
                      [](auto& v) {
                        return avg_pool2d(v[0], 3, {.stride = 2, .padding = 1, .ceil_mode = true, .count_include_pad = false});
                      },
                      {x}, 0);
    check_against_cpu("avg, divisor_override", [](auto& v) { return avg_pool2d(v[0], 2, {.divisor_override = 3}); }, {x}, 0);
    check_against_cpu("adaptive to 1x1", [](auto& v) { return adaptive_avg_pool2d(v[0], 1); }, {x}, 0);
    check_against_cpu("adaptive to 4x3 (overlapping windows)", [](auto& v) { return adaptive_avg_pool2d(v[0], {4, 3}); },
                      {x}, 0);
    check_against_cpu("unbatched", [](auto& v) { return max_pool2d(v[0], 2); }, {randn({3, 6, 6}, dt)}, 0);
  }
  // Ties go to the first tap in the window, a NaN takes over.
  Tensor t = tensor(std::vector<double>{1, 5, 5, 2, 0, NAN, 3, 4, 5}, {1, 1, 3, 3});
  check_against_cpu("ties and NaN", [](auto& v) { return std::get<1>(max_pool2d_with_indices(v[0], 2, {.stride = 1})); },
                    {t}, 0);
}

TEST_CASE("cuda: batch_norm (training with running statistics, evaluation) and layer_norm equal the CPU") {
  if (!have_gpu()) return;
  manual_seed(9);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = dt == kFloat32 ? 1e-4 : 1e-10;
    Tensor x = add(mul(randn({6, 5, 7, 3}, dt), 2.0), 1.0), w = randn({5}, dt), b = randn({5}, dt);
    // Training: the output, its gradients, and the running statistics after the update.
    Tensor rm_c = randn({5}, dt), rv_c = add(abs(randn({5}, dt)), 0.5);
    Tensor rm_g = rm_c.to(kCUDA), rv_g = rv_c.to(kCUDA);
    Tensor rm_c2 = rm_c.clone(), rv_c2 = rv_c.clone();
    check_against_cpu("training",
                      [&](auto& v) {
                        const bool gpu = v[0].device().is_cuda();
                        return batch_norm(v[0], gpu ? rm_g : rm_c2, gpu ? rv_g : rv_c2, v[1], v[2], true, 0.3);
                      },
                      {x, w, b}, tol);
    lacoot::test::check_close(rm_g, values_of(rm_c2), tol);
    lacoot::test::check_close(rv_g, values_of(rv_c2), tol);
    check_against_cpu("training, no affine, no running statistics",
                      [](auto& v) { return batch_norm(v[0], {}, {}, {}, {}, true); }, {randn({4, 3}, dt)}, tol);
    check_against_cpu("evaluation",
                      [&](auto& v) {
                        const bool gpu = v[0].device().is_cuda();
                        return batch_norm(v[0], gpu ? rm_g : rm_c2, gpu ? rv_g : rv_c2, v[1], v[2], false);
                      },
                      {x, w, b}, tol);
    check_against_cpu("layer_norm over the last two dims", [](auto& v) { return layer_norm(v[0], {7, 3}, v[1], v[2]); },
                      {x, randn({7, 3}, dt), randn({7, 3}, dt)}, tol);
    check_against_cpu("layer_norm, 300 columns (a block per row), no affine",
                      [](auto& v) { return layer_norm(v[0], {300}); }, {randn({4, 300}, dt)}, tol);
  }
}

TEST_CASE("cuda: dropout draws the CPU's mask from the same generator state, and its gradient is that mask") {
  if (!have_gpu()) return;
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = randn({1000, 7}, dt);
    Generator on_cpu(42), on_gpu(42);
    for (double p : {0.1, 0.5, 1.0}) {
      CAPTURE(p);
      Tensor xc = x.clone(), xg = x.to(kCUDA);
      xc.requires_grad_();
      xg.requires_grad_();
      Tensor yc = dropout(xc, p, true, on_cpu), yg = dropout(xg, p, true, on_gpu);
      CHECK(yg.device() == kCUDA);
      CHECK(values_of(yg) == values_of(yc));
      sum(yc).backward();
      sum(yg).backward();
      CHECK(values_of(xg.grad()) == values_of(xc.grad()));
    }
    CHECK(on_gpu.offset() == on_cpu.offset());
  }
}

TEST_CASE("cuda: wasserstein_1d and Max-SWD equal the CPU op, values and gradients") {
  if (!have_gpu()) return;
  manual_seed(10);
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = dt == kFloat32 ? 1e-4 : 1e-10;
    for (double p : {1.0, 2.0, 3.0}) {
      CAPTURE(p);
      check_against_cpu("wasserstein_1d columns, n != m",
                        [p](auto& v) { return wasserstein_1d(v[0], v[1], {}, {}, p); },
                        {randn({37, 5}, dt), add(randn({20, 5}, dt), 0.5)}, tol);
      check_against_cpu("wasserstein_1d with weights",
                        [p](auto& v) { return wasserstein_1d(v[0], v[1], v[2], v[3], p); },
                        {randn({9}, dt), randn({6}, dt), softmax(randn({9}, dt), 0), softmax(randn({6}, dt), 0)}, tol);
    }
    // Ties (post-ReLU rows of zeros project to 0 in every direction): the CPU's row order. A NaN
    // (a diverged step): NaN where the CPU has NaN, and no gradient written outside the rows.
    check_against_cpu("wasserstein_1d columns with ties",
                      [](auto& v) { return wasserstein_1d(v[0], v[1], {}, {}, 2.0); },
                      {relu(randn({37, 5}, dt)), randn({37, 5}, dt)}, tol);
    Tensor x = randn({37, 5}, dt);
    Tensor with_nan = where(gt(x, 1.5), full({}, std::nan(""), dt), x);  // ~7 % NaN, in most columns
    compare_with_cpu("wasserstein_1d with a NaN", [](auto& v) { return wasserstein_1d(v[0], v[1], {}, {}, 2.0); },
                     {with_nan, randn({37, 5}, dt)}, [tol](const Tensor& g, const Tensor& c) {
                       const std::vector<double> on_gpu = values_of(g), on_cpu = values_of(c);
                       for (std::size_t i = 0; i < on_cpu.size(); ++i) {
                         CAPTURE(i);
                         if (std::isnan(on_cpu[i])) CHECK(std::isnan(on_gpu[i]));
                         else CHECK(on_gpu[i] == doctest::Approx(on_cpu[i]).epsilon(tol));
                       }
                     });
    // LaCoOT's regulariser: a batch of 128 points, 50 directions, maxSW_2.
    Tensor X = randn({128, 40}, dt), Y = add(mul(randn({128, 40}, dt), 1.5), 0.2), P = random_projections(40, 50);
    check_against_cpu("max_sliced_wasserstein", [](auto& v) { return max_sliced_wasserstein(v[0], v[1], v[2]); },
                      {X, Y, P.to(dt)}, tol);
    check_against_cpu("sliced_wasserstein", [](auto& v) { return sliced_wasserstein(v[0], v[1], v[2]); },
                      {X, Y, P.to(dt)}, tol);
    // Drawn directions: the same generator state gives the same value on both devices.
    Generator gc(3), gg(3);
    lacoot::test::check_close(max_sliced_wasserstein(X.to(kCUDA), Y.to(kCUDA), 50, gg),
                              values_of(max_sliced_wasserstein(X, Y, 50, gc)), tol);
  }
  CHECK_THROWS_WITH_AS(wasserstein_1d(zeros({2000}).to(kCUDA), zeros({3}).to(kCUDA)),
                       doctest::Contains("at most 1024 points"), Error);
}

namespace {
using MakeModel = std::function<std::shared_ptr<nn::Module>()>;
using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(nn::Module&)>;
using LossOf = std::function<Tensor(nn::Module&, int step, const Device&)>;

// Both in float64, `gpu` on the GPU holding `cpu`'s weights.
void float64_pair(nn::Module& cpu, nn::Module& gpu) {
  cpu.to(kFloat64);
  gpu.to(kFloat64);
  gpu.load_state_dict(cpu.state_dict());
  gpu.to(kCUDA);
  CHECK(nn::device_of(gpu) == kCUDA);
}

// Two float64 copies of one model, the second on the GPU with the first's weights, trained the
// same way: `steps` steps of loss_of(model, step, device) plus LaCoOT's regulariser over the
// model's removable blocks (its directions drawn on the CPU). The GPU's losses and final weights
// follow the CPU's, far beyond the float32 rounding that separates cuDNN's and cuBLAS's summation
// orders from the CPU's.
void check_training_follows_cpu(const MakeModel& make, const MakeOptimizer& optimizer, const LossOf& loss_of,
                                int steps) {
  auto cpu_model = make(), gpu_model = make();
  float64_pair(*cpu_model, *gpu_model);
  auto run = [&](nn::Module& model) {
    auto opt = optimizer(model);
    method::MaxSWDRegulariser reg(model, {.lambda = 0.5, .seed = 3});
    CHECK(!reg.blocks().empty());
    model.train();
    std::vector<double> losses;
    for (int step = 0; step < steps; ++step) {
      // Two statements: the penalty measures the forward pass, which must come first (the
      // order in which a call's arguments are evaluated is unspecified; GCC's is right to left).
      Tensor loss = loss_of(model, step, nn::device_of(model));
      loss = add(loss, reg.penalty());
      losses.push_back(loss.item());
      opt->zero_grad();
      loss.backward();
      opt->step();
    }
    return losses;
  };
  const std::vector<double> cpu_losses = run(*cpu_model), gpu_losses = run(*gpu_model);
  for (std::size_t i = 0; i < cpu_losses.size(); ++i) CHECK(gpu_losses[i] == doctest::Approx(cpu_losses[i]).epsilon(1e-9));
  auto gpu_state = gpu_model->state_dict();
  std::size_t i = 0;
  for (auto& [name, t] : cpu_model->state_dict()) {
    CAPTURE(name);
    lacoot::test::check_close(gpu_state[i++].second, values_of(t), 1e-8);
  }
}

// A batch of n images [n, C, 32, 32] and labels below `classes`, drawn on the CPU from the
// generator of `seed`, on `device`.
std::pair<Tensor, Tensor> batch_of(uint64_t seed, int64_t n, int64_t C, int64_t classes, const Device& device) {
  Generator data(seed);
  Tensor x = randn({n, C, 32, 32}, kFloat64, data).to(device);
  Tensor y = mul(rand({n}, kFloat64, data), static_cast<double>(classes) - 0.01).to(kInt64).to(device);
  return {x, y};
}
}  // namespace

TEST_CASE("cuda: five SGD steps of ResNet-18-CIFAR (with LaCoOT's regulariser) follow the CPU run") {
  if (!have_gpu()) return;
  check_training_follows_cpu(
      [] { return models::resnet18_cifar({.num_classes = 10, .in_channels = 1, .width = 8}); },
      [](nn::Module& m) -> std::unique_ptr<optim::Optimizer> {
        return std::make_unique<optim::SGD>(m.named_parameters(),
                                            optim::SGDOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-4});
      },
      [](nn::Module& model, int step, const Device& device) {
        auto [x, y] = batch_of(5 + static_cast<uint64_t>(step), 16, 1, 10, device);
        return cross_entropy(model(x), y);
      },
      5);
}

TEST_CASE("cuda: a small Swin and a small DiT (the diffusion loss with a learned variance) train with LaCoOT as on the CPU") {
  if (!have_gpu()) return;
  const MakeOptimizer adamw = [](nn::Module& m) -> std::unique_ptr<optim::Optimizer> {
    return std::make_unique<optim::AdamW>(m.named_parameters(), optim::AdamWOptions{.lr = 1e-3});
  };
  // Swin: two stages, windows of 4 on an 8x8 token map (shifted windows with their mask, the
  // relative position bias, patch merging); the batches drawn on the CPU from a seeded generator.
  check_training_follows_cpu(
      [] {
        return models::swin_t({.num_classes = 10, .embed_dim = 8, .depths = {2, 2}, .num_heads = {2, 4},
                               .window_size = 4, .stochastic_depth_prob = 0.0});
      },
      adamw,
      [](nn::Module& model, int step, const Device& device) {
        auto [x, y] = batch_of(100 + static_cast<uint64_t>(step), 4, 3, 10, device);
        return cross_entropy(model(x), y);
      },
      3);
  // DiT: the loss on ε plus the variational bound (through the variance channels), timesteps and
  // class dropout drawn on the CPU, the null class forced for two of six samples.
  const diffusion::GaussianDiffusion process(diffusion::linear_beta_schedule(1000));
  check_training_follows_cpu(
      [] {
        return std::make_shared<models::DiT>(models::DiTOptions{.input_size = 8, .patch_size = 2, .in_channels = 2,
                                                                .hidden_size = 24, .depth = 3, .num_heads = 4,
                                                                .num_classes = 5});
      },
      adamw,
      [&process](nn::Module& model, int step, const Device& device) {
        auto& dit = dynamic_cast<models::DiT&>(model);
        Generator data(200 + static_cast<uint64_t>(step));
        Tensor x0 = randn({6, 2, 8, 8}, kFloat64, data), noise = randn({6, 2, 8, 8}, kFloat64, data);
        Tensor t = mul(rand({6}, kFloat64, data), 999.99).to(kInt64);
        Tensor y = mul(rand({6}, kFloat64, data), 4.99).to(kInt64);
        Tensor drop = Tensor::empty({6}, kInt64);
        for (int64_t n = 0; n < 6; ++n) drop.data<int64_t>()[n] = n % 3 == 0;
        x0 = x0.to(device), noise = noise.to(device);
        Tensor out = dit(process.q_sample(x0, t, noise), t.to(kFloat64).to(device), y.to(device), drop.to(device));
        return mean(process.training_losses(out, x0, t, noise).loss);
      },
      3);
}

TEST_CASE("cuda: DDPM and DDIM sampling of a DiT with classifier-free guidance follow the CPU") {
  if (!have_gpu()) return;
  manual_seed(13);
  auto cpu_dit = std::make_shared<models::DiT>(models::DiTOptions{.input_size = 8, .patch_size = 2, .in_channels = 2,
                                                                  .hidden_size = 24, .depth = 2, .num_heads = 4,
                                                                  .num_classes = 5});
  // adaLN-Zero starts every block and the final layer at zero: nudge them off it, so that the
  // samples depend on the attention, the MLPs and the conditioning.
  nn::StateDict nudged;
  for (auto& [name, t] : cpu_dit->state_dict())
    nudged.emplace_back(name, name == "pos_embed" ? t : add(t, mul(randn(t.shape(), t.dtype()), 0.05)));
  cpu_dit->load_state_dict(nudged);
  auto gpu_dit = std::make_shared<models::DiT>(cpu_dit->options);
  float64_pair(*cpu_dit, *gpu_dit);
  for (const std::string spec : {"10", "ddim10"}) {
    CAPTURE(spec);
    const bool ddim = spec.rfind("ddim", 0) == 0;
    const diffusion::GaussianDiffusion process(diffusion::linear_beta_schedule(1000), true,
                                               diffusion::space_timesteps(1000, spec));
    auto sample = [&](models::DiT& dit) {
      dit.eval();
      const Device device = nn::device_of(dit);
      Tensor y = Tensor::empty({8}, kInt64);
      for (int64_t n = 0; n < 4; ++n) y.data<int64_t>()[n] = n, y.data<int64_t>()[4 + n] = 5;  // then the null class
      Tensor yd = y.to(device);
      Generator gen(21);
      Tensor noise = randn({4, 2, 8, 8}, kFloat64, gen).to(device);
      auto model = [&](const Tensor& x, const Tensor& t) {
        return narrow(dit.forward_with_cfg(cat({x, x}, 0), cat({t, t}, 0), yd, 1.5, 2), 0, 0, x.size(0));
      };
      return process.sample_loop(model, noise, gen, ddim, ddim ? 0.5 : 0.0, /*clip_denoised=*/true);
    };
    Tensor on_cpu = sample(*cpu_dit), on_gpu = sample(*gpu_dit);
    CHECK(on_gpu.device() == kCUDA);
    lacoot::test::check_close(on_gpu, values_of(on_cpu), 1e-8);
  }
}

TEST_CASE("cuda: permute, transpose, expand, cat, stack, narrow, slice, pad and roll equal the CPU") {
  if (!have_gpu()) return;
  manual_seed(12);
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = randn({3, 4, 5}, dt), y = randn({3, 2, 5}, dt);
    check_against_cpu("permute", [](auto& v) { return permute(v[0], {2, 0, 1}); }, {x}, 0);
    check_against_cpu("transpose", [](auto& v) { return transpose(v[0], 0, 2); }, {x}, 0);
    check_against_cpu("expand", [](auto& v) { return expand(v[0], {2, 3, 4, 5}); }, {randn({3, 1, 5}, dt)}, 1e-6);
    check_against_cpu("cat", [](auto& v) { return cat({v[0], v[1]}, 1); }, {x, y}, 0);
    check_against_cpu("stack", [](auto& v) { return stack({v[0], v[1]}, 2); }, {x, x}, 0);
    check_against_cpu("narrow, a copy", [](auto& v) { return narrow(v[0], 1, 1, 2); }, {x}, 0);
    check_against_cpu("narrow, a view", [](auto& v) { return narrow(v[0], 0, 1, 2); }, {x}, 0);
    check_against_cpu("slice with a step", [](auto& v) { return slice(v[0], 2, 0, 5, 2); }, {x}, 0);
    check_against_cpu("pad", [](auto& v) { return pad(v[0], {1, 2, 0, 1}, 0.5); }, {x}, 0);
    check_against_cpu("roll", [](auto& v) { return roll(v[0], {2, -1}, {1, 2}); }, {x}, 0);
  }
  check_against_cpu("int64 permute", [](auto& v) { return permute(v[0], {1, 0}); },
                    {reshape(arange(0, 12, 1, kInt64), {3, 4})}, 0);
}

TEST_CASE("cuda: gradcheck on the GPU (float64): a conv-BN-ReLU-pool-linear-loss chain, layer norm, softmax, Max-SWD") {
  if (!have_gpu()) return;
  manual_seed(13);
  auto on_gpu = [](std::vector<Tensor> v) {
    for (Tensor& t : v) t = t.to(kFloat64).to(kCUDA);
    return v;
  };
  Tensor target = tensor(std::vector<int64_t>{1, 0, 2}, {3}).to(kCUDA);
  auto chain = [&](const std::vector<Tensor>& v) {
    Tensor h = conv2d(v[0], v[1], v[2], {.padding = 1});
    h = relu(batch_norm(h, {}, {}, v[3], v[4], /*training=*/true));
    h = adaptive_avg_pool2d(max_pool2d(h, 2), 1);
    return cross_entropy(linear(flatten(h, 1), v[5]), target);
  };
  GradcheckResult r = gradcheck(chain, on_gpu({randn({3, 2, 6, 6}), randn({4, 2, 3, 3}), randn({4}), add(rand({4}), 0.5),
                                               randn({4}), randn({3, 4})}));
  CHECK_MESSAGE(r.ok, r.report);
  r = gradcheck([](const std::vector<Tensor>& v) { return layer_norm(v[0], {5}, v[1], v[2]); },
                on_gpu({randn({3, 5}), randn({5}), randn({5})}));
  CHECK_MESSAGE(r.ok, r.report);
  r = gradcheck([](const std::vector<Tensor>& v) { return log_softmax(v[0], 1); }, on_gpu({randn({3, 7})}));
  CHECK_MESSAGE(r.ok, r.report);
  r = gradcheck([](const std::vector<Tensor>& v) { return max_sliced_wasserstein(v[0], v[1], v[2]); },
                on_gpu({randn({6, 4}), randn({5, 4}), random_projections(4, 8, default_generator(), kFloat64)}));
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("cuda: index_select, index_add, gather, scatter_add and embedding equal the CPU to the bit, both ways") {
  if (!have_gpu()) return;
  manual_seed(14);
  // Index values in [0, size) with many repeats, so that most slots receive several additions.
  auto draws = [](Shape shape, int64_t size) { return mul(rand(shape, kFloat64), size - 1e-9).to(kInt64); };
  for (DType dt : {kFloat32, kFloat64, kInt64}) {
    CAPTURE(dtype_name(dt));
    // Magnitudes spread over orders of ten (whole numbers for int64), so that adding the same
    // numbers in another order would change the rounding of the sums.
    auto values = [dt](Shape shape) {
      Tensor v = mul(randn(shape, kFloat64), exp(mul(randn(shape, kFloat64), 3.0)));
      return dt == kInt64 ? mul(v, 100.0).to(kInt64) : v.to(dt);
    };
    Tensor x = values({4, 5, 3});
    for (int64_t d : {0, 1, 2}) {
      CAPTURE(d);
      const int64_t n = x.size(d);
      Tensor index = draws({7}, n);  // 7 picks among at most 5: repeats
      Shape source = x.shape();
      source[static_cast<std::size_t>(d)] = 7;
      check_bits_against_cpu("index_select", [d](auto& v) { return index_select(v[0], d, v[1]); }, {x, index});
      check_bits_against_cpu("index_add", [d](auto& v) { return index_add(v[0], d, v[1], v[2]); },
                             {x, index, values(source)});
      Shape picks = {3, 4, 2};  // smaller than x in the other dims, as gather allows
      picks[static_cast<std::size_t>(d)] = 6;
      Tensor at = draws(picks, n);
      check_bits_against_cpu("gather", [d](auto& v) { return gather(v[0], d, v[1]); }, {x, at});
      check_bits_against_cpu("scatter_add", [d](auto& v) { return scatter_add(v[0], d, v[1], v[2]); },
                             {x, at, values(picks)});
    }
    // Hundreds of additions into each of three slots, and tensors spanning many blocks.
    check_bits_against_cpu("index_add, 1-D, 600 into 3", [](auto& v) { return index_add(v[0], 0, v[1], v[2]); },
                           {values({3}), draws({600}, 3), values({600})});
    check_bits_against_cpu("scatter_add, 1-D, 600 into 3", [](auto& v) { return scatter_add(v[0], 0, v[1], v[2]); },
                           {values({3}), draws({600}, 3), values({600})});
    check_bits_against_cpu("index_add, [64, 1000] from 3000", [](auto& v) { return index_add(v[0], 1, v[1], v[2]); },
                           {values({64, 1000}), draws({3000}, 1000), values({64, 3000})});
    check_bits_against_cpu("gather, [300, 257]", [](auto& v) { return gather(v[0], 1, v[1]); },
                           {values({300, 257}), draws({300, 100}, 257)});
    check_bits_against_cpu("index_select, empty index", [](auto& v) { return index_select(v[0], 1, v[1]); },
                           {x, Tensor::empty({0}, kInt64)});
    check_bits_against_cpu("embedding, rows used many times", [](auto& v) { return embedding(v[0], v[1]); },
                           {values({6, 4}), draws({3, 50}, 6)});
  }
  // A value out of range in a GPU index is found, with the CPU's message.
  Tensor x = randn({4, 5}), bad = tensor(std::vector<int64_t>{0, 5, -1}, {3});
  Tensor bad_rows = reshape(bad, {1, 3});
  auto same_error = [](const char* what, auto on_cpu, auto on_gpu) {
    CAPTURE(what);
    const std::string message = error_of(on_cpu);
    CHECK(message.find("index 5 is out of range") != std::string::npos);
    CHECK(error_of(on_gpu) == message);
  };
  Tensor xg = x.to(kCUDA), badg = bad.to(kCUDA), bad_rows_g = bad_rows.to(kCUDA);
  same_error("index_select", [&] { index_select(x, 1, bad); }, [&] { index_select(xg, 1, badg); });
  same_error("index_add", [&] { index_add(x, 1, bad, ones({4, 3})); }, [&] { index_add(xg, 1, badg, ones({4, 3}).to(kCUDA)); });
  same_error("gather", [&] { gather(x, 1, bad_rows); }, [&] { gather(xg, 1, bad_rows_g); });
  same_error("scatter_add", [&] { scatter_add(x, 1, bad_rows, ones({1, 3})); },
             [&] { scatter_add(xg, 1, bad_rows_g, ones({1, 3}).to(kCUDA)); });
  same_error("embedding", [&] { embedding(randn({5, 2}), bad); }, [&] { embedding(randn({5, 2}).to(kCUDA), badg); });
  // The index must be on the device of the tensor it indexes.
  Tensor good = tensor(std::vector<int64_t>{0, 1}, {2});
  CHECK_THROWS_WITH_AS(index_select(xg, 0, good), doctest::Contains("index_select: index on cpu but the tensor indexed on cuda:0"), Error);
  CHECK_THROWS_WITH_AS(index_add(x, 0, good.to(kCUDA), ones({2, 5})),
                       doctest::Contains("index_add: index on cuda:0 but the tensor indexed on cpu"), Error);
  CHECK_THROWS_WITH_AS(gather(xg, 1, reshape(good, {1, 2})), doctest::Contains("gather: index on cpu"), Error);
  CHECK_THROWS_WITH_AS(scatter_add(xg, 1, reshape(good, {1, 2}), ones({1, 2}).to(kCUDA)),
                       doctest::Contains("scatter_add: index on cpu"), Error);
  CHECK_THROWS_WITH_AS(embedding(xg, good), doctest::Contains("embedding: indices on cpu but the tensor indexed on cuda:0"),
                       Error);
}

TEST_CASE("cuda: sort, argsort and topk equal the CPU: stable ties, NaN of either sign, -0.0, any dim, int64") {
  if (!have_gpu()) return;
  manual_seed(15);
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  auto sorted_by = [](auto sort_op) {  // the values and the indices of one call, compared one after the other
    return std::pair<Fn, Fn>{[sort_op](auto& v) { return sort_op(v[0]).values; },
                             [sort_op](auto& v) { return sort_op(v[0]).indices; }};
  };
  auto check_sorted = [&](const std::string& what, auto sort_op, const Tensor& x) {
    auto [values, indices] = sorted_by(sort_op);
    check_bits_against_cpu(what + ": values", values, {x});  // the backward too: scatter_add of the gradient
    check_bits_against_cpu(what + ": indices", indices, {x});
  };
  for (DType dt : {kFloat32, kFloat64, kInt64}) {
    CAPTURE(dtype_name(dt));
    // Few distinct values, so long runs of ties whose input order the stable sort keeps.
    Tensor ties = mul(randn({6, 300}, kFloat64), 2.0).to(kInt64).to(dt);
    // NaN with and without its sign bit (both sort as the largest), ±inf, and -0.0 tying with 0.0.
    Tensor specials = dt == kInt64 ? tensor(std::vector<int64_t>{5, -3, std::numeric_limits<int64_t>::max(), 0, -3,
                                                                 std::numeric_limits<int64_t>::min(), 5, 7, 0, -1},
                                            {10})
                                   : tensor({1.0, nan, -inf, -0.0, 2.0, -nan, 0.0, inf, nan, -1.0, 0.0, -0.0, 2.0}, dt);
    if (dt != kInt64) REQUIRE(std::signbit(values_of(specials)[5]));  // -nan kept its sign bit
    Tensor long_row = dt == kInt64 ? mul(randn({5000}, kFloat64), 1e6).to(kInt64) : randn({5000}, dt);
    for (bool descending : {false, true}) {
      CAPTURE(descending);
      auto along = [descending](int64_t d) { return [d, descending](const Tensor& x) { return sort(x, d, descending); }; };
      check_sorted("sort, ties", along(-1), ties);
      check_sorted("sort, specials", along(-1), specials);
      check_sorted("sort, one long row", along(0), long_row);
      check_sorted("sort along dim 0 (a permute there and back)", along(0), ties);
      check_sorted("sort along the middle dim", along(1), reshape(ties, {6, 30, 10}));
      check_sorted("sort of a 0-d tensor", along(0), reshape(narrow(specials, 0, 1, 1), {}));
      check_bits_against_cpu("argsort, dim 1", [descending](auto& v) { return argsort(v[0], 1, descending); },
                             {reshape(ties, {6, 30, 10})});
    }
    for (bool largest : {true, false}) {
      for (bool sorted : {true, false}) {
        CAPTURE(largest);
        CAPTURE(sorted);
        auto best = [largest, sorted](int64_t k, int64_t d) {
          return [k, d, largest, sorted](const Tensor& x) { return topk(x, k, d, largest, sorted); };
        };
        for (int64_t k : {0, 1, 7, 299, 300}) {
          CAPTURE(k);
          check_sorted("topk, ties", best(k, -1), ties);
        }
        check_sorted("topk, specials", best(5, 0), specials);
        check_sorted("topk along dim 0", best(4, 0), ties);
        check_sorted("topk, one long row", best(100, 0), long_row);
      }
    }
  }
}

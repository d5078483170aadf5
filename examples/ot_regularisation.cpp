// Example 7 — optimal-transport regularisation, step by step: the 1-D Wasserstein distance by
// sorting, sliced and max-sliced distances between 2-D clouds, a cloud moved by gradient descent
// on Max-SWD, then LaCoOT itself on a small residual network: train with λ·R, measure each
// block, collapse (Algorithm 1). Each step prints its equation, the number computed by the
// library, and the same number computed here another way.
// Read first: examples/autograd_basics.cpp (example 1) and docs/lacoot.md (this program's
// chapter: each equation with the function that computes it), then ot/wasserstein_1d.hpp,
// ot/sliced_wasserstein.hpp, method/regulariser.hpp and method/algorithm1.hpp.
//
//   ./build/examples/ot_regularisation [--out DIR] [--seed S] [--points N] [--steps N]
//        [--train-steps N] [--lambda L] [--threads T]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numbers>
#include <string>
#include <vector>

#include "lacoot/io/svg_plot.hpp"
#include "lacoot/method/algorithm1.hpp"
#include "lacoot/nn/linear.hpp"
#include "lacoot/ops/activation.hpp"
#include "lacoot/ops/loss.hpp"
#include "lacoot/optim/adam.hpp"
#include "lacoot/ot/sliced_wasserstein.hpp"
#include "lacoot/train/args.hpp"

using namespace lacoot;

const char* kUsage = R"(usage: ot_regularisation [--out DIR] [--seed S] [--points N] [--steps N]
                         [--train-steps N] [--lambda L] [--threads T]

A lesson in four steps, each printing its equation, the library's value and an independent check:
  1  the 1-D Wasserstein distance W_2 by sorting (wasserstein_1d against std::sort)
  2  2-D clouds: projections, sliced SW_2 (mean over K = 50 random directions) against
     max-sliced maxSW_2 (their max), the optimised direction against the best random one and a
     sweep of the circle; then the same in d = 2..512 dimensions
  3  gradient descent on a cloud X to minimise MaxSWD_2(X, Y)^2 (the distance falls)
  4  a residual MLP with 4 marked blocks y = x + f(x), trained on 3 spirals with and without
     LaCoOT's regulariser λ·R; each block's validation MaxSWD_2, then Algorithm 1
options:
  --out DIR          where the SVG figures go (created; default ot_figures)
  --seed S           of every random draw (default 0)
  --points N         points per cloud in steps 1-3 (default 256)
  --steps N          gradient-descent steps in step 3 (default 150)
  --train-steps N    training steps of each network in step 4 (default 600, batch 128)
  --lambda L         λ of the regularised network in step 4 (default 3)
  --threads T        CPU threads (default 1: the tensors are small)
The chapter docs/lacoot.md explains each step. About 5 s on one core.
)";

namespace {

constexpr double pi = std::numbers::pi;
constexpr int64_t K = 50;  // random directions per distance, as the paper (POT's default)

// ---- helpers: plain arrays, the 1-D distance by hand, checks, plots ----

std::vector<double> values(const Tensor& t) {
  const Tensor d = t.to(kFloat64);
  return {d.data<double>(), d.data<double>() + d.numel()};
}
// W_2 by hand: sort both samples and match them rank by rank (equal sizes, uniform weights).
double w2_by_sorting(std::vector<double> x, std::vector<double> y) {
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  double s = 0;
  for (std::size_t i = 0; i < x.size(); ++i) s += (x[i] - y[i]) * (x[i] - y[i]);
  return std::sqrt(s / static_cast<double>(x.size()));
}
// The points of X [n, 2] projected onto θ = (cos φ, sin φ), by hand.
std::vector<double> project(const Tensor& X, double phi) {
  std::vector<double> u;
  for (int64_t i = 0; i < X.size(0); ++i)
    u.push_back(X.at<double>({i, 0}) * std::cos(phi) + X.at<double>({i, 1}) * std::sin(phi));
  return u;
}
// The angle of direction θ [2, 1], in degrees in [0, 180) (θ and −θ give the same distance).
double degrees(const Tensor& theta) {
  const double a = std::atan2(theta.at<double>({1, 0}), theta.at<double>({0, 0})) * 180 / pi;
  return std::fmod(a + 360, 180.0);
}
// Both ways of computing a number must agree, or the lesson is wrong: stop with both values.
void check(const char* what, double library, double by_hand, double tolerance) {
  LACOOT_CHECK(std::abs(library - by_hand) <= tolerance * (1 + std::abs(by_hand)), "check failed: ", what, ": ",
               library, " (library) against ", by_hand, " (computed here)");
  std::printf("      check: %s agree (|difference| %.1e)\n", what, std::abs(library - by_hand));
}
PlotSeries cloud(const std::string& name, const Tensor& X) {
  PlotSeries s{name, {}, PlotStyle::Markers};
  for (int64_t i = 0; i < X.size(0); ++i) s.points.emplace_back(X.at<double>({i, 0}), X.at<double>({i, 1}));
  return s;
}
PlotSeries direction(const std::string& name, const Tensor& theta, double length, PlotStyle style) {
  const double c = theta.at<double>({0, 0}) * length, s = theta.at<double>({1, 0}) * length;
  return {name, {{-c, -s}, {c, s}}, style};
}
double rms(const Tensor& t) {
  double s = 0;
  for (double v : values(t)) s += v * v;
  return std::sqrt(s / static_cast<double>(t.numel()));
}
std::string fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// ---- step 4's network: removable residual blocks y = x + f(x) ----

// f(x) = fc2(relu(fc1(x))): the output has the input's shape, so LaCoOT may replace the block
// by the identity. mark_block() is all the method needs to know (STYLE.md, "The method knows no
// model").
class Residual : public nn::Module {
 public:
  Residual(int64_t width, int64_t hidden) : Module("Residual") {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(width, hidden));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, width));
    mark_block();
  }
  Tensor forward(const Tensor& x) override { return x + (*fc2)(relu((*fc1)(x))); }
  std::shared_ptr<nn::Linear> fc1, fc2;
};

// 2 inputs → relu(stem) [32] → blocks.0 .. blocks.3 → head → 3 logits.
class ResidualMLP : public nn::Module {
 public:
  ResidualMLP(int64_t width, int64_t depth) : Module("ResidualMLP") {
    stem = register_module("stem", std::make_shared<nn::Linear>(2, width));
    blocks = register_module("blocks", std::make_shared<nn::Sequential>());
    for (int64_t k = 0; k < depth; ++k) blocks->push_back(std::make_shared<Residual>(width, width));
    head = register_module("head", std::make_shared<nn::Linear>(width, 3));
  }
  Tensor forward(const Tensor& x) override { return (*head)((*blocks)(relu((*stem)(x)))); }
  std::shared_ptr<nn::Linear> stem, head;
  std::shared_ptr<nn::Sequential> blocks;
};

struct Batch {
  Tensor images, labels;  // the names train::evaluate reads: points [B, 2], classes [B]
};

// Three spiral arms (each turns by 2 radians), one per class, with Gaussian noise: `batches`
// batches of 128.
std::vector<Batch> spirals(int64_t batches, Generator& gen) {
  std::vector<Batch> out;
  for (int64_t b = 0; b < batches; ++b) {
    Tensor x = Tensor::empty({128, 2}), y = Tensor::empty({128}, kInt64);
    const std::vector<double> t = values(rand({128}, kFloat64, gen)), noise = values(randn({128, 2}, kFloat64, gen));
    for (int64_t i = 0; i < 128; ++i) {
      const int64_t c = static_cast<int64_t>(gen.bits(gen.advance(1)) % 3);
      const double r = 0.2 + 1.8 * t[i], a = 2 * pi * static_cast<double>(c) / 3 + 2 * t[i];
      x.at<float>({i, 0}) = static_cast<float>(r * std::cos(a) + 0.08 * noise[2 * i]);
      x.at<float>({i, 1}) = static_cast<float>(r * std::sin(a) + 0.08 * noise[2 * i + 1]);
      y.at<int64_t>({i}) = c;
    }
    out.push_back({x, y});
  }
  return out;
}

// ---- the four steps ----

// 1. The 1-D Wasserstein distance: in 1-D the optimal transport plan matches the sorted
//    samples rank by rank, so W_2 needs a sort and no linear program.
void step1_wasserstein_1d(Generator& gen, int64_t n) {
  std::printf("[1] W_2 between two 1-D samples (ot/wasserstein_1d.hpp)\n");
  Tensor x = randn({n}, kFloat64, gen), y = randn({n}, kFloat64, gen) * 2.0 + 1.0;
  std::printf("    x: %lld draws of N(0, 1); y: %lld draws of N(1, 2^2)\n", static_cast<long long>(n),
              static_cast<long long>(n));
  const double w2_op = root_p(wasserstein_1d(x, y, {}, {}, 2), 2).item(), w2_hand = w2_by_sorting(values(x), values(y));
  std::printf("    W_2 = sqrt(mean_i (sort(x)_i - sort(y)_i)^2) = %.6f  (root_p(wasserstein_1d(x, y, p = 2)))\n",
              w2_op);
  check("wasserstein_1d and std::sort", w2_op, w2_hand, 1e-12);
  std::printf("    for the two Gaussians themselves: sqrt((1 - 0)^2 + (2 - 1)^2) = %.6f\n", std::sqrt(2.0));
  double unsorted = 0;
  for (int64_t i = 0; i < n; ++i) unsorted += std::pow(x.at<double>({i}) - y.at<double>({i}), 2);
  std::printf(
      "    W_1 = mean_i |sort(x)_i - sort(y)_i| = %.6f; pairing in draw order instead: sqrt(mean_i (x_i - y_i)^2) = "
      "%.6f > W_2\n",
      wasserstein_1d(x, y, {}, {}, 1).item(), std::sqrt(unsorted / static_cast<double>(n)));
}

// 2. Two 2-D clouds: X ~ N(0, I) and Y, the same law stretched x3 along 30° and x0.5 across.
//    Projected onto θ, both are 1-D samples: W_2(Xθ, Yθ) is step 1's distance. For these two
//    Gaussians it is |σ(θ) − 1| with σ(θ)² = θᵀΣθ: largest (3 − 1 = 2) along 30°.
void step2_sliced(Generator& gen, int64_t n, const std::filesystem::path& out) {
  std::printf("\n[2] Sliced and max-sliced W_2 between 2-D clouds (ot/sliced_wasserstein.hpp)\n");
  const Tensor X = randn({n, 2}, kFloat64, gen);
  const Tensor stretch = tensor(std::vector<double>{3 * std::cos(pi / 6), 3 * std::sin(pi / 6), -0.5 * std::sin(pi / 6),
                                                    0.5 * std::cos(pi / 6)}, {2, 2});  // rows: the images of e_1, e_2
  const Tensor Y = matmul(randn({n, 2}, kFloat64, gen), stretch);
  std::printf("    X: %lld points of N(0, I); Y: %lld points of N(0, I) stretched x3 along 30 deg, x0.5 across\n",
              static_cast<long long>(n), static_cast<long long>(n));
  const Tensor e1 = tensor(std::vector<double>{1, 0}, {2, 1});
  const double at0 = max_sliced_wasserstein(X, Y, e1).item();
  std::printf(
      "    projection onto theta = (1, 0): W_2(X theta, Y theta) = %.6f  (max_sliced_wasserstein with one direction)\n",
      at0);
  check("matmul + wasserstein_1d and projecting by hand", at0, w2_by_sorting(project(X, 0), project(Y, 0)), 1e-12);
  const Tensor P = random_projections(2, K, gen, kFloat64);
  std::vector<double> per_direction;  // W_2² of each drawn direction, by hand
  for (int64_t k = 0; k < K; ++k) {
    const double phi = std::atan2(P.at<double>({1, k}), P.at<double>({0, k}));
    per_direction.push_back(std::pow(w2_by_sorting(project(X, phi), project(Y, phi)), 2));
  }
  const double sw = sliced_wasserstein(X, Y, P).item(), msw = max_sliced_wasserstein(X, Y, P).item();
  double mean_hand = 0;
  for (double c : per_direction) mean_hand += c / static_cast<double>(K);
  std::printf("    K = %lld random unit directions theta_k (random_projections):\n", static_cast<long long>(K));
  std::printf("    SW_2    = sqrt(mean_k W_2^2(X theta_k, Y theta_k)) = %.6f  (sliced_wasserstein)\n", sw);
  check("sliced_wasserstein and the mean by hand", sw, std::sqrt(mean_hand), 1e-12);
  std::printf("    maxSW_2 = sqrt(max_k  W_2^2(X theta_k, Y theta_k)) = %.6f  (max_sliced_wasserstein)\n", msw);
  check("max_sliced_wasserstein and the max by hand", msw,
        std::sqrt(*std::max_element(per_direction.begin(), per_direction.end())), 1e-12);
  const MaxSlicedResult opt = max_sliced_wasserstein_optimised(X, Y, P);
  const int64_t best_k = std::max_element(per_direction.begin(), per_direction.end()) - per_direction.begin();
  const Tensor best_random = tensor(std::vector<double>{P.at<double>({0, best_k}), P.at<double>({1, best_k})}, {2, 1});
  std::printf(
      "    optimised direction (max_sliced_wasserstein_optimised: ascent on the circle from the best theta_k):\n"
      "      maxSW_2 = %.6f at %.2f deg after %lld steps; the best random direction gave %.6f at %.2f deg\n",
      opt.distance.item(), degrees(opt.direction), static_cast<long long>(opt.steps), opt.best_random,
      degrees(best_random));
  PlotSeries sweep{"every angle", {}, PlotStyle::Line};
  double sweep_max = 0, sweep_at = 0;
  for (int i = 0; i < 3600; ++i) {  // every 0.05° of the half circle, by hand
    const double phi = i * pi / 3600, w = w2_by_sorting(project(X, phi), project(Y, phi));
    if (w > sweep_max) sweep_max = w, sweep_at = phi * 180 / pi;
    if (i % 20 == 0) sweep.points.emplace_back(phi * 180 / pi, w);
  }
  std::printf(
      "      a sweep of 3600 angles by hand: max %.6f at %.2f deg; for the two Gaussians: 3 - 1 = 2 at 30 deg\n",
      sweep_max, sweep_at);
  check("the optimised direction and the sweep", opt.distance.item(), sweep_max, 1e-4);
  PlotSeries drawn{"50 random", {}, PlotStyle::Markers};
  for (int64_t k = 0; k < K; ++k)
    drawn.points.emplace_back(degrees(tensor(std::vector<double>{P.at<double>({0, k}), P.at<double>({1, k})}, {2, 1})),
                              std::sqrt(per_direction[static_cast<std::size_t>(k)]));
  save_svg_line_plot(
      (out / "projected_distance.svg").string(),
      {.title = "W_2 per direction: SW_2 = " + fixed(sw) + " (RMS), maxSW_2 = " + fixed(opt.distance.item()) + " (max)",
       .x_label = "direction angle (degrees)",
       .y_label = "W_2(X theta, Y theta)",
       .series = {sweep, drawn, {"optimised", {{degrees(opt.direction), opt.distance.item()}}}}});
  save_svg_line_plot((out / "clouds.svg").string(),
                     {.title = "X, Y and the max-sliced direction", .series = {cloud("X ~ N(0, I)", X),
                      cloud("Y stretched", Y), direction("optimised", opt.direction, 6, PlotStyle::Line),
                      direction("best random", best_random, 6, PlotStyle::Dashed)}, .equal_axes = true});
}

// 2b. In d dimensions the informative direction is one of many: K random directions rarely
//     come close to it, and the ascent finds it. Y = N(0, I) stretched x3 along one random unit
//     direction e (population maxSW_2 = 2). Two samples of one law also differ along some
//     direction; "same law" measures that floor, which grows with d / n.
void step2b_dimensions(Generator& gen, int64_t n, const std::filesystem::path& out) {
  std::printf(
      "\n    d-dimensional clouds, Y stretched x3 along one random direction (population maxSW_2 = 2), K = 50:\n"
      "         d   best random   optimised   gain    same law (optimised)\n");
  PlotSeries random_series{"best random", {}}, opt_series{"optimised", {}}, floor_series{"same law", {}};
  for (int64_t d : {2, 8, 32, 128, 512}) {
    const Tensor Xd = randn({n, d}, kFloat64, gen), e = random_projections(d, 1, gen, kFloat64);
    Tensor Yd = randn({n, d}, kFloat64, gen);
    Yd = Yd + matmul(matmul(Yd, e), reshape(e, {1, d})) * 2.0;  // y + 2 (y·e) e: x3 along e
    const MaxSlicedResult r = max_sliced_wasserstein_optimised(Xd, Yd, random_projections(d, K, gen, kFloat64));
    const double same = max_sliced_wasserstein_optimised(Xd, randn({n, d}, kFloat64, gen),
                                                         random_projections(d, K, gen, kFloat64)).distance.item();
    std::printf("    %6lld   %11.4f   %9.4f   %+5.0f %%   %.4f\n", static_cast<long long>(d), r.best_random,
                r.distance.item(), 100 * (r.distance.item() / r.best_random - 1), same);
    const double lg = std::log2(static_cast<double>(d));
    random_series.points.emplace_back(lg, r.best_random), opt_series.points.emplace_back(lg, r.distance.item());
    floor_series.points.emplace_back(lg, same);
  }
  save_svg_line_plot((out / "optimised_vs_random.svg").string(),
                     {.title = "maxSW_2, optimised vs best of 50 random (n = " + std::to_string(n) + ")",
                      .x_label = "log2 d", .y_label = "maxSW_2",
                      .series = {random_series, opt_series, floor_series,
                                 {"population", {{1, 2}, {9, 2}}, PlotStyle::Dashed}}});
}

// 3. Gradient descent on the points of X towards a ring Y. The gradient of MaxSWD_2² moves
//    point i along the maximising θ* only: ∂/∂X_i = (2/N)(u_i − v_π(i)) θ*, u = Xθ*, v = Yθ*,
//    π(i) the point of Y of the same rank. With η = N/4 each step moves every point half-way
//    to its matched quantile along θ* (fresh random directions each step, as the regulariser).
void step3_descent(Generator& gen, int64_t n, int64_t steps, const std::filesystem::path& out) {
  std::printf("\n[3] Gradient descent X <- X - eta grad_X MaxSWD_2(X, Y)^2, eta = N/4, 50 fresh directions per step\n");
  Tensor ring = Tensor::empty({n, 2}, kFloat64);
  {
    const std::vector<double> t = values(rand({n}, kFloat64, gen)), r = values(randn({n}, kFloat64, gen));
    for (int64_t i = 0; i < n; ++i)
      ring.at<double>({i, 0}) = (2 + 0.1 * r[i]) * std::cos(2 * pi * t[i]),
      ring.at<double>({i, 1}) = (2 + 0.1 * r[i]) * std::sin(2 * pi * t[i]);
  }
  Tensor cloud_x = randn({n, 2}, kFloat64, gen).requires_grad_();
  {  // The gradient the op records, against the formula above (for the distance, not squared).
    const Tensor Pc = random_projections(2, K, gen, kFloat64);
    Tensor dist = max_sliced_wasserstein(cloud_x, ring, Pc);
    dist.backward();
    const MaxSlicedResult at = max_sliced_wasserstein_optimised(cloud_x.detach(), ring, Pc, {}, {.max_steps = 0});
    const double c = at.direction.at<double>({0, 0}), s = at.direction.at<double>({1, 0});
    std::vector<double> u = project(cloud_x.detach(), std::atan2(s, c)), v = project(ring, std::atan2(s, c));
    std::vector<int64_t> order(static_cast<std::size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return u[a] < u[b]; });
    std::sort(v.begin(), v.end());
    double worst = 0;
    for (int64_t r = 0; r < n; ++r) {
      const int64_t i = order[static_cast<std::size_t>(r)];
      const double g = (u[i] - v[r]) / (static_cast<double>(n) * dist.item());  // ∂MaxSWD_2/∂u_i
      worst = std::max({worst, std::abs(cloud_x.grad().at<double>({i, 0}) - g * c),
                        std::abs(cloud_x.grad().at<double>({i, 1}) - g * s)});
    }
    std::printf("    at step 0, dMaxSWD_2/dX_i = (u_i - v_pi(i)) / (N MaxSWD_2) theta*, u = X theta*, v = Y theta*\n");
    check("autograd's gradient and the formula (largest entry of the difference)", worst, 0, 1e-12);
  }
  // Measured each time with the same 200 directions and an ascent, so the curve is not noise.
  const Tensor judge = random_projections(2, 200, gen, kFloat64);
  auto measure = [&] { return max_sliced_wasserstein_optimised(cloud_x.detach(), ring, judge).distance.item(); };
  PlotSeries falling{"MaxSWD_2(X, Y)", {}};
  const double eta = static_cast<double>(n) / 4;
  for (int64_t step = 0; step <= steps; ++step) {
    if (step % std::max<int64_t>(steps / 10, 1) == 0 || step == steps) {
      const double now = measure();
      falling.points.emplace_back(static_cast<double>(step), now);
      std::printf("    step %4lld: MaxSWD_2(X, Y) = %.6f\n", static_cast<long long>(step), now);
    }
    if (step == 0 || step == steps / 10 || step == steps)
      save_svg_line_plot((out / ("descent_step_" + std::to_string(step) + ".svg")).string(),
                         {.title = "gradient descent on MaxSWD_2^2, step " + std::to_string(step),
                          .series = {cloud("X", cloud_x.detach()), cloud("Y (a ring)", ring)}, .equal_axes = true});
    if (step == steps) break;
    Tensor dist = max_sliced_wasserstein(cloud_x, ring, K, gen);
    (dist * dist).backward();
    NoGradGuard no_grad;
    cloud_x = (cloud_x - cloud_x.grad() * eta).detach().requires_grad_();
  }
  std::printf("    the distance fell from %.4f to %.4f\n", falling.points.front().second, falling.points.back().second);
  save_svg_line_plot((out / "descent_distance.svg").string(),
                     {.title = "MaxSWD_2(X, Y) during gradient descent", .x_label = "step", .y_label = "MaxSWD_2",
                      .series = {falling}});
}

// 4. LaCoOT on a network: J = CE + λ R, R = (1/K) Σ_k MaxSWD_2(X_k, Y_k) over the marked blocks
//    (method/regulariser.hpp), then Algorithm 1 (method/algorithm1.hpp) removes the block of
//    smallest validation MaxSWD_2 while validation top-1 stays within δ = 1 point.
void step4_network(uint64_t seed, int64_t train_steps, double lambda, const std::filesystem::path& out) {
  std::printf("\n[4] A residual MLP on 3 spirals: 4 marked blocks y = x + f(x), %lld Adam steps, lambda = 0 and %g\n",
              static_cast<long long>(train_steps), lambda);
  Generator data_gen(seed + 1);
  std::vector<Batch> train_set = spirals(16, data_gen), val = spirals(4, data_gen), test = spirals(4, data_gen);
  BarPlot bars{.title = "validation MaxSWD_2 of each block", .x_label = "block", .y_label = "MaxSWD_2 (input, output)"};
  LinePlot trajectory{.title = "Algorithm 1: test top-1 as blocks are removed", .x_label = "blocks removed",
                      .y_label = "test top-1 (%)"};
  for (double lam : {0.0, lambda}) {
    manual_seed(seed);  // the same initial weights for both runs
    ResidualMLP model(32, 4);
    {  // Training: J = CE + λ R on each batch; the regulariser's hooks saw every block's input and
       // output during the forward pass, and penalty() turns them into λ R.
      optim::Adam adam(model.named_parameters(), {.lr = 3e-3});
      method::MaxSWDRegulariser reg(model, {.lambda = lam, .n_projections = K, .seed = seed});
      reg.set_recording(lam > 0);  // λ = 0: plain cross-entropy, nothing recorded
      model.train();
      double ce = 0, penalty = 0;
      for (int64_t step = 0; step < train_steps; ++step) {
        const Batch& batch = train_set[static_cast<std::size_t>(step) % train_set.size()];
        Tensor loss = cross_entropy(model(batch.images), batch.labels);
        ce = loss.item();
        if (lam > 0) {
          Tensor r = reg.penalty();
          penalty = r.item();
          loss = loss + r;
        }
        adam.zero_grad();
        loss.backward();
        adam.step();
      }
      std::printf("    lambda = %s: after %lld steps, J = CE + lambda R = %.3g + %.3g on the last batch\n",
                  fixed(lam).c_str(), static_cast<long long>(train_steps), ce, penalty);
    }
    const std::string label = "lambda = " + fixed(lam);
    const auto distances = method::block_distances(model, val, K, seed);
    std::printf("    %s: validation MaxSWD_2 per block:", label.c_str());
    BarSeries series{label, {}};
    for (auto& [path, dist] : distances) {
      std::printf(" %s %.4f", path.c_str(), dist);
      series.values.push_back(dist);
      if (bars.categories.size() < distances.size()) bars.categories.push_back(path);
    }
    std::printf("\n");
    bars.series.push_back(series);
    {  // MaxSWD is in the activations' units: did the penalty win by shrinking them?
      NoGradGuard no_grad;
      const Tensor h = relu((*model.stem)(val[0].images));
      std::printf("    %s: RMS of the activations %.3f entering blocks.0, %.3f leaving blocks.3\n", label.c_str(),
                  rms(h), rms((*model.blocks)(h)));
    }
    PlotSeries curve{label, {}};
    const method::CollapseResult r = method::algorithm1(
        model, val, test,
        {.delta = 1.0, .n_projections = K, .seed = seed, .on_step = [&](const method::CollapseStep& s) {
           std::printf("      removed %-40s validation top-1 %6.2f %%, test top-1 %6.2f %%\n",
                       s.removed.empty()
                           ? "nothing (dense)"
                           : (s.removed.back() + " (" + std::to_string(s.removed.size()) + " in all)").c_str(),
                       s.val_top1, s.test_top1);
           curve.points.emplace_back(static_cast<double>(s.removed.size()), s.test_top1);
         }});
    const method::CollapseStep& kept = r.trajectory[r.chosen];
    std::printf(
        "    %s: Algorithm 1 (delta = 1 point) removes %zu of 4 blocks: test top-1 %.2f %% -> %.2f %% "
        "(collapsed accuracy)\n",
        label.c_str(), kept.removed.size(), r.trajectory[0].test_top1, kept.test_top1);
    trajectory.series.push_back(curve);
  }
  save_svg_bar_plot((out / "block_distances.svg").string(), bars);
  save_svg_line_plot((out / "collapse.svg").string(), trajectory);
}

}  // namespace

int main(int argc, char** argv) try {
  train::Args args(argc, argv, 1, {"out", "seed", "points", "steps", "train-steps", "lambda", "threads"});
  if (args.help) return std::fputs(kUsage, stdout), 0;
  // One thread by default: these tensors are so small that a second thread costs more than it gives.
  set_num_threads(static_cast<int>(args.integer("threads", 1)));
  const std::filesystem::path out = args.str("out", "ot_figures");
  const uint64_t seed = static_cast<uint64_t>(args.integer("seed", 0));
  const int64_t n = args.integer("points", 256), steps = args.integer("steps", 150);
  const int64_t train_steps = args.integer("train-steps", 600);
  const double lambda = args.number("lambda", 3.0);
  if (n < 8 || steps < 1 || train_steps < 1 || lambda <= 0)
    throw train::UsageError("expected --points ≥ 8, --steps ≥ 1, --train-steps ≥ 1 and --lambda > 0");
  prepare_output_folder(out, "--out");
  Generator gen(seed);

  step1_wasserstein_1d(gen, n);
  step2_sliced(gen, n, out);
  step2b_dimensions(gen, n, out);
  step3_descent(gen, n, steps, out);
  step4_network(seed, train_steps, lambda, out);
  std::printf("\nwrote clouds.svg, projected_distance.svg, optimised_vs_random.svg, descent_step_*.svg, "
              "descent_distance.svg, block_distances.svg, collapse.svg to %s\n", out.string().c_str());
  return 0;
} catch (const train::UsageError& e) {
  std::fprintf(stderr, "ot_regularisation: %s (see --help)\n", e.what());
  return 2;
} catch (const Error& e) {
  std::fprintf(stderr, "ot_regularisation: %s\n", e.what());
  return 1;
}

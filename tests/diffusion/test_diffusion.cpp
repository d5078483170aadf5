// Tests of lacoot/diffusion/gaussian_diffusion.hpp.
//
// References: the schedule's constants in specs/architectures.md §5.4 (DiT's, to the digits
// given there); a PyTorch float64 implementation of the loss and the sampler steps written from
// the same spec (tests/fixtures/gen_diffusion.py, inputs from the hash of gen_models.py); a closed
// form for a whole DDIM loop; gradcheck for the loss's backward; closed forms and loops for the
// Fréchet distance.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../check.hpp"
#include "../fixtures/diffusion_fixtures.hpp"
#include "../models/reference.hpp"
#include "lacoot/autograd/gradcheck.hpp"
#include "lacoot/diffusion/frechet.hpp"
#include "lacoot/diffusion/gaussian_diffusion.hpp"

using namespace lacoot;
using namespace lacoot::test;
using diffusion::GaussianDiffusion;
using Fx = fixtures::diffusion::ddpm;

namespace {

// gen_diffusion.py's inputs: [4, 2, 3, 3] samples, the model output [4, 4, 3, 3].
struct Inputs {
  Tensor x0, noise, output, z, t;
};
Inputs inputs() {
  const Shape shape{4, 2, 3, 3};
  const int64_t n = numel(shape);
  Inputs in;
  in.x0 = alias_with_shape(hash_uniform(n, 3000) * 2.0, shape).clone();
  in.x0.data<double>()[0] = 1.0;
  in.x0.data<double>()[1] = -1.0;
  in.noise = alias_with_shape(hash_uniform(n, 3001) * 3.4, shape);
  in.output = cat({alias_with_shape(hash_uniform(n, 3002) * 2.0, shape), alias_with_shape(hash_uniform(n, 3003) * 2.0, shape)}, 1);
  in.z = alias_with_shape(hash_uniform(n, 3004) * 3.4, shape);
  in.t = tensor(Fx::steps, {4});
  return in;
}

}  // namespace

TEST_CASE("the linear schedule of 1000 steps: DiT's constants") {
  const GaussianDiffusion d(diffusion::linear_beta_schedule(1000));
  REQUIRE(d.num_timesteps() == 1000);
  CHECK(d.betas.front() == doctest::Approx(1e-4).epsilon(1e-14));
  CHECK(d.betas.back() == doctest::Approx(0.02).epsilon(1e-14));
  CHECK(d.alphas_cumprod[0] == doctest::Approx(0.9999).epsilon(1e-12));
  CHECK(d.alphas_cumprod[1] == doctest::Approx(0.99978009207).epsilon(1e-10));
  CHECK(d.alphas_cumprod[499] == doctest::Approx(0.078587242882).epsilon(1e-10));
  CHECK(d.alphas_cumprod[999] == doctest::Approx(4.0358297654e-05).epsilon(1e-9));
  CHECK(std::sqrt(d.alphas_cumprod[999]) == doctest::Approx(0.006352818087570016).epsilon(1e-12));
  CHECK(d.posterior_variance[0] == 0.0);
  CHECK(d.posterior_variance[1] == doctest::Approx(5.4531876613e-05).epsilon(1e-9));
  CHECK(d.posterior_log_variance_clipped[0] == doctest::Approx(-9.8167251353).epsilon(1e-10));
  CHECK(d.posterior_log_variance_clipped[1] == doctest::Approx(-9.8167251353).epsilon(1e-10));
  CHECK(d.posterior_mean_coef1[1] == doctest::Approx(0.54529149951).epsilon(1e-10));
  CHECK(d.posterior_mean_coef2[1] == doctest::Approx(0.454708499).epsilon(1e-8));
  // Any T gives the same ends scaled by 1000 / T.
  const std::vector<double> b250 = diffusion::linear_beta_schedule(250);
  CHECK(b250.front() == doctest::Approx(4e-4));
  CHECK(b250.back() == doctest::Approx(0.08));
}

TEST_CASE("respacing to 250 steps: the kept steps, their betas, the map to the original steps") {
  const std::vector<int64_t> kept = diffusion::space_timesteps(1000, "250");
  CHECK(kept == std::vector<int64_t>(Fx::respaced_steps.begin(), Fx::respaced_steps.end()));
  CHECK((kept[1] == 4 && kept[2] == 8 && kept[248] == 995 && kept[249] == 999));
  const GaussianDiffusion d(diffusion::linear_beta_schedule(1000), true, kept);
  REQUIRE(d.num_timesteps() == 250);
  for (std::size_t i = 0; i < kept.size(); ++i) {
    CAPTURE(i);
    CHECK(d.betas[i] == doctest::Approx(Fx::respaced_betas[i]).epsilon(1e-12));
  }
  CHECK(d.betas.back() == doctest::Approx(0.0775193450).epsilon(1e-9));
  CHECK(d.timestep_map == kept);
  CHECK(diffusion::space_timesteps(1000, "ddim50").size() == 50);
  CHECK(diffusion::space_timesteps(1000, "ddim50")[1] == 20);
  CHECK_THROWS_WITH_AS(diffusion::space_timesteps(1000, "fast"), doctest::Contains("expected a number"), Error);
  CHECK_THROWS_WITH_AS(diffusion::space_timesteps(1000, "ddim300"), doctest::Contains("cannot be strided"), Error);
}

TEST_CASE("the training loss (MSE on noise + the variational bound in bits) and the sampler steps equal the reference") {
  const GaussianDiffusion d(diffusion::linear_beta_schedule(1000));
  const Inputs in = inputs();
  Tensor x_t = d.q_sample(in.x0, in.t, in.noise);
  check_close(x_t, Fx::x_t, 1e-12);
  const diffusion::DiffusionLosses l = d.training_losses(in.output, in.x0, in.t, in.noise);
  check_close(l.mse, Fx::mse, 1e-12);
  check_close(l.vb, Fx::vb, 1e-10);  // step 0: the decoder's likelihood; the others: the KL
  check_close(l.loss, values_of(l.mse + l.vb), 1e-15);
  const GaussianDiffusion::MeanVariance p = d.p_mean_variance(in.output, x_t, in.t);
  check_close(p.mean, Fx::mean, 1e-12);
  check_close(p.log_variance, Fx::log_variance, 1e-12);
  check_close(d.p_sample(in.output, x_t, in.t, in.z), Fx::ddpm_step, 1e-12);
  check_close(d.ddim_sample(in.output, x_t, in.t, in.z, 0.0), Fx::ddim_step_eta0, 1e-10);
  check_close(d.ddim_sample(in.output, x_t, in.t, in.z, 0.5), Fx::ddim_step_eta05, 1e-10);
}

TEST_CASE("the bound trains only the variance channels; the MSE only the noise channels; gradcheck of the loss") {
  const GaussianDiffusion d(diffusion::linear_beta_schedule(1000));
  const Inputs in = inputs();
  Tensor out = in.output.detach();
  out.requires_grad_();
  sum(d.training_losses(out, in.x0, in.t, in.noise).vb).backward();
  CHECK(max_abs_diff(narrow(out.grad(), 1, 0, 2), zeros({4, 2, 3, 3}, kFloat64)) == 0.0);
  CHECK(max_abs_diff(narrow(out.grad(), 1, 2, 2), zeros({4, 2, 3, 3}, kFloat64)) > 0.0);
  Tensor out2 = in.output.detach();
  out2.requires_grad_();
  sum(d.training_losses(out2, in.x0, in.t, in.noise).mse).backward();
  CHECK(max_abs_diff(narrow(out2.grad(), 1, 2, 2), zeros({4, 2, 3, 3}, kFloat64)) == 0.0);
  // The loss through the variance channels (ε̂ is frozen in the bound, so a finite difference in
  // the noise channels would see the bound move where the gradient, by design, does not), and
  // through the noise channels with the variance fixed.
  Tensor eps = narrow(in.output, 1, 0, 2), v = narrow(in.output, 1, 2, 2);
  auto through_v = gradcheck([&](const std::vector<Tensor>& x) {
    return d.training_losses(cat({eps, x[0]}, 1), in.x0, in.t, in.noise).loss;
  }, {v});
  CHECK_MESSAGE(through_v.ok, through_v.report);
  auto through_eps = gradcheck([&](const std::vector<Tensor>& x) {
    return d.training_losses(cat({x[0], v}, 1), in.x0, in.t, in.noise).mse;
  }, {eps});
  CHECK_MESSAGE(through_eps.ok, through_eps.report);
  // Without a learned variance the loss is the MSE and the model output has C channels.
  const GaussianDiffusion fixed(diffusion::linear_beta_schedule(1000), /*learn_sigma=*/false);
  const diffusion::DiffusionLosses lf = fixed.training_losses(narrow(in.output, 1, 0, 2), in.x0, in.t, in.noise);
  check_close(lf.loss, Fx::mse, 1e-12);
  CHECK_THROWS_WITH_AS(fixed.p_mean_variance(in.output, in.x0, in.t), doctest::Contains("channels"), Error);
  CHECK_THROWS_WITH_AS(d.q_sample(in.x0, tensor(std::vector<int64_t>{0, 1, 2, 1000}, {4}), in.noise),
                       doctest::Contains("out of range"), Error);
}

TEST_CASE("a whole DDIM loop (eta 0) with a model predicting zero noise scales x_T by 1 / sqrt(abar_T)") {
  // With ε̂ = 0 each DDIM step maps x_t to √(ᾱ_{t−1}/ᾱ_t) x_t (ᾱ before the first step is 1), so
  // the loop telescopes to x_T / √ᾱ_T.
  const GaussianDiffusion d(diffusion::linear_beta_schedule(1000), true, diffusion::space_timesteps(1000, "25"));
  Generator gen(1);
  Tensor xT = randn({2, 1, 2, 2}, kFloat64, gen);
  std::vector<double> seen;
  auto zero_model = [&](const Tensor& x, const Tensor& timesteps) {
    seen.push_back(timesteps.at<double>({0}));
    return zeros({x.size(0), 2 * x.size(1), x.size(2), x.size(3)}, x.dtype());
  };
  Tensor x0 = d.sample_loop(zero_model, xT, gen, /*ddim=*/true);
  const double scale = 1.0 / std::sqrt(d.alphas_cumprod[24]);
  check_close(x0, values_of(xT * scale), 1e-12);
  REQUIRE(seen.size() == 25);
  CHECK(seen.front() == 999.0);  // the model sees the original steps, last first
  CHECK(seen.back() == 0.0);
}

TEST_CASE("frechet_distance: closed forms for diagonal and proportional covariances; feature_stats as numpy.cov") {
  using diffusion::FeatureStats;
  // The eigensolver on a case by hand: [[2, 1], [1, 2]] has eigenvalues 1 and 3.
  std::vector<double> w = diffusion::symmetric_eigenvalues({2, 1, 1, 2}, 2);
  std::sort(w.begin(), w.end());
  CHECK(w[0] == doctest::Approx(1.0).epsilon(1e-14));
  CHECK(w[1] == doctest::Approx(3.0).epsilon(1e-14));
  // Diagonal: d² = ‖Δμ‖² + Σ (σ1 − σ2)².
  const FeatureStats a{3, {1, 2, 3}, {4, 0, 0, 0, 1, 0, 0, 0, 9}};
  const FeatureStats b{3, {0, 2, 5}, {1, 0, 0, 0, 1, 0, 0, 0, 4}};
  CHECK(diffusion::frechet_distance(a, b) == doctest::Approx(1 + 4 + (1 + 0 + 1)).epsilon(1e-12));
  // Σ2 = c Σ1 with Σ1 = L Lᵀ not diagonal: Tr((Σ1 Σ2)^½) = √c Tr Σ1.
  const double L[9] = {2, 0, 0, 0.5, 1, 0, -1, 0.3, 1.5};
  FeatureStats p{3, {0.1, -0.2, 0.3}, std::vector<double>(9, 0.0)};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) p.cov[i * 3 + j] += L[i * 3 + k] * L[j * 3 + k];
  FeatureStats q = p;
  for (double& c : q.cov) c *= 2.25;
  const double trace = p.cov[0] + p.cov[4] + p.cov[8];
  CHECK(diffusion::frechet_distance(p, q) == doctest::Approx((1 + 2.25 - 2 * 1.5) * trace).epsilon(1e-10));
  CHECK(std::abs(diffusion::frechet_distance(p, p)) < 1e-9);
  CHECK(diffusion::frechet_distance(p, q) == doctest::Approx(diffusion::frechet_distance(q, p)).epsilon(1e-9));
  // feature_stats: the mean and the 1/(N − 1) covariance, against sums written out here.
  Generator gen(9);
  Tensor f = randn({50, 4}, kFloat64, gen);
  const FeatureStats s = diffusion::feature_stats(f);
  for (int64_t i = 0; i < 4; ++i) {
    double m = 0;
    for (int64_t n = 0; n < 50; ++n) m += f.at<double>({n, i}) / 50;
    CHECK(s.mean[i] == doctest::Approx(m).epsilon(1e-12));
    for (int64_t j = 0; j < 4; ++j) {
      double c = 0, mj = 0;
      for (int64_t n = 0; n < 50; ++n) mj += f.at<double>({n, j}) / 50;
      for (int64_t n = 0; n < 50; ++n) c += (f.at<double>({n, i}) - m) * (f.at<double>({n, j}) - mj) / 49;
      CHECK(s.cov[i * 4 + j] == doctest::Approx(c).epsilon(1e-12));
    }
  }
  // Two samples of one Gaussian are close; a shifted one is about ‖shift‖² away.
  Tensor g1 = randn({4000, 3}, kFloat64, gen), g2 = randn({4000, 3}, kFloat64, gen);
  CHECK(diffusion::frechet_distance(g1, g2) < 0.02);
  CHECK(diffusion::frechet_distance(g1, g2 + 2.0) == doctest::Approx(12.0).epsilon(0.02));
  CHECK_THROWS_WITH_AS(diffusion::feature_stats(randn({1, 4})), doctest::Contains("N >= 2"), Error);
}

// lacoot/diffusion/gaussian_diffusion.hpp — DDPM: the noise schedule, the training loss and the
// DDPM and DDIM samplers, with classifier-free guidance, as DiT trains and samples.
//
// Holds: linear_beta_schedule, space_timesteps, GaussianDiffusion (q_sample, training_losses,
// p_mean_variance, p_sample / ddim_sample and their loops) and DiffusionLosses.
// Needs: ops/ (elementwise, activation, reduce, shape), core/rng.hpp.
// Leaves out: schedules other than linear (DiT uses linear), predicting x0 or the mean instead of
// the noise, the KL-only and rescaled losses, image-space clipping by default (DiT samples
// without it; clip_denoised turns it on).
//
// The process (Ho et al. 2020; Nichol & Dhariwal 2021 for the learned variance; the formulas and
// constants of specs/architectures.md §5.4, computed in float64 on the host):
//   q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I),  ᾱ_t = Π_{s ≤ t} (1 − β_s)
//   posterior q(x_{t−1} | x_t, x_0) = N(c1_t x_0 + c2_t x_t, β̃_t I),
//     c1 = β_t √ᾱ_{t−1} / (1 − ᾱ_t),  c2 = (1 − ᾱ_{t−1}) √α_t / (1 − ᾱ_t),  β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)
//   the model predicts ε (channels [0, C)) and, with a learned variance, v ∈ [−1, 1] (channels
//   [C, 2C)): log σ² = f log β_t + (1 − f) log β̃_t, f = (v + 1) / 2; x̂_0 = √(1/ᾱ_t) x_t − √(1/ᾱ_t − 1) ε̂.
// Timesteps are given per sample as int64 [N] indices into the schedule; a respaced schedule
// (space_timesteps) keeps, in timestep_map, the original index the model is called with.
#pragma once

#include <cmath>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

#include "../core/rng.hpp"
#include "../ops/activation.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/reduce.hpp"
#include "../ops/shape.hpp"

namespace lacoot::diffusion {

// β_t = linspace(scale · 1e-4, scale · 0.02, T), scale = 1000 / T (DiT's get_named_beta_schedule
// "linear"; the ends scale so that any T gives the same process as 1000 steps).
inline std::vector<double> linear_beta_schedule(int64_t T) {
  LACOOT_CHECK(T >= 1, "linear_beta_schedule: expected at least one step, got ", T);
  const double scale = 1000.0 / static_cast<double>(T), lo = scale * 1e-4, hi = scale * 0.02;
  std::vector<double> betas(static_cast<std::size_t>(T));
  for (int64_t i = 0; i < T; ++i)
    betas[i] = T == 1 ? lo : lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(T - 1);
  return betas;
}

// The steps kept when `count` of the `T` original steps are used for sampling, evenly spaced
// from 0 to T − 1 (DiT's space_timesteps with one section: round(i · (T − 1) / (count − 1)));
// "ddimN" strides by T / N from 0 instead, as DiT accepts too.
inline std::vector<int64_t> space_timesteps(int64_t T, const std::string& spec) {
  const bool ddim = spec.rfind("ddim", 0) == 0;
  char* end = nullptr;
  const char* digits = spec.c_str() + (ddim ? 4 : 0);
  const long count = std::strtol(digits, &end, 10);
  LACOOT_CHECK(end != digits && *end == '\0' && count >= 1 && count <= T, "space_timesteps: expected a number of "
               "steps in [1, ", T, "] or \"ddimN\", got \"", spec, "\"");
  std::vector<int64_t> kept;
  if (ddim) {
    for (int64_t i = 0; i < T; i += T / count) kept.push_back(i);
    LACOOT_CHECK(static_cast<long>(kept.size()) == count, "space_timesteps: ", T, " steps cannot be strided into ",
                 count, " (\"", spec, "\")");
    return kept;
  }
  if (count == 1) return {0};
  const double stride = static_cast<double>(T - 1) / static_cast<double>(count - 1);
  for (long i = 0; i < count; ++i) kept.push_back(static_cast<int64_t>(std::round(static_cast<double>(i) * stride)));
  return kept;
}

// The loss terms of a batch, each [N] (per sample): mse on ε, vb the variational bound term in
// bits (0 without a learned variance), loss = mse + vb; training minimises mean(loss).
struct DiffusionLosses {
  Tensor loss, mse, vb;
};

class GaussianDiffusion {
 public:
  // The process of `betas` (e.g. linear_beta_schedule(1000)); `learn_sigma`: the model also
  // predicts v (twice the channels). use_timesteps (optional): respace to these original steps.
  explicit GaussianDiffusion(std::vector<double> betas, bool learn_sigma = true,
                             const std::vector<int64_t>& use_timesteps = {})
      : learn_sigma(learn_sigma) {
    LACOOT_CHECK(!betas.empty(), "GaussianDiffusion: empty beta schedule");
    for (double b : betas)
      LACOOT_CHECK(b > 0 && b <= 1, "GaussianDiffusion: every beta must lie in (0, 1], got ", b);
    if (!use_timesteps.empty()) {  // β_i = 1 − ᾱ[t_i] / ᾱ[t_{i−1}] over the kept steps
      double prev = 1.0, cumprod = 1.0;
      std::vector<double> kept;
      std::size_t next = 0;
      for (std::size_t i = 0; i < betas.size() && next < use_timesteps.size(); ++i) {
        cumprod *= 1.0 - betas[i];
        if (static_cast<int64_t>(i) == use_timesteps[next]) {
          kept.push_back(1.0 - cumprod / prev);
          prev = cumprod;
          timestep_map.push_back(static_cast<int64_t>(i));
          ++next;
        }
      }
      LACOOT_CHECK(next == use_timesteps.size(), "GaussianDiffusion: use_timesteps must be increasing steps "
                   "below ", betas.size());
      betas = kept;
    } else {
      for (std::size_t i = 0; i < betas.size(); ++i) timestep_map.push_back(static_cast<int64_t>(i));
    }
    this->betas = betas;
    const std::size_t T = betas.size();
    alphas_cumprod.resize(T);
    double c = 1.0;
    for (std::size_t t = 0; t < T; ++t) alphas_cumprod[t] = c *= 1.0 - betas[t];
    alphas_cumprod_prev.assign(T, 1.0);
    for (std::size_t t = 1; t < T; ++t) alphas_cumprod_prev[t] = alphas_cumprod[t - 1];
    posterior_variance.resize(T);
    posterior_mean_coef1.resize(T);
    posterior_mean_coef2.resize(T);
    for (std::size_t t = 0; t < T; ++t) {
      const double ab = alphas_cumprod[t], ab_prev = alphas_cumprod_prev[t];
      posterior_variance[t] = betas[t] * (1.0 - ab_prev) / (1.0 - ab);
      posterior_mean_coef1[t] = betas[t] * std::sqrt(ab_prev) / (1.0 - ab);
      posterior_mean_coef2[t] = (1.0 - ab_prev) * std::sqrt(1.0 - betas[t]) / (1.0 - ab);
    }
    // β̃_0 = 0: its log is replaced by log β̃_1 (the posterior at t = 0 is not used).
    posterior_log_variance_clipped.resize(T);
    for (std::size_t t = 0; t < T; ++t)
      posterior_log_variance_clipped[t] = std::log(T > 1 && t == 0 ? posterior_variance[1] : posterior_variance[t]);
  }

  int64_t num_timesteps() const { return static_cast<int64_t>(betas.size()); }

  // x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε, t [N] int64 (one step per sample).
  Tensor q_sample(const Tensor& x0, const Tensor& t, const Tensor& noise) const {
    return x0 * coef(t, x0, [&](int64_t s) { return std::sqrt(alphas_cumprod[s]); }) +
           noise * coef(t, x0, [&](int64_t s) { return std::sqrt(1.0 - alphas_cumprod[s]); });
  }

  // The model's prediction at (x_t, t) as a distribution of x_{t−1}: its mean, log variance and
  // x̂_0. model_output [N, C or 2C, ...] (ε, and v with a learned variance); without one the
  // variance is fixed to β̃_t (clipped at t = 0, as "fixedsmall").
  struct MeanVariance {
    Tensor mean, log_variance, pred_x0;
  };
  MeanVariance p_mean_variance(const Tensor& model_output, const Tensor& x_t, const Tensor& t,
                               bool clip_denoised = false) const {
    const int64_t C = x_t.size(1);
    LACOOT_CHECK(model_output.size(1) == (learn_sigma ? 2 * C : C), "GaussianDiffusion: the model output has ",
                 model_output.size(1), " channels for ", C, "-channel samples (expected ", learn_sigma ? 2 * C : C,
                 learn_sigma ? ": ε and the variance values" : ": ε", ")");
    Tensor eps = narrow(model_output, 1, 0, C);
    Tensor log_var;
    if (learn_sigma) {
      Tensor frac = (narrow(model_output, 1, C, C) + 1.0) * 0.5;
      Tensor max_log = coef(t, x_t, [&](int64_t s) { return std::log(betas[s]); });
      Tensor min_log = coef(t, x_t, [&](int64_t s) { return posterior_log_variance_clipped[s]; });
      log_var = frac * max_log + (1.0 - frac) * min_log;
    } else {
      log_var = coef(t, x_t, [&](int64_t s) { return posterior_log_variance_clipped[s]; }) + zeros_like(x_t);
    }
    Tensor pred_x0 = x_t * coef(t, x_t, [&](int64_t s) { return std::sqrt(1.0 / alphas_cumprod[s]); }) -
                     eps * coef(t, x_t, [&](int64_t s) { return std::sqrt(1.0 / alphas_cumprod[s] - 1.0); });
    if (clip_denoised) pred_x0 = clamp(pred_x0, -1.0, 1.0);
    return {posterior_mean(pred_x0, x_t, t), log_var, pred_x0};
  }

  // The training loss at steps t for clean samples x0 and noise ε (DiT's training_losses with
  // MSE on ε; with a learned variance plus the variational bound, in bits, through v only: ε̂ is
  // detached there). model_output = model(q_sample(x0, t, noise), t).
  DiffusionLosses training_losses(const Tensor& model_output, const Tensor& x0, const Tensor& t,
                                  const Tensor& noise) const {
    const int64_t C = x0.size(1);
    Tensor eps = narrow(model_output, 1, 0, C);
    DiffusionLosses out;
    out.mse = mean_per_sample((noise - eps) * (noise - eps));
    if (!learn_sigma) {
      out.vb = zeros({x0.size(0)}, x0.dtype(), x0.device());
      out.loss = out.mse;
      return out;
    }
    Tensor x_t = q_sample(x0, t, noise);
    // The bound's model: the same output with ε̂ frozen, so the bound trains the variance only.
    Tensor frozen = cat({eps.detach(), narrow(model_output, 1, C, C)}, 1);
    MeanVariance p = p_mean_variance(frozen, x_t, t);
    Tensor true_mean = posterior_mean(x0, x_t, t);
    Tensor true_log_var = coef(t, x0, [&](int64_t s) { return posterior_log_variance_clipped[s]; });
    const double bits = 1.0 / std::numbers::ln2;
    Tensor kl = mean_per_sample(normal_kl(true_mean, true_log_var, p.mean, p.log_variance)) * bits;
    Tensor nll = mean_per_sample(neg(discretized_gaussian_log_likelihood(x0, p.mean, p.log_variance * 0.5))) * bits;
    Tensor at_zero = eq(t.to(kCPU).to(x0.dtype()), 0.0).to(x0.device());  // the decoder term at t = 0
    out.vb = where(at_zero, nll, kl);
    out.loss = out.mse + out.vb;
    return out;
  }

  // One DDPM step: x_{t−1} = mean + σ_t z (z ~ N(0, I), none at t = 0).
  Tensor p_sample(const Tensor& model_output, const Tensor& x_t, const Tensor& t, const Tensor& z,
                  bool clip_denoised = false) const {
    MeanVariance p = p_mean_variance(model_output, x_t, t, clip_denoised);
    Tensor nonzero = coef(t, x_t, [](int64_t s) { return s != 0 ? 1.0 : 0.0; });
    return p.mean + nonzero * exp(p.log_variance * 0.5) * z;
  }

  // One DDIM step (Song et al. 2021) with stochasticity eta (0: deterministic):
  //   x_{t−1} = √ᾱ_{t−1} x̂_0 + √(1 − ᾱ_{t−1} − σ²) ε̂ + σ z,
  //   σ = eta · √((1 − ᾱ_{t−1}) / (1 − ᾱ_t)) · √(1 − ᾱ_t / ᾱ_{t−1}), ε̂ re-derived from x̂_0.
  Tensor ddim_sample(const Tensor& model_output, const Tensor& x_t, const Tensor& t, const Tensor& z,
                     double eta = 0.0, bool clip_denoised = false) const {
    MeanVariance p = p_mean_variance(model_output, x_t, t, clip_denoised);
    Tensor eps = (x_t * coef(t, x_t, [&](int64_t s) { return std::sqrt(1.0 / alphas_cumprod[s]); }) - p.pred_x0) /
                 coef(t, x_t, [&](int64_t s) { return std::sqrt(1.0 / alphas_cumprod[s] - 1.0); });
    auto sigma_of = [&](int64_t s) {
      const double ab = alphas_cumprod[s], ab_prev = alphas_cumprod_prev[s];
      return eta * std::sqrt((1.0 - ab_prev) / (1.0 - ab)) * std::sqrt(1.0 - ab / ab_prev);
    };
    Tensor sigma = coef(t, x_t, sigma_of);
    Tensor mean = p.pred_x0 * coef(t, x_t, [&](int64_t s) { return std::sqrt(alphas_cumprod_prev[s]); }) +
                  eps * coef(t, x_t, [&](int64_t s) {
                    const double sg = sigma_of(s);
                    return std::sqrt(1.0 - alphas_cumprod_prev[s] - sg * sg);
                  });
    Tensor nonzero = coef(t, x_t, [](int64_t s) { return s != 0 ? 1.0 : 0.0; });
    return mean + nonzero * sigma * z;
  }

  // The model as the samplers call it: (x_t, original timesteps [N] as float) → output.
  using ModelFn = std::function<Tensor(const Tensor& x_t, const Tensor& timesteps)>;

  // Samples from pure noise x_T = `noise` down to x_0, every step of this (possibly respaced)
  // schedule; ddim: DDIM steps with eta, else DDPM. Noise for each step from `gen`.
  Tensor sample_loop(const ModelFn& model, const Tensor& noise, Generator& gen, bool ddim = false, double eta = 0.0,
                     bool clip_denoised = false) const {
    NoGradGuard no_grad;
    Tensor x = noise;
    const int64_t N = noise.size(0);
    for (int64_t i = num_timesteps() - 1; i >= 0; --i) {
      Tensor t = full({N}, static_cast<double>(i), kInt64);
      Tensor original = full({N}, static_cast<double>(timestep_map[static_cast<std::size_t>(i)]), x.dtype(), x.device());
      Tensor out = model(x, original);
      Tensor z = randn(x.shape(), x.dtype(), gen).to(x.device());
      x = ddim ? ddim_sample(out, x, t, z, eta, clip_denoised) : p_sample(out, x, t, z, clip_denoised);
    }
    return x;
  }

  const bool learn_sigma;
  std::vector<double> betas, alphas_cumprod, alphas_cumprod_prev, posterior_variance,
      posterior_log_variance_clipped, posterior_mean_coef1, posterior_mean_coef2;
  std::vector<int64_t> timestep_map;  // step i of this schedule is step timestep_map[i] of the original

  // ---- the formulas, as DiT's diffusion/ (gaussian_diffusion.py, diffusion_utils.py) ----

  // KL(N(m1, e^lv1) ‖ N(m2, e^lv2)) elementwise, in nats.
  static Tensor normal_kl(const Tensor& mean1, const Tensor& logvar1, const Tensor& mean2, const Tensor& logvar2) {
    Tensor d = mean1 - mean2;
    return 0.5 * (logvar2 - logvar1 + exp(logvar1 - logvar2) + d * d * exp(neg(logvar2)) - 1.0);
  }
  // Φ(x) ≈ ½ (1 + tanh(√(2/π) (x + 0.044715 x³))).
  static Tensor approx_standard_normal_cdf(const Tensor& x) {
    const double k = std::sqrt(2.0 / std::numbers::pi);
    return 0.5 * (1.0 + tanh((x + 0.044715 * x * x * x) * k));
  }
  // log-likelihood of x ∈ [−1, 1] (data in 256 levels) under N(means, e^{2 log_scales}) with
  // bins of width 2/255, the edge bins open at ±0.999.
  static Tensor discretized_gaussian_log_likelihood(const Tensor& x, const Tensor& means, const Tensor& log_scales) {
    Tensor centered = x - means, inv_stdv = exp(neg(log_scales));
    Tensor cdf_plus = approx_standard_normal_cdf(inv_stdv * (centered + 1.0 / 255.0));
    Tensor cdf_min = approx_standard_normal_cdf(inv_stdv * (centered - 1.0 / 255.0));
    Tensor log_cdf_plus = log(clamp(cdf_plus, 1e-12, std::nullopt));
    Tensor log_one_minus_cdf_min = log(clamp(1.0 - cdf_min, 1e-12, std::nullopt));
    Tensor log_delta = log(clamp(cdf_plus - cdf_min, 1e-12, std::nullopt));
    return where(lt(x, -0.999), log_cdf_plus, where(gt(x, 0.999), log_one_minus_cdf_min, log_delta));
  }

 private:
  // [N, 1, 1, ...] (like x) holding f(t_n) for each sample's step: a per-sample coefficient.
  template <class F>
  Tensor coef(const Tensor& t, const Tensor& like, F f) const {
    LACOOT_CHECK(t.dim() == 1 && t.dtype() == kInt64 && t.size(0) == like.size(0), "GaussianDiffusion: expected "
                 "timesteps of shape [", like.size(0), "], int64, got shape ", shape_str(t.shape()), " (",
                 dtype_name(t.dtype()), ")");
    Tensor steps = t.to(kCPU);
    Shape shape(static_cast<std::size_t>(like.dim()), 1);
    shape[0] = t.size(0);
    Tensor c = Tensor::empty(shape, kFloat64);
    for (int64_t n = 0; n < t.size(0); ++n) {
      const int64_t s = steps.data<int64_t>()[n];
      LACOOT_CHECK(s >= 0 && s < num_timesteps(), "GaussianDiffusion: timestep ", s, " is out of range [0, ",
                   num_timesteps() - 1, "]");
      c.data<double>()[n] = f(s);
    }
    return c.to(like.dtype()).to(like.device());
  }
  Tensor posterior_mean(const Tensor& x0, const Tensor& x_t, const Tensor& t) const {
    return x0 * coef(t, x0, [&](int64_t s) { return posterior_mean_coef1[s]; }) +
           x_t * coef(t, x0, [&](int64_t s) { return posterior_mean_coef2[s]; });
  }
  // The mean over every dimension but the first: [N, ...] → [N].
  static Tensor mean_per_sample(const Tensor& x) { return mean(reshape(x, {x.size(0), x.numel() / x.size(0)}), {1}); }
};

}  // namespace lacoot::diffusion

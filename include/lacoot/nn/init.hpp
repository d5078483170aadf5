// lacoot/nn/init.hpp — initial values for parameters, as torch.nn.init defines them.
//
// Holds: calculate_fan_in_and_fan_out, calculate_gain, uniform_, normal_, constant_, zeros_,
// ones_, kaiming_uniform_, kaiming_normal_, xavier_uniform_, xavier_normal_, trunc_normal_.
// Needs: core/ (Tensor, Generator).
// Leaves out: orthogonal_ and sparse_ (no model here uses them).
//
// Each fills the tensor in place (the trailing underscore, as PyTorch marks it) from a
// Generator (the default one unless given), so a seeded run initialises identically. The draws
// are lacoot's own (core/rng.hpp): the same distributions as PyTorch, not the same numbers.
#pragma once

#include <cmath>
#include <string_view>
#include <utility>

#include "../core/factories.hpp"

namespace lacoot::nn::init {

// (fan_in, fan_out) of a weight: [out, in] for Linear, [out, in / groups, kh, kw] for Conv2d
// (each multiplied by the receptive field kh·kw), as torch.nn.init._calculate_fan_in_and_fan_out.
inline std::pair<double, double> calculate_fan_in_and_fan_out(const Tensor& t) {
  LACOOT_CHECK(t.dim() >= 2, "init: fan in and fan out can not be computed for a tensor with fewer "
               "than 2 dimensions (shape ", shape_str(t.shape()), ")");
  double receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= static_cast<double>(t.size(d));
  return {static_cast<double>(t.size(1)) * receptive, static_cast<double>(t.size(0)) * receptive};
}

// The recommended gain for a nonlinearity (torch.nn.init.calculate_gain): relu √2, tanh 5/3,
// leaky_relu √(2 / (1 + slope²)), linear / conv / sigmoid 1, selu 3/4.
inline double calculate_gain(std::string_view nonlinearity, double param = 0.01) {
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.0 / (1 + param * param));
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "selu") return 0.75;
  if (nonlinearity == "linear" || nonlinearity == "conv2d" || nonlinearity == "sigmoid") return 1.0;
  throw Error(detail::concat("calculate_gain: unsupported nonlinearity \"", nonlinearity,
                             "\" (expected relu, leaky_relu, tanh, selu, sigmoid, linear or conv2d)"));
}

namespace detail {
// Writes f(i) into every element of a floating tensor, in place.
template <class F>
void fill(Tensor& t, F f) {
  dispatch_floating(t.dtype(), "init", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(f(i));
  });
}
inline double fan(const Tensor& t, std::string_view mode) {
  auto [in, out] = calculate_fan_in_and_fan_out(t);
  LACOOT_CHECK(mode == "fan_in" || mode == "fan_out", "init: mode must be fan_in or fan_out, got ", mode);
  return mode == "fan_in" ? in : out;
}
}  // namespace detail

// U(a, b) in place.
inline Tensor& uniform_(Tensor& t, double a = 0, double b = 1, Generator& gen = default_generator()) {
  const uint64_t first = gen.advance(static_cast<uint64_t>(t.numel()));
  detail::fill(t, [&](int64_t i) { return a + (b - a) * gen.uniform<double>(first + static_cast<uint64_t>(i)); });
  return t;
}
// N(mean, std²) in place.
inline Tensor& normal_(Tensor& t, double mean = 0, double std = 1, Generator& gen = default_generator()) {
  const uint64_t first = gen.advance(2 * static_cast<uint64_t>(t.numel()));
  detail::fill(t, [&](int64_t i) { return mean + std * gen.normal<double>(first, static_cast<uint64_t>(i)); });
  return t;
}
inline Tensor& constant_(Tensor& t, double value) {
  detail::fill(t, [&](int64_t) { return value; });
  return t;
}
inline Tensor& zeros_(Tensor& t) { return constant_(t, 0); }
inline Tensor& ones_(Tensor& t) { return constant_(t, 1); }

// He et al. 2015 (arXiv 1502.01852): std = gain / √fan, U(−√3·std, √3·std). PyTorch's default
// for Linear and Conv2d weights is kaiming_uniform_(a = √5), which gives bound 1/√fan_in.
inline Tensor& kaiming_uniform_(Tensor& t, double a = 0, std::string_view mode = "fan_in",
                                std::string_view nonlinearity = "leaky_relu", Generator& gen = default_generator()) {
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(detail::fan(t, mode));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(t, -bound, bound, gen);
}
// N(0, (gain / √fan)²). torchvision's ResNet and MobileNetV2 use mode fan_out, relu.
inline Tensor& kaiming_normal_(Tensor& t, double a = 0, std::string_view mode = "fan_in",
                               std::string_view nonlinearity = "leaky_relu", Generator& gen = default_generator()) {
  return normal_(t, 0, calculate_gain(nonlinearity, a) / std::sqrt(detail::fan(t, mode)), gen);
}

// Glorot & Bengio 2010: std = gain·√(2 / (fan_in + fan_out)).
inline Tensor& xavier_uniform_(Tensor& t, double gain = 1, Generator& gen = default_generator()) {
  auto [in, out] = calculate_fan_in_and_fan_out(t);
  const double bound = gain * std::sqrt(6.0 / (in + out));
  return uniform_(t, -bound, bound, gen);
}
inline Tensor& xavier_normal_(Tensor& t, double gain = 1, Generator& gen = default_generator()) {
  auto [in, out] = calculate_fan_in_and_fan_out(t);
  return normal_(t, 0, gain * std::sqrt(2.0 / (in + out)), gen);
}

// N(mean, std²) restricted to [a, b], by redrawing values outside (Swin and DiT initialise
// with std 0.02, where a redraw is rare). Each element redraws from its own counter range.
inline Tensor& trunc_normal_(Tensor& t, double mean = 0, double std = 1, double a = -2, double b = 2,
                             Generator& gen = default_generator()) {
  LACOOT_CHECK(a < b && std > 0, "trunc_normal_: expected a < b and std > 0, got a = ", a, ", b = ", b,
               ", std = ", std);
  constexpr uint64_t kTries = 64;  // P(64 misses) is negligible unless [a, b] is far in a tail
  const uint64_t first = gen.advance(2 * kTries * static_cast<uint64_t>(t.numel()));
  detail::fill(t, [&](int64_t i) {
    const uint64_t base = first + 2 * kTries * static_cast<uint64_t>(i);
    for (uint64_t k = 0; k < kTries; ++k) {
      double v = mean + std * gen.normal<double>(base, k);
      if (v >= a && v <= b) return v;
    }
    return std::clamp(mean, a, b);
  });
  return t;
}

}  // namespace lacoot::nn::init

// tests/models/fill.hpp — the deterministic weights and inputs of tests/fixtures/gen_models.py.
//
// u_i = ((i · 2654435761 + k · 40503 + 12345) mod 2^32) / 2^32 − 1/2 is exact in float64 on
// both sides, so a model filled here and the torchvision model filled by the script hold the
// same numbers, and only inputs and outputs need to be stored in the fixture.
#pragma once

#include <cmath>
#include <string>

#include "lacoot/nn/module.hpp"

namespace lacoot::test {

inline Tensor hash_uniform(int64_t n, int64_t k, DType dtype = kFloat64) {
  Tensor t = Tensor::empty({n}, kFloat64);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t h = (i * 2654435761LL + k * 40503LL + 12345LL) % (1LL << 32);
    t.data<double>()[i] = static_cast<double>(h) / 4294967296.0 - 0.5;
  }
  return dtype == kFloat64 ? t : t.to(dtype);
}

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// gen_models.py's entry_values, for every entry of the state_dict in order.
inline void fill_state(nn::Module& model) {
  int64_t k = 0;
  for (auto& [name, t] : model.state_dict()) {
    const int64_t n = t.numel();
    if (t.dtype() == kInt64) {
      ++k;
      continue;
    }
    Tensor u = hash_uniform(n, k);
    double* p = u.data<double>();
    const double fan_in = t.dim() >= 2 ? static_cast<double>(n / t.size(0)) : 1.0;
    for (int64_t i = 0; i < n; ++i) {
      if (ends_with(name, "running_var")) p[i] = 1.0 + std::abs(p[i]);
      else if (ends_with(name, "running_mean") || ends_with(name, "bias")) p[i] = 0.2 * p[i];
      else if (ends_with(name, "weight") && t.dim() == 1) p[i] = 1.0 + 0.4 * p[i];
      else p[i] = p[i] * std::sqrt(24.0 / fan_in);
    }
    Tensor v = u.to(t.dtype());
    std::memcpy(t.raw_data(), v.raw_data(), static_cast<std::size_t>(n) * dtype_size(t.dtype()));
    ++k;
  }
}

}  // namespace lacoot::test

// tests/check.hpp — the comparisons every suite uses: tensors to vectors, values against a
// reference within a tolerance, and gradcheck reported through doctest.
//
// Needs doctest (the including test file includes it first) and lacoot's core and gradcheck.
// Tolerances are relative with an absolute floor of the same size: |got − want| ≤ tol·(1 + |want|)
// (check_close) or doctest's Approx with that scale (check_values), so tiny and large
// reference values are held to one standard.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#include "lacoot/autograd/gradcheck.hpp"
#include "lacoot/core/factories.hpp"

namespace lacoot::test {

using V = std::vector<Tensor>;

// Every element, converted to double, in row-major order.
inline std::vector<double> values_of(const Tensor& t) {
  Tensor d = t.to(kCPU).to(kFloat64);
  return std::vector<double>(d.data<double>(), d.data<double>() + d.numel());
}

// Every element of an int64 tensor, in row-major order.
inline std::vector<int64_t> ints_of(const Tensor& t) {
  return std::vector<int64_t>(t.data<int64_t>(), t.data<int64_t>() + t.numel());
}

// A tensor of `shape` holding `v` (row-major), in `dtype`.
inline Tensor from(const std::vector<double>& v, Shape shape, DType dtype = kFloat64) {
  return tensor(v, std::move(shape)).to(dtype);
}

// Each element equals the reference (doctest::Approx, relative `tol`); a NaN reference wants a NaN.
inline void check_values(const Tensor& t, const std::vector<double>& expected, double tol = 1e-12) {
  REQUIRE(t.numel() == static_cast<int64_t>(expected.size()));
  const std::vector<double> v = values_of(t);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    if (std::isnan(expected[i])) CHECK(std::isnan(v[i]));
    else CHECK(v[i] == doctest::Approx(expected[i]).epsilon(tol).scale(1.0));
  }
}

// Every element of t within tol · (1 + |expected|) of expected.
inline void check_close(const Tensor& t, const std::vector<double>& expected, double tol) {
  REQUIRE(t.defined());
  REQUIRE(t.numel() == static_cast<int64_t>(expected.size()));
  const std::vector<double> v = values_of(t);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(std::abs(v[i] - expected[i]) <= tol * (1 + std::abs(expected[i])));
  }
}

// max_i |a_i − b_i| for two tensors of one shape.
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<double> x = values_of(a), y = values_of(b);
  double m = 0;
  for (std::size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// Same shape, same dtype, same bytes: for results that must not depend on the kernel path.
inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), static_cast<std::size_t>(a.numel()) * dtype_size(a.dtype())) == 0;
}

// gradcheck, with its report of the worst element shown when it fails.
inline void check_grad(const std::function<Tensor(const V&)>& f, const V& inputs) {
  GradcheckResult r = gradcheck(f, inputs);
  CHECK_MESSAGE(r.ok, r.report);
}

}  // namespace lacoot::test

// lacoot/core/factories.hpp — making tensors.
//
// Holds: zeros, ones, full, arange, tensor (from values), rand, randn, randperm and the *_like
// forms. Random factories draw from a Generator (core/rng.hpp; the default one unless given),
// so the same seed gives the same tensor whatever the thread count.
// Needs: tensor.hpp, rng.hpp, parallel.hpp.
#pragma once

#include <initializer_list>
#include <vector>

#include "parallel.hpp"
#include "rng.hpp"
#include "tensor.hpp"

namespace lacoot {

inline Tensor full(Shape shape, double value, DType dtype = kFloat32, Device device = kCPU) {
  Tensor t = Tensor::empty(std::move(shape), dtype, device);
  detail::fill(t.raw_data(), dtype, t.numel(), value, device);
  return t;
}
inline Tensor zeros(Shape shape, DType dtype = kFloat32, Device device = kCPU) {
  return full(std::move(shape), 0.0, dtype, device);
}
inline Tensor ones(Shape shape, DType dtype = kFloat32, Device device = kCPU) {
  return full(std::move(shape), 1.0, dtype, device);
}
inline Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }
inline Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype(), t.device()); }
inline Tensor full_like(const Tensor& t, double v) { return full(t.shape(), v, t.dtype(), t.device()); }
inline Tensor empty_like(const Tensor& t) { return Tensor::empty(t.shape(), t.dtype(), t.device()); }

// [start, start + step, ...) up to but excluding end, as torch.arange.
inline Tensor arange(double start, double end, double step = 1.0, DType dtype = kFloat32) {
  LACOOT_CHECK(step != 0.0, "arange: step must be non-zero");
  double span = (end - start) / step;
  int64_t n = span > 0 ? static_cast<int64_t>(std::ceil(span)) : 0;
  Tensor t = Tensor::empty({n}, dtype);
  dispatch_all(dtype, "arange", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return t;
}
inline Tensor arange(double end, DType dtype = kFloat32) { return arange(0.0, end, 1.0, dtype); }

// A tensor holding `values` (row-major) with `shape`; the dtype follows T.
template <class T>
Tensor tensor(const std::vector<T>& values, Shape shape) {
  LACOOT_CHECK(static_cast<int64_t>(values.size()) == numel(shape), "tensor: ", values.size(),
               " values do not fill shape ", shape_str(shape), " (", numel(shape), " elements)");
  Tensor t = Tensor::empty(std::move(shape), dtype_of<T>());
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}

// 1-D from a list: tensor({1, 2, 3}) is float32 like torch.tensor([1., 2., 3.]).
inline Tensor tensor(std::initializer_list<double> values, DType dtype = kFloat32) {
  return tensor(std::vector<double>(values), {static_cast<int64_t>(values.size())}).to(dtype);
}

// 2-D from rows: tensor({{1, 2}, {3, 4}}).
inline Tensor tensor(std::initializer_list<std::initializer_list<double>> rows,
                     DType dtype = kFloat32) {
  std::vector<double> v;
  int64_t cols = rows.size() ? static_cast<int64_t>(rows.begin()->size()) : 0;
  for (auto& r : rows) {
    LACOOT_CHECK(static_cast<int64_t>(r.size()) == cols, "tensor: ragged rows (", r.size(),
                 " values in a row, expected ", cols, ")");
    v.insert(v.end(), r.begin(), r.end());
  }
  return tensor(v, {static_cast<int64_t>(rows.size()), cols}).to(dtype);
}

// Uniform on [0, 1).
inline Tensor rand(Shape shape, DType dtype = kFloat32, Generator& gen = default_generator()) {
  Tensor t = Tensor::empty(std::move(shape), dtype);
  dispatch_floating(dtype, "rand", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = t.data<T>();
    uint64_t first = gen.advance(static_cast<uint64_t>(t.numel()));
    parallel_for(t.numel(), 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] = gen.uniform<T>(first + static_cast<uint64_t>(i));
    });
  });
  return t;
}

// Standard normal.
inline Tensor randn(Shape shape, DType dtype = kFloat32, Generator& gen = default_generator()) {
  Tensor t = Tensor::empty(std::move(shape), dtype);
  dispatch_floating(dtype, "randn", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = t.data<T>();
    uint64_t first = gen.advance(2 * static_cast<uint64_t>(t.numel()));
    parallel_for(t.numel(), 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] = gen.normal<T>(first, static_cast<uint64_t>(i));
    });
  });
  return t;
}

// A random permutation of 0..n-1 (int64), by Fisher–Yates on the generator's stream.
inline Tensor randperm(int64_t n, Generator& gen = default_generator()) {
  Tensor t = arange(static_cast<double>(n), kInt64);
  int64_t* p = t.data<int64_t>();
  uint64_t first = gen.advance(static_cast<uint64_t>(std::max<int64_t>(n, 1)));
  for (int64_t i = n - 1; i > 0; --i) {
    // Lemire's multiply-shift maps 64 random bits to [0, i]; its bias is below 2^-40 here.
    auto r = static_cast<unsigned __int128>(gen.bits(first + static_cast<uint64_t>(i)));
    auto j = static_cast<int64_t>((r * static_cast<unsigned __int128>(i + 1)) >> 64);
    std::swap(p[i], p[j]);
  }
  return t;
}

}  // namespace lacoot

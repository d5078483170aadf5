// lacoot/core/print.hpp — printing tensors the way PyTorch does.
//
//   tensor([[1.0000, 2.5000],
//           [3.0000, 4.0000]], shape=[2, 2], dtype=float32, device=cpu)
//
// Values share one format (integers as "1.", fixed with 4 decimals, or scientific when the
// magnitudes call for it); tensors over 1000 elements show the first and last 3 entries of each
// dimension with "..." between, as torch's summarisation does.
// Needs: tensor.hpp.
#pragma once

#include <cmath>
#include <cstdio>
#include <ostream>
#include <string>

#include "tensor.hpp"

namespace lacoot {
namespace detail {

struct PrintFormat {
  enum Kind { Int, Whole, Fixed, Sci } kind = Fixed;
  int width = 1;
};

inline std::string format_value(double v, const PrintFormat& f) {
  char buf[64];
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  switch (f.kind) {
    case PrintFormat::Int: std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v)); break;
    case PrintFormat::Whole: std::snprintf(buf, sizeof buf, "%.0f.", v); break;
    case PrintFormat::Fixed: std::snprintf(buf, sizeof buf, "%.4f", v); break;
    case PrintFormat::Sci: std::snprintf(buf, sizeof buf, "%.4e", v); break;
  }
  return buf;
}

inline void print_recursive(std::ostream& os, const Tensor& t, const PrintFormat& f,
                            int64_t dim, int64_t offset, bool summarise, int indent) {
  const int64_t n = t.shape()[static_cast<std::size_t>(dim)];
  const int64_t stride = numel(Shape(t.shape().begin() + dim + 1, t.shape().end()));
  const bool last = dim == t.dim() - 1;
  os << '[';
  for (int64_t i = 0; i < n; ++i) {
    if (summarise && n > 6 && i == 3) {
      os << (last ? "..., " : "...,\n" + std::string(static_cast<std::size_t>(indent + 1), ' '));
      i = n - 3;
    }
    if (last) {
      std::string s = format_value(dispatch_all(t.dtype(), "print", [&](auto tag) {
        using T = typename decltype(tag)::type;
        return static_cast<double>(t.data<T>()[offset + i]);
      }), f);
      os << std::string(static_cast<std::size_t>(std::max(0, f.width - static_cast<int>(s.size()))), ' ') << s;
    } else {
      print_recursive(os, t, f, dim + 1, offset + i * stride, summarise, indent + 1);
    }
    if (i + 1 < n)
      os << (last ? ", " : ",\n" + std::string(static_cast<std::size_t>(t.dim() - dim - 2), '\n') +
                               std::string(static_cast<std::size_t>(indent + 1), ' '));
  }
  os << ']';
}

}  // namespace detail

inline std::ostream& operator<<(std::ostream& os, const Tensor& device_tensor) {
  if (!device_tensor.defined()) return os << "tensor(undefined)";
  const Tensor t = device_tensor.to(kCPU);  // the values, read on the host
  detail::PrintFormat f;
  double max_abs = 0, min_abs = INFINITY;
  bool whole = true;
  dispatch_all(t.dtype(), "print", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      double v = static_cast<double>(p[i]);
      if (!std::isfinite(v)) continue;
      max_abs = std::max(max_abs, std::abs(v));
      if (v != 0) min_abs = std::min(min_abs, std::abs(v));
      whole = whole && v == std::floor(v);
    }
  });
  if (t.dtype() == kInt64) f.kind = detail::PrintFormat::Int;
  else if (whole && max_abs < 1e8) f.kind = detail::PrintFormat::Whole;
  else if (max_abs >= 1e8 || min_abs < 1e-4) f.kind = detail::PrintFormat::Sci;
  // One width for all values so that columns line up.
  dispatch_all(t.dtype(), "print", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i)
      f.width = std::max(f.width, static_cast<int>(detail::format_value(static_cast<double>(p[i]), f).size()));
  });
  os << "tensor(";
  if (t.dim() == 0) os << detail::format_value(t.item(), f);
  else detail::print_recursive(os, t, f, 0, 0, t.numel() > 1000, 7);
  os << ", shape=" << shape_str(t.shape()) << ", dtype=" << dtype_name(t.dtype())
     << ", device=" << device_tensor.device().str();
  if (device_tensor.requires_grad()) os << ", requires_grad=True";
  return os << ')';
}

inline std::string to_string(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

}  // namespace lacoot

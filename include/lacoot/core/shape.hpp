// lacoot/core/shape.hpp — shapes and the arithmetic on them.
//
// Holds: Shape (dimension sizes, outermost first, as PyTorch's torch.Size), numel, row-major
// strides, printing, dimension wrapping (dim = -1 is the last), NumPy broadcasting of two shapes.
// Needs: error.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "error.hpp"

namespace lacoot {

using Shape = std::vector<int64_t>;

inline int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// numel(s), or nothing when a dimension is negative or a running product overflows int64 — in
// numel's own order, so that numel(s) is defined whenever this has a value (a shape such as
// (2^62, 3, 0) holds no element, yet numel's product overflows before the 0): for shapes read
// from files.
inline std::optional<int64_t> checked_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s)
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return std::nullopt;
  return n;
}

// Row-major (C order) strides in elements: the last dimension is contiguous.
inline std::vector<int64_t> contiguous_strides(const Shape& s) {
  std::vector<int64_t> st(s.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(s.size()) - 1; i >= 0; --i) {
    st[static_cast<std::size_t>(i)] = acc;
    acc *= s[static_cast<std::size_t>(i)];
  }
  return st;
}

// "[2, 3, 4]"
inline std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Wraps a possibly negative dimension index into [0, ndim); `op` names the caller.
inline int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  LACOOT_CHECK(dim >= lo && dim <= hi, op, ": dim ", dim, " is out of range for a tensor with ",
               ndim, " dimensions (expected a dim in [", lo, ", ", hi, "])");
  return dim < 0 ? dim + (ndim == 0 ? 1 : ndim) : dim;
}

// NumPy broadcasting: align from the right; sizes must match or one of them be 1.
inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    LACOOT_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ",
                 shape_str(b), " cannot be broadcast together (dimension ", i, ": ", da, " vs ",
                 db, "; sizes must match or be 1)");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace lacoot

// lacoot/ops/elementwise.hpp — arithmetic and maths functions, element by element.
//
// Holds: add, sub, mul, div (with NumPy broadcasting; operators + - * / too), neg, pow, exp,
// log, sin, cos, sqrt, abs, clamp, where, the comparisons eq ne lt le gt ge, and sum_to (the reduction
// that undoes broadcasting, which every broadcasting backward uses).
// Needs: ops/common.hpp, backend/formulas.hpp (each op's formula, one functor for both
// backends), backend/cpu/elementwise.hpp; with CUDA, backend/cuda/pointwise.hpp.
// Leaves out: type promotion (both operands must share a dtype) and a bool dtype: comparisons
// return masks of 1 and 0 in the operands' dtype, so that a mask multiplies directly.
//
// Backward follows autograd/node.hpp: each closure returns dL/dinput per input.
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>

#include "../backend/cpu/elementwise.hpp"
#include "../backend/formulas.hpp"
#include "common.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/pointwise.hpp"
#endif

namespace lacoot {

Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& a);

// Sums g over the dimensions in which `shape` was broadcast to g's shape: the gradient of an
// operand of shape `shape`. Returns g itself when the shapes already agree.
inline Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  Tensor out = Tensor::empty(shape, g.dtype(), g.device());
#if LACOOT_WITH_CUDA
  if (g.device().is_cuda()) {
    cuda::sum_to(g, out);
    return out;
  }
#endif
  dispatch_floating(g.dtype(), "sum_to", [&](auto tag) {
    using T = typename decltype(tag)::type;
    backend::cpu::sum_to_kernel(g.data<T>(), g.shape(), out.data<T>(), shape);
  });
  return out;
}

namespace detail {

// The forward of a broadcasting binary op: checks, output shape, kernel (f: a functor of
// backend/formulas.hpp).
template <class F>
Tensor binary(const char* op, const Tensor& a, const Tensor& b, F f) {
  check_same(op, {a, b}, Cuda::kernel);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
#if LACOOT_WITH_CUDA
  if (a.device().is_cuda()) {
    cuda::binary(f, a, b, out);
    return out;
  }
#endif
  dispatch_all(a.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    backend::cpu::broadcast_kernel<2>(std::array<const T*, 2>{a.data<T>(), b.data<T>()},
                                      std::array<Shape, 2>{a.shape(), b.shape()},
                                      out.data<T>(), shape, f);
  });
  return out;
}

// The forward of a unary op on floating tensors (f: a functor of backend/formulas.hpp).
template <class F>
Tensor unary(const char* op, const Tensor& a, F f) {
  check_floating(op, a, Cuda::kernel);
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
#if LACOOT_WITH_CUDA
  if (a.device().is_cuda()) {
    cuda::unary(f, a, out);
    return out;
  }
#endif
  dispatch_floating(a.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    backend::cpu::unary_kernel(a.data<T>(), out.data<T>(), a.numel(),
                               [&](T x) { return static_cast<T>(f(x)); });
  });
  return out;
}

}  // namespace detail

// ---- binary arithmetic ----

// out = a + b
inline Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = detail::binary("add", a, b, fn::Add{});
  autograd::record(out, "add", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& need) {
    // d(a + b)/da = 1, d(a + b)/db = 1, summed over broadcast dimensions.
    return std::vector<Tensor>{need[0] ? sum_to(g, sa) : Tensor(), need[1] ? sum_to(g, sb) : Tensor()};
  });
  return out;
}

// out = a - b
inline Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = detail::binary("sub", a, b, fn::Sub{});
  autograd::record(out, "sub", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& need) {
    return std::vector<Tensor>{need[0] ? sum_to(g, sa) : Tensor(),
                               need[1] ? sum_to(neg(g), sb) : Tensor()};
  });
  return out;
}

// out = a * b
inline Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = detail::binary("mul", a, b, fn::Mul{});
  autograd::record(out, "mul", {a, b}, [a = a.detach(), b = b.detach()](const Tensor& g, const std::vector<bool>& need) {
    // d(a * b)/da = b, d(a * b)/db = a
    return std::vector<Tensor>{need[0] ? sum_to(mul(g, b), a.shape()) : Tensor(),
                               need[1] ? sum_to(mul(g, a), b.shape()) : Tensor()};
  });
  return out;
}

// out = a / b (int64: truncated, as C++; a zero divisor on the CPU is an error, as torch's
// ZeroDivisionError, where the processor would stop the program)
inline Tensor div(const Tensor& a, const Tensor& b) {
  if (b.defined() && b.dtype() == kInt64 && b.device().is_cpu()) {
    const int64_t* d = b.data<int64_t>();
    LACOOT_CHECK(std::find(d, d + b.numel(), int64_t{0}) == d + b.numel(), "div: integer division by zero (an "
                 "int64 divisor holds 0; make the tensors floating for inf and NaN)");
  }
  Tensor out = detail::binary("div", a, b, fn::Div{});
  autograd::record(out, "div", {a, b}, [a = a.detach(), b = b.detach()](const Tensor& g, const std::vector<bool>& need) {
    // d(a / b)/da = 1 / b, d(a / b)/db = -a / b^2
    return std::vector<Tensor>{need[0] ? sum_to(div(g, b), a.shape()) : Tensor(),
                               need[1] ? sum_to(neg(div(mul(g, a), mul(b, b))), b.shape()) : Tensor()};
  });
  return out;
}

inline Tensor add(const Tensor& a, double b) { return add(a, detail::scalar_like(a, b)); }
inline Tensor sub(const Tensor& a, double b) { return sub(a, detail::scalar_like(a, b)); }
inline Tensor mul(const Tensor& a, double b) { return mul(a, detail::scalar_like(a, b)); }
inline Tensor div(const Tensor& a, double b) { return div(a, detail::scalar_like(a, b)); }

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, double b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, double b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, double b) { return div(a, b); }
inline Tensor operator+(double a, const Tensor& b) { return add(detail::scalar_like(b, a), b); }
inline Tensor operator-(double a, const Tensor& b) { return sub(detail::scalar_like(b, a), b); }
inline Tensor operator*(double a, const Tensor& b) { return mul(detail::scalar_like(b, a), b); }
inline Tensor operator/(double a, const Tensor& b) { return div(detail::scalar_like(b, a), b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

// ---- unary maths ----

// out = -a
inline Tensor neg(const Tensor& a) {
  Tensor out = detail::unary("neg", a, fn::Neg{});
  autograd::record(out, "neg", {a}, [](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{neg(g)};
  });
  return out;
}

// out = a ^ exponent
inline Tensor pow(const Tensor& a, double exponent) {
  Tensor out = detail::unary("pow", a, fn::with_params<fn::Pow>(exponent, 0));
  autograd::record(out, "pow", {a}, [a = a.detach(), exponent](const Tensor& g, const std::vector<bool>&) {
    // d(a^p)/da = p a^(p-1)
    return std::vector<Tensor>{mul(g, mul(pow(a, exponent - 1), exponent))};
  });
  return out;
}

// out = e^a; backward keeps the output: d(e^a)/da = e^a.
inline Tensor exp(const Tensor& a) {
  Tensor out = detail::unary("exp", a, fn::Exp{});
  autograd::record(out, "exp", {a}, [y = out.detach()](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{mul(g, y)};
  });
  return out;
}

// out = ln a
inline Tensor log(const Tensor& a) {
  Tensor out = detail::unary("log", a, fn::Log{});
  autograd::record(out, "log", {a}, [a = a.detach()](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{div(g, a)};  // d(ln a)/da = 1 / a
  });
  return out;
}

// out = sin a, cos a (radians); d sin a / da = cos a, d cos a / da = −sin a.
inline Tensor cos(const Tensor& a);
inline Tensor sin(const Tensor& a) {
  Tensor out = detail::unary("sin", a, fn::Sin{});
  autograd::record(out, "sin", {a}, [a = a.detach()](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{mul(g, cos(a))};
  });
  return out;
}
inline Tensor cos(const Tensor& a) {
  Tensor out = detail::unary("cos", a, fn::Cos{});
  autograd::record(out, "cos", {a}, [a = a.detach()](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{neg(mul(g, sin(a)))};
  });
  return out;
}

// out = √a; d√a/da = 1 / (2√a), from the saved output.
inline Tensor sqrt(const Tensor& a) {
  Tensor out = detail::unary("sqrt", a, fn::Sqrt{});
  autograd::record(out, "sqrt", {a}, [y = out.detach()](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{div(g, mul(y, 2.0))};
  });
  return out;
}

// out = |a|; the gradient sign(a) is taken as 0 at a = 0, as PyTorch does.
inline Tensor abs(const Tensor& a) {
  Tensor out = detail::unary("abs", a, fn::Abs{});
  autograd::record(out, "abs", {a}, [a = a.detach()](const Tensor& g, const std::vector<bool>&) {
    Tensor sign = detail::unary("abs", a, fn::Sign{});
    return std::vector<Tensor>{mul(g, sign)};
  });
  return out;
}

// out = min(max(a, lo), hi) with either bound optional; the gradient passes where
// lo <= a <= hi (PyTorch's convention at the bounds).
inline Tensor clamp(const Tensor& a, std::optional<double> lo, std::optional<double> hi) {
  LACOOT_CHECK(lo || hi, "clamp: at least one of min and max must be given");
  const double l = lo.value_or(-INFINITY), h = hi.value_or(INFINITY);
  Tensor out = detail::unary("clamp", a, fn::with_params<fn::Clamp>(l, h));
  autograd::record(out, "clamp", {a}, [a = a.detach(), l, h](const Tensor& g, const std::vector<bool>&) {
    Tensor pass = detail::unary("clamp", a, fn::with_params<fn::InRange>(l, h));
    return std::vector<Tensor>{mul(g, pass)};
  });
  return out;
}

// ---- comparisons (masks of 1 and 0, not differentiable) ----

#define LACOOT_COMPARISON(name, Formula)                                                    \
  inline Tensor name(const Tensor& a, const Tensor& b) { return detail::binary(#name, a, b, fn::Formula{}); } \
  inline Tensor name(const Tensor& a, double b) { return name(a, detail::scalar_like(a, b)); }
LACOOT_COMPARISON(eq, Eq)  // a == b
LACOOT_COMPARISON(ne, Ne)  // a != b
LACOOT_COMPARISON(lt, Lt)  // a < b
LACOOT_COMPARISON(le, Le)  // a <= b
LACOOT_COMPARISON(gt, Gt)  // a > b
LACOOT_COMPARISON(ge, Ge)  // a >= b
#undef LACOOT_COMPARISON

// out = condition ? a : b, elementwise with broadcasting of all three; condition is a mask
// (non-zero is true) of any dtype. Gradients flow to the branch that was taken.
inline Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  detail::check_same("where", {a, b}, detail::Cuda::kernel);
  detail::check_defined("where", condition, "condition", detail::Cuda::kernel);
  LACOOT_CHECK(condition.device() == a.device(), "where: the condition is on ", condition.device().str(),
               ", the values on ", a.device().str());
  Shape shape = broadcast_shapes(broadcast_shapes(condition.shape(), a.shape(), "where"), b.shape(), "where");
  // The mask in the values' dtype: non-zero (NaN included) is 1, then converted exactly (a
  // float condition of 0.5 made int64 directly would be 0, false).
  Tensor c = condition.dtype() == a.dtype() ? condition : ne(condition, 0.0).to(a.dtype());
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  if (a.device().is_cpu()) {
    dispatch_all(a.dtype(), "where", [&](auto tag) {
      using T = typename decltype(tag)::type;
      backend::cpu::broadcast_kernel<3>(std::array<const T*, 3>{c.data<T>(), a.data<T>(), b.data<T>()},
                                        std::array<Shape, 3>{c.shape(), a.shape(), b.shape()},
                                        out.data<T>(), shape,
                                        [](T m, T x, T y) { return m != T(0) ? x : y; });
    });
  } else {
#if LACOOT_WITH_CUDA
    cuda::where(c, a, b, out);
#endif
  }
  autograd::record(out, "where", {a, b}, [c, sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& need) {
    Tensor zero = detail::scalar_like(g, 0.0);
    return std::vector<Tensor>{need[0] ? sum_to(where(c, g, zero), sa) : Tensor(),
                               need[1] ? sum_to(where(c, zero, g), sb) : Tensor()};
  });
  return out;
}

}  // namespace lacoot

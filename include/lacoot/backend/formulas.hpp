// lacoot/backend/formulas.hpp — the formula of every elementwise op, written once, for the CPU
// loops and the CUDA kernels alike.
//
// Holds: fn::Op (the code by which a plain C++ unit names a formula to the CUDA kernels, which
// are compiled elsewhere) and one functor per formula: the arithmetic and comparisons of
// ops/elementwise.hpp, its unary maths, and each activation of ops/activation.hpp with its
// derivative (the backward functors take (g, s): the output gradient and the saved input or
// output). A functor carries up to two parameters, p0 and p1 (pow's exponent, clamp's bounds,
// leaky_relu's slope), as doubles, which is how they cross to a kernel.
// Needs: core/host_device.hpp (LACOOT_HD), the standard library (and nvcc's device versions of
// <cmath>, when compiled by nvcc).
// Leaves out: the loops (backend/cpu/, backend/cuda/kernels.cuh) and the ops' checks and
// backward recording (ops/).
//
// Each functor's operator() is a template over the element type (float, double; int64 for
// the arithmetic and comparisons), marked __host__ __device__ under nvcc. The conventions at
// kinks and bounds are PyTorch 1.13's; ops/activation.hpp says for each one why.
#pragma once

#include <cmath>
#include <numbers>

#include "../core/host_device.hpp"

namespace lacoot::fn {

enum class Op : int {
  // binary: (x, y)
  Add, Sub, Mul, Div, Eq, Ne, Lt, Le, Gt, Ge,
  // unary: x, with p0 and p1
  Neg, Pow, Exp, Log, Sqrt, Abs, Sign, Clamp, InRange, Sin, Cos,
  Relu, Relu6, LeakyRelu, Gelu, GeluTanh, Silu, Sigmoid, Tanh,
  // backward: (g, s)
  ReluBackward, Relu6Backward, LeakyReluBackward, GeluBackward, GeluTanhBackward, SiluBackward,
  SigmoidBackward, TanhBackward,
};

struct Params {
  double p0 = 0, p1 = 0;
};

// A formula of two arguments named a and b: Name{}(a, b) = expr.
#define LACOOT_FORMULA2(Name, a, b, expr)                                \
  struct Name : Params {                                                 \
    static constexpr Op code = Op::Name;                                 \
    template <class T>                                                   \
    LACOOT_HD T operator()(T a, T b) const {                             \
      return expr;                                                       \
    }                                                                    \
  };
// A formula of one argument named x: Name{}(x) = expr.
#define LACOOT_FORMULA1(Name, expr)                                      \
  struct Name : Params {                                                 \
    static constexpr Op code = Op::Name;                                 \
    template <class T>                                                   \
    LACOOT_HD T operator()(T x) const {                                  \
      return expr;                                                       \
    }                                                                    \
  };

// ---- arithmetic and comparisons (masks of 1 and 0 in the operands' type) ----
LACOOT_FORMULA2(Add, x, y, x + y)
LACOOT_FORMULA2(Sub, x, y, x - y)
LACOOT_FORMULA2(Mul, x, y, x * y)
LACOOT_FORMULA2(Div, x, y, x / y)
LACOOT_FORMULA2(Eq, x, y, static_cast<T>(x == y))
LACOOT_FORMULA2(Ne, x, y, static_cast<T>(x != y))
LACOOT_FORMULA2(Lt, x, y, static_cast<T>(x < y))
LACOOT_FORMULA2(Le, x, y, static_cast<T>(x <= y))
LACOOT_FORMULA2(Gt, x, y, static_cast<T>(x > y))
LACOOT_FORMULA2(Ge, x, y, static_cast<T>(x >= y))

// ---- unary maths ----
LACOOT_FORMULA1(Neg, -x)
LACOOT_FORMULA1(Pow, static_cast<T>(std::pow(static_cast<double>(x), p0)))  // x ^ p0, in double
LACOOT_FORMULA1(Exp, std::exp(x))
LACOOT_FORMULA1(Log, std::log(x))
LACOOT_FORMULA1(Sqrt, std::sqrt(x))
LACOOT_FORMULA1(Abs, std::abs(x))
LACOOT_FORMULA1(Sign, static_cast<T>((x > T(0)) - (x < T(0))))  // 0 at 0 (abs's gradient there)
LACOOT_FORMULA1(Sin, std::sin(x))
LACOOT_FORMULA1(Cos, std::cos(x))
// min(max(x, p0), p1), in std::max and std::min's order: NaN stays NaN, and p1 wins when
// p0 > p1 (as torch.clamp)
struct Clamp : Params {
  static constexpr Op code = Op::Clamp;
  template <class T>
  LACOOT_HD T operator()(T x) const {
    const T lo = static_cast<T>(p0), hi = static_cast<T>(p1);
    const T m = x < lo ? lo : x;
    return hi < m ? hi : m;
  }
};
// 1 where p0 <= x <= p1 (clamp's gradient passes there), else 0
LACOOT_FORMULA1(InRange, static_cast<T>(x >= static_cast<T>(p0) && x <= static_cast<T>(p1)))

// ---- activations: forward x -> y ----
LACOOT_FORMULA1(Relu, x < T(0) ? T(0) : x)  // as std::max(x, 0): NaN stays NaN, as torch's
LACOOT_FORMULA1(Relu6, x < T(0) ? T(0) : (x > T(6) ? T(6) : x))
// The slope is converted to T before the ternary: a conversion inside one branch is not
// executed speculatively, which would keep the CPU loop from vectorising (3.5x slower, measured).
struct LeakyRelu : Params {
  static constexpr Op code = Op::LeakyRelu;
  template <class T>
  LACOOT_HD T operator()(T x) const {
    const T slope = static_cast<T>(p0);
    return x > T(0) ? x : x * slope;
  }
};
// gelu(x) = x Φ(x), Φ(x) = ½ (1 + erf(x / √2))
struct Gelu : Params {
  static constexpr Op code = Op::Gelu;
  template <class T>
  LACOOT_HD T operator()(T x) const {
    constexpr T kAlpha = T(1) / std::numbers::sqrt2_v<T>;  // 1/√2
    return x * T(0.5) * (T(1) + std::erf(x * kAlpha));
  }
};
// gelu(x) ≈ ½ x (1 + tanh u), u = √(2/π) (x + 0.044715 x³)
struct GeluTanh : Params {
  static constexpr Op code = Op::GeluTanh;
  template <class T>
  LACOOT_HD T operator()(T x) const {
    constexpr T kBeta = std::numbers::sqrt2_v<T> * std::numbers::inv_sqrtpi_v<T>;  // √(2/π)
    constexpr T kKappa = T(0.044715);
    return T(0.5) * x * (T(1) + std::tanh(kBeta * (x + kKappa * x * x * x)));
  }
};
LACOOT_FORMULA1(Silu, x / (T(1) + std::exp(-x)))
LACOOT_FORMULA1(Sigmoid, T(1) / (T(1) + std::exp(-x)))
LACOOT_FORMULA1(Tanh, std::tanh(x))

// ---- activations: backward (g, s) -> dL/dx, s the saved input x or output y ----
LACOOT_FORMULA2(ReluBackward, g, s, s <= T(0) ? T(0) : g)                    // s = y
LACOOT_FORMULA2(Relu6Backward, g, s, (s <= T(0) || s >= T(6)) ? T(0) : g)  // s = x
struct LeakyReluBackward : Params {                                     // s = x
  static constexpr Op code = Op::LeakyReluBackward;
  template <class T>
  LACOOT_HD T operator()(T g, T x) const {
    const T slope = static_cast<T>(p0);
    return x > T(0) ? g : g * slope;
  }
};
// gelu'(x) = Φ(x) + x φ(x), φ(x) = exp(−x²/2) / √(2π)
struct GeluBackward : Params {  // s = x
  static constexpr Op code = Op::GeluBackward;
  template <class T>
  LACOOT_HD T operator()(T g, T x) const {
    constexpr T kAlpha = T(1) / std::numbers::sqrt2_v<T>;
    constexpr T kInvSqrt2Pi = std::numbers::inv_sqrtpi_v<T> * kAlpha;  // 1/√(2π)
    const T cdf = T(0.5) * (T(1) + std::erf(x * kAlpha));
    const T pdf = std::exp(T(-0.5) * x * x) * kInvSqrt2Pi;
    return g * (cdf + x * pdf);
  }
};
// gelu'(x) ≈ ½ (1 + tanh u) + ½ x (1 − tanh² u) √(2/π) (1 + 3 · 0.044715 x²)
struct GeluTanhBackward : Params {  // s = x
  static constexpr Op code = Op::GeluTanhBackward;
  template <class T>
  LACOOT_HD T operator()(T g, T x) const {
    constexpr T kBeta = std::numbers::sqrt2_v<T> * std::numbers::inv_sqrtpi_v<T>;
    constexpr T kKappa = T(0.044715);
    const T t = std::tanh(kBeta * (x + kKappa * x * x * x));
    const T left = T(0.5) * (T(1) + t);
    const T right = T(0.5) * x * (T(1) - t * t) * kBeta * (T(1) + T(3) * kKappa * x * x);
    return g * (left + right);
  }
};
// silu'(x) = σ(x) (1 + x (1 − σ(x)))
struct SiluBackward : Params {  // s = x
  static constexpr Op code = Op::SiluBackward;
  template <class T>
  LACOOT_HD T operator()(T g, T x) const {
    const T sig = T(1) / (T(1) + std::exp(-x));
    return g * sig * (T(1) + x * (T(1) - sig));
  }
};
LACOOT_FORMULA2(SigmoidBackward, g, s, g * (T(1) - s) * s)  // s = y: σ' = y (1 − y)
LACOOT_FORMULA2(TanhBackward, g, s, g * (T(1) - s * s))     // s = y: tanh' = 1 − y²

#undef LACOOT_FORMULA1
#undef LACOOT_FORMULA2

// F with parameters p0 and p1: how a CUDA kernel rebuilds the functor an Op names.
template <class F>
LACOOT_HD F with_params(double p0, double p1) {
  F f;
  f.p0 = p0;
  f.p1 = p1;
  return f;
}

}  // namespace lacoot::fn

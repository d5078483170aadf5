// lacoot/core/dtype.hpp — element types.
//
// Holds: DType (float32, float64, int64), their names and sizes, the C++ type of each, and
// dispatch_floating / dispatch_all, which call a generic lambda with the C++ type of a DType.
// Needs: error.hpp.
// Leaves out: half precision (bf16/f16 come with the GPU backend).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "error.hpp"

namespace lacoot {

enum class DType { Float32, Float64, Int64 };

inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;
inline constexpr DType kInt64 = DType::Int64;

// Names as PyTorch prints them.
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
  }
  return "?";
}

inline std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int64: return 8;
  }
  return 0;
}

inline bool is_floating(DType t) { return t == DType::Float32 || t == DType::Float64; }

// The DType of a C++ element type: dtype_of<float>() == kFloat32.
template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::Float32;
  else if constexpr (std::is_same_v<T, double>) return DType::Float64;
  else {
    static_assert(std::is_same_v<T, int64_t>, "lacoot tensors hold float, double or int64_t");
    return DType::Int64;
  }
}

// A tag carrying a type through a generic lambda: [&](auto tag) { using T = typename decltype(tag)::type; }
template <class T>
struct TypeTag {
  using type = T;
};

// Calls fn(TypeTag<float>{}) or fn(TypeTag<double>{}); `op` names the caller in the error.
template <class Fn>
decltype(auto) dispatch_floating(DType t, const char* op, Fn&& fn) {
  switch (t) {
    case DType::Float32: return fn(TypeTag<float>{});
    case DType::Float64: return fn(TypeTag<double>{});
    default: break;
  }
  throw Error(detail::concat(op, ": expected a float32 or float64 tensor, got ", dtype_name(t),
                             " (hint: convert with .to(lacoot::kFloat32))"));
}

// As dispatch_floating, and int64 too.
template <class Fn>
decltype(auto) dispatch_all(DType t, const char* op, Fn&& fn) {
  if (t == DType::Int64) return fn(TypeTag<int64_t>{});
  return dispatch_floating(t, op, std::forward<Fn>(fn));
}

}  // namespace lacoot

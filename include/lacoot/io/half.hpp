// lacoot/io/half.hpp — 16-bit floats on disk: IEEE 754 binary16 ("F16", numpy '<f2') and
// bfloat16 ("BF16"), converted to and from float32.
//
// Holds: half_to_float, float_to_half, bfloat16_to_float, float_to_bfloat16, working on the raw
// 16-bit patterns. The readers (safetensors.hpp, npy.hpp) widen 16-bit tensors to float32 with
// these, and the safetensors writer can narrow float32 to 16 bits on request.
// Needs: only the standard library.
// Leaves out: a half tensor dtype (lacoot computes in float32/float64; bf16/f16 compute comes
// with the GPU backend, DESIGN.md "core").
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace lacoot {

// binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits (IEEE 754-2008 §3.6).
// Every binary16 value is exactly a float32 value, so widening never rounds.
inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f)  // inf (mantissa 0) or NaN; the NaN payload moves to the top bits
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    // Zero or subnormal: the value is mantissa · 2^-24, exact in float32 (mantissa < 2^10).
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  // Normal: rebias the exponent from 15 to 127, widen the mantissa from 10 to 23 bits.
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

// Rounds to the nearest binary16, ties to even (as numpy's float32 → float16 cast): too large
// gives ±inf, too small gives ±0 or a subnormal, NaN stays a (quiet) NaN.
inline uint16_t float_to_half(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t exponent = (x >> 23) & 0xffu;
  uint32_t mantissa = x & 0x7fffffu;
  if (exponent == 0xff)  // inf or NaN; a NaN keeps the quiet bit so it cannot turn into inf
    return static_cast<uint16_t>(sign | 0x7c00u | (mantissa ? 0x200u | (mantissa >> 13) : 0u));
  const int e = static_cast<int>(exponent) - 127 + 15;  // the binary16 biased exponent
  if (e >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00u);  // beyond 65504 + half an ulp
  if (e <= 0) {
    // A binary16 subnormal m · 2^-24. With the implicit bit, the float is M · 2^(exponent-150),
    // so m = M · 2^(e-14): shift right by 14 - e and round on the bits shifted out. Below
    // e = -10 even the halfway point exceeds M, so the result is ±0.
    if (e < -10) return static_cast<uint16_t>(sign);
    mantissa |= 0x800000u;
    const int shift = 14 - e;
    uint32_t m = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (m & 1u))) ++m;  // a carry gives the smallest normal
    return static_cast<uint16_t>(sign | m);
  }
  uint32_t h = sign | (static_cast<uint32_t>(e) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1fffu;  // the 13 bits dropped
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry may reach inf: correct
  return static_cast<uint16_t>(h);
}

// bfloat16 is the top half of a float32 (same 8-bit exponent), so widening is a shift.
inline float bfloat16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

// Rounds to the nearest bfloat16, ties to even, as PyTorch's float → bfloat16 cast.
inline uint16_t float_to_bfloat16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if (std::isnan(f)) return static_cast<uint16_t>((x >> 16) | 0x40u);  // keep it a quiet NaN
  // Adding 0x7fff plus the lowest kept bit rounds the dropped 16 bits to nearest, ties to even.
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

}  // namespace lacoot

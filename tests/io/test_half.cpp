// Tests for io/half.hpp: float16 and bfloat16 to and from float32.
//
// References: numpy's float16 ↔ float32 casts (tests/fixtures/io_fixtures.hpp, from
// gen_io.py) on a sample of bit patterns and on rounding edge cases (ties between adjacent
// halves, the subnormal edges, the overflow edge 65520); for bfloat16 a nearest-value search in
// float64 written independently in gen_io.py. Identities: widening then narrowing gives every
// non-NaN 16-bit pattern back.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>

#include "../fixtures/io_fixtures.hpp"
#include "lacoot/io/half.hpp"

using namespace lacoot;
namespace fx_io = fixtures::io;

TEST_CASE("half: values worked by hand") {
  // 0x3c00 = 0 01111 0000000000 = 2^0; 0x7bff = 2^15 · (2 - 2^-10) = 65504, the largest half;
  // 0x0001 = 2^-24, the smallest subnormal; 0x03ff = 1023 · 2^-24; 0x0400 = 2^-14.
  CHECK(half_to_float(0x3c00) == 1.0f);
  CHECK(half_to_float(0xc000) == -2.0f);
  CHECK(half_to_float(0x7bff) == 65504.0f);
  CHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24));
  CHECK(half_to_float(0x03ff) == std::ldexp(1023.0f, -24));
  CHECK(half_to_float(0x0400) == std::ldexp(1.0f, -14));
  CHECK(std::signbit(half_to_float(0x8000)));
  CHECK(half_to_float(0x7c00) == INFINITY);
  CHECK(half_to_float(0xfc00) == -INFINITY);
  CHECK(std::isnan(half_to_float(0x7e00)));
  CHECK(std::isnan(half_to_float(0x7c01)));  // a signalling NaN stays NaN, not inf
  CHECK(float_to_half(65520.0f) == 0x7c00);  // halfway to 2^16 ties to even: inf
  CHECK(float_to_half(65519.0f) == 0x7bff);
  CHECK(float_to_half(std::ldexp(1.0f, -25)) == 0x0000);  // halfway to 2^-24 ties to even: 0
  CHECK(float_to_half(std::ldexp(1.5f, -24)) == 0x0002);  // 1.5 ulp ties to 2
  CHECK(std::isnan(half_to_float(float_to_half(std::bit_cast<float>(0x7f800001u)))));  // sNaN stays NaN
  CHECK(bfloat16_to_float(0x3f80) == 1.0f);
  CHECK(float_to_bfloat16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);  // tie to even (down)
  CHECK(float_to_bfloat16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82);  // tie to even (up)
  CHECK(std::isnan(bfloat16_to_float(float_to_bfloat16(std::bit_cast<float>(0x7f800001u)))));
  CHECK(float_to_bfloat16(3.4028235e38f) == 0x7f80);  // FLT_MAX rounds up to inf
}

TEST_CASE("half: float16 → float32 equals numpy's, bit for bit") {
  const auto& t = fx_io::half_to_float_table::half;
  REQUIRE(t.size() == fx_io::half_to_float_table::float_bits.size());
  for (std::size_t i = 0; i < t.size(); ++i) {
    CAPTURE(t[i]);
    CHECK(std::bit_cast<uint32_t>(half_to_float(t[i])) == fx_io::half_to_float_table::float_bits[i]);
  }
}

TEST_CASE("half: float32 → float16 rounds as numpy does") {
  const auto& in = fx_io::float_to_half_table::float_bits;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const float f = std::bit_cast<float>(in[i]);
    CAPTURE(f);
    CAPTURE(in[i]);
    if (std::isnan(f)) CHECK(std::isnan(half_to_float(float_to_half(f))));
    else CHECK(float_to_half(f) == fx_io::float_to_half_table::half[i]);
  }
}

TEST_CASE("half: float32 → bfloat16 is the nearest value, ties to even") {
  const auto& in = fx_io::float_to_bfloat16_table::float_bits;
  for (std::size_t i = 0; i < in.size(); ++i) {
    CAPTURE(in[i]);
    CHECK(float_to_bfloat16(std::bit_cast<float>(in[i])) == fx_io::float_to_bfloat16_table::bf16[i]);
  }
}

TEST_CASE("half: widening then narrowing returns every non-NaN pattern") {
  int bad_half = 0, bad_bf16 = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const auto p = static_cast<uint16_t>(h);
    if (!std::isnan(half_to_float(p)) && float_to_half(half_to_float(p)) != p) ++bad_half;
    if (!std::isnan(bfloat16_to_float(p)) && float_to_bfloat16(bfloat16_to_float(p)) != p) ++bad_bf16;
  }
  CHECK(bad_half == 0);
  CHECK(bad_bf16 == 0);
}

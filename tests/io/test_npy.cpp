// Tests for io/npy.hpp: parse_npy / load_npy and serialize_npy / save_npy.
//
// References: the exact bytes numpy 1.24 writes (tests/fixtures/io_fixtures.hpp, from
// gen_io.py) for every dtype lacoot reads, a scalar, 3-D and empty arrays, big-endian data,
// versions 2.0 and 3.0; lacoot must read their values and, for the dtypes it writes, write
// the same bytes back. The worked example of formats.md §6: np.arange(12, '<f4').reshape(3, 4)
// is 176 bytes, header length 118, data at 128. Then one case per malformed field.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "../check.hpp"
#include "../fixtures/io_fixtures.hpp"
#include "io_test_util.hpp"
#include "lacoot/io/npy.hpp"

using namespace lacoot;
using namespace lacoot::test;
namespace fx_io = fixtures::io;

namespace {

// A numpy fixture read by lacoot: shape, dtype (as the header comment of npy.hpp says) and
// values; written back byte for byte where lacoot writes that dtype.
template <class Case>
void check_npy_case(DType expected_dtype) {
  CAPTURE(Case::descr);
  const std::string bytes = bytes_of(Case::bytes);
  const Tensor t = parse_npy(bytes, "fixture.npy");
  CHECK(t.shape() == Case::shape);
  CHECK(t.dtype() == expected_dtype);
  if constexpr (requires { Case::values; }) check_exact(t, Case::values);
  else CHECK(ints_of(t) == Case::ints);
  if constexpr (Case::rewrite_identical) CHECK(serialize_npy(t) == bytes);
}

// A version 1.0 file with `dict` as its header text (padded to 64 bytes, '\n'-terminated)
// and `data` after it.
std::string npy_file(const std::string& dict, const std::string& data) {
  std::string header = dict;
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

std::string floats(int n) { return std::string(static_cast<std::size_t>(4 * n), '\0'); }

}  // namespace

TEST_CASE("npy: numpy's files for every dtype lacoot reads") {
  check_npy_case<fx_io::npy_f4_2d>(kFloat32);
  check_npy_case<fx_io::npy_f8_2d>(kFloat64);
  check_npy_case<fx_io::npy_i8_1d>(kInt64);
  check_npy_case<fx_io::npy_u1_2d>(kInt64);  // raw byte values 0..255, no scaling
  check_npy_case<fx_io::npy_i4_1d>(kInt64);
  check_npy_case<fx_io::npy_scalar_f8>(kFloat64);
  check_npy_case<fx_io::npy_f4_3d>(kFloat32);
  check_npy_case<fx_io::npy_empty_f4>(kFloat32);
  check_npy_case<fx_io::npy_be_f4>(kFloat32);  // byte-swapped from '>f4'
  check_npy_case<fx_io::npy_be_i2>(kInt64);
  check_npy_case<fx_io::npy_f2_1d>(kFloat32);  // widened from float16, inf included
  check_npy_case<fx_io::npy_b1_1d>(kInt64);
  check_npy_case<fx_io::npy_u8_1d>(kInt64);
  check_npy_case<fx_io::npy_v2_f4>(kFloat32);
  check_npy_case<fx_io::npy_v3_i8>(kInt64);
}

TEST_CASE("npy: the worked example of formats.md §6") {
  const std::string b = bytes_of(fx_io::npy_f4_2d::bytes);
  REQUIRE(b.size() == 176);
  const std::string mine = serialize_npy(alias_with_shape(arange(12, kFloat32), {3, 4}));
  CHECK(mine == b);
  CHECK(static_cast<unsigned char>(mine[8]) == 118);
  CHECK(mine[127] == '\n');
  CHECK(parse_npy(mine).at<float>({0, 1}) == 1.0f);
}

TEST_CASE("npy: `as` converts after reading") {
  const Tensor img = parse_npy(bytes_of(fx_io::npy_u1_2d::bytes), "img.npy", kFloat32);
  CHECK(img.dtype() == kFloat32);
  check_exact(img, {0, 1, 127, 128, 200, 255});
  const Tensor f = parse_npy(bytes_of(fx_io::npy_f8_2d::bytes), "x.npy", kFloat32);
  CHECK(f.dtype() == kFloat32);
  CHECK(f.at<float>({0, 2}) == static_cast<float>(M_PI));
}

TEST_CASE("npy: save then load every dtype, through files") {
  ScratchDir dir;
  const std::vector<Tensor> tensors = {randn({2, 3, 4}), randn({5}, kFloat64), randperm(7),
                                       full({}, -1.5, kFloat64), zeros({0, 4}), zeros({3, 0, 2}, kInt64)};
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    CAPTURE(i);
    const std::string path = dir.file(detail::concat("t", i, ".npy"));
    save_npy(path, tensors[i]);
    const Tensor back = load_npy(path);
    CHECK(bitwise_equal(back, tensors[i]));
    const std::string bytes = read_file(path);
    // numpy ≥ 1.14 aligns the data to 64 bytes; the header ends with '\n'.
    const std::size_t data_at = bytes.size() - static_cast<std::size_t>(tensors[i].numel()) * dtype_size(tensors[i].dtype());
    CHECK(data_at % 64 == 0);
    CHECK(bytes[data_at - 1] == '\n');
  }
  CHECK(dir.entries().size() == tensors.size());
  // Overwriting replaces the file in one step.
  save_npy(dir.file("t0.npy"), ones({2}));
  CHECK(load_npy(dir.file("t0.npy")).shape() == Shape{2});
}

TEST_CASE("npy: a header over 65,535 bytes is written as version 2.0") {
  const Tensor t = alias_with_shape(ones({1}), Shape(22000, 1));  // 22,000 dims of size 1
  const std::string b = serialize_npy(t);
  CHECK(b[6] == 2);
  CHECK((b.size() - 4) % 64 == 0);
  CHECK(parse_npy(b).shape() == t.shape());
}

TEST_CASE("npy: arrays lacoot refuses, with the fix") {
  check_error([] { parse_npy(bytes_of(fx_io::npy_fortran_f4::bytes), "f.npy"); },
              {"npy 'f.npy'", fx_io::npy_fortran_f4::error_mentions, "np.ascontiguousarray"});
  check_error([] { parse_npy(bytes_of(fx_io::npy_u8_too_big::bytes), "u.npy"); },
              {"npy 'u.npy'", fx_io::npy_u8_too_big::error_mentions, "element 0"});
  check_error([] { parse_npy(bytes_of(fx_io::npy_c8::bytes), "c.npy"); },
              {"npy 'c.npy'", "field 'descr' is '<c8'", "astype"});
  check_error([] { parse_npy(npy_file("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", "x"), "o.npy"); },
              {"o.npy", "pickles"});
  check_error([] { parse_npy(npy_file("{'descr': '|f4', 'fortran_order': False, 'shape': (1,), }", floats(1)), "p.npy"); },
              {"p.npy", "'|'"});
  check_error([] { parse_npy(npy_file("{'descr': '=f4', 'fortran_order': False, 'shape': (1,), }", floats(1)), "e.npy"); },
              {"e.npy", "byte order"});
  check_error([] { parse_npy(npy_file("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", floats(1)), "s.npy"); },
              {"s.npy", "structured"});
  check_error([] { parse_npy(npy_file("{'descr': '|b1', 'fortran_order': False, 'shape': (1,), }", "\x02"), "b.npy"); },
              {"b.npy", "not a bool"});
}

TEST_CASE("npy: magic, version and lengths are checked") {
  const std::string good = bytes_of(fx_io::npy_f4_2d::bytes);
  check_error([] { parse_npy("", "empty.npy"); }, {"empty.npy", "magic"});
  check_error([] { parse_npy("PK\x03\x04 zip archive", "a.npz"); }, {"a.npz", "magic", ".npz"});
  std::string v = good;
  v[6] = 4;
  check_error([&] { parse_npy(v, "v.npy"); }, {"v.npy", "version 4.0", "1.0, 2.0 or 3.0"});
  v = good;
  v[7] = 1;
  check_error([&] { parse_npy(v, "v.npy"); }, {"v.npy", "version 1.1"});
  v = good;
  v[8] = '\xff';
  v[9] = '\xff';
  check_error([&] { parse_npy(v, "h.npy"); }, {"h.npy", "header length field says 65535", "166 bytes follow"});
  check_error([&] { parse_npy(good.substr(0, good.size() - 1), "t.npy"); },
              {"t.npy", "needs 48 data bytes", "holds 47", "truncated"});
  check_error([&] { parse_npy(good + "x", "t.npy"); }, {"t.npy", "needs 48 data bytes", "holds 49"});
  check_error([&] { parse_npy(good.substr(0, 11), "t.npy"); }, {"t.npy", "header length field"});
  // No element, yet 2^62 · 3 overflows int64 before the 0 is reached (found by tests/fuzz/fuzz_npy).
  check_error([] { parse_npy(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 3, 0), }", ""),
                             "z.npy"); },
              {"z.npy", "field 'shape'", "more elements or bytes than a 64-bit size"});
}

TEST_CASE("npy: the header dict is parsed strictly, errors give the file byte") {
  const std::string shape = "'shape': (2,), }";
  // Key order and quotes are free, as in any Python dict literal.
  CHECK(parse_npy(npy_file("{\"shape\": (2,), 'fortran_order': False, 'descr': '<f4'}", floats(2))).numel() == 2);
  CHECK(parse_npy(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2,)}", floats(2))).shape() == Shape{1, 2});
  check_error([&] { parse_npy(npy_file("{'descr': '<f4', 'fortran_order': False}", floats(2)), "k.npy"); },
              {"k.npy", "no 'shape' key"});
  check_error([&] { parse_npy(npy_file("{'descr': '<f4', 'fortran_order': False, 'extra': 1, " + shape, floats(2)), "k.npy"); },
              {"k.npy", "byte 51", "not 'extra'"});
  check_error([&] { parse_npy(npy_file("{'descr': '<f4', 'descr': '<f4', " + shape, floats(2)), "k.npy"); },
              {"k.npy", "'descr' appears twice"});
  check_error([&] { parse_npy(npy_file("{'descr': '<f4', 'fortran_order': 0, " + shape, floats(2)), "k.npy"); },
              {"k.npy", "True or False"});
  check_error([&] { parse_npy(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", floats(2)), "k.npy"); },
              {"k.npy", "(n,)"});
  check_error([&] { parse_npy(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", floats(2)), "k.npy"); },
              {"k.npy", "non-negative integer"});
  check_error([&] { parse_npy(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", floats(2)), "k.npy"); },
              {"k.npy", "a tuple"});
  check_error([&] { parse_npy(npy_file("{'descr' '<f4', 'fortran_order': False, " + shape, floats(2)), "k.npy"); },
              {"k.npy", "byte 19", "':' after the key"});
  check_error([&] { parse_npy(npy_file("{'descr': '<f4, 'fortran_order': False, " + shape, floats(2)), "k.npy"); },
              {"k.npy", "',' or '}'"});
  check_error([&] { parse_npy(npy_file("'descr': '<f4', 'fortran_order': False, " + shape, floats(2)), "k.npy"); },
              {"k.npy", "byte 10", "'{'"});
  check_error([&] { parse_npy(npy_file("{'descr': '<f4', 'fortran_order': False, " + shape + " x", floats(2)), "k.npy"); },
              {"k.npy", "only spaces"});
  check_error([&] { parse_npy(npy_file("{'descr': '<f4' 'fortran_order': False, " + shape, floats(2)), "k.npy"); },
              {"k.npy", "',' or '}'"});
}

TEST_CASE("npy: load and save errors name the path") {
  ScratchDir dir;
  check_error([&] { load_npy(dir.file("missing.npy")); }, {"missing.npy", "No such file"});
  write_plain(dir.file("bad.npy"), "not numpy");
  check_error([&] { load_npy(dir.file("bad.npy")); }, {dir.file("bad.npy"), "magic"});
  check_error([&] { save_npy(dir.file("nope/x.npy"), ones({2})); }, {"nope/x.npy", "No such file"});
  check_error([&] { save_npy(dir.file("x.npy"), Tensor()); }, {"x.npy", "undefined"});
  CHECK(dir.entries() == std::vector<std::string>{"bad.npy"});
}

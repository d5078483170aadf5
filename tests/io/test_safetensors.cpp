// Tests for io/safetensors.hpp: parse_safetensors / load_safetensors and
// serialize_safetensors / save_safetensors.
//
// References: files composed by hand in tests/fixtures/gen_io.py after formats.md §5 and the
// Rust reference serializer (sorted by dtype enum then name, compact header, space padding to
// 8), with values from numpy, including F16/BF16 (numpy's float16; bfloat16 as the top half of
// a float32) and every integer dtype; the 168-byte example of formats.md §5; a header laid out
// as another writer might (any key order, whitespace). lacoot's writer must reproduce the
// reference's bytes exactly. Then one case per malformed field, each error checked for the
// file, the tensor and the field it names.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "../check.hpp"
#include "../fixtures/io_fixtures.hpp"
#include "io_test_util.hpp"
#include "lacoot/io/safetensors.hpp"

using namespace lacoot;
using namespace lacoot::test;
namespace fx_io = fixtures::io;

namespace {

// A safetensors file with `header` as its JSON text and `data_bytes` zero bytes of buffer.
std::string st_file(const std::string& header, std::size_t data_bytes) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + std::string(data_bytes, '\0');
}

// parse_safetensors on a malformed file must name the file and mention every part.
void check_bad(const std::string& header, std::size_t data_bytes, std::initializer_list<std::string_view> parts) {
  check_error([&] { parse_safetensors(st_file(header, data_bytes), "bad.safetensors"); }, parts);
  check_error([&] { parse_safetensors(st_file(header, data_bytes), "bad.safetensors"); }, {"bad.safetensors"});
}

}  // namespace

TEST_CASE("safetensors: the 168-byte example of formats.md §5, read and written") {
  const std::string ref = bytes_of(fx_io::st_spec_example::bytes);
  const Safetensors st = parse_safetensors(ref);
  REQUIRE(st.tensors.size() == 2);
  CHECK(st.find("idx")->dtype() == kInt64);
  CHECK(ints_of(*st.find("idx")) == std::vector<int64_t>{3});
  check_exact(*st.find("w"), {0.5, -1.0});
  CHECK(*st.find_metadata("format") == "pt");
  CHECK(st.find("absent") == nullptr);
  // Given in any order, the writer sorts them as the reference does.
  const Tensor w = tensor(std::vector<float>{0.5f, -1.0f}, {2});
  const Tensor idx = tensor(std::vector<int64_t>{3}, {1});
  CHECK(serialize_safetensors({{"w", w}, {"idx", idx}}, {{"format", "pt"}}) == ref);
}

TEST_CASE("safetensors: every dtype lacoot writes, bytes identical to the reference layout") {
  const std::string ref = bytes_of(fx_io::st_mixed::bytes);
  const Safetensors st = parse_safetensors(ref, "mixed.safetensors");
  const Tensor& conv = *st.find("conv1.weight");
  CHECK(conv.dtype() == kFloat32);
  CHECK(conv.shape() == Shape{2, 1, 2, 2});
  check_exact(conv, fx_io::st_mixed::conv1_weight);
  CHECK(st.find("bn1.running_var")->dtype() == kFloat64);
  check_exact(*st.find("bn1.running_var"), fx_io::st_mixed::bn1_running_var);
  const Tensor& nbt = *st.find("bn1.num_batches_tracked");
  CHECK(nbt.shape().empty());
  CHECK(nbt.item<int64_t>() == 7);
  CHECK(ints_of(*st.find("labels")) == fx_io::st_mixed::labels);
  CHECK(st.find("empty")->shape() == Shape{0, 3});
  CHECK(*st.find_metadata("note") == fx_io::st_mixed::note);
  CHECK(serialize_safetensors(st.tensors, st.metadata) == ref);
  // The header lists I64 tensors first (the reference's enum order), then F64, then F32.
  std::vector<std::string> names;
  for (const auto& [name, t] : st.tensors) names.push_back(name);
  CHECK(names == std::vector<std::string>{"bn1.num_batches_tracked", "labels", "bn1.running_var",
                                          "conv1.weight", "empty"});
}

TEST_CASE("safetensors: F16 and BF16 widen to float32, and narrow back on request") {
  const Safetensors h = parse_safetensors(bytes_of(fx_io::st_f16::bytes));
  CHECK(h.find("h")->dtype() == kFloat32);
  check_exact(*h.find("h"), fx_io::st_f16::h);  // 2^-24, 65504, -0.0, inf and NaN included
  CHECK(serialize_safetensors(h.tensors, {}, {HalfType::F16}) == bytes_of(fx_io::st_f16::bytes));
  const Safetensors b = parse_safetensors(bytes_of(fx_io::st_bf16::bytes));
  check_exact(*b.find("b"), fx_io::st_bf16::b);
  CHECK(serialize_safetensors(b.tensors, {}, {HalfType::BF16}) == bytes_of(fx_io::st_bf16::bytes));
  // float64 and int64 stay as they are under the option.
  const Safetensors mixed = parse_safetensors(serialize_safetensors(
      {{"d", ones({2}, kFloat64)}, {"i", ones({2}, kInt64)}, {"f", full({3}, 0.1)}}, {}, {HalfType::F16}));
  CHECK(mixed.find("d")->dtype() == kFloat64);
  CHECK(mixed.find("i")->dtype() == kInt64);
  CHECK(mixed.find("f")->at<float>({0}) == half_to_float(float_to_half(0.1f)));
}

TEST_CASE("safetensors: integer dtypes widen to int64 exactly") {
  const Safetensors st = parse_safetensors(bytes_of(fx_io::st_ints::bytes));
  CHECK(ints_of(*st.find("mask")) == fx_io::st_ints::mask);
  CHECK(ints_of(*st.find("u8")) == fx_io::st_ints::u8);
  CHECK(ints_of(*st.find("i8")) == fx_io::st_ints::i8);
  CHECK(ints_of(*st.find("i16")) == fx_io::st_ints::i16);
  CHECK(ints_of(*st.find("u16")) == fx_io::st_ints::u16);
  CHECK(ints_of(*st.find("i32")) == fx_io::st_ints::i32);
  CHECK(ints_of(*st.find("u32")) == fx_io::st_ints::u32);
  CHECK(ints_of(*st.find("u64")) == fx_io::st_ints::u64);
  for (const auto& [name, t] : st.tensors) CHECK(t.dtype() == kInt64);
}

TEST_CASE("safetensors: another writer's layout (any key order, whitespace, no padding)") {
  const Safetensors st = parse_safetensors(bytes_of(fx_io::st_other_writer::bytes));
  REQUIRE(st.tensors.size() == 2);
  CHECK(st.tensors[0].first == "b");  // header order
  CHECK(ints_of(*st.find("b")) == std::vector<int64_t>{10, 20, 30});
  CHECK(st.find("b")->shape() == Shape{1, 3});
  check_exact(*st.find("a"), {1.0, 2.0});
  CHECK(*st.find_metadata("k") == "v");
}

TEST_CASE("safetensors: save → load round trip for every dtype, through a file") {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"layer1.0.conv1.weight", randn({4, 3, 3, 3})}, {"fc.bias", randn({10}, kFloat64)},
      {"bn1.num_batches_tracked", full({}, 12, kInt64)}, {"perm", randperm(9)},
      {"empty", zeros({0})}, {"z.scalar", full({}, -0.0)}, {"\xc3\xa9t\xc3\xa9", ones({1, 1})}};
  const std::vector<std::pair<std::string, std::string>> meta = {{"format", "pt"}, {"epoch", "3"}};
  save_safetensors(path, tensors, meta);
  const Safetensors st = load_safetensors(path);
  REQUIRE(st.tensors.size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    CAPTURE(name);
    REQUIRE(st.find(name) != nullptr);
    CHECK(bitwise_equal(*st.find(name), t));
  }
  CHECK(st.metadata == std::vector<std::pair<std::string, std::string>>{{"epoch", "3"}, {"format", "pt"}});
  const std::string bytes = read_file(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);  // the data buffer starts 8-byte aligned
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
  // Nothing at all: "{}" padded to 8.
  CHECK(serialize_safetensors({}) == std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  CHECK(parse_safetensors(serialize_safetensors({})).tensors.empty());
}

TEST_CASE("safetensors: a failed save leaves the old file and no temporary") {
  ScratchDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  save_safetensors(path, {{"w", ones({2})}});
  const std::string before = read_file(path);
  check_error([&] { save_safetensors(path, {{"w", ones({2})}, {"w", zeros({2})}}); },
              {"two tensors are named 'w'"});
  check_error([&] { save_safetensors(dir.file("missing/ckpt.safetensors"), {{"w", ones({2})}}); },
              {"missing/ckpt.safetensors", "No such file or directory"});
  CHECK(read_file(path) == before);
  CHECK(dir.entries() == std::vector<std::string>{"ckpt.safetensors"});
  check_error([] { serialize_safetensors({{"__metadata__", ones({1})}}); }, {"reserved"});
  check_error([] { serialize_safetensors({{"u", Tensor()}}); }, {"'u' is undefined"});
  check_error([] { serialize_safetensors({}, {{"k", "a"}, {"k", "b"}}); }, {"metadata key 'k' appears twice"});
  check_error([&] { load_safetensors(dir.file("absent.safetensors")); }, {"absent.safetensors", "No such file"});
}

// ---- malformed files: one case per check, each naming the file, the tensor and the field ----

TEST_CASE("safetensors: a file shorter than 8 bytes") {
  check_error([] { parse_safetensors("abc", "short.safetensors"); },
              {"short.safetensors", "3 bytes long", "8-byte header length"});
}

TEST_CASE("safetensors: a header length beyond the file") {
  std::string b = st_file("{}", 0);
  b[0] = 100;
  check_error([&] { parse_safetensors(b, "bad.safetensors"); }, {"bad.safetensors", "says 100 bytes", "only 2 bytes follow"});
}

TEST_CASE("safetensors: a header length over 100 MB") {
  std::string b = st_file("{}", 0);
  const uint64_t n = 200'000'000;
  std::memcpy(b.data(), &n, 8);
  check_error([&] { parse_safetensors(b, "bad.safetensors"); }, {"bad.safetensors", "200000000", "100,000,000"});
}

TEST_CASE("safetensors: a header that is not JSON, not UTF-8, or not an object") {
  check_bad(R"({"w": {"dtype": "F32",)", 0, {"header", "invalid JSON at byte 22"});
  check_bad("{\"w\xff\": {}}", 0, {"header", "UTF-8"});
  check_bad("[1, 2]", 0, {"must be a JSON object", "found array"});
  check_bad(R"({"w": 5})", 0, {"tensor 'w'", "expected an object", "found number"});
}

TEST_CASE("safetensors: an entry missing dtype, shape or data_offsets") {
  check_bad(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4, {"tensor 'w'", "missing field 'dtype'"});
  check_bad(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", 4, {"tensor 'w'", "missing field 'shape'"});
  check_bad(R"({"w": {"dtype": "F32", "shape": [1]}})", 4, {"tensor 'w'", "missing field 'data_offsets'"});
}

TEST_CASE("safetensors: an unknown or unsupported dtype") {
  check_bad(R"({"w": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}})", 4,
            {"tensor 'w'", "field 'dtype' is \"F33\"", "expected one of"});
  check_bad(R"({"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}})", 1,
            {"tensor 'w'", "dtype F8_E4M3 is not supported"});
  check_bad(R"({"w": {"dtype": 32, "shape": [1], "data_offsets": [0, 4]}})", 4,
            {"tensor 'w'", "field 'dtype' must be a string"});
}

TEST_CASE("safetensors: a negative, fractional or overflowing shape") {
  check_bad(R"({"w": {"dtype": "F32", "shape": [2, -3], "data_offsets": [0, 4]}})", 4,
            {"tensor 'w'", "field 'shape[1]'", "non-negative integer", "-3"});
  check_bad(R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 4]}})", 4,
            {"tensor 'w'", "field 'shape[0]'", "2.5"});
  check_bad(R"({"w": {"dtype": "F32", "shape": 4, "data_offsets": [0, 4]}})", 4,
            {"tensor 'w'", "field 'shape' must be an array"});
  check_bad(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 16], "data_offsets": [0, 4]}})", 4,
            {"tensor 'w'", "field 'shape'", "64-bit"});
  check_bad(R"({"w": {"dtype": "F32", "shape": [4611686018427387904, 3, 0], "data_offsets": [0, 0]}})", 0,
            {"tensor 'w'", "field 'shape'", "64-bit"});  // no element, but 2^62 · 3 overflows int64 first
}

TEST_CASE("safetensors: data_offsets that are not [BEGIN, END]") {
  check_bad(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4,
            {"tensor 'w'", "field 'data_offsets' must be [BEGIN, END]", "[0]"});
  check_bad(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, "4"]}})", 4,
            {"tensor 'w'", "field 'data_offsets[1]'", "non-negative integer"});
}

TEST_CASE("safetensors: BEGIN > END") {
  check_bad(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", 8,
            {"tensor 'w'", "field 'data_offsets' [8,4]", "BEGIN > END"});
}

TEST_CASE("safetensors: END beyond the data buffer") {
  check_bad(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4,
            {"tensor 'w'", "field 'data_offsets' [0,8]", "beyond the data buffer", "holds 4 bytes"});
}

TEST_CASE("safetensors: a byte count that does not match numel · dtype size") {
  check_bad(R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 16]}})", 16,
            {"tensor 'w'", "field 'data_offsets' [0,16]", "spans 16 bytes", "need 24", "[2, 3]"});
}

TEST_CASE("safetensors: overlapping ranges") {
  check_bad(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
               "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 12,
            {"tensor 'b'", "field 'data_offsets' [4, 12]", "overlaps tensor 'a'"});
}

TEST_CASE("safetensors: a hole between tensors") {
  check_bad(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
               "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})", 12,
            {"bytes [4, 8)", "belong to no tensor", "tensor 'b'", "'data_offsets'", "tile the buffer"});
  check_bad(R"({"b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8, {"bytes [0, 4)"});
}

TEST_CASE("safetensors: trailing bytes after the last tensor") {
  check_bad(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 8,
            {"holds 8 bytes", "cover only [0, 4)", "4 trailing bytes"});
}

TEST_CASE("safetensors: duplicate tensor names") {
  check_bad(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
            8, {"header", "second 'a'"});
}

TEST_CASE("safetensors: metadata that is not string → string") {
  check_bad(R"({"__metadata__": {"epoch": 3}})", 0, {"'__metadata__' entry 'epoch'", "must be a string", "found number"});
  check_bad(R"({"__metadata__": ["x"]})", 0, {"'__metadata__' must be an object"});
}

TEST_CASE("safetensors: values lacoot cannot hold") {
  std::string b = st_file(R"({"u": {"dtype": "U64", "shape": [1], "data_offsets": [0, 8]}})", 8);
  b[b.size() - 1] = '\x80';  // 2^63
  check_error([&] { parse_safetensors(b, "bad.safetensors"); }, {"bad.safetensors", "tensor 'u'", "beyond int64"});
  b = st_file(R"({"m": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}})", 2);
  b[b.size() - 1] = '\x02';
  check_error([&] { parse_safetensors(b, "bad.safetensors"); }, {"bad.safetensors", "tensor 'm'", "element 1", "0 or 1"});
}

TEST_CASE("safetensors: errors from load_safetensors name the path") {
  ScratchDir dir;
  const std::string path = dir.file("truncated.safetensors");
  const std::string ref = bytes_of(fx_io::st_spec_example::bytes);
  write_plain(path, ref.substr(0, ref.size() - 4));
  check_error([&] { load_safetensors(path); }, {path, "tensor 'w'", "data_offsets", "beyond the data buffer"});
}

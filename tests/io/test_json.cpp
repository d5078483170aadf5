// Tests for io/json.hpp: parse_json and Json::dump.
//
// References: texts written by Python's json module (tests/fixtures/io_fixtures.hpp, from
// gen_io.py): json.dumps with ensure_ascii=True gives \u escapes and a surrogate pair for
// U+1F600, whose UTF-8 bytes Python also gives; json.dumps with separators=(',', ':') and with
// indent=2 are the exact texts dump() and dump(2) must produce. Then one case per rule of the
// grammar that a strict parser must enforce, each error checked for its byte offset.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "../check.hpp"
#include "../fixtures/io_fixtures.hpp"
#include "io_test_util.hpp"
#include "lacoot/io/json.hpp"

using namespace lacoot;
using namespace lacoot::test;
namespace fx_io = fixtures::io;

TEST_CASE("json: Python's text parses to the same values, and prints back byte for byte") {
  const Json doc = parse_json(fx_io::json_doc::ascii_text);
  REQUIRE(doc.is_object());
  // Insertion order is kept: the keys in the order Python wrote them.
  const char* keys[] = {"name", "quote", "ctrl", "ints", "floats", "flags", "nested"};
  REQUIRE(doc.size() == 7);
  for (std::size_t i = 0; i < 7; ++i) CHECK(doc.as_object()[i].first == keys[i]);
  // \u00e9 → C3 A9, the pair \ud83d\ude00 → F0 9F 98 80 (U+1F600).
  CHECK(doc.find("name")->as_string() == fx_io::json_doc::name_utf8);
  CHECK(doc.find("ctrl")->as_string() == fx_io::json_doc::ctrl_utf8);
  CHECK(doc.find("quote")->as_string() == "say \"hi\"\\");
  const Json& ints = *doc.find("ints");
  CHECK(ints.as_array()[2].as_int64() == 9007199254740993);  // 2^53 + 1: a double would round it
  CHECK(ints.as_array()[3].as_int64() == INT64_MIN);
  const Json& floats = *doc.find("floats");
  CHECK(floats.as_array()[3].as_double() == 1.5e-07);
  CHECK_FALSE(floats.as_array()[0].is_integer());
  CHECK(doc.find("flags")->as_array()[2].is_null());
  CHECK(doc.find("nested")->find("deep")->as_array()[1].find("x")->as_string() == "y");
  CHECK(doc.find("missing") == nullptr);

  CHECK(doc.dump() == fx_io::json_doc::compact);
  CHECK(doc.dump(2) == fx_io::json_doc::pretty);
  CHECK(parse_json(doc.dump(2)) == doc);
}

TEST_CASE("json: building a document for summary.json") {
  Json s;
  s["test_top1"] = 0.9125;
  s["epochs"] = 3;
  s["blocks"].push_back("layer1.0");
  s["blocks"].push_back("layer2.1");
  s["ok"] = true;
  s["epochs"] = 4;  // replaces, keeps its place
  CHECK(s.dump() == R"({"test_top1":0.9125,"epochs":4,"blocks":["layer1.0","layer2.1"],"ok":true})");
  CHECK(s.dump(1) == "{\n \"test_top1\": 0.9125,\n \"epochs\": 4,\n \"blocks\": [\n  \"layer1.0\",\n"
                     "  \"layer2.1\"\n ],\n \"ok\": true\n}");
  CHECK(Json(std::string("a\x01/\x7f")).dump() == "\"a\\u0001/\x7f\"");
  check_error([] { Json(std::nan("")).dump(); }, {"cannot be written as JSON"});
  check_error([] { Json(INFINITY).dump(); }, {"cannot be written as JSON"});
  check_error([] { Json(std::string("\xff")).dump(); }, {"invalid UTF-8"});
  check_error([] { Json(1).as_string(); }, {"expected string, found number"});
  check_error([] { Json(1.5).as_int64(); }, {"expected an integer", "1.5"});
}

TEST_CASE("json: numbers keep an exact int64 when integral") {
  CHECK(parse_json("8").as_int64() == 8);
  CHECK(parse_json("8.0").as_int64() == 8);
  CHECK(parse_json("1e3").as_int64() == 1000);
  CHECK(parse_json("-0").as_int64() == 0);
  CHECK_FALSE(parse_json("1.5").is_integer());
  CHECK_FALSE(parse_json("1e300").is_integer());
  CHECK(parse_json("9223372036854775807").as_int64() == INT64_MAX);
  CHECK(parse_json("9223372036854775808").as_double() == 9223372036854775808.0);  // beyond int64: a double
  CHECK(parse_json("1e-400").as_double() == 0.0);  // underflow rounds to zero
  CHECK(parse_json("-2.5E+2").as_double() == -250.0);
  CHECK(parse_json(" \t\r\n[ ]\n").as_array().empty());
  check_error([] { parse_json("1e400"); }, {"byte 0", "range of a double"});
  check_error([] { parse_json("[01]"); }, {"byte 2", "leading zeros"});
  check_error([] { parse_json("1."); }, {"byte 2", "a digit after '.'"});
  check_error([] { parse_json(".5"); }, {"byte 0", "a JSON value"});
  check_error([] { parse_json("+1"); }, {"byte 0", "a JSON value"});
  check_error([] { parse_json("-"); }, {"byte 1", "a digit"});
  check_error([] { parse_json("1e"); }, {"byte 2", "exponent"});
  check_error([] { parse_json("NaN"); }, {"byte 0", "found 'N'"});
}

TEST_CASE("json: strict grammar, errors name the source, the byte offset and what was expected") {
  check_error([] { parse_json("", "summary.json"); }, {"summary.json", "byte 0", "a JSON value", "end of the text"});
  check_error([] { parse_json(R"({"a": 1,})"); }, {"byte 8", "member name"});
  check_error([] { parse_json("[1, 2,]"); }, {"byte 6", "trailing commas"});
  check_error([] { parse_json(R"({"a" 1})"); }, {"byte 5", "':'"});
  check_error([] { parse_json("{'a': 1}"); }, {"byte 1", "double quotes"});
  check_error([] { parse_json("['a']"); }, {"byte 1", "double quotes"});
  check_error([] { parse_json("[1 2]"); }, {"byte 3", "',' or ']'"});
  check_error([] { parse_json("{} x"); }, {"byte 3", "end of the text after the JSON value"});
  check_error([] { parse_json("tru"); }, {"byte 0"});
  check_error([] { parse_json(R"({"a":1,"a":2})"); }, {"byte 7", "second 'a'"});
  check_error([] { parse_json(std::string(300, '[') + std::string(300, ']')); }, {"nested"});
  CHECK(parse_json(std::string(200, '[') + std::string(200, ']')).is_array());
}

TEST_CASE("json: strings — escapes, surrogate pairs, UTF-8 validation") {
  CHECK(parse_json(R"("\"\\\/\b\f\n\r\t")").as_string() == "\"\\/\b\f\n\r\t");
  CHECK(parse_json(R"("\u0041\u00E9\u20ac")").as_string() == "A\xc3\xa9\xe2\x82\xac");
  CHECK(parse_json(R"("\uD834\uDD1E")").as_string() == "\xf0\x9d\x84\x9e");  // U+1D11E, by the UTF-16 rule
  CHECK(parse_json("\"\xe2\x82\xac\"").as_string() == "\xe2\x82\xac");
  check_error([] { parse_json("\"abc"); }, {"byte 4", "close the string"});
  check_error([] { parse_json("\"a\x01\""); }, {"byte 2", "control characters must be escaped"});
  check_error([] { parse_json(R"("\q")"); }, {"byte 2", "\\uXXXX"});
  check_error([] { parse_json(R"("\u12")"); }, {"byte 5", "four hex digits"});
  check_error([] { parse_json(R"("\ud800")"); }, {"byte 7", "low surrogate"});
  check_error([] { parse_json(R"("\ud800\u0041")"); }, {"byte 7", "low surrogate"});
  check_error([] { parse_json(R"("\udc00")"); }, {"byte 1", "lone low surrogate"});
  check_error([] { parse_json("\"\xff\""); }, {"byte 1", "UTF-8"});
  check_error([] { parse_json("\"\xc0\xaf\""); }, {"byte 1", "UTF-8"});      // overlong '/'
  check_error([] { parse_json("\"\xed\xa0\x80\""); }, {"byte 1", "UTF-8"});  // an encoded surrogate
  check_error([] { parse_json("\"\xe2\x82\""); }, {"byte 1", "UTF-8"});      // truncated sequence
  check_error([] { parse_json("\"\xf4\x90\x80\x80\""); }, {"byte 1", "UTF-8"});  // beyond U+10FFFF
}

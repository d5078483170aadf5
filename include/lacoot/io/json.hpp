// lacoot/io/json.hpp — a small, strict JSON value, parser and writer.
//
// Holds: Json (null, bool, number, string, array, object; objects keep insertion order),
// parse_json (RFC 8259, strict) and Json::dump (compact, or pretty-printed with an indent).
// Used for the safetensors header and, in train/ and lacoot/, for summary.json and
// trajectory.json.
// Needs: core/error.hpp.
// Leaves out: comments, trailing commas, NaN/Infinity literals, numbers beyond double range
// (all rejected, since RFC 8259 §6 has none of them), and streaming (texts are small).
//
// Numbers keep a double and, when the value is an integer, the exact int64: an integer literal
// that fits int64 ("9007199254740993" stays exact, a double would round it), or any literal
// whose value is integral and at most 2^53 in magnitude ("8.0", "1e3").
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../core/error.hpp"

namespace lacoot {

namespace detail {
class JsonParser;
}

class Json {
 public:
  enum class Kind { Null, Bool, Number, String, Array, Object };
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;

  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool b) : kind_(Kind::Bool), bool_(b) {}
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  Json(T v) : kind_(Kind::Number) {
    if constexpr (std::is_unsigned_v<T>)
      LACOOT_CHECK(v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), "Json: the "
                   "integer ", v, " does not fit int64 (hint: store it as a double or a string)");
    set_integer(static_cast<int64_t>(v));
  }
  template <std::floating_point T>
  Json(T v) : kind_(Kind::Number), number_(static_cast<double>(v)) {
    // An integral double within ±2^53 is exact as an int64 too; -0.0 is not (it would lose its sign).
    const bool negative_zero = number_ == 0.0 && std::signbit(number_);
    if (std::trunc(number_) == number_ && std::abs(number_) <= 9007199254740992.0 && !negative_zero) {
      is_integer_ = true;
      integer_ = static_cast<int64_t>(number_);
    }
  }
  Json(std::string s) : kind_(Kind::String), string_(std::move(s)) {}
  Json(std::string_view s) : Json(std::string(s)) {}
  Json(const char* s) : Json(std::string(s)) {}
  static Json array(Array items = {}) {
    Json j;
    j.kind_ = Kind::Array;
    j.array_ = std::move(items);
    return j;
  }
  static Json object(Object members = {}) {
    Json j;
    j.kind_ = Kind::Object;
    j.object_ = std::move(members);
    return j;
  }

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::Null; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_number() const { return kind_ == Kind::Number; }
  bool is_integer() const { return kind_ == Kind::Number && is_integer_; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_array() const { return kind_ == Kind::Array; }
  bool is_object() const { return kind_ == Kind::Object; }

  // "null", "bool", "number", "string", "array", "object": for error messages.
  static const char* kind_name(Kind k) {
    static const char* names[] = {"null", "bool", "number", "string", "array", "object"};
    return names[static_cast<int>(k)];
  }
  const char* kind_name() const { return kind_name(kind_); }

  // Typed access; each throws lacoot::Error when the value is of another kind.
  bool as_bool() const { return checked(Kind::Bool).bool_; }
  double as_double() const { return checked(Kind::Number).number_; }
  int64_t as_int64() const {
    LACOOT_CHECK(checked(Kind::Number).is_integer_, "Json: expected an integer, found the number ", number_);
    return integer_;
  }
  const std::string& as_string() const { return checked(Kind::String).string_; }
  const Array& as_array() const { return checked(Kind::Array).array_; }
  Array& as_array() { return checked(Kind::Array).array_; }
  const Object& as_object() const { return checked(Kind::Object).object_; }
  Object& as_object() { return checked(Kind::Object).object_; }

  // Elements of an array or members of an object; 0 for the other kinds.
  std::size_t size() const {
    return kind_ == Kind::Array ? array_.size() : kind_ == Kind::Object ? object_.size() : 0;
  }

  // The member named `key` of an object, or nullptr (also when this is not an object).
  const Json* find(std::string_view key) const {
    if (kind_ != Kind::Object) return nullptr;
    for (const auto& [k, v] : object_)
      if (k == key) return &v;
    return nullptr;
  }
  // Building: j["loss"] = 0.5 sets or appends a member; a null value becomes an empty object.
  Json& operator[](std::string_view key) {
    if (kind_ == Kind::Null) kind_ = Kind::Object;
    expect(Kind::Object);
    for (auto& [k, v] : object_)
      if (k == key) return v;
    object_.emplace_back(std::string(key), Json());
    return object_.back().second;
  }
  // Appends to an array; a null value becomes an empty array.
  void push_back(Json v) {
    if (kind_ == Kind::Null) kind_ = Kind::Array;
    expect(Kind::Array);
    array_.push_back(std::move(v));
  }

  // Same kind and value; numbers compare as doubles, objects member by member in order.
  bool operator==(const Json& o) const {
    if (kind_ != o.kind_) return false;
    switch (kind_) {
      case Kind::Null: return true;
      case Kind::Bool: return bool_ == o.bool_;
      case Kind::Number: return is_integer_ && o.is_integer_ ? integer_ == o.integer_ : number_ == o.number_;
      case Kind::String: return string_ == o.string_;
      case Kind::Array: return array_ == o.array_;
      case Kind::Object: return object_ == o.object_;
    }
    return false;
  }

  // The JSON text. indent < 0: compact, no spaces ({"a":[1,2]}, as serde_json and the
  // safetensors writer print it); indent ≥ 0: one member or element per line, nested levels
  // indented by `indent` spaces, ": " after keys (as Python's json.dumps(indent=...)).
  std::string dump(int indent = -1) const {
    std::string out;
    write(out, indent, 0);
    return out;
  }

 private:
  friend class detail::JsonParser;

  // A parsed number: its double and, when `is_int`, its exact integer value.
  static Json parsed_number(double d, bool is_int, int64_t i) {
    Json j(d);
    j.is_integer_ = is_int;
    j.integer_ = i;
    return j;
  }
  void expect(Kind k) const {
    LACOOT_CHECK(kind_ == k, "Json: expected ", kind_name(k), ", found ", kind_name());
  }
  const Json& checked(Kind k) const {
    expect(k);
    return *this;
  }
  Json& checked(Kind k) {
    expect(k);
    return *this;
  }
  void set_integer(int64_t v) {
    kind_ = Kind::Number;
    number_ = static_cast<double>(v);
    integer_ = v;
    is_integer_ = true;
  }

  static void write_string(std::string& out, std::string_view s);
  void write(std::string& out, int indent, int level) const;

  Kind kind_ = Kind::Null;
  bool bool_ = false;
  bool is_integer_ = false;
  double number_ = 0.0;
  int64_t integer_ = 0;
  std::string string_;
  Array array_;
  Object object_;
};

namespace detail {

// Decodes one UTF-8 sequence at s[pos] (RFC 3629: no overlong forms, no surrogates, at most
// U+10FFFF). Returns its length, or 0 when the bytes are not valid UTF-8.
inline std::size_t utf8_sequence_length(std::string_view s, std::size_t pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(pos);
  if (b0 < 0x80) return 1;
  std::size_t n = b0 >= 0xf0 ? 4 : b0 >= 0xe0 ? 3 : b0 >= 0xc0 ? 2 : 0;
  if (n == 0 || b0 > 0xf4 || b0 == 0xc0 || b0 == 0xc1 || pos + n > s.size()) return 0;
  uint32_t cp = b0 & (0x7f >> n);
  for (std::size_t i = 1; i < n; ++i) {
    if ((byte(pos + i) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(pos + i) & 0x3f);
  }
  const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

inline void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// A recursive-descent parser over RFC 8259's grammar. Every error names `source`, the byte
// offset, what the grammar expected there and what it found.
class JsonParser {
 public:
  JsonParser(std::string_view text, std::string source) : text_(text), source_(std::move(source)) {}

  Json parse_document() {
    Json value = parse_value(0);
    skip_whitespace();
    if (pos_ != text_.size()) fail("the end of the text after the JSON value");
    return value;
  }

 private:
  // Deep enough for any real document, shallow enough that hostile input cannot overflow the stack.
  static constexpr int kMaxDepth = 256;

  [[noreturn]] void fail(std::string_view expected, std::string_view hint = "") const {
    std::string found;
    if (pos_ >= text_.size()) {
      found = "the end of the text";
    } else {
      const auto c = static_cast<unsigned char>(text_[pos_]);
      char buf[16];
      if (c >= 0x20 && c < 0x7f) std::snprintf(buf, sizeof buf, "'%c'", c);
      else std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
      found = buf;
    }
    throw Error(concat(source_, ": invalid JSON at byte ", pos_, ": expected ", expected,
                       ", found ", found, hint.empty() ? "" : " (hint: ", hint, hint.empty() ? "" : ")"));
  }

  void skip_whitespace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool peek(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
  bool consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool is_digit() const { return pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9'; }

  Json parse_value(int depth) {
    skip_whitespace();
    if (depth > kMaxDepth) fail("at most 256 nested arrays and objects");
    if (pos_ >= text_.size()) fail("a JSON value");
    const char c = text_[pos_];
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    if (c == '"') return Json(parse_string());
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
    if (consume("true")) return Json(true);
    if (consume("false")) return Json(false);
    if (consume("null")) return Json();
    fail("a JSON value (object, array, string, number, true, false or null)",
         c == '\'' ? "JSON strings use double quotes" : "");
  }

  Json parse_object(int depth) {
    ++pos_;  // '{'
    Json obj = Json::object();
    std::unordered_set<std::string> seen;
    skip_whitespace();
    if (consume("}")) return obj;
    for (;;) {
      skip_whitespace();
      if (!peek('"')) fail("a member name in double quotes");
      const std::size_t key_pos = pos_;
      std::string key = parse_string();
      if (!seen.insert(key).second) {
        pos_ = key_pos;
        fail(concat("a new member name, not a second '", key, "'"), "duplicate names are ambiguous");
      }
      skip_whitespace();
      if (!peek(':')) fail("':' after the member name");
      ++pos_;
      Json value = parse_value(depth + 1);
      obj.as_object().emplace_back(std::move(key), std::move(value));
      skip_whitespace();
      if (peek(',')) {
        ++pos_;
        continue;
      }
      if (consume("}")) return obj;
      fail("',' or '}' in an object");
    }
  }

  Json parse_array(int depth) {
    ++pos_;  // '['
    Json arr = Json::array();
    skip_whitespace();
    if (consume("]")) return arr;
    for (;;) {
      arr.as_array().push_back(parse_value(depth + 1));
      skip_whitespace();
      if (peek(',')) {
        ++pos_;
        skip_whitespace();
        if (peek(']')) fail("a value after ','", "JSON has no trailing commas");
        continue;
      }
      if (consume("]")) return arr;
      fail("',' or ']' in an array");
    }
  }

  uint32_t parse_hex4() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      if (pos_ >= text_.size()) fail("four hex digits after \\u");
      const char c = text_[pos_];
      const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) fail("four hex digits after \\u");
      v = v * 16 + static_cast<uint32_t>(d);
    }
    return v;
  }

  std::string parse_string() {
    ++pos_;  // '"'
    std::string out;
    for (;;) {
      if (pos_ >= text_.size()) fail("'\"' to close the string");
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (consume("\"")) return out;
      if (c < 0x20) fail("a character of a string", "control characters must be escaped, e.g. \\n or \\u0001");
      if (c == '\\') {
        ++pos_;
        if (pos_ >= text_.size()) fail("an escape character after '\\'");
        const char e = text_[pos_];
        const char* simple = "\"\\/bfnrt";
        const char* plain = "\"\\/\b\f\n\r\t";
        if (const char* p = std::strchr(simple, e); p && e) {
          out += plain[p - simple];
          ++pos_;
          continue;
        }
        if (e != 'u') fail("one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX");
        ++pos_;
        uint32_t cp = parse_hex4();
        if (cp >= 0xdc00 && cp <= 0xdfff) {
          pos_ -= 6;
          fail("a \\u escape that is not a lone low surrogate", "U+DC00..U+DFFF must follow a high surrogate");
        }
        if (cp >= 0xd800 && cp <= 0xdbff) {  // a UTF-16 surrogate pair encodes U+10000..U+10FFFF
          if (text_.substr(pos_, 2) != "\\u") fail("a \\uDC00..\\uDFFF low surrogate after a high surrogate");
          pos_ += 2;
          const uint32_t low = parse_hex4();
          if (low < 0xdc00 || low > 0xdfff) {
            pos_ -= 6;
            fail("a \\uDC00..\\uDFFF low surrogate after a high surrogate");
          }
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        }
        append_utf8(out, cp);
        continue;
      }
      const std::size_t n = utf8_sequence_length(text_, pos_);
      if (n == 0) fail("valid UTF-8 in a string", "RFC 8259 §8.1 requires UTF-8");
      out.append(text_.substr(pos_, n));
      pos_ += n;
    }
  }

  Json parse_number() {
    const std::size_t start = pos_;
    bool integral_syntax = true;
    if (peek('-')) ++pos_;
    if (peek('0')) {
      ++pos_;
      if (is_digit()) fail("'.', 'e' or the end of the number after a leading 0", "JSON numbers have no leading zeros");
    } else if (is_digit()) {
      while (is_digit()) ++pos_;
    } else {
      fail("a digit");
    }
    if (peek('.')) {
      integral_syntax = false;
      ++pos_;
      if (!is_digit()) fail("a digit after '.'");
      while (is_digit()) ++pos_;
    }
    if (peek('e') || peek('E')) {
      integral_syntax = false;
      ++pos_;
      if (peek('+') || peek('-')) ++pos_;
      if (!is_digit()) fail("a digit in the exponent");
      while (is_digit()) ++pos_;
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    if (integral_syntax) {
      int64_t i = 0;
      if (auto [p, ec] = std::from_chars(first, last, i); ec == std::errc() && p == last)
        return Json::parsed_number(static_cast<double>(i), true, i);
    }
    double d = 0;
    auto [p, ec] = std::from_chars(first, last, d);
    if (ec == std::errc::result_out_of_range) {
      if (!magnitude_at_least_one(std::string_view(first, static_cast<std::size_t>(last - first)))) {
        d = *first == '-' ? -0.0 : 0.0;  // underflow: rounds to zero, as JSON readers do
      } else {
        pos_ = start;
        fail("a number within the range of a double (about ±1.8e308)");
      }
    } else if (ec != std::errc() || p != last) {
      pos_ = start;
      fail("a number");
    }
    return Json(d);
  }

  // Whether a valid JSON number literal is ≥ 1 in magnitude: its decimal exponent (digits
  // before the point, minus leading zeros, plus the 'e' part) is not negative.
  static bool magnitude_at_least_one(std::string_view s) {
    std::size_t i = s[0] == '-' ? 1 : 0;
    long long order = -1, exp = 0;
    bool seen_nonzero = false, after_point = false;
    for (; i < s.size() && s[i] != 'e' && s[i] != 'E'; ++i) {
      if (s[i] == '.') { after_point = true; continue; }
      if (!seen_nonzero && s[i] != '0') seen_nonzero = true;
      if (!after_point && seen_nonzero) ++order;
      if (after_point && !seen_nonzero) --order;
    }
    if (i < s.size()) {
      bool negative = s[++i] == '-';
      if (s[i] == '+' || s[i] == '-') ++i;
      for (; i < s.size(); ++i) exp = std::min(exp * 10 + (s[i] - '0'), 1000000000LL);
      if (negative) exp = -exp;
    }
    return seen_nonzero && order + exp >= 0;
  }

  std::string_view text_;
  std::string source_;
  std::size_t pos_ = 0;
};

}  // namespace detail

// Parses one JSON document (RFC 8259, strict: UTF-8, no duplicate member names, nothing but
// whitespace after the value). Errors start with `source` (a file name, or "safetensors
// header of 'model.safetensors'") and give the byte offset into `text`.
inline Json parse_json(std::string_view text, const std::string& source = "JSON text") {
  return detail::JsonParser(text, source).parse_document();
}

// serde_json's escapes: \" \\ \b \f \n \r \t, other control characters as \u00XX (lower-case
// hex), everything else (including '/' and non-ASCII UTF-8) as it is.
inline void Json::write_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = detail::utf8_sequence_length(s, i);
      LACOOT_CHECK(n > 0, "Json::dump: the string has invalid UTF-8 at byte ", i, " (byte 0x",
                   std::hex, static_cast<int>(c), "); JSON text must be UTF-8");
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

inline void Json::write(std::string& out, int indent, int level) const {
  const auto newline = [&](int lvl) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(lvl), ' ');
  };
  switch (kind_) {
    case Kind::Null: out += "null"; return;
    case Kind::Bool: out += bool_ ? "true" : "false"; return;
    case Kind::Number: {
      if (is_integer_) {
        out += std::to_string(integer_);
        return;
      }
      LACOOT_CHECK(std::isfinite(number_), "Json::dump: ", number_, " cannot be written as JSON, "
                   "which has no NaN or infinity (hint: store null or a string such as \"nan\")");
      char buf[32];
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, number_);  // shortest round-trip form
      out.append(buf, p);
      return;
    }
    case Kind::String: write_string(out, string_); return;
    case Kind::Array:
      if (array_.empty()) { out += "[]"; return; }
      out += '[';
      for (std::size_t i = 0; i < array_.size(); ++i) {
        if (i) out += ',';
        newline(level + 1);
        array_[i].write(out, indent, level + 1);
      }
      newline(level);
      out += ']';
      return;
    case Kind::Object:
      if (object_.empty()) { out += "{}"; return; }
      out += '{';
      for (std::size_t i = 0; i < object_.size(); ++i) {
        if (i) out += ',';
        newline(level + 1);
        write_string(out, object_[i].first);
        out += indent < 0 ? ":" : ": ";
        object_[i].second.write(out, indent, level + 1);
      }
      newline(level);
      out += '}';
      return;
  }
}

}  // namespace lacoot

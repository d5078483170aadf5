// lacoot/io/npy.hpp — reading and writing NumPy .npy files (one array per file), the format of
// `lacoot run --input X.npy --output Y.npy` and `lacoot maxswd --x X.npy`.
//
// Holds: parse_npy / load_npy (bytes or a file → Tensor, every field checked) and
// serialize_npy / save_npy (Tensor → the bytes numpy 1.24's np.save writes; the file is
// written atomically).
// Needs: core/tensor.hpp, io/half.hpp ('<f2'), io/atomic_file.hpp.
// Leaves out: .npz archives, structured and object dtypes (object arrays are pickles, which a
// reader must never run), Fortran-order data (an error with the fix), memory mapping.
//
// Format (specs/formats.md §6; numpy's numpy/lib/format.py):
//   bytes 0-5  magic "\x93NUMPY"; byte 6 major version (1, 2 or 3); byte 7 minor version (0)
//   v1.0       bytes 8-9 HEADER_LEN, uint16 little-endian; header at byte 10
//   v2.0, v3.0 bytes 8-11 HEADER_LEN, uint32 little-endian; header at byte 12
//   header     a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False,
//              'shape': (3, 4), }, padded with spaces and ended by '\n'; then the raw data.
//
// dtypes read: '<f4' float32, '<f8' float64, '<i8' int64 as themselves; '<f2' widened to
// float32; the other integer and bool dtypes ('|u1', '|i1', '<i2', '<u2', '<i4', '<u4', '|b1',
// and '<u8' when every value fits) widened to int64, which keeps raw values (image bytes stay
// 0..255, no scaling). Big-endian ('>f4', ...) data is byte-swapped. `as` converts the result
// to another DType afterwards (load_npy("img.npy", kFloat32)).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "../core/tensor.hpp"
#include "atomic_file.hpp"
#include "half.hpp"

namespace lacoot {

namespace detail {

// The three fields of a .npy header.
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  Shape shape;
};

// A strict reader of the header dict: the subset of Python literal syntax that numpy writes
// (quoted strings, True/False, tuples of non-negative ints), any key order, optional trailing
// commas; exactly the keys 'descr', 'fortran_order' and 'shape', each once.
class NpyHeaderParser {
 public:
  NpyHeaderParser(std::string_view text, std::string src, std::size_t start)
      : text_(text), src_(std::move(src)), start_(start) {}

  NpyHeader parse() {
    NpyHeader h;
    bool seen[3] = {false, false, false};
    skip();
    expect('{', "'{' opening the header dict");
    for (;;) {
      skip();
      if (consume('}')) break;
      const std::size_t key_at = pos_;
      const std::string key = string_literal("a quoted key ('descr', 'fortran_order' or 'shape')");
      const int k = key == "descr" ? 0 : key == "fortran_order" ? 1 : key == "shape" ? 2 : -1;
      if (k < 0 || seen[k]) pos_ = key_at;  // point the error at the key
      if (k < 0) fail(concat("one of the keys 'descr', 'fortran_order', 'shape', not '", key, "'"));
      if (seen[k]) fail(concat("each key once, but '", key, "' appears twice"));
      seen[k] = true;
      skip();
      expect(':', "':' after the key");
      skip();
      if (k == 0) {
        if (peek('[')) fail("a dtype string for 'descr'", "structured dtypes (a list of fields) are not supported");
        h.descr = string_literal("a quoted dtype string for 'descr', such as '<f4'");
      } else if (k == 1) {
        if (consume_word("True")) h.fortran_order = true;
        else if (consume_word("False")) h.fortran_order = false;
        else fail("True or False for 'fortran_order'");
      } else {
        h.shape = shape_tuple();
      }
      skip();
      if (consume(',')) continue;
      expect('}', "',' or '}' after a value");
      break;
    }
    skip();
    if (pos_ != text_.size()) fail("only spaces and '\\n' after the header dict");
    for (int k = 0; k < 3; ++k)
      if (!seen[k]) {
        const char* names[] = {"descr", "fortran_order", "shape"};
        throw Error(concat(src_, ": the header dict has no '", names[k], "' key (a .npy header "
                           "holds 'descr', 'fortran_order' and 'shape')"));
      }
    return h;
  }

 private:
  [[noreturn]] void fail(std::string_view expected, std::string_view hint = "") const {
    const std::string found = pos_ < text_.size() ? concat("'", text_.substr(pos_, 12), "'")
                                                  : std::string("the end of the header");
    throw Error(concat(src_, ": invalid header dict at file byte ", start_ + pos_, ": expected ",
                       expected, ", found ", found, hint.empty() ? "" : " (", hint, hint.empty() ? "" : ")"));
  }
  void skip() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool peek(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
  bool consume(char c) {
    if (!peek(c)) return false;
    ++pos_;
    return true;
  }
  void expect(char c, std::string_view what) {
    if (!consume(c)) fail(what);
  }
  bool consume_word(std::string_view w) {
    if (text_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  // 'text' or "text"; numpy never writes escapes in these strings, so none are accepted.
  std::string string_literal(std::string_view what) {
    if (!peek('\'') && !peek('"')) fail(what);
    const char quote = text_[pos_++];
    const std::size_t begin = pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\' || text_[pos_] == '\n') fail(what, "escapes and line breaks are not expected here");
      ++pos_;
    }
    if (pos_ >= text_.size()) fail("the closing quote of a string");
    return std::string(text_.substr(begin, pos_++ - begin));
  }
  // (), (n,), (a, b), (a, b,): a tuple of non-negative ints. (n) is an int in Python, not a
  // tuple, and numpy rejects it too.
  Shape shape_tuple() {
    Shape shape;
    expect('(', "a tuple such as (3, 4) for 'shape'");
    bool trailing_comma = false;
    for (;;) {
      skip();
      if (consume(')')) break;
      if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9')
        fail("a non-negative integer dimension in 'shape'");
      int64_t d = 0;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        LACOOT_CHECK(d <= (std::numeric_limits<int64_t>::max() - 9) / 10, src_, ": a dimension "
                     "in 'shape' is too large for int64");
        d = d * 10 + (text_[pos_++] - '0');
      }
      shape.push_back(d);
      skip();
      trailing_comma = consume(',');
      if (!trailing_comma) {
        expect(')', "',' or ')' in the 'shape' tuple");
        break;
      }
    }
    if (shape.size() == 1 && !trailing_comma) fail("a tuple", "a 1-D shape is written (n,) with a comma");
    return shape;
  }

  std::string_view text_;
  std::string src_;
  std::size_t start_;  // the header's offset in the file, so errors give file offsets
  std::size_t pos_ = 0;
};

// How a descr's elements are read: the element kind ('f', 'i', 'u', 'b'), size and byte order.
struct NpyDescr {
  char kind;
  std::size_t size;
  bool big_endian;
};

inline NpyDescr npy_descr(const std::string& descr, const std::string& src) {
  const auto unsupported = [&](std::string_view why) {
    return Error(concat(src, ": field 'descr' is '", descr, "': ", why, " (lacoot reads float16/"
                        "32/64, integers of 1 to 8 bytes and bool; hint: arr.astype('<f4') in numpy)"));
  };
  if (descr.size() >= 2 && descr[1] == 'O')
    throw unsupported("object arrays hold Python pickles, which lacoot never loads");
  if (descr.size() < 3) throw unsupported("not a dtype lacoot knows");
  const char order = descr[0], kind = descr[1];
  std::size_t size = 0;
  for (std::size_t i = 2; i < descr.size(); ++i) {
    if (descr[i] < '0' || descr[i] > '9' || size > 16) throw unsupported("not a dtype lacoot knows");
    size = size * 10 + static_cast<std::size_t>(descr[i] - '0');
  }
  const bool ok = (kind == 'f' && (size == 2 || size == 4 || size == 8)) ||
                  ((kind == 'i' || kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8)) ||
                  (kind == 'b' && size == 1);
  if (!ok) throw unsupported("this dtype is not supported");
  if (order != '<' && order != '>' && order != '|')
    throw unsupported("the byte order must be '<' (little-endian), '>' (big-endian) or '|'");
  if (order == '|' && size != 1) throw unsupported("'|' (no byte order) only fits 1-byte types");
  return {kind, size, order == '>'};
}

// Element i of the data as an unsigned integer of `size` bytes, in host order.
inline uint64_t npy_bits(const char* data, std::size_t i, const NpyDescr& d) {
  unsigned char b[8];
  std::memcpy(b, data + i * d.size, d.size);
  uint64_t v = 0;
  for (std::size_t k = 0; k < d.size; ++k)
    v |= static_cast<uint64_t>(b[d.big_endian ? d.size - 1 - k : k]) << (8 * k);
  return v;
}

// The tensor of `n` elements at `data`, widened as the descr table says.
inline Tensor npy_tensor(const char* data, const Shape& shape, const NpyDescr& d, const std::string& src) {
  const std::size_t n = static_cast<std::size_t>(numel(shape));
  // The common case, a little-endian lacoot dtype, is a plain copy.
  if (!d.big_endian && ((d.kind == 'f' && d.size >= 4) || (d.kind == 'i' && d.size == 8))) {
    Tensor t = Tensor::empty(shape, d.kind == 'i' ? kInt64 : d.size == 8 ? kFloat64 : kFloat32);
    if (n) std::memcpy(t.raw_data(), data, n * d.size);
    return t;
  }
  if (d.kind == 'f') {
    Tensor t = Tensor::empty(shape, d.size == 8 ? kFloat64 : kFloat32);
    for (std::size_t i = 0; i < n; ++i) {
      const uint64_t bits = npy_bits(data, i, d);
      if (d.size == 8) t.data<double>()[i] = std::bit_cast<double>(bits);
      else if (d.size == 4) t.data<float>()[i] = std::bit_cast<float>(static_cast<uint32_t>(bits));
      else t.data<float>()[i] = half_to_float(static_cast<uint16_t>(bits));
    }
    return t;
  }
  Tensor t = Tensor::empty(shape, kInt64);
  int64_t* out = t.data<int64_t>();
  const unsigned shift = static_cast<unsigned>(64 - 8 * d.size);
  for (std::size_t i = 0; i < n; ++i) {
    const uint64_t bits = npy_bits(data, i, d);
    if (d.kind == 'i') {
      out[i] = static_cast<int64_t>(bits << shift) >> shift;  // sign-extend from 8·size bits
    } else {
      LACOOT_CHECK(bits <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) &&
                   (d.kind != 'b' || bits <= 1), src, ": element ", i, " is ", bits,
                   d.kind == 'b' ? ", not a bool (0 or 1)" : ", beyond int64, lacoot's only integer dtype");
      out[i] = static_cast<int64_t>(bits);
    }
  }
  return t;
}

}  // namespace detail

// Reads .npy bytes (a whole file's contents); `source` names them in errors (the file path for
// load_npy). Checks the magic, the version (1.0, 2.0, 3.0), that the header fits in the file,
// the header dict's syntax and keys, the dtype, and that the data holds exactly
// numel(shape) · itemsize bytes. With `as`, the tensor is converted to that DType.
inline Tensor parse_npy(std::string_view bytes, const std::string& source = "<memory>",
                        std::optional<DType> as = std::nullopt) {
  const std::string src = detail::concat("npy '", source, "'");
  LACOOT_CHECK(bytes.size() >= 10 && bytes.substr(0, 6) == std::string_view("\x93NUMPY", 6), src,
               ": not a .npy file: it does not start with the magic bytes \\x93NUMPY (hint: is it "
               "an .npz archive or a text file?)");
  const int major = static_cast<unsigned char>(bytes[6]), minor = static_cast<unsigned char>(bytes[7]);
  LACOOT_CHECK((major == 1 || major == 2 || major == 3) && minor == 0, src, ": format version ",
               major, ".", minor, " is not supported (expected 1.0, 2.0 or 3.0)");
  const std::size_t length_bytes = major == 1 ? 2 : 4, start = 8 + length_bytes;
  LACOOT_CHECK(bytes.size() >= start, src, ": the file ends inside its header length field");
  uint64_t header_len = 0;
  for (std::size_t k = 0; k < length_bytes; ++k)
    header_len |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[8 + k])) << (8 * k);
  LACOOT_CHECK(header_len <= bytes.size() - start, src, ": the header length field says ",
               header_len, " bytes, but only ", bytes.size() - start, " bytes follow it (hint: "
               "is the file truncated?)");
  const detail::NpyHeader h =
      detail::NpyHeaderParser(bytes.substr(start, header_len), src, start).parse();
  const detail::NpyDescr d = detail::npy_descr(h.descr, src);
  LACOOT_CHECK(!h.fortran_order, src, ": field 'fortran_order' is True (column-major data), "
               "which lacoot does not read (hint: save np.ascontiguousarray(arr) instead)");

  const std::optional<int64_t> count = checked_numel(h.shape);
  uint64_t nbytes = 0;
  const bool overflow = !count || __builtin_mul_overflow(static_cast<uint64_t>(*count), d.size, &nbytes);
  LACOOT_CHECK(!overflow, src, ": field 'shape' ", shape_str(h.shape), " holds more elements or bytes than "
               "a 64-bit size can count");
  const uint64_t have = bytes.size() - start - header_len;
  LACOOT_CHECK(have == nbytes, src, ": field 'shape' ", shape_str(h.shape), " with descr '",
               h.descr, "' needs ", nbytes, " data bytes, but the file holds ", have,
               have < nbytes ? " (hint: is the file truncated?)" : "");
  Tensor t = detail::npy_tensor(bytes.data() + start + header_len, h.shape, d, src);
  return as && *as != t.dtype() ? t.to(*as) : t;
}

// Reads the .npy file at `path` (see parse_npy); with `as`, converts to that DType.
inline Tensor load_npy(const std::string& path, std::optional<DType> as = std::nullopt) {
  return parse_npy(read_file(path), path, as);
}

namespace detail {

// The header numpy 1.24's np.save writes (numpy/lib/format.py, _write_array_header and
// _wrap_header): the dict with sorted keys and repr() values, 21 - len(repr(shape[0])) spare
// spaces so the array can grow in place, then spaces up to the next 64-byte boundary
// (at least one) and '\n'. Version 1.0 unless the header needs more than 65,535 bytes.
inline std::string npy_header(const Tensor& t) {
  const char* descr = t.dtype() == kFloat32 ? "<f4" : t.dtype() == kFloat64 ? "<f8" : "<i8";
  std::string shape = "(";
  for (std::size_t i = 0; i < t.shape().size(); ++i)
    shape += (i ? ", " : "") + std::to_string(t.shape()[i]);
  shape += t.shape().size() == 1 ? ",)" : ")";
  std::string dict = concat("{'descr': '", descr, "', 'fortran_order': False, 'shape': ", shape, ", }");
  if (!t.shape().empty()) dict.append(21 - std::min<std::size_t>(21, std::to_string(t.shape()[0]).size()), ' ');
  const std::size_t hlen = dict.size() + 1;  // with the '\n'
  int major = 1;
  std::size_t pad = 64 - (10 + hlen) % 64;
  if (hlen + pad > 65535) {
    major = 2;
    pad = 64 - (12 + hlen) % 64;
  }
  const uint64_t header_len = hlen + pad;
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  for (int k = 0; k < (major == 1 ? 2 : 4); ++k) out += static_cast<char>((header_len >> (8 * k)) & 0xff);
  out += dict;
  out.append(pad, ' ');
  out += '\n';
  return out;
}

}  // namespace detail

// The bytes np.save(arr) writes for the same array in numpy 1.24 (float32 '<f4', float64
// '<f8', int64 '<i8'): the data starts on a 64-byte boundary.
inline std::string serialize_npy(const Tensor& t) {
  LACOOT_CHECK(t.defined(), "save_npy: the tensor is undefined");
  std::string out = detail::npy_header(t);
  const Tensor host = t.to(kCPU);
  out.append(static_cast<const char*>(host.raw_data()), host.nbytes());
  return out;
}

// Writes `t` to the .npy file `path` (as serialize_npy), atomically: a crash mid-save leaves
// the previous file intact.
inline void save_npy(const std::string& path, const Tensor& t) {
  LACOOT_CHECK(t.defined(), "save_npy: the tensor for '", path, "' is undefined");
  const std::string header = detail::npy_header(t);
  const Tensor host = t.to(kCPU);
  write_file_atomic(path, [&](std::FILE* f) {
    std::fwrite(header.data(), 1, header.size(), f);
    if (host.numel()) std::fwrite(host.raw_data(), dtype_size(host.dtype()), static_cast<std::size_t>(host.numel()), f);
  });
}

}  // namespace lacoot

// lacoot/io/safetensors.hpp — reading and writing .safetensors files (Hugging Face's format for
// named tensors, which PyTorch state_dicts are exported to).
//
// Holds: Safetensors (named tensors plus string metadata), parse_safetensors /
// load_safetensors (bytes or a file → tensors, validating every field) and
// serialize_safetensors / save_safetensors (tensors → bytes laid out as the reference writer
// lays them out; the file is written atomically).
// Needs: core/tensor.hpp, io/json.hpp (the header), io/half.hpp (F16, BF16), io/atomic_file.hpp.
// Leaves out: memory mapping and lazy loading (a file is read whole), and writing dtypes
// lacoot has no tensors of.
//
// Format (specs/formats.md §5, safetensors' Rust reference `safetensors/src/tensor.rs`):
//   offset 0      N, uint64 little-endian: the byte length of the header
//   offset 8      N bytes of UTF-8 JSON: {"__metadata__": {str: str}, name: {"dtype": "F32",
//                 "shape": [d0, ...], "data_offsets": [BEGIN, END]}, ...}
//   offset 8 + N  the data buffer; BEGIN/END are relative to it, END one past the last byte.
// Values are little-endian and row-major; shape [] is a scalar.
//
// dtypes read: F32, F64, I64 as themselves; F16 and BF16 widened to float32 (exactly); the
// integer types BOOL, U8, I8, I16, U16, I32, U32 widened to int64 (exactly), and U64 to int64
// when every value fits. F8_*, C64 and unknown dtypes are an error naming the tensor.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/tensor.hpp"
#include "atomic_file.hpp"
#include "half.hpp"
#include "json.hpp"

namespace lacoot {

static_assert(std::endian::native == std::endian::little,
              "lacoot's readers copy little-endian file bytes straight into tensors");

// The contents of a safetensors file, in the order of its header.
struct Safetensors {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::vector<std::pair<std::string, std::string>> metadata;  // the "__metadata__" object

  // The tensor named `name`, or nullptr.
  const Tensor* find(std::string_view name) const {
    for (const auto& [n, t] : tensors)
      if (n == name) return &t;
    return nullptr;
  }
  // The metadata value under `key`, or nullptr.
  const std::string* find_metadata(std::string_view key) const {
    for (const auto& [k, v] : metadata)
      if (k == key) return &v;
    return nullptr;
  }
};

// Which 16-bit type, if any, the writer stores float32 tensors as.
enum class HalfType { None, F16, BF16 };

struct SafetensorsSaveOptions {
  // Store every float32 tensor as F16 or BF16 (rounded to nearest, ties to even), halving the
  // file; loading widens them back to float32. float64 and int64 tensors are kept as they are.
  HalfType float32_as = HalfType::None;
};

namespace detail {

// One safetensors dtype: its name, element size, its rank in the Rust reference's `Dtype` enum
// (declared in increasing alignment; the writer sorts by it, largest first), and how lacoot
// reads it.
enum class StRead { Same, Half, BFloat16, Unsigned, Signed, Bool, U64, Unsupported };
struct StDType {
  std::string_view name;
  std::size_t size;
  int rank;
  StRead read;
};

inline const StDType* st_dtype(std::string_view name) {
  static const StDType table[] = {
      {"BOOL", 1, 0, StRead::Bool},     {"U8", 1, 1, StRead::Unsigned},
      {"I8", 1, 2, StRead::Signed},     {"F8_E5M2", 1, 3, StRead::Unsupported},
      {"F8_E4M3", 1, 4, StRead::Unsupported}, {"I16", 2, 5, StRead::Signed},
      {"U16", 2, 6, StRead::Unsigned},  {"F16", 2, 7, StRead::Half},
      {"BF16", 2, 8, StRead::BFloat16}, {"I32", 4, 9, StRead::Signed},
      {"U32", 4, 10, StRead::Unsigned}, {"F32", 4, 11, StRead::Same},
      {"F64", 8, 12, StRead::Same},     {"I64", 8, 13, StRead::Same},
      {"U64", 8, 14, StRead::U64},      {"C64", 8, 15, StRead::Unsupported},
  };
  for (const StDType& d : table)
    if (d.name == name) return &d;
  return nullptr;
}

// One validated header entry.
struct StEntry {
  std::string name;
  const StDType* dtype;
  Shape shape;
  uint64_t begin, end;
};

// A non-negative integer field of the header (a shape dim or an offset), or an error that
// names the file, the tensor and the field.
inline uint64_t st_index(const Json& v, const std::string& where, const std::string& field) {
  LACOOT_CHECK(v.is_integer() && v.as_int64() >= 0, where, ": field '", field, "' must be a "
               "non-negative integer, found ", v.is_number() ? v.dump() : v.kind_name());
  return static_cast<uint64_t>(v.as_int64());
}

inline StEntry st_entry(const std::string& name, const Json& info, const std::string& src,
                        uint64_t buffer_size) {
  const std::string where = concat(src, ": tensor '", name, "'");
  LACOOT_CHECK(info.is_object(), where, ": expected an object {\"dtype\", \"shape\", "
               "\"data_offsets\"}, found ", info.kind_name());
  const auto field = [&](const char* key) -> const Json& {
    const Json* v = info.find(key);
    LACOOT_CHECK(v != nullptr, where, ": missing field '", key, "' (each tensor needs "
                 "\"dtype\", \"shape\" and \"data_offsets\")");
    return *v;
  };
  StEntry e{name, nullptr, {}, 0, 0};
  const Json& dtype = field("dtype");
  LACOOT_CHECK(dtype.is_string(), where, ": field 'dtype' must be a string such as \"F32\", "
               "found ", dtype.kind_name());
  e.dtype = st_dtype(dtype.as_string());
  LACOOT_CHECK(e.dtype != nullptr, where, ": field 'dtype' is \"", dtype.as_string(), "\", "
               "not a safetensors dtype (expected one of BOOL U8 I8 I16 U16 I32 U32 U64 F16 "
               "BF16 F32 F64 I64)");
  LACOOT_CHECK(e.dtype->read != StRead::Unsupported, where, ": dtype ", e.dtype->name,
               " is not supported (lacoot reads F32, F64, I64, F16/BF16 as float32 and the "
               "integer types as int64; hint: convert it in Python, e.g. t.float())");

  const Json& shape = field("shape");
  LACOOT_CHECK(shape.is_array(), where, ": field 'shape' must be an array of dimension sizes, "
               "found ", shape.kind_name());
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const uint64_t d = st_index(shape.as_array()[i], where, concat("shape[", i, "]"));
    LACOOT_CHECK(d <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), where,
                 ": field 'shape[", i, "]' is ", d, ", too large for a dimension");
    e.shape.push_back(static_cast<int64_t>(d));
  }
  const std::optional<int64_t> count = checked_numel(e.shape);
  const uint64_t numel = count ? static_cast<uint64_t>(*count) : 0;
  uint64_t nbytes = 0;
  const bool overflow = !count || __builtin_mul_overflow(numel, e.dtype->size, &nbytes);
  LACOOT_CHECK(!overflow, where, ": field 'shape' ", shape.dump(), " holds more elements or bytes than a "
               "64-bit size can count");

  const Json& offsets = field("data_offsets");
  LACOOT_CHECK(offsets.is_array() && offsets.size() == 2, where, ": field 'data_offsets' must "
               "be [BEGIN, END], found ", offsets.is_array() ? offsets.dump() : offsets.kind_name());
  e.begin = st_index(offsets.as_array()[0], where, "data_offsets[0]");
  e.end = st_index(offsets.as_array()[1], where, "data_offsets[1]");
  LACOOT_CHECK(e.begin <= e.end, where, ": field 'data_offsets' ", offsets.dump(),
               " has BEGIN > END");
  LACOOT_CHECK(e.end <= buffer_size, where, ": field 'data_offsets' ", offsets.dump(),
               " ends beyond the data buffer, which holds ", buffer_size,
               " bytes (hint: is the file truncated?)");
  LACOOT_CHECK(e.end - e.begin == nbytes, where, ": field 'data_offsets' ", offsets.dump(),
               " spans ", e.end - e.begin, " bytes, but dtype ", e.dtype->name, " and shape ",
               shape_str(e.shape), " need ", nbytes, " (", numel, " elements of ",
               e.dtype->size, " bytes)");
  return e;
}

// The tensor of entry `e` from its bytes, widened as the dtype table says.
inline Tensor st_tensor(const StEntry& e, const char* bytes, const std::string& src) {
  const std::size_t n = static_cast<std::size_t>(numel(e.shape)), size = e.dtype->size;
  const auto load = [&](std::size_t i, auto sample) {
    decltype(sample) v;
    std::memcpy(&v, bytes + i * size, sizeof v);
    return v;
  };
  const auto widen_int = [&](auto sample) {
    Tensor t = Tensor::empty(e.shape, kInt64);
    int64_t* out = t.data<int64_t>();
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<int64_t>(load(i, sample));
    return t;
  };
  switch (e.dtype->read) {
    case StRead::Same: {
      const DType dt = e.dtype->name == "F32" ? kFloat32 : e.dtype->name == "F64" ? kFloat64 : kInt64;
      Tensor t = Tensor::empty(e.shape, dt);
      if (n) std::memcpy(t.raw_data(), bytes, n * size);
      return t;
    }
    case StRead::Half:
    case StRead::BFloat16: {
      Tensor t = Tensor::empty(e.shape, kFloat32);
      float* out = t.data<float>();
      const bool half = e.dtype->read == StRead::Half;
      for (std::size_t i = 0; i < n; ++i) {
        const uint16_t h = load(i, uint16_t{});
        out[i] = half ? half_to_float(h) : bfloat16_to_float(h);
      }
      return t;
    }
    case StRead::Bool: {
      Tensor t = widen_int(uint8_t{});
      for (std::size_t i = 0; i < n; ++i)
        LACOOT_CHECK(t.data<int64_t>()[i] <= 1, src, ": tensor '", e.name, "' (BOOL) holds the "
                     "byte ", t.data<int64_t>()[i], " at element ", i, "; a bool byte is 0 or 1");
      return t;
    }
    case StRead::Unsigned:
      return size == 1 ? widen_int(uint8_t{}) : size == 2 ? widen_int(uint16_t{}) : widen_int(uint32_t{});
    case StRead::Signed:
      return size == 1 ? widen_int(int8_t{}) : size == 2 ? widen_int(int16_t{}) : widen_int(int32_t{});
    case StRead::U64: {
      Tensor t = Tensor::empty(e.shape, kInt64);
      for (std::size_t i = 0; i < n; ++i) {
        const uint64_t v = load(i, uint64_t{});
        LACOOT_CHECK(v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), src,
                     ": tensor '", e.name, "' (U64) holds ", v, " at element ", i,
                     ", beyond int64, lacoot's only integer dtype");
        t.data<int64_t>()[i] = static_cast<int64_t>(v);
      }
      return t;
    }
    case StRead::Unsupported: break;
  }
  throw Error(concat(src, ": tensor '", e.name, "': dtype ", e.dtype->name, " is not supported"));
}

}  // namespace detail

// Reads safetensors bytes (a whole file's contents); `source` names them in errors (the file
// path for load_safetensors). Checks, as the Rust reference does: the 8-byte length field, a
// header of at most 100,000,000 bytes that fits in the file, valid UTF-8 JSON holding an
// object, string-only metadata, and for each tensor its dtype, a non-negative shape and
// data_offsets that match numel · dtype size; the tensors' ranges, sorted, must tile the data
// buffer exactly (no overlap, no hole, no trailing bytes). Duplicate names are rejected.
inline Safetensors parse_safetensors(std::string_view bytes, const std::string& source = "<memory>") {
  const std::string src = detail::concat("safetensors '", source, "'");
  LACOOT_CHECK(bytes.size() >= 8, src, ": the file is ", bytes.size(), " bytes long, shorter "
               "than the 8-byte header length at its start (hint: is it truncated, or not a "
               "safetensors file?)");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  constexpr uint64_t kMaxHeader = 100'000'000;  // the reference's MAX_HEADER_SIZE
  LACOOT_CHECK(n <= kMaxHeader, src, ": the header length field (bytes 0-7) says ", n,
               " bytes, over the format's limit of 100,000,000 (hint: not a safetensors file?)");
  LACOOT_CHECK(n <= bytes.size() - 8, src, ": the header length field (bytes 0-7) says ", n,
               " bytes, but only ", bytes.size() - 8, " bytes follow it (hint: is the file truncated?)");
  const Json header = parse_json(bytes.substr(8, n), detail::concat(src, ": header (JSON from file byte 8)"));
  LACOOT_CHECK(header.is_object(), src, ": the header must be a JSON object of tensor "
               "entries, found ", header.kind_name());

  const uint64_t buffer_size = bytes.size() - 8 - n;
  Safetensors out;
  std::vector<detail::StEntry> entries;
  for (const auto& [name, info] : header.as_object()) {
    if (name == "__metadata__") {
      LACOOT_CHECK(info.is_object(), src, ": field '__metadata__' must be an object of "
                   "strings, found ", info.kind_name());
      for (const auto& [key, value] : info.as_object()) {
        LACOOT_CHECK(value.is_string(), src, ": field '__metadata__' entry '", key, "' must be "
                     "a string, found ", value.kind_name(), " (safetensors metadata maps "
                     "strings to strings)");
        out.metadata.emplace_back(key, value.as_string());
      }
      continue;
    }
    entries.push_back(detail::st_entry(name, info, src, buffer_size));
  }

  // Sorted by offsets, each range must start where the previous one ended (empty tensors,
  // BEGIN == END, fit anywhere on that chain).
  std::vector<const detail::StEntry*> order;
  for (const auto& e : entries) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return std::pair(a->begin, a->end) < std::pair(b->begin, b->end);
  });
  uint64_t covered = 0;
  const detail::StEntry* previous = nullptr;
  for (const detail::StEntry* e : order) {
    LACOOT_CHECK(e->begin >= covered, src, ": tensor '", e->name, "' field 'data_offsets' [",
                 e->begin, ", ", e->end, "] overlaps tensor '", previous ? previous->name : "",
                 "' [", previous ? previous->begin : 0, ", ", covered, "]");
    LACOOT_CHECK(e->begin == covered, src, ": bytes [", covered, ", ", e->begin, ") of the data "
                 "buffer belong to no tensor (before tensor '", e->name, "', field "
                 "'data_offsets'); the format requires the tensors to tile the buffer exactly");
    covered = e->end;
    previous = e;
  }
  LACOOT_CHECK(covered == buffer_size, src, ": the data buffer holds ", buffer_size,
               " bytes but the tensors' data_offsets cover only [0, ", covered, "); the ",
               buffer_size - covered, " trailing bytes belong to no tensor");

  const char* buffer = bytes.data() + 8 + n;
  for (const auto& e : entries)
    out.tensors.emplace_back(e.name, detail::st_tensor(e, buffer + e.begin, src));
  return out;
}

// Reads the safetensors file at `path` (see parse_safetensors for what is checked).
inline Safetensors load_safetensors(const std::string& path) {
  return parse_safetensors(read_file(path), path);
}

namespace detail {

// What the writer emits: the padded header text, then each tensor's bytes in `items` order.
struct StPlan {
  std::string header;
  std::vector<std::pair<const Tensor*, const StDType*>> items;
};

inline StPlan st_plan(const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::vector<std::pair<std::string, std::string>>& metadata,
                      const SafetensorsSaveOptions& options) {
  struct Item {
    const std::string* name;
    const Tensor* tensor;
    const StDType* dtype;
  };
  std::vector<Item> items;
  for (const auto& [name, t] : tensors) {
    LACOOT_CHECK(name != "__metadata__", "save_safetensors: '__metadata__' is reserved for the "
                 "metadata and cannot name a tensor");
    LACOOT_CHECK(t.defined(), "save_safetensors: tensor '", name, "' is undefined");
    const char* dt = t.dtype() == kFloat64 ? "F64" : t.dtype() == kInt64 ? "I64"
                     : options.float32_as == HalfType::F16 ? "F16"
                     : options.float32_as == HalfType::BF16 ? "BF16" : "F32";
    items.push_back({&name, &t, st_dtype(dt)});
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.dtype->rank != b.dtype->rank ? a.dtype->rank > b.dtype->rank : *a.name < *b.name;
  });
  for (std::size_t i = 1; i < items.size(); ++i)
    LACOOT_CHECK(*items[i].name != *items[i - 1].name, "save_safetensors: two tensors are "
                 "named '", *items[i].name, "'; names must be unique");

  auto meta = metadata;
  std::sort(meta.begin(), meta.end());
  Json header = Json::object();
  if (!meta.empty()) {
    Json m = Json::object();
    for (std::size_t i = 0; i < meta.size(); ++i) {
      LACOOT_CHECK(i == 0 || meta[i].first != meta[i - 1].first, "save_safetensors: the "
                   "metadata key '", meta[i].first, "' appears twice");
      m.as_object().emplace_back(meta[i].first, Json(meta[i].second));
    }
    header.as_object().emplace_back("__metadata__", std::move(m));
  }
  StPlan plan;
  uint64_t offset = 0;
  for (const Item& it : items) {
    Json shape = Json::array();
    for (int64_t d : it.tensor->shape()) shape.push_back(d);
    const uint64_t nbytes = static_cast<uint64_t>(it.tensor->numel()) * it.dtype->size;
    Json info = Json::object({{"dtype", Json(it.dtype->name)},
                              {"shape", std::move(shape)},
                              {"data_offsets", Json::array({offset, offset + nbytes})}});
    header.as_object().emplace_back(*it.name, std::move(info));
    plan.items.emplace_back(it.tensor, it.dtype);
    offset += nbytes;
  }
  plan.header = header.dump();
  plan.header.append((8 - plan.header.size() % 8) % 8, ' ');
  return plan;
}

// Emits the file through sink(const char* data, std::size_t size), one piece at a time, so
// that saving never holds a second copy of the model in memory.
template <class Sink>
void st_write(const StPlan& plan, Sink&& sink) {
  const uint64_t n = plan.header.size();
  sink(reinterpret_cast<const char*>(&n), 8);
  sink(plan.header.data(), plan.header.size());
  for (const auto& item : plan.items) {
    const Tensor host = item.first->to(kCPU);  // one tensor at a time off a GPU
    const Tensor* t = &host;
    const StDType* dtype = item.second;
    const std::size_t count = static_cast<std::size_t>(t->numel());
    if (t->dtype() != kFloat32 || dtype->size != 2) {
      if (count) sink(static_cast<const char*>(t->raw_data()), count * dtype->size);
      continue;
    }
    // float32 narrowed to F16/BF16, through a small buffer.
    const float* p = t->data<float>();
    uint16_t chunk[4096];
    for (std::size_t i = 0; i < count; i += 4096) {
      const std::size_t m = std::min<std::size_t>(4096, count - i);
      for (std::size_t j = 0; j < m; ++j)
        chunk[j] = dtype->name == "F16" ? float_to_half(p[i + j]) : float_to_bfloat16(p[i + j]);
      sink(reinterpret_cast<const char*>(chunk), 2 * m);
    }
  }
}

}  // namespace detail

// The bytes of a safetensors file holding `tensors` and `metadata`, laid out as the Rust
// reference's serializer (which Python's save_file uses) lays them out: tensors sorted by dtype
// in its enum order, largest first (I64, F64, F32, BF16, F16: each tensor starts aligned to its
// element size), then by name; the header compact JSON with "__metadata__" first (keys sorted;
// left out when empty), then each tensor as {"dtype", "shape", "data_offsets"} in offset
// order; the header padded with spaces to a multiple of 8 bytes so that the data buffer starts
// 8-byte aligned. (formats.md §5 says "by alignment"; the reference compares the enum, which
// also puts I64 before F64 whatever the names.)
inline std::string serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                         const std::vector<std::pair<std::string, std::string>>& metadata = {},
                                         const SafetensorsSaveOptions& options = {}) {
  std::string out;
  detail::st_write(detail::st_plan(tensors, metadata, options),
                   [&](const char* data, std::size_t size) { out.append(data, size); });
  return out;
}

// Writes `tensors` and `metadata` to the safetensors file `path` (layout as in
// serialize_safetensors), atomically: a crash mid-save leaves the previous file intact.
inline void save_safetensors(const std::string& path,
                             const std::vector<std::pair<std::string, Tensor>>& tensors,
                             const std::vector<std::pair<std::string, std::string>>& metadata = {},
                             const SafetensorsSaveOptions& options = {}) {
  const detail::StPlan plan = detail::st_plan(tensors, metadata, options);
  write_file_atomic(path, [&](std::FILE* f) {
    detail::st_write(plan, [&](const char* data, std::size_t size) { std::fwrite(data, 1, size, f); });
  });
}

}  // namespace lacoot

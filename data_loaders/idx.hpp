// data_loaders/idx.hpp — the IDX format of MNIST and Fashion-MNIST.
//
// Holds: IdxArray and load_idx (any IDX file), load_idx_images / load_idx_labels (the uint8
// images [N, rows, cols] and labels [N] of the MNIST family), and fashion_mnist / mnist, which
// find the four standard files under a root and return an ImageDataset of 28×28 gray images.
// Needs: gzip_file.hpp (files may be gzipped: `.gz` or not, detected by their magic bytes),
// dataset.hpp.
// Leaves out: downloading, EMNIST/KMNIST/QMNIST's extra files, and decoding the non-uint8 IDX
// element types into values (load_idx returns their raw big-endian bytes).
//
// Format (shared/specs/formats.md §1; torchvision 0.14 `datasets/mnist.py` read_sn3_pascalvincent):
//   bytes 0-1   00 00
//   byte 2      element type: 08 uint8, 09 int8, 0B int16, 0C int32, 0D float32, 0E float64
//   byte 3      number of dimensions N
//   4 .. 4+4N   N dimension sizes, uint32 big-endian
//   then        the elements in C order (last index fastest), multi-byte ones big-endian.
// Every check below names the file, the field, what was expected and what was found.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "dataset.hpp"
#include "gzip_file.hpp"
#include "lacoot/core/error.hpp"

namespace lacoot::data {

// The element type byte (byte 2 of the header).
enum class IdxType : uint8_t {
  UInt8 = 0x08, Int8 = 0x09, Int16 = 0x0B, Int32 = 0x0C, Float32 = 0x0D, Float64 = 0x0E
};

struct IdxArray {
  IdxType type = IdxType::UInt8;
  std::vector<int64_t> dims;  // outermost first, as in the header
  Bytes data;                 // the elements as stored: C order, big-endian

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
};

}  // namespace lacoot::data

namespace lacoot::detail {

inline const char* idx_type_name(uint8_t t) {
  switch (t) {
    case 0x08: return "uint8 (08)";
    case 0x09: return "int8 (09)";
    case 0x0B: return "int16 (0B)";
    case 0x0C: return "int32 (0C)";
    case 0x0D: return "float32 (0D)";
    case 0x0E: return "float64 (0E)";
  }
  return nullptr;
}

inline int64_t idx_type_size(uint8_t t) {
  switch (t) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
  }
  return 0;
}

inline std::string hex_byte(uint8_t b) {
  const char* digits = "0123456789abcdef";
  return std::string{digits[b >> 4], digits[b & 15]};
}

inline uint32_t read_be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

// Validates an IDX file held in `bytes` (already gunzipped) and moves its elements out.
inline data::IdxArray parse_idx(data::Bytes bytes, const std::string& name) {
  const auto size = static_cast<int64_t>(bytes.size());
  LACOOT_CHECK(size >= 4, "IDX file ", name, ": header: the file has ", size, " bytes, expected "
               "at least the 4-byte magic number (HINT: the file is empty or truncated)");
  LACOOT_CHECK(bytes[0] == 0 && bytes[1] == 0, "IDX file ", name, ": magic number: expected "
               "bytes 0-1 to be 00 00, found ", hex_byte(bytes[0]), " ", hex_byte(bytes[1]),
               " (HINT: is this an IDX file such as train-images-idx3-ubyte?)");
  const char* type_name = idx_type_name(bytes[2]);
  LACOOT_CHECK(type_name != nullptr, "IDX file ", name, ": element type (magic byte 2): found ",
               hex_byte(bytes[2]), ", expected one of 08 (uint8), 09 (int8), 0b (int16), "
               "0c (int32), 0d (float32), 0e (float64)");
  const int64_t ndim = bytes[3];
  LACOOT_CHECK(ndim >= 1, "IDX file ", name, ": number of dimensions (magic byte 3) is 0, "
               "expected at least 1");
  const int64_t header = 4 + 4 * ndim;
  LACOOT_CHECK(size >= header, "IDX file ", name, " is truncated: its header declares ", ndim,
               " dimensions, so needs ", header, " header bytes, but the file has ", size);

  data::IdxArray out;
  out.type = static_cast<data::IdxType>(bytes[2]);
  unsigned __int128 want = static_cast<unsigned __int128>(idx_type_size(bytes[2]));
  const unsigned __int128 have = static_cast<unsigned __int128>(size - header);
  for (int64_t d = 0; d < ndim; ++d) {
    const uint32_t n = read_be32(bytes.data() + 4 + 4 * d);
    out.dims.push_back(n);
    // Saturated past 2^64 (< 2^96 then): 255 dimensions of 2^32 would wrap even 128 bits.
    if (want <= UINT64_MAX) want *= n;
  }
  std::string dims;
  for (std::size_t d = 0; d < out.dims.size(); ++d) dims += (d ? " x " : "") + std::to_string(out.dims[d]);
  const std::string needed = want > UINT64_MAX ? "more than 2^64" : std::to_string(static_cast<uint64_t>(want));
  LACOOT_CHECK(have >= want, "IDX file ", name, " is truncated: dimensions ", dims, " of ",
               type_name, " need ", needed, " data bytes after the ", header,
               "-byte header, but the file has ", size - header,
               " (HINT: download the file again)");
  LACOOT_CHECK(have == want, "IDX file ", name, ": ", size - header - static_cast<int64_t>(want),
               " unexpected bytes after the data: dimensions ", dims, " of ", type_name,
               " need exactly ", static_cast<uint64_t>(want), " data bytes");
  bytes.erase(bytes.begin(), bytes.begin() + header);
  out.data = std::move(bytes);
  return out;
}

// `root/name`, else `root/name.gz`, else torchvision's layout root/<Folder>/raw/name(.gz).
inline std::filesystem::path find_idx_file(const std::filesystem::path& root, const std::string& name,
                                           const std::string& torchvision_folder) {
  const std::filesystem::path tries[] = {
      root / name, root / (name + ".gz"), root / torchvision_folder / "raw" / name,
      root / torchvision_folder / "raw" / (name + ".gz")};
  std::error_code ec;
  for (const auto& p : tries)
    if (std::filesystem::is_regular_file(p, ec)) return p;
  throw Error(concat("IDX dataset: ", name, " not found: tried ", tries[0].string(), " and ",
                     tries[1].string(), " (and the same under ", torchvision_folder, "/raw/). "
                     "HINT: pass the folder that holds the four *-ubyte(.gz) files; on Debian "
                     "Fashion-MNIST is installed in /usr/share/datasets/fashion-mnist"));
}

}  // namespace lacoot::detail

namespace lacoot::data {

// Any IDX file, gzipped or not, validated (magic, element type, dimensions against file size).
inline IdxArray load_idx(const std::filesystem::path& path) {
  return detail::parse_idx(read_file(path), path.string());
}

// An images file: uint8, 3 dimensions [N, rows, cols] (magic 00 00 08 03).
inline IdxArray load_idx_images(const std::filesystem::path& path) {
  IdxArray a = load_idx(path);
  LACOOT_CHECK(a.type == IdxType::UInt8, "IDX images file ", path.string(), ": element type: "
               "expected uint8 (08), found ", detail::idx_type_name(static_cast<uint8_t>(a.type)));
  LACOOT_CHECK(a.dims.size() == 3, "IDX images file ", path.string(), ": number of dimensions: "
               "expected 3 (N, rows, cols), found ", a.dims.size(),
               " (HINT: is this a labels file such as train-labels-idx1-ubyte?)");
  return a;
}

// A labels file: uint8, 1 dimension [N] (magic 00 00 08 01), each label < num_classes when
// num_classes > 0.
inline std::vector<int64_t> load_idx_labels(const std::filesystem::path& path, int64_t num_classes = 0) {
  IdxArray a = load_idx(path);
  LACOOT_CHECK(a.type == IdxType::UInt8, "IDX labels file ", path.string(), ": element type: "
               "expected uint8 (08), found ", detail::idx_type_name(static_cast<uint8_t>(a.type)));
  LACOOT_CHECK(a.dims.size() == 1, "IDX labels file ", path.string(), ": number of dimensions: "
               "expected 1 (N), found ", a.dims.size(),
               " (HINT: is this an images file such as train-images-idx3-ubyte?)");
  std::vector<int64_t> labels(a.data.begin(), a.data.end());
  if (num_classes > 0)
    for (std::size_t i = 0; i < labels.size(); ++i)
      LACOOT_CHECK(labels[i] < num_classes, "IDX labels file ", path.string(), ": label ",
                   labels[i], " at index ", i, " is out of range (expected a label < ",
                   num_classes, ")");
  return labels;
}

// An ImageDataset from an images file and a labels file of the same count; `class_names`
// gives the number of classes the labels are checked against.
inline ImageDataset load_idx_dataset(const std::filesystem::path& images_path,
                                     const std::filesystem::path& labels_path,
                                     std::vector<std::string> class_names) {
  IdxArray images = load_idx_images(images_path);
  ImageDataset ds;
  ds.labels = load_idx_labels(labels_path, static_cast<int64_t>(class_names.size()));
  LACOOT_CHECK(images.dims[0] == ds.size(), "IDX dataset: the images file ", images_path.string(),
               " holds ", images.dims[0], " images but the labels file ", labels_path.string(),
               " holds ", ds.size(), " labels (expected equal counts; HINT: are both from the "
               "same split, train or t10k?)");
  ds.channels = 1;
  ds.height = images.dims[1];
  ds.width = images.dims[2];
  ds.pixels = std::move(images.data);
  ds.class_names = std::move(class_names);
  return ds;
}

// Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): 60,000 training or 10,000 test images, 28×28
// gray, 10 classes named as torchvision's FashionMNIST.classes. `root` holds
// {train,t10k}-{images-idx3,labels-idx1}-ubyte, each optionally .gz.
inline ImageDataset fashion_mnist(const std::filesystem::path& root = "/usr/share/datasets/fashion-mnist",
                                  bool train = true) {
  const std::string split = train ? "train" : "t10k";
  const auto images = detail::find_idx_file(root, split + "-images-idx3-ubyte", "FashionMNIST");
  const auto labels = detail::find_idx_file(root, split + "-labels-idx1-ubyte", "FashionMNIST");
  return load_idx_dataset(images, labels,
                          {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                           "Shirt", "Sneaker", "Bag", "Ankle boot"});
}

// MNIST (LeCun et al. 1998): same files and layout; classes named as torchvision's MNIST.classes.
inline ImageDataset mnist(const std::filesystem::path& root, bool train = true) {
  const std::string split = train ? "train" : "t10k";
  const auto images = detail::find_idx_file(root, split + "-images-idx3-ubyte", "MNIST");
  const auto labels = detail::find_idx_file(root, split + "-labels-idx1-ubyte", "MNIST");
  return load_idx_dataset(images, labels,
                          {"0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
                           "6 - six", "7 - seven", "8 - eight", "9 - nine"});
}

}  // namespace lacoot::data

// data_loaders/cifar.hpp — CIFAR-10 and CIFAR-100, binary version.
//
// Holds: cifar10(root, train) and cifar100(root, train, labels), each returning an ImageDataset
// of 32×32 RGB images (planar uint8, as the records store them).
// Needs: gzip_file.hpp (a gzipped batch file is read as well), dataset.hpp.
// Leaves out: the python-pickle distribution (`cifar-10-batches-py`, which torchvision reads;
// spec §2.3 says it holds the same records) and downloading.
//
// Format (shared/specs/formats.md §2; Krizhevsky 2009, "Learning Multiple Layers of Features
// from Tiny Images", and the binary version's readme on the CIFAR page):
//   CIFAR-10   data_batch_1.bin … data_batch_5.bin (train, read in that order, as torchvision
//              concatenates them), test_batch.bin; batches.meta.txt = the 10 class names.
//              Record = 3073 bytes: label (0..9), then 1024 R, 1024 G, 1024 B bytes, each plane
//              row-major 32×32. No file header: a file is records back to back.
//   CIFAR-100  train.bin, test.bin; fine_label_names.txt (100), coarse_label_names.txt (20).
//              Record = 3074 bytes: coarse label (0..19), fine label (0..99), then the pixels.
// `root` may be the folder holding the files or its parent (with cifar-10-batches-bin/ or
// cifar-100-binary/ inside, as the archives unpack).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "dataset.hpp"
#include "gzip_file.hpp"
#include "lacoot/core/error.hpp"

namespace lacoot::detail {

inline constexpr int64_t kCifarImageBytes = 3 * 32 * 32;

// `root`, or `root/sub` when that folder exists (the archive's top folder).
inline std::filesystem::path cifar_folder(const std::filesystem::path& root, const char* sub) {
  std::error_code ec;
  return std::filesystem::is_directory(root / sub, ec) ? root / sub : root;
}

// Appends the records of one batch file's `bytes` to `ds`: `label_bytes` leading label bytes per
// record, of which the one at `label_index` is kept and checked against `num_classes`; `path`
// names the file in errors.
inline void append_cifar_records(data::ImageDataset& ds, const data::Bytes& bytes, const std::filesystem::path& path,
                                 int64_t label_bytes, int64_t label_index, int64_t num_classes, const char* dataset) {
  const int64_t record = label_bytes + kCifarImageBytes;
  const auto size = static_cast<int64_t>(bytes.size());
  LACOOT_CHECK(size > 0 && size % record == 0, dataset, ": ", path.string(), " has ", size,
               " bytes, which is not a whole number of ", record, "-byte records (", size / record,
               " records and ", size % record, " bytes left over; HINT: the file is truncated or "
               "is not the binary version — CIFAR-10 records are 3073 bytes, CIFAR-100 3074)");
  const int64_t n = size / record;
  const std::size_t first = ds.pixels.size();
  ds.pixels.resize(first + static_cast<std::size_t>(n * kCifarImageBytes));
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* rec = bytes.data() + r * record;
    for (int64_t k = 0; k < label_bytes; ++k) {
      // CIFAR-100 checks both labels, coarse (< 20) and fine (< 100), whichever is kept.
      const int64_t limit = label_bytes == 1 ? num_classes : (k == 0 ? 20 : 100);
      LACOOT_CHECK(rec[k] < limit, dataset, ": ", path.string(), ": record ", r, " (byte offset ",
                   r * record + k, "): ", label_bytes == 1 ? "label" : (k == 0 ? "coarse label" : "fine label"),
                   " ", int(rec[k]), " is out of range (expected 0..", limit - 1, ")");
    }
    ds.labels.push_back(rec[label_index]);
    std::copy(rec + label_bytes, rec + record,
              ds.pixels.begin() + static_cast<std::ptrdiff_t>(first) + r * kCifarImageBytes);
  }
}

// The same for the batch file at `path`.
inline void append_cifar_file(data::ImageDataset& ds, const std::filesystem::path& path,
                              int64_t label_bytes, int64_t label_index, int64_t num_classes,
                              const char* dataset) {
  std::error_code ec;
  LACOOT_CHECK(std::filesystem::is_regular_file(path, ec), dataset, ": ", path.string(),
               " not found (HINT: pass the folder that the binary archive unpacks to, e.g. "
               "cifar-10-batches-bin/, or its parent; the python-pickle version is not read)");
  append_cifar_records(ds, data::read_file(path), path, label_bytes, label_index, num_classes, dataset);
}

// The class names in a text file, one per line (blank lines and trailing spaces dropped); the
// built-in `fallback` names when the file does not exist.
inline std::vector<std::string> cifar_names(const std::filesystem::path& path, int64_t expected,
                                            std::vector<std::string> fallback, const char* dataset) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return fallback;
  const data::Bytes bytes = data::read_file(path);
  std::vector<std::string> names;
  std::string line;
  auto flush = [&] {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r' || line.back() == '\t')) line.pop_back();
    if (!line.empty()) names.push_back(line);
    line.clear();
  };
  for (uint8_t b : bytes) {
    if (b == '\n') flush();
    else line.push_back(static_cast<char>(b));
  }
  flush();
  LACOOT_CHECK(static_cast<int64_t>(names.size()) == expected, dataset, ": ", path.string(),
               " lists ", names.size(), " class names, expected ", expected, " (one per line)");
  return names;
}

}  // namespace lacoot::detail

namespace lacoot::data {

// CIFAR-10: 50,000 training images (data_batch_1..5) or 10,000 test images (test_batch).
inline ImageDataset cifar10(const std::filesystem::path& root, bool train = true) {
  const std::filesystem::path dir = detail::cifar_folder(root, "cifar-10-batches-bin");
  ImageDataset ds;
  ds.channels = 3;
  ds.height = ds.width = 32;
  if (train) {
    for (int b = 1; b <= 5; ++b)
      detail::append_cifar_file(ds, dir / ("data_batch_" + std::to_string(b) + ".bin"), 1, 0, 10,
                                "CIFAR-10");
  } else {
    detail::append_cifar_file(ds, dir / "test_batch.bin", 1, 0, 10, "CIFAR-10");
  }
  ds.class_names = detail::cifar_names(dir / "batches.meta.txt", 10,
                                       {"airplane", "automobile", "bird", "cat", "deer", "dog",
                                        "frog", "horse", "ship", "truck"}, "CIFAR-10");
  ds.validate("CIFAR-10 " + dir.string());
  return ds;
}

// Which CIFAR-100 label a sample carries: one of 100 classes, or one of 20 superclasses.
enum class Cifar100Labels { Fine, Coarse };

// CIFAR-100: 50,000 training images (train.bin) or 10,000 test images (test.bin). The class
// names come from fine_label_names.txt / coarse_label_names.txt (required: 100 names are too
// many to keep here).
inline ImageDataset cifar100(const std::filesystem::path& root, bool train = true,
                             Cifar100Labels labels = Cifar100Labels::Fine) {
  const std::filesystem::path dir = detail::cifar_folder(root, "cifar-100-binary");
  const bool fine = labels == Cifar100Labels::Fine;
  ImageDataset ds;
  ds.channels = 3;
  ds.height = ds.width = 32;
  detail::append_cifar_file(ds, dir / (train ? "train.bin" : "test.bin"), 2, fine ? 1 : 0,
                            fine ? 100 : 20, "CIFAR-100");
  const std::filesystem::path names = dir / (fine ? "fine_label_names.txt" : "coarse_label_names.txt");
  std::error_code ec;
  LACOOT_CHECK(std::filesystem::exists(names, ec), "CIFAR-100: ", names.string(), " not found "
               "(expected the class names, one per line, next to the .bin files)");
  ds.class_names = detail::cifar_names(names, fine ? 100 : 20, {}, "CIFAR-100");
  ds.validate("CIFAR-100 " + dir.string());
  return ds;
}

}  // namespace lacoot::data

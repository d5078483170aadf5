// data_loaders/image_folder.hpp — a folder of class folders of image files, decoded lazily.
//
// Holds: decode_image (JPEG, PNG, BMP, GIF, TGA through stb_image, binary PGM / PPM read here,
// always as RGB),
// ImageSample, ImageFolderOptions and ImageFolder (torchvision.datasets.ImageFolder: the PACS,
// VLCS, Flowers-102, DTD, Aircraft and Tiny-ImageNet layouts).
// Needs: stb_image (the implementation is compiled once somewhere: Debian's libstb, which
// pkg-config 'stb' and lacoot_data_dep link, holds it; without it define
// STB_IMAGE_IMPLEMENTATION in one .cpp before including <stb_image.h>), gzip_file.hpp for
// reading, dataset.hpp.
// Leaves out: TIFF and WebP decoding (the files are listed, as torchvision lists them, but
// get() on one throws an error that says to convert it), EXIF orientation, 16-bit precision.
//
// The listing follows torchvision 0.14 `datasets/folder.py` (shared/specs/formats.md §3.2):
//   * classes = the sorted names of the root's sub-directories (Python's sorted: code-point
//     order, case-sensitive; symbolic links to folders count); label = index in that list;
//   * samples: per class in that order, every directory under the class folder (recursively,
//     following links) sorted by its path string, as sorted(os.walk(...)), and inside each the
//     file names sorted; a file is kept when its lower-cased name ends with an extension of
//     the list (so `x_10.JPEG` < `x_100.JPEG` < `x_2.JPEG`);
//   * a class folder without any such file, or a root without class folders, is an error.
// One difference: a folder reached twice through links (a cycle, say) is walked once here;
// Python's os.walk would list it again each time (and follow a cycle until paths get too long).
//
// Decoding: stb_image in the file's channels, then gray replicated into R, G, B and alpha
// dropped, as PIL's convert("RGB") does. stb_image's JPEG decoder is not libjpeg's: pixels may
// differ from PIL's by a few levels (1/255 steps); PNG and BMP decode exactly.
#pragma once

#include <stb_image.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dataset.hpp"
#include "gzip_file.hpp"
#include "image.hpp"
#include "lacoot/core/error.hpp"

namespace lacoot::detail {

// True when the lower-cased name ends with one of `extensions` (torchvision's
// has_file_allowed_extension).
inline bool has_extension(const std::string& file_name, const std::vector<std::string>& extensions) {
  std::string lower = file_name;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const std::string& ext : extensions)
    if (lower.ends_with(ext)) return true;
  return false;
}

// stb_image 2.27 (Debian 12's libstb) trusts the code counts of a JPEG's Huffman tables: more
// than 256 codes in one table write past its 257-entry size array (found by
// tests/fuzz/fuzz_image). So before stb sees a JPEG, every DHT segment is walked as stb walks it
// — per table a class/id byte, 16 counts, then as many symbols as the counts add up to — and a
// table of more than 256 codes is an Error. The marker walk skips entropy-coded data (bytes up
// to the next 0xFF that starts a marker) as stb's own search for the next marker does.
inline void check_jpeg_huffman_tables(const std::vector<uint8_t>& b, const std::string& name) {
  std::size_t i = 0;
  while (i + 1 < b.size() && b[i] == 0xFF && b[i + 1] == 0xFF) ++i;  // fill bytes, as stb skips them
  if (i + 1 >= b.size() || b[i] != 0xFF || b[i + 1] != 0xD8) return;  // not a JPEG
  i += 2;
  while (i + 1 < b.size()) {
    const uint8_t marker = b[i + 1];
    if (b[i] != 0xFF || marker == 0xFF) {  // entropy-coded data, or fill bytes before a marker
      ++i;
      continue;
    }
    if (marker == 0x00 || marker == 0x01 || marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7)) {
      i += 2;  // a stuffed 0xFF, TEM, SOI, RSTn: no length field
      continue;
    }
    if (marker == 0xD9 || i + 3 >= b.size()) return;  // EOI, or no room for a length
    const std::size_t length = std::size_t{b[i + 2]} << 8 | b[i + 3];
    // DHT: its tables, while the segment has bytes left — stb reads a table that starts inside
    // the segment to its end, past the segment, and as zeros past the file.
    auto at = [&](std::size_t k) { return k < b.size() ? b[k] : uint8_t{0}; };
    for (std::size_t t = i + 4; marker == 0xC4 && t < i + 2 + length;) {
      std::size_t codes = 0;
      for (std::size_t k = 1; k <= 16; ++k) codes += at(t + k);
      LACOOT_CHECK(codes <= 256, "decode_image: ", name, " is a corrupt JPEG: the Huffman table at byte ", t, " (DHT "
                   "segment at byte ", i, ") declares ", codes, " codes, expected at most 256");
      t += 17 + codes;
    }
    i += 2 + length;
  }
}

// A PNG whose first IDAT chunk is empty makes stb_image 2.27 copy zero bytes to a null buffer
// (undefined behaviour; found by tests/fuzz/fuzz_image). An empty IDAT adds nothing to the
// compressed stream, so such chunks are dropped: returns the PNG without them, or nothing when
// it has none (or is not a PNG; a chunk running past the end is left to stb to report).
inline std::optional<std::vector<uint8_t>> without_empty_png_idat(const std::vector<uint8_t>& b) {
  static constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (b.size() < 8 || !std::equal(kSignature, kSignature + 8, b.begin())) return std::nullopt;
  std::vector<std::size_t> empty;  // offsets of the empty IDAT chunks (12 bytes each)
  for (std::size_t at = 8; at + 8 <= b.size();) {  // a chunk: length, type, data, CRC (4 bytes)
    const uint64_t length = uint64_t{b[at]} << 24 | uint64_t{b[at + 1]} << 16 | uint64_t{b[at + 2]} << 8 | b[at + 3];
    if (length == 0 && std::equal(b.begin() + static_cast<std::ptrdiff_t>(at + 4),
                                  b.begin() + static_cast<std::ptrdiff_t>(at + 8), "IDAT"))
      empty.push_back(at);  // its CRC may be cut off: stb reads the (empty) data before it
    if (at + 12 > b.size() || length > b.size() - at - 12) break;
    at += 12 + static_cast<std::size_t>(length);
  }
  if (empty.empty()) return std::nullopt;
  std::vector<uint8_t> out;
  out.reserve(b.size());
  std::size_t from = 0;
  for (std::size_t at : empty) {
    out.insert(out.end(), b.begin() + static_cast<std::ptrdiff_t>(from), b.begin() + static_cast<std::ptrdiff_t>(at));
    from = std::min(at + 12, b.size());
  }
  out.insert(out.end(), b.begin() + static_cast<std::ptrdiff_t>(from), b.end());
  return out;
}

// An image whose header claims more than `max_pixels` pixels is an Error, before any decoding.
inline void check_pixel_count(const std::string& name, int64_t width, int64_t height, int64_t max_pixels) {
  LACOOT_CHECK(width * height <= max_pixels, "decode_image: ", name, " says it is ", width, " x ", height,
               " pixels, more than the ", max_pixels, " decoded at most (PIL's decompression-bomb limit; "
               "HINT: is the file corrupt? if not, pass a larger max_pixels)");
}

// Binary PGM (P5) and PPM (P6), read here, not by stb_image 2.27, which overflows an int on a
// long number in the header, reads 16-bit samples in the machine's byte order and converts their
// channels past its buffer (all found by tests/fuzz/fuzz_image). Netpbm's format: the magic, then
// width, height and maxval as decimal numbers separated by whitespace (a '#' starts a comment to
// the end of the line), one whitespace byte, then rows of samples, one byte each when maxval <
// 256, else two, big-endian. Samples scale to 0..255 as value · 255 / maxval, rounded (PIL's
// convert("RGB") of such a file); gray is replicated into R, G, B.
inline data::Image decode_pnm(const std::vector<uint8_t>& b, const std::string& name, int64_t max_pixels) {
  std::size_t at = 2;
  auto number = [&](const char* field) {
    while (at < b.size() && (std::isspace(b[at]) || b[at] == '#'))
      if (b[at] == '#')
        while (at < b.size() && b[at] != '\n' && b[at] != '\r') ++at;
      else
        ++at;
    int64_t v = 0;
    const std::size_t first = at;
    for (; at < b.size() && std::isdigit(b[at]) && v <= INT32_MAX; ++at) v = v * 10 + (b[at] - '0');
    LACOOT_CHECK(at > first && v <= INT32_MAX && v > 0, "decode_image: ", name, ": PGM / PPM header field ", field,
                 " at byte ", first, ": expected a positive decimal number below 2^31");
    return v;
  };
  const int64_t width = number("width"), height = number("height"), maxval = number("maxval");
  LACOOT_CHECK(maxval < 65536, "decode_image: ", name, ": PGM / PPM maxval ", maxval, ", expected 1..65535");
  LACOOT_CHECK(at < b.size() && std::isspace(b[at]), "decode_image: ", name, ": PGM / PPM header: expected one "
               "whitespace byte after maxval, at byte ", at);
  ++at;
  check_pixel_count(name, width, height, max_pixels);
  const int64_t channels = b[1] == '6' ? 3 : 1, sample = maxval < 256 ? 1 : 2, n = width * height * channels;
  LACOOT_CHECK(static_cast<int64_t>(b.size() - at) >= n * sample, "decode_image: ", name, " is truncated: ", width,
               " x ", height, " x ", channels, " samples of ", sample, " byte(s) need ", n * sample, " bytes after the "
               "header, the file has ", b.size() - at);
  data::Image img(3, height, width);
  for (int64_t i = 0; i < n; ++i) {
    const std::size_t p = at + static_cast<std::size_t>(i * sample);
    const int64_t v = sample == 1 ? b[p] : (int64_t{b[p]} << 8 | b[p + 1]);
    const float level = static_cast<float>(std::min<int64_t>((v * 255 + maxval / 2) / maxval, 255)) / 255.f;
    const int64_t pixel = i / channels;
    for (int64_t c = channels == 3 ? i % 3 : 0; c < (channels == 3 ? i % 3 + 1 : 3); ++c)
      img.at(c, pixel / width, pixel % width) = level;
  }
  return img;
}

}  // namespace lacoot::detail

namespace lacoot::data {

// The most pixels decode_image decodes by default: PIL's decompression-bomb limit (twice
// Image.MAX_IMAGE_PIXELS, where PIL raises DecompressionBombError), so that a small corrupt
// file claiming 60000 x 60000 pixels is an error, not gigabytes allocated.
inline constexpr int64_t kMaxImagePixels = 178'956'970;

// The RGB image in `bytes` (an encoded file), converted as ToTensor does: float CHW in [0, 1].
// `name` (the file path) is put in the error; an image of more than `max_pixels` is one.
inline Image decode_image(const Bytes& bytes, const std::string& name, int64_t max_pixels = kMaxImagePixels) {
  LACOOT_CHECK(bytes.size() <= static_cast<std::size_t>(INT32_MAX), "decode_image: ", name,
               " has ", bytes.size(), " bytes, more than stb_image reads (2 GiB)");
  detail::check_jpeg_huffman_tables(bytes, name);
  // Before stbi_info, whose PNM header reader is the one that overflows.
  if (bytes.size() >= 2 && bytes[0] == 'P' && (bytes[1] == '5' || bytes[1] == '6'))
    return detail::decode_pnm(bytes, name, max_pixels);
  if (std::optional<Bytes> cleaned = detail::without_empty_png_idat(bytes))
    return decode_image(*cleaned, name, max_pixels);
  int width = 0, height = 0, channels_in_file = 0;
  if (stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height, &channels_in_file))
    detail::check_pixel_count(name, width, height, max_pixels);
  // The file's own channels (0 requested), made RGB below, so stb's channel conversion (which
  // misreads 16-bit data in 2.27) is never used.
  stbi_uc* pixels = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width,
                                          &height, &channels_in_file, 0);
  if (pixels == nullptr) {
    const char* why = stbi_failure_reason();
    const bool unsupported = detail::has_extension(name, {".tif", ".tiff", ".webp"});
    throw Error(detail::concat("decode_image: cannot decode ", name, ": stb_image says \"",
                               why ? why : "unknown error", "\" (", bytes.size(), " bytes; HINT: ",
                               unsupported ? "TIFF and WebP are not supported by stb_image; convert "
                                             "the files to PNG or JPEG"
                                           : "expected a JPEG, PNG, BMP, GIF, TGA, PGM or PPM file; "
                                             "is it truncated or corrupt?", ")"));
  }
  // Gray (+ alpha) replicated into R, G, B, alpha dropped: PIL's convert("RGB").
  const int64_t n = int64_t{width} * height, c = channels_in_file;
  std::vector<uint8_t> rgb(static_cast<std::size_t>(3 * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < 3; ++k) rgb[static_cast<std::size_t>(3 * i + k)] = pixels[i * c + (c >= 3 ? k : 0)];
  stbi_image_free(pixels);
  return image_from_hwc(rgb.data(), height, width, 3);
}

inline Image decode_image(const std::filesystem::path& path) {
  return decode_image(read_file_raw(path), path.string());
}

// One file and its class index.
struct ImageSample {
  std::filesystem::path path;
  int64_t label = 0;
};

struct ImageFolderOptions {
  // Lower-case file name endings to keep: torchvision's IMG_EXTENSIONS.
  std::vector<std::string> extensions = {".jpg", ".jpeg", ".png", ".ppm", ".bmp",
                                         ".pgm", ".tif", ".tiff", ".webp"};
};

}  // namespace lacoot::data

namespace lacoot::detail {

// The sorted names of the sub-directories of `root` (torchvision's find_classes).
inline std::vector<std::string> list_class_folders(const std::filesystem::path& root) {
  std::error_code ec;
  LACOOT_CHECK(std::filesystem::is_directory(root, ec), "ImageFolder: root ", root.string(),
               " is not a directory (HINT: check the dataset path)");
  std::vector<std::string> classes;
  for (const auto& entry : std::filesystem::directory_iterator(root))
    if (entry.is_directory(ec)) classes.push_back(entry.path().filename().string());
  std::sort(classes.begin(), classes.end());
  LACOOT_CHECK(!classes.empty(), "ImageFolder: couldn't find any class folder in ", root.string(),
               " (expected one sub-directory per class, e.g. root/cat/1.png, root/dog/2.png)");
  return classes;
}

// Every kept file under `dir`, in sorted(os.walk(dir, followlinks=True)) order.
inline std::vector<std::filesystem::path> walk_sorted(const std::filesystem::path& dir,
                                                      const std::vector<std::string>& extensions) {
  struct Folder {
    std::string path;
    std::vector<std::string> files;
  };
  std::vector<Folder> folders;
  std::set<std::filesystem::path> visited;  // canonical paths: each linked folder once
  std::vector<std::filesystem::path> stack = {dir};
  std::error_code ec;
  while (!stack.empty()) {
    const std::filesystem::path d = stack.back();
    stack.pop_back();
    if (!visited.insert(std::filesystem::canonical(d, ec)).second) continue;
    Folder f{d.string(), {}};
    for (const auto& entry : std::filesystem::directory_iterator(d)) {
      if (entry.is_directory(ec)) stack.push_back(entry.path());
      else if (has_extension(entry.path().filename().string(), extensions))
        f.files.push_back(entry.path().filename().string());
    }
    std::sort(f.files.begin(), f.files.end());
    folders.push_back(std::move(f));
  }
  std::sort(folders.begin(), folders.end(), [](const Folder& a, const Folder& b) { return a.path < b.path; });
  std::vector<std::filesystem::path> out;
  for (const Folder& f : folders)
    for (const std::string& name : f.files) out.push_back(std::filesystem::path(f.path) / name);
  return out;
}

}  // namespace lacoot::detail

namespace lacoot::data {

class ImageFolder : public Dataset {
 public:
  // Lists root/<class>/**/<file> (see the rules above); decodes nothing yet.
  explicit ImageFolder(const std::filesystem::path& root, ImageFolderOptions options = {})
      : classes_(detail::list_class_folders(root)) {
    std::vector<std::string> empty;
    for (std::size_t c = 0; c < classes_.size(); ++c) {
      std::vector<std::filesystem::path> files;
      try {
        files = detail::walk_sorted(root / classes_[c], options.extensions);
      } catch (const std::filesystem::filesystem_error& e) {
        throw Error(detail::concat("ImageFolder: cannot list ", (root / classes_[c]).string(),
                                   ": ", e.what()));
      }
      if (files.empty()) empty.push_back(classes_[c]);
      for (const auto& f : files) samples_.push_back({f, static_cast<int64_t>(c)});
    }
    LACOOT_CHECK(empty.empty(), "ImageFolder: found no valid file for the classes ",
                 detail::join(empty), " in ", root.string(), ". Supported extensions are: ",
                 detail::join(options.extensions), " (HINT: remove the empty folders or "
                 "add their files' extension to ImageFolderOptions::extensions)");
  }

  // Samples given explicitly (Tiny-ImageNet's val/ is listed from its annotations file).
  ImageFolder(std::vector<ImageSample> samples, std::vector<std::string> classes)
      : classes_(std::move(classes)), samples_(std::move(samples)) {
    for (const ImageSample& s : samples_)
      LACOOT_CHECK(s.label >= 0 && s.label < static_cast<int64_t>(classes_.size()), "ImageFolder: ",
                   s.path.string(), " has label ", s.label, ", expected 0 <= label < ",
                   classes_.size());
  }

  int64_t size() const override { return static_cast<int64_t>(samples_.size()); }
  std::vector<std::string> classes() const override { return classes_; }
  const std::vector<ImageSample>& samples() const { return samples_; }

  // Reads and decodes the file now; safe to call from several threads (stb_image keeps its
  // failure reason per thread).
  Example get(int64_t index) const override {
    detail::check_index(index, size(), "ImageFolder::get");
    const ImageSample& s = samples_[static_cast<std::size_t>(index)];
    return {decode_image(s.path), s.label};
  }

 private:
  std::vector<std::string> classes_;
  std::vector<ImageSample> samples_;
};

}  // namespace lacoot::data

// data_loaders/image_folder.hpp — a folder of class folders of image files, decoded lazily.
//
// Holds: decode_image (JPEG, PNG, BMP, PGM/PPM, GIF, TGA through stb_image, always as RGB),
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
// Decoding: stb_image with 3 requested channels, which replicates gray into R, G, B and drops
// alpha, as PIL's convert("RGB") does. stb_image's JPEG decoder is not libjpeg's: pixels may
// differ from PIL's by a few levels (1/255 steps); PNG and BMP decode exactly.
#pragma once

#include <stb_image.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
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

}  // namespace lacoot::detail

namespace lacoot::data {

// The RGB image in `bytes` (an encoded file), converted as ToTensor does: float CHW in [0, 1].
// `name` (the file path) is put in the error.
inline Image decode_image(const Bytes& bytes, const std::string& name) {
  LACOOT_CHECK(bytes.size() <= static_cast<std::size_t>(INT32_MAX), "decode_image: ", name,
               " has ", bytes.size(), " bytes, more than stb_image reads (2 GiB)");
  int width = 0, height = 0, channels_in_file = 0;
  stbi_uc* pixels = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width,
                                          &height, &channels_in_file, 3);
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
  Image img = image_from_hwc(pixels, height, width, 3);
  stbi_image_free(pixels);
  return img;
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

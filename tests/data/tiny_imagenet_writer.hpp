// tests/data/tiny_imagenet_writer.hpp — a Tiny-ImageNet-200 folder in miniature, for the tests
// that train on one: the lacoot program (tests/cli) and example 9 (tests/examples).
//
// Needs stb_image_write (Debian's libstb), core/error.hpp.
#pragma once

#include <stb_image_write.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "lacoot/core/error.hpp"

namespace lacoot::test {

// Under `root`, the layout of specs/formats.md §3.1 (data_loaders/tiny_imagenet.hpp): wnids.txt
// with `classes` wnids n00, n01, ...; train/<wnid>/images/<wnid>_<k>.JPEG, `per_class` of them;
// val/images/val_<k>.JPEG, `val_per_class` per class, labelled in val/val_annotations.txt. Every
// image is size x size RGB, its pixels a pattern of the image's number.
inline void write_tiny_imagenet(const std::filesystem::path& root, int classes, int per_class, int val_per_class,
                                int size) {
  namespace fs = std::filesystem;
  int count = 0;
  auto image = [&](const fs::path& path) {
    std::vector<uint8_t> pixels(static_cast<std::size_t>(size * size * 3));
    for (std::size_t i = 0; i < pixels.size(); ++i)
      pixels[i] = static_cast<uint8_t>((i * 23 + static_cast<std::size_t>(count) * 41) % 251);
    ++count;
    fs::create_directories(path.parent_path());
    LACOOT_CHECK(stbi_write_jpg(path.string().c_str(), size, size, 3, pixels.data(), 95) != 0,
                 "write_tiny_imagenet: cannot write ", path.string());
  };
  std::string wnids, annotations;
  for (int c = 0; c < classes; ++c) {
    const std::string wnid = "n0" + std::to_string(c);
    wnids += wnid + "\n";
    for (int k = 0; k < per_class; ++k) image(root / "train" / wnid / "images" / (wnid + "_" + std::to_string(k) + ".JPEG"));
    for (int k = 0; k < val_per_class; ++k) {
      const std::string file = "val_" + std::to_string(c * val_per_class + k) + ".JPEG";
      image(root / "val/images" / file);
      annotations += file + "\t" + wnid + "\t0\t0\t" + std::to_string(size) + "\t" + std::to_string(size) + "\n";
    }
  }
  std::ofstream(root / "wnids.txt") << wnids;
  std::ofstream(root / "val/val_annotations.txt") << annotations;
}

}  // namespace lacoot::test

// data_loaders/tiny_imagenet.hpp — Tiny-ImageNet-200 as unpacked from its archive.
//
// Holds: tiny_imagenet(root, split) → an ImageFolder of 64×64 RGB JPEGs with 200 classes.
// Needs: image_folder.hpp.
// Leaves out: the bounding boxes (train/<wnid>/<wnid>_boxes.txt and the last four columns of
// val_annotations.txt), words.txt, and the unlabelled official test/ split.
//
// Layout (shared/specs/formats.md §3.1): train/<wnid>/images/<wnid>_<k>.JPEG, 500 per class;
// val/images/val_<k>.JPEG with val/val_annotations.txt lines <file>\t<wnid>\t<x0>\t<y0>\t<x1>\t<y1>.
//   train  ImageFolder(root/train), as the reference (dataloaders/tinyimagenet200.py) builds it:
//          classes = the sorted wnids, samples found recursively under images/.
//   val    the raw val/ is one folder of images, so it is regrouped from val_annotations.txt:
//          label = the wnid's index among the sorted classes, samples ordered as an ImageFolder
//          of val/<wnid>/<file> would list them (by class, then by file name). A val/ already
//          regrouped into class folders is read as an ImageFolder.
//   test   only a labelled, pre-arranged test/<wnid>/ folder (what the reference relies on);
//          the official test/images/ has no labels and is refused.
// Classes come from wnids.txt (sorted) when it exists, else from train/'s folders; every split
// is checked against them, so labels mean the same classes in all three.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gzip_file.hpp"
#include "image_folder.hpp"
#include "lacoot/core/error.hpp"

namespace lacoot::detail {

// The lines of a text file, without their line ends; blank lines dropped.
inline std::vector<std::string> read_lines(const std::filesystem::path& path) {
  const data::Bytes bytes = data::read_file(path);
  std::vector<std::string> lines;
  std::string line;
  for (std::size_t i = 0; i <= bytes.size(); ++i) {
    if (i == bytes.size() || bytes[i] == '\n') {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty()) lines.push_back(line);
      line.clear();
    } else {
      line.push_back(static_cast<char>(bytes[i]));
    }
  }
  return lines;
}

// The 200 class names: sorted wnids.txt, else train/'s class folders.
inline std::vector<std::string> tiny_imagenet_classes(const std::filesystem::path& root) {
  std::error_code ec;
  if (std::filesystem::exists(root / "wnids.txt", ec)) {
    std::vector<std::string> wnids = read_lines(root / "wnids.txt");
    std::sort(wnids.begin(), wnids.end());
    LACOOT_CHECK(std::adjacent_find(wnids.begin(), wnids.end()) == wnids.end(), "Tiny-ImageNet: ",
                 (root / "wnids.txt").string(), " lists a wnid twice");
    return wnids;
  }
  LACOOT_CHECK(std::filesystem::is_directory(root / "train", ec), "Tiny-ImageNet: neither ",
               (root / "wnids.txt").string(), " nor ", (root / "train").string(), " exists "
               "(HINT: pass the tiny-imagenet-200 folder the archive unpacks to)");
  return list_class_folders(root / "train");
}

inline void check_same_classes(const data::ImageFolder& folder, const std::vector<std::string>& classes,
                               const std::filesystem::path& where) {
  const std::vector<std::string> found = folder.classes();
  if (found == classes) return;
  std::string first_difference;
  for (std::size_t i = 0; i < std::max(found.size(), classes.size()); ++i)
    if (i >= found.size() || i >= classes.size() || found[i] != classes[i]) {
      first_difference = "class " + std::to_string(i) + ": found '" +
                         (i < found.size() ? found[i] : std::string("(none)")) + "', expected '" +
                         (i < classes.size() ? classes[i] : std::string("(none)")) + "'";
      break;
    }
  throw Error(concat("Tiny-ImageNet: the class folders of ", where.string(), " are not the ",
                     classes.size(), " classes of wnids.txt/train (found ", found.size(), "; ",
                     first_difference, ")"));
}

// val/ listed from val/val_annotations.txt.
inline data::ImageFolder tiny_imagenet_val(const std::filesystem::path& val,
                                           const std::vector<std::string>& classes) {
  const std::filesystem::path annotations = val / "val_annotations.txt";
  std::map<std::string, int64_t> index;
  for (std::size_t c = 0; c < classes.size(); ++c) index[classes[c]] = static_cast<int64_t>(c);
  std::vector<std::pair<int64_t, std::string>> entries;  // (label, file name)
  const std::vector<std::string> lines = read_lines(annotations);
  std::error_code ec;
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const std::string& line = lines[n];
    const std::size_t tab1 = line.find('\t');
    const std::size_t tab2 = tab1 == std::string::npos ? std::string::npos : line.find('\t', tab1 + 1);
    LACOOT_CHECK(tab1 != std::string::npos, "Tiny-ImageNet: ", annotations.string(), " line ", n + 1,
                 ": expected <file>\\t<wnid>[\\t<box>], found \"", line, "\"");
    const std::string file = line.substr(0, tab1);
    const std::string wnid =
        line.substr(tab1 + 1, tab2 == std::string::npos ? std::string::npos : tab2 - tab1 - 1);
    const auto it = index.find(wnid);
    LACOOT_CHECK(it != index.end(), "Tiny-ImageNet: ", annotations.string(), " line ", n + 1,
                 ": wnid '", wnid, "' of ", file, " is not one of the ", classes.size(), " classes");
    LACOOT_CHECK(std::filesystem::is_regular_file(val / "images" / file, ec), "Tiny-ImageNet: ",
                 annotations.string(), " line ", n + 1, " names ", (val / "images" / file).string(),
                 ", which does not exist");
    entries.emplace_back(it->second, file);
  }
  LACOOT_CHECK(!entries.empty(), "Tiny-ImageNet: ", annotations.string(), " lists no image");
  std::sort(entries.begin(), entries.end());
  std::vector<data::ImageSample> samples;
  for (auto& [label, file] : entries) samples.push_back({val / "images" / file, label});
  return data::ImageFolder(std::move(samples), classes);
}

}  // namespace lacoot::detail

namespace lacoot::data {

// split is "train", "val" or "test" (see above).
inline ImageFolder tiny_imagenet(const std::filesystem::path& root, const std::string& split = "train") {
  LACOOT_CHECK(split == "train" || split == "val" || split == "test", "tiny_imagenet: split '",
               split, "' is not one of train, val, test");
  const std::vector<std::string> classes = detail::tiny_imagenet_classes(root);
  const std::filesystem::path dir = root / split;
  std::error_code ec;
  LACOOT_CHECK(std::filesystem::is_directory(dir, ec), "Tiny-ImageNet: ", dir.string(),
               " does not exist (HINT: pass the tiny-imagenet-200 folder the archive unpacks to)");
  if (split == "val" && std::filesystem::exists(dir / "val_annotations.txt", ec))
    return detail::tiny_imagenet_val(dir, classes);
  LACOOT_CHECK(split != "test" || !std::filesystem::is_directory(dir / "images", ec),
               "Tiny-ImageNet: ", dir.string(), " is the official, unlabelled test split "
               "(test/images/); HINT: evaluate on val, or arrange a labelled test/<wnid>/ folder");
  ImageFolder folder(dir);
  detail::check_same_classes(folder, classes, dir);
  return folder;
}

}  // namespace lacoot::data

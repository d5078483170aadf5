// data_loaders/dataset.hpp — what every dataset offers the loader.
//
// Holds: Example (one image in [0, 1] and its label), the abstract Dataset (size, get, classes:
// torch.utils.data.Dataset's map-style protocol), ImageDataset (a whole dataset of equal-sized
// uint8 images in memory: IDX and CIFAR load into it), and Subset (a view on some indices of
// another dataset, as torch.utils.data.Subset).
// Needs: image.hpp, lacoot/core/error.hpp.
// Leaves out: transforms (the DataLoader applies them, so one dataset serves a training loader
// that augments and an evaluation loader that does not) and iterable-style datasets.
//
// Contract for implementers: get(i) may be called from several loader threads at once, so it
// must not modify shared state; file-backed datasets (ImageFolder) read and decode in get().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "image.hpp"
#include "lacoot/core/error.hpp"

namespace lacoot::detail {

inline void check_index(int64_t index, int64_t size, const char* who) {
  LACOOT_CHECK(index >= 0 && index < size, who, ": index ", index, " is out of range for a "
               "dataset of ", size, " samples (expected 0 <= index < ", size, ")");
}

}  // namespace lacoot::detail

namespace lacoot::data {

// One sample: the image as ToTensor leaves it (float CHW in [0, 1]) and its class index.
struct Example {
  Image image;
  int64_t label = 0;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // The sample at `index`, 0 <= index < size(); thread-safe (see the contract above).
  virtual Example get(int64_t index) const = 0;
  // Class names; label k is classes()[k]. Empty when the dataset has no names.
  virtual std::vector<std::string> classes() const { return {}; }
};

// N images of one size, uint8, planar: image n, channel c, row y, column x is the byte at
// ((n·C + c)·H + y)·W + x, the layout of CIFAR records and of IDX files (C = 1).
struct ImageDataset : Dataset {
  int64_t channels = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;      // size()·channels·height·width bytes
  std::vector<int64_t> labels;      // one per image, each in [0, class_names.size()) when named
  std::vector<std::string> class_names;  // label k is class_names[k]; classes() returns them

  int64_t size() const override { return static_cast<int64_t>(labels.size()); }
  int64_t image_bytes() const { return channels * height * width; }
  std::vector<std::string> classes() const override { return class_names; }
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }

  Example get(int64_t index) const override {
    detail::check_index(index, size(), "ImageDataset::get");
    const uint8_t* p = pixels.data() + index * image_bytes();
    return {image_from_chw(p, channels, height, width), labels[static_cast<std::size_t>(index)]};
  }

  // The raw bytes of image `index`.
  const uint8_t* image_data(int64_t index) const {
    detail::check_index(index, size(), "ImageDataset::image_data");
    return pixels.data() + index * image_bytes();
  }

  // Throws unless pixels and labels agree in count and every label names a class.
  void validate(const std::string& what) const {
    LACOOT_CHECK(channels > 0 && height > 0 && width > 0, what, ": image size ", channels, "x",
                 height, "x", width, " is empty (expected channels, height and width > 0)");
    LACOOT_CHECK(static_cast<int64_t>(pixels.size()) == size() * image_bytes(), what, ": ",
                 pixels.size(), " pixel bytes for ", size(), " labels of ", image_bytes(),
                 "-byte images (expected ", size() * image_bytes(), ")");
    if (class_names.empty()) return;
    for (std::size_t i = 0; i < labels.size(); ++i)
      LACOOT_CHECK(labels[i] >= 0 && labels[i] < num_classes(), what, ": label ", labels[i],
                   " of sample ", i, " is out of range (expected 0 <= label < ", num_classes(), ")");
  }
};

// The samples of `dataset` at `indices`, in that order (torch.utils.data.Subset). Holds the
// parent by shared_ptr, so a split stays valid as long as one of its subsets is alive.
class Subset : public Dataset {
 public:
  Subset(std::shared_ptr<const Dataset> dataset, std::vector<int64_t> indices)
      : dataset_(std::move(dataset)), indices_(std::move(indices)) {
    LACOOT_CHECK(dataset_ != nullptr, "Subset: the dataset is null");
    const int64_t n = dataset_->size();
    for (std::size_t i = 0; i < indices_.size(); ++i)
      LACOOT_CHECK(indices_[i] >= 0 && indices_[i] < n, "Subset: index ", indices_[i],
                   " (position ", i, ") is out of range for a dataset of ", n, " samples");
  }

  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  Example get(int64_t index) const override {
    detail::check_index(index, size(), "Subset::get");
    return dataset_->get(indices_[static_cast<std::size_t>(index)]);
  }
  std::vector<std::string> classes() const override { return dataset_->classes(); }

  const std::vector<int64_t>& indices() const { return indices_; }
  const std::shared_ptr<const Dataset>& dataset() const { return dataset_; }

 private:
  std::shared_ptr<const Dataset> dataset_;
  std::vector<int64_t> indices_;
};

}  // namespace lacoot::data

// data_loaders/image.hpp — one decoded image, as the transforms see it.
//
// Holds: Image (float32, channels × height × width, planar: each channel a row-major plane, as a
// torch tensor of shape [C, H, W]); image_from_hwc / image_from_chw, which do what torchvision's
// ToTensor does to uint8 pixels (divide by 255, HWC → CHW); to_tensor / from_tensor, between an
// Image and a lacoot Tensor [C, H, W].
// Needs: lacoot/core (Tensor, Error).
// Leaves out: uint8 images after decoding. torchvision applies its geometric transforms to PIL
// images (uint8) and converts last; lacoot converts first and transforms floats. For flips,
// crops and padding with 0 the two orders give identical values; for resizing and rotation
// PIL rounds each result to uint8 and lacoot does not (see resize.hpp).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "lacoot/core/error.hpp"
#include "lacoot/core/tensor.hpp"

namespace lacoot::data {

struct Image {
  int64_t channels = 0, height = 0, width = 0;
  std::vector<float> data;  // channels·height·width values: pixel (c, y, x) at (c·H + y)·W + x

  Image() = default;
  Image(int64_t c, int64_t h, int64_t w, float fill = 0.f) : channels(c), height(h), width(w) {
    LACOOT_CHECK(c >= 0 && h >= 0 && w >= 0, "Image: negative size (channels ", c, ", height ",
                 h, ", width ", w, ")");
    data.assign(static_cast<std::size_t>(c * h * w), fill);
  }

  int64_t numel() const { return channels * height * width; }
  Shape shape() const { return {channels, height, width}; }
  float* plane(int64_t c) { return data.data() + c * height * width; }
  const float* plane(int64_t c) const { return data.data() + c * height * width; }
  std::size_t offset(int64_t c, int64_t y, int64_t x) const {
    return static_cast<std::size_t>((c * height + y) * width + x);
  }
  float& at(int64_t c, int64_t y, int64_t x) { return data[offset(c, y, x)]; }
  float at(int64_t c, int64_t y, int64_t x) const { return data[offset(c, y, x)]; }
};

// "[3, 32, 32]", for messages.
inline std::string image_shape_str(const Image& img) { return shape_str(img.shape()); }

// ToTensor on uint8 pixels stored height × width × channels (as decoded files and PIL hold
// them): value / 255, transposed to planar CHW. torchvision: transforms.functional.to_tensor.
inline Image image_from_hwc(const uint8_t* pixels, int64_t height, int64_t width, int64_t channels) {
  Image img(channels, height, width);
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      for (int64_t c = 0; c < channels; ++c)
        img.at(c, y, x) = static_cast<float>(pixels[(y * width + x) * channels + c]) / 255.f;
  return img;
}

// ToTensor on uint8 pixels that are already planar (channels × height × width, as CIFAR's and
// IDX's records are): value / 255.
inline Image image_from_chw(const uint8_t* pixels, int64_t channels, int64_t height, int64_t width) {
  Image img(channels, height, width);
  for (std::size_t i = 0; i < img.data.size(); ++i) img.data[i] = static_cast<float>(pixels[i]) / 255.f;
  return img;
}

// A float32 Tensor [C, H, W] holding a copy of the image.
inline Tensor to_tensor(const Image& img) {
  Tensor t = Tensor::empty(img.shape(), kFloat32);
  if (img.numel() > 0) std::memcpy(t.data<float>(), img.data.data(), img.data.size() * sizeof(float));
  return t;
}

// An Image from a Tensor [C, H, W] (float32 or float64).
inline Image from_tensor(const Tensor& t) {
  LACOOT_CHECK(t.dim() == 3, "from_tensor: expected a tensor [C, H, W], got shape ",
               shape_str(t.shape()));
  Image img(t.size(0), t.size(1), t.size(2));
  Tensor f = t.dtype() == kFloat32 ? t : t.to(kFloat32);
  if (img.numel() > 0) std::memcpy(img.data.data(), f.data<float>(), img.data.size() * sizeof(float));
  return img;
}

}  // namespace lacoot::data

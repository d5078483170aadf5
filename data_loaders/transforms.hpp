// data_loaders/transforms.hpp — per-sample augmentation and normalisation, and how they compose.
//
// Holds: RandomStream (the random numbers one sample's transforms draw), Transform and Compose;
// the functional forms normalize, hflip, vflip, pad, crop, center_crop; and the transforms
// Normalize, RandomHorizontalFlip, RandomVerticalFlip, Pad, RandomCrop, CenterCrop, named and
// parameterised as torchvision 0.14's `transforms` (the pipeline of spec §4 and METHOD.md §5).
// Needs: image.hpp, lacoot/core/rng.hpp (Generator).
// Leaves out: resizing and rotation (resize.hpp), colour (color_jitter.hpp); padding modes
// other than constant; PIL images: every transform takes and returns a float Image (CHW), so
// ToTensor happens first, in the dataset (image.hpp says why the order does not matter here).
//
// Determinism: a transform draws only from the RandomStream it is handed. The DataLoader makes
// one stream per sample from (seed, epoch, index), so a sample's augmentation never depends
// on which thread builds it or in which order. torchvision draws from torch's global generator
// instead; the draws are the same kind (torch.rand(1) < p, torch.randint(0, n)) but not the
// same numbers.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <utility>
#include <vector>

#include "image.hpp"
#include "lacoot/core/error.hpp"
#include "lacoot/core/rng.hpp"

namespace lacoot::data {

// The random numbers of one sample: a counter-based Generator read in sequence.
class RandomStream {
 public:
  explicit RandomStream(uint64_t seed = 0) : gen_(seed) {}

  // The stream of sample `index` in epoch `epoch`: a pure function of the three numbers. Each
  // step hashes with SplitMix64's finaliser (core/rng.hpp), so neighbouring indices or epochs
  // give unrelated streams.
  static RandomStream for_sample(uint64_t seed, int64_t epoch, int64_t index) {
    const uint64_t e = Generator(seed).bits(static_cast<uint64_t>(epoch));
    return RandomStream(Generator(e).bits(static_cast<uint64_t>(index)));
  }

  uint64_t bits() { return gen_.bits(gen_.advance(1)); }
  // Uniform in [0, 1), as torch.rand(1).
  double uniform() { return gen_.uniform<double>(gen_.advance(1)); }
  // Uniform in [low, high), as torch.empty(1).uniform_(low, high).
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  // Uniform integer in [low, high), as torch.randint(low, high); high > low.
  int64_t randint(int64_t low, int64_t high) {
    LACOOT_CHECK(high > low, "RandomStream::randint: empty range [", low, ", ", high, ")");
    // Lemire's multiply-shift maps 64 random bits to [0, n); its bias is below n / 2^64.
    const auto n = static_cast<unsigned __int128>(high - low);
    return low + static_cast<int64_t>((static_cast<unsigned __int128>(bits()) * n) >> 64);
  }
  // True with probability p, as torch.rand(1) < p.
  bool bernoulli(double p) { return uniform() < p; }
  // A permutation of 0..n-1 (Fisher–Yates), as torch.randperm(n).
  std::vector<int64_t> randperm(int64_t n) {
    std::vector<int64_t> p(static_cast<std::size_t>(n));
    for (int64_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = i;
    for (int64_t i = n - 1; i > 0; --i)
      std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(randint(0, i + 1))]);
    return p;
  }

 private:
  Generator gen_;
};

// A transform maps an image to an image, drawing what it needs from the sample's stream.
using Transform = std::function<Image(Image, RandomStream&)>;

// Applies transforms in order (torchvision.transforms.Compose).
struct Compose {
  std::vector<Transform> transforms;

  Compose() = default;
  Compose(std::initializer_list<Transform> list) : transforms(list) {}
  Image operator()(Image img, RandomStream& rng) const {
    for (const Transform& t : transforms) img = t(std::move(img), rng);
    return img;
  }
};

// (height, width); a single number means a square, as torchvision's `size` arguments.
struct ImageSize {
  int64_t height = 0, width = 0;
  ImageSize(int64_t size) : height(size), width(size) {}  // NOLINT: implicit, like torchvision's int
  ImageSize(int64_t h, int64_t w) : height(h), width(w) {}
};

// Pixels added on each side: one number for all four, two for (left/right, top/bottom), four
// for (left, top, right, bottom), in the order of torchvision's `padding`.
struct Padding {
  int64_t left = 0, top = 0, right = 0, bottom = 0;
  Padding(int64_t all = 0) : left(all), top(all), right(all), bottom(all) {}  // NOLINT
  Padding(int64_t left_right, int64_t top_bottom)
      : left(left_right), top(top_bottom), right(left_right), bottom(top_bottom) {}
  Padding(int64_t l, int64_t t, int64_t r, int64_t b) : left(l), top(t), right(r), bottom(b) {}
};

// ---- functional forms (torchvision.transforms.functional) ----

// (x − mean_c) / std_c per channel; mean and std hold one value or one per channel.
inline Image normalize(Image img, const std::vector<double>& mean, const std::vector<double>& std) {
  const auto c = static_cast<std::size_t>(img.channels);
  auto ok = [&](const std::vector<double>& v) { return v.size() == 1 || v.size() == c; };
  LACOOT_CHECK(ok(mean) && ok(std), "normalize: mean has ", mean.size(), " values and std ",
               std.size(), ", expected 1 or one per channel (", c, ") each");
  for (std::size_t k = 0; k < c; ++k) {
    const double m = mean.size() == 1 ? mean[0] : mean[k];
    const double s = std.size() == 1 ? std[0] : std[k];
    LACOOT_CHECK(s != 0.0, "normalize: std of channel ", k, " is 0; the division would be "
                 "infinite (torchvision raises 'std evaluated to zero' too)");
    // Like torchvision, computed in the image's precision: (x − mean) / std in float.
    const auto mf = static_cast<float>(m), sf = static_cast<float>(s);
    float* p = img.plane(static_cast<int64_t>(k));
    for (int64_t i = 0; i < img.height * img.width; ++i) p[i] = (p[i] - mf) / sf;
  }
  return img;
}

// Mirror left–right: column x goes to width − 1 − x.
inline Image hflip(Image img) {
  for (int64_t c = 0; c < img.channels; ++c)
    for (int64_t y = 0; y < img.height; ++y) {
      float* row = img.plane(c) + y * img.width;
      std::reverse(row, row + img.width);
    }
  return img;
}

// Mirror top–bottom: row y goes to height − 1 − y.
inline Image vflip(Image img) {
  for (int64_t c = 0; c < img.channels; ++c)
    for (int64_t y = 0; y < img.height / 2; ++y)
      std::swap_ranges(img.plane(c) + y * img.width, img.plane(c) + (y + 1) * img.width,
                       img.plane(c) + (img.height - 1 - y) * img.width);
  return img;
}

// The window of `height` × `width` pixels whose top-left corner is (top, left); pixels outside
// the image read as `fill` (torchvision's F.crop pads with zeros likewise).
inline Image crop(const Image& img, int64_t top, int64_t left, int64_t height, int64_t width,
                  float fill = 0.f) {
  LACOOT_CHECK(height >= 0 && width >= 0, "crop: negative size ", height, "x", width);
  Image out(img.channels, height, width, fill);
  for (int64_t c = 0; c < img.channels; ++c)
    for (int64_t y = 0; y < height; ++y) {
      const int64_t sy = top + y;
      if (sy < 0 || sy >= img.height) continue;
      const int64_t x0 = std::max<int64_t>(0, -left), x1 = std::min(width, img.width - left);
      if (x1 <= x0) continue;
      const float* src = img.plane(c) + sy * img.width + left;
      std::copy(src + x0, src + x1, out.plane(c) + y * width + x0);
    }
  return out;
}

// Constant padding on each side (torchvision F.pad with padding_mode="constant").
inline Image pad(const Image& img, Padding p, float fill = 0.f) {
  LACOOT_CHECK(p.left >= 0 && p.top >= 0 && p.right >= 0 && p.bottom >= 0, "pad: negative padding (",
               p.left, ", ", p.top, ", ", p.right, ", ", p.bottom, "); expected sizes >= 0");
  return crop(img, -p.top, -p.left, img.height + p.top + p.bottom, img.width + p.left + p.right, fill);
}

// The central window, as torchvision F.center_crop: top = round((H − h) / 2), left likewise,
// with Python's round (halves to even); an image smaller than the window is padded with zeros
// first, (h − H) // 2 on top and the rest at the bottom (likewise for the width).
inline Image center_crop(const Image& img, ImageSize size) {
  auto offset = [](int64_t have, int64_t want) {
    if (want > have) return -((want - have) / 2);
    return static_cast<int64_t>(std::nearbyint(static_cast<double>(have - want) / 2.0));
  };
  return crop(img, offset(img.height, size.height), offset(img.width, size.width), size.height, size.width);
}

// ---- transforms (torchvision.transforms) ----

// Normalize(mean, std): (x − mean_c) / std_c.
struct Normalize {
  std::vector<double> mean, std;
  Image operator()(Image img, RandomStream&) const { return normalize(std::move(img), mean, std); }
};

// RandomHorizontalFlip(p): flips when torch.rand(1) < p; draws one number per sample.
struct RandomHorizontalFlip {
  double p = 0.5;
  Image operator()(Image img, RandomStream& rng) const {
    return rng.bernoulli(p) ? hflip(std::move(img)) : img;
  }
};

// RandomVerticalFlip(p): as RandomHorizontalFlip, top–bottom.
struct RandomVerticalFlip {
  double p = 0.5;
  Image operator()(Image img, RandomStream& rng) const {
    return rng.bernoulli(p) ? vflip(std::move(img)) : img;
  }
};

// Pad(padding, fill).
struct Pad {
  Padding padding = 0;
  float fill = 0.f;
  Image operator()(Image img, RandomStream&) const { return pad(img, padding, fill); }
};

// RandomCrop(size, padding, pad_if_needed, fill), torchvision 0.14: pad by `padding` with
// `fill`; with pad_if_needed, pad an image narrower than the window by (w − W) on the left and
// the right (then the height likewise); then take the window at row i = randint(0, H − h + 1)
// and column j = randint(0, W − w + 1), drawn in that order (spec §4), or at (0, 0) without
// a draw when the image is exactly the window's size. CIFAR-10: RandomCrop{32, 4}.
struct RandomCrop {
  ImageSize size;
  Padding padding = 0;
  bool pad_if_needed = false;
  float fill = 0.f;

  Image operator()(Image img, RandomStream& rng) const {
    if (padding.left || padding.top || padding.right || padding.bottom) img = pad(img, padding, fill);
    if (pad_if_needed && img.width < size.width) img = pad(img, Padding(size.width - img.width, 0), fill);
    if (pad_if_needed && img.height < size.height) img = pad(img, Padding(0, size.height - img.height), fill);
    LACOOT_CHECK(img.height >= size.height && img.width >= size.width, "RandomCrop: the crop "
                 "size ", size.height, "x", size.width, " is larger than the (padded) image, ",
                 img.height, "x", img.width, " (HINT: add padding or set pad_if_needed)");
    if (img.height == size.height && img.width == size.width) return img;
    const int64_t i = rng.randint(0, img.height - size.height + 1);
    const int64_t j = rng.randint(0, img.width - size.width + 1);
    return crop(img, i, j, size.height, size.width);
  }
};

// CenterCrop(size).
struct CenterCrop {
  ImageSize size;
  Image operator()(Image img, RandomStream&) const { return center_crop(img, size); }
};

}  // namespace lacoot::data

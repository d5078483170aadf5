// data_loaders/color_jitter.hpp — colour transforms.
//
// Holds: rgb_to_grayscale, adjust_brightness / adjust_contrast / adjust_saturation /
// adjust_hue (functional forms) and ColorJitter, following torchvision 0.14's tensor code
// (`transforms/functional_tensor.py`) for float images in [0, 1].
// Needs: transforms.hpp (Image, RandomStream).
// Leaves out: gamma, sharpness, posterize and the other colour ops, and RandomGrayscale.
//
// torchvision's blend(a, b, f) = f·a + (1 − f)·b, then clamped to [0, 1]:
//   brightness  blend(img, 0, f)
//   contrast    blend(img, mean of grayscale(img) over all pixels, f)
//   saturation  blend(img, grayscale(img), f)            (gray images: unchanged)
//   hue         h ← (h + f) mod 1 in HSV space            (gray images: unchanged)
// with grayscale = 0.2989 R + 0.587 G + 0.114 B (ITU-R 601-2 luma, as PIL's convert("L")).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <utility>

#include "transforms.hpp"

namespace lacoot::data {

// One channel: 0.2989 R + 0.587 G + 0.114 B; a gray image is returned as it is.
inline Image rgb_to_grayscale(const Image& img) {
  LACOOT_CHECK(img.channels == 1 || img.channels == 3, "rgb_to_grayscale: expected 1 or 3 "
               "channels, got ", img.channels);
  if (img.channels == 1) return img;
  Image out(1, img.height, img.width);
  const float *r = img.plane(0), *g = img.plane(1), *b = img.plane(2);
  float* o = out.plane(0);
  for (int64_t i = 0; i < img.height * img.width; ++i) o[i] = 0.2989f * r[i] + 0.587f * g[i] + 0.114f * b[i];
  return out;
}

}  // namespace lacoot::data

namespace lacoot::detail {

inline void check_color_image(const data::Image& img, const char* op) {
  LACOOT_CHECK(img.channels == 1 || img.channels == 3, op, ": expected a gray (1-channel) or "
               "RGB (3-channel) image, got ", img.channels, " channels");
}

inline float clamp01(float v) { return std::min(1.f, std::max(0.f, v)); }

}  // namespace lacoot::detail

namespace lacoot::data {

inline Image adjust_brightness(Image img, double factor) {
  LACOOT_CHECK(factor >= 0, "adjust_brightness: factor ", factor, " must be >= 0");
  detail::check_color_image(img, "adjust_brightness");
  const auto f = static_cast<float>(factor);
  for (float& v : img.data) v = detail::clamp01(f * v);
  return img;
}

inline Image adjust_contrast(Image img, double factor) {
  LACOOT_CHECK(factor >= 0, "adjust_contrast: factor ", factor, " must be >= 0");
  detail::check_color_image(img, "adjust_contrast");
  const Image gray = rgb_to_grayscale(img);
  double sum = 0;
  for (float v : gray.data) sum += v;
  const auto mean = static_cast<float>(sum / static_cast<double>(std::max<std::size_t>(gray.data.size(), 1)));
  const auto f = static_cast<float>(factor);
  for (float& v : img.data) v = detail::clamp01(f * v + (1.f - f) * mean);
  return img;
}

inline Image adjust_saturation(Image img, double factor) {
  LACOOT_CHECK(factor >= 0, "adjust_saturation: factor ", factor, " must be >= 0");
  detail::check_color_image(img, "adjust_saturation");
  if (img.channels == 1) return img;
  const Image gray = rgb_to_grayscale(img);
  const auto f = static_cast<float>(factor);
  const int64_t n = img.height * img.width;
  for (int64_t c = 0; c < 3; ++c) {
    float* p = img.plane(c);
    const float* q = gray.plane(0);
    for (int64_t i = 0; i < n; ++i) p[i] = detail::clamp01(f * p[i] + (1.f - f) * q[i]);
  }
  return img;
}

// Rotates every pixel's hue by `factor` turns, factor in [−0.5, 0.5]. RGB → HSV → RGB with the
// formulas of torchvision's _rgb2hsv / _hsv2rgb (the same as Python's colorsys).
inline Image adjust_hue(Image img, double factor) {
  LACOOT_CHECK(factor >= -0.5 && factor <= 0.5, "adjust_hue: factor ", factor,
               " is outside [-0.5, 0.5] (it is a fraction of a full turn of the hue circle)");
  detail::check_color_image(img, "adjust_hue");
  if (img.channels == 1) return img;
  float *R = img.plane(0), *G = img.plane(1), *B = img.plane(2);
  for (int64_t i = 0; i < img.height * img.width; ++i) {
    const float r = R[i], g = G[i], b = B[i];
    const float maxc = std::max({r, g, b}), minc = std::min({r, g, b});
    const float cr = maxc - minc;
    const bool eqc = cr == 0.f;
    const float s = eqc ? 0.f : cr / maxc;
    float h = 0.f;
    if (!eqc) {
      const float rc = (maxc - r) / cr, gc = (maxc - g) / cr, bc = (maxc - b) / cr;
      if (maxc == r) h = bc - gc;
      else if (maxc == g) h = 2.f + rc - bc;
      else h = 4.f + gc - rc;
      h = std::fmod(h / 6.f + 1.f, 1.f);
    }
    h = std::fmod(h + static_cast<float>(factor) + 1.f, 1.f);  // + 1 keeps fmod's result >= 0
    const float v = maxc;
    const float h6 = h * 6.f;
    const float fi = std::floor(h6);
    const float f = h6 - fi;
    const int sector = static_cast<int>(fi) % 6;
    const float p = detail::clamp01(v * (1.f - s)), q = detail::clamp01(v * (1.f - s * f)),
                t = detail::clamp01(v * (1.f - s * (1.f - f)));
    const std::array<std::array<float, 3>, 6> rgb = {{{v, t, p}, {q, v, p}, {p, v, t},
                                                      {p, q, v}, {t, p, v}, {v, p, q}}};
    R[i] = rgb[static_cast<std::size_t>(sector)][0];
    G[i] = rgb[static_cast<std::size_t>(sector)][1];
    B[i] = rgb[static_cast<std::size_t>(sector)][2];
  }
  return img;
}

// ColorJitter(brightness, contrast, saturation, hue), torchvision 0.14: a brightness,
// contrast or saturation value b means a factor ~ U(max(0, 1 − b), 1 + b); hue h means a
// factor ~ U(−h, h), h <= 0.5; 0 turns that adjustment off. Per sample: first the order of the
// four adjustments (randperm(4)), then the factors of those turned on, in the order brightness,
// contrast, saturation, hue; then the adjustments in the drawn order.
struct ColorJitter {
  double brightness = 0, contrast = 0, saturation = 0, hue = 0;

  Image operator()(Image img, RandomStream& rng) const {
    LACOOT_CHECK(brightness >= 0 && contrast >= 0 && saturation >= 0, "ColorJitter: brightness, "
                 "contrast and saturation must be >= 0, got ", brightness, ", ", contrast, ", ",
                 saturation);
    LACOOT_CHECK(hue >= 0 && hue <= 0.5, "ColorJitter: hue ", hue, " must be in [0, 0.5]");
    const std::vector<int64_t> order = rng.randperm(4);
    const double spread[4] = {brightness, contrast, saturation, hue};
    double factor[4] = {1, 1, 1, 0};
    for (int k = 0; k < 4; ++k) {
      if (spread[k] == 0) continue;
      factor[k] = k == 3 ? rng.uniform(-hue, hue)
                         : rng.uniform(std::max(0.0, 1.0 - spread[k]), 1.0 + spread[k]);
    }
    for (int64_t k : order) {
      if (spread[k] == 0) continue;
      switch (k) {
        case 0: img = adjust_brightness(std::move(img), factor[0]); break;
        case 1: img = adjust_contrast(std::move(img), factor[1]); break;
        case 2: img = adjust_saturation(std::move(img), factor[2]); break;
        default: img = adjust_hue(std::move(img), factor[3]); break;
      }
    }
    return img;
  }
};

}  // namespace lacoot::data

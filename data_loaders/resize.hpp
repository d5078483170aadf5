// data_loaders/resize.hpp — transforms that resample: resizing, random resized crops, rotation.
//
// Holds: InterpolationMode, resize / resized_crop / rotate (functional forms) and the
// transforms Resize, RandomResizedCrop, RandomRotation, as torchvision 0.14 defines them.
// Needs: transforms.hpp (Image, RandomStream, crop).
// Leaves out: antialiasing, bicubic, and rotation's `expand` and `center` options.
//
// Which torchvision this matches: the *tensor* code path, i.e.
//   resize  = torch.nn.functional.interpolate(mode="bilinear" or "nearest",
//             align_corners=False, antialias=False), which is what
//             torchvision.transforms.functional.resize does to tensors in 0.14;
//   rotate  = F.rotate on a tensor: affine_grid + grid_sample(align_corners=False, zeros
//             padding) and the fill blend of torchvision's `_apply_grid_transform`.
// On PIL images torchvision calls PIL instead, which antialiases when downsampling (each output
// pixel averages its whole footprint, not 2×2 taps) and rounds to uint8: its values differ,
// slightly when enlarging (fixed-point arithmetic, uint8 rounding) and more the more an image
// is shrunk.
// tests/fixtures/gen_data.py computes the reference values with torch 1.13.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "transforms.hpp"

namespace lacoot::data {

enum class InterpolationMode { Nearest, Bilinear };

}  // namespace lacoot::data

namespace lacoot::detail {

// Source coordinate of output index `dst` for align_corners=False, as PyTorch's
// area_pixel_compute_source_index: scale · (dst + 0.5) − 0.5, clamped at 0, in float.
inline float bilinear_source(float scale, int64_t dst) {
  const float src = scale * (static_cast<float>(dst) + 0.5f) - 0.5f;
  return src < 0.f ? 0.f : src;
}

// Source index of output index `dst` for mode="nearest", as PyTorch's nearest_idx:
// floor(dst · in / out), capped at in − 1 (with exact shortcuts for equal and doubled sizes).
inline int64_t nearest_source(int64_t dst, int64_t in, int64_t out) {
  if (in == out) return dst;
  if (out == 2 * in) return dst >> 1;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  return std::min(static_cast<int64_t>(std::floor(static_cast<float>(dst) * scale)), in - 1);
}

}  // namespace lacoot::detail

namespace lacoot::data {

// The image resampled to exactly `size` (height, width). Bilinear: each output pixel mixes the
// 2×2 input pixels around its source point, rows then columns, with edge indices clamped.
inline Image resize(const Image& img, ImageSize size,
                    InterpolationMode mode = InterpolationMode::Bilinear) {
  const int64_t H = img.height, W = img.width, h = size.height, w = size.width;
  LACOOT_CHECK(h > 0 && w > 0, "resize: the output size ", h, "x", w, " must be positive");
  LACOOT_CHECK(H > 0 && W > 0, "resize: cannot resize an empty ", H, "x", W, " image");
  if (H == h && W == w) return img;
  Image out(img.channels, h, w);
  if (mode == InterpolationMode::Nearest) {
    std::vector<int64_t> xs(static_cast<std::size_t>(w));
    for (int64_t x = 0; x < w; ++x) xs[static_cast<std::size_t>(x)] = detail::nearest_source(x, W, w);
    for (int64_t c = 0; c < img.channels; ++c)
      for (int64_t y = 0; y < h; ++y) {
        const float* row = img.plane(c) + detail::nearest_source(y, H, h) * W;
        float* o = out.plane(c) + y * w;
        for (int64_t x = 0; x < w; ++x) o[x] = row[xs[static_cast<std::size_t>(x)]];
      }
    return out;
  }
  // Column taps: index x0 and x0 + dx (dx = 0 at the right edge) with weights (1 − l, l).
  struct Tap {
    int64_t i0, step;
    float l0, l1;
  };
  auto taps = [](int64_t in, int64_t n) {
    std::vector<Tap> t(static_cast<std::size_t>(n));
    const float scale = static_cast<float>(in) / static_cast<float>(n);
    for (int64_t d = 0; d < n; ++d) {
      const float src = detail::bilinear_source(scale, d);
      const auto i0 = static_cast<int64_t>(src);
      const float l1 = src - static_cast<float>(i0);
      t[static_cast<std::size_t>(d)] = {i0, i0 < in - 1 ? 1 : 0, 1.f - l1, l1};
    }
    return t;
  };
  const std::vector<Tap> ty = taps(H, h), tx = taps(W, w);
  for (int64_t c = 0; c < img.channels; ++c) {
    const float* p = img.plane(c);
    float* o = out.plane(c);
    for (int64_t y = 0; y < h; ++y) {
      const Tap& a = ty[static_cast<std::size_t>(y)];
      const float* r0 = p + a.i0 * W;
      const float* r1 = r0 + a.step * W;
      for (int64_t x = 0; x < w; ++x) {
        const Tap& b = tx[static_cast<std::size_t>(x)];
        const float top = b.l0 * r0[b.i0] + b.l1 * r0[b.i0 + b.step];
        const float bottom = b.l0 * r1[b.i0] + b.l1 * r1[b.i0 + b.step];
        o[y * w + x] = a.l0 * top + a.l1 * bottom;
      }
    }
  }
  return out;
}

// The output size torchvision's Resize gives for `size` = {s} (the shorter edge becomes s, the
// longer int(s · long / short), truncated) or {h, w} (exactly that).
inline ImageSize resize_output_size(int64_t height, int64_t width, const std::vector<int64_t>& size) {
  LACOOT_CHECK(size.size() == 1 || size.size() == 2, "Resize: size has ", size.size(),
               " values, expected 1 (the shorter edge) or 2 (height, width)");
  if (size.size() == 2) return {size[0], size[1]};
  const int64_t s = size[0], shorter = std::min(height, width), longer = std::max(height, width);
  const auto other = static_cast<int64_t>(static_cast<double>(s) * static_cast<double>(longer) /
                                          static_cast<double>(shorter));
  return width <= height ? ImageSize(other, s) : ImageSize(s, other);
}

// crop then resize (torchvision F.resized_crop).
inline Image resized_crop(const Image& img, int64_t top, int64_t left, int64_t height, int64_t width,
                          ImageSize size, InterpolationMode mode = InterpolationMode::Bilinear) {
  return resize(crop(img, top, left, height, width), size, mode);
}

// Turns the picture counter-clockwise by `degrees` about its centre ((W − 1)/2, (H − 1)/2 in
// pixel indices), keeping its size; pixels that come from outside the image take `fill`.
// Output pixel at offset (dx, dy) from the centre (y down) reads the input at
//   (cx + cos·dx − sin·dy,  cy + sin·dx + cos·dy),
// torchvision's inverse affine matrix for F.rotate(angle). Bilinear: grid_sample with zero
// padding gives v and the sampled coverage m of a ones mask; out = v·m + (1 − m)·fill, as
// torchvision blends (so with fill 0, border pixels are darkened by m twice, as there).
// Nearest: rounds the source point half-to-even (grid_sample's nearbyint); outside → fill.
inline Image rotate(const Image& img, double degrees, InterpolationMode mode = InterpolationMode::Nearest,
                    float fill = 0.f) {
  const int64_t H = img.height, W = img.width;
  Image out(img.channels, H, W);
  const double a = degrees * 3.14159265358979323846 / 180.0;
  const float cs = static_cast<float>(std::cos(a)), sn = static_cast<float>(std::sin(a));
  const float cx = 0.5f * static_cast<float>(W - 1), cy = 0.5f * static_cast<float>(H - 1);
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      const float dx = static_cast<float>(x) - cx, dy = static_cast<float>(y) - cy;
      const float sx = cx + cs * dx - sn * dy, sy = cy + sn * dx + cs * dy;
      if (mode == InterpolationMode::Nearest) {
        const auto ix = static_cast<int64_t>(std::nearbyint(sx)), iy = static_cast<int64_t>(std::nearbyint(sy));
        const bool inside = ix >= 0 && ix < W && iy >= 0 && iy < H;
        for (int64_t c = 0; c < img.channels; ++c) out.at(c, y, x) = inside ? img.at(c, iy, ix) : fill;
        continue;
      }
      const auto x0 = static_cast<int64_t>(std::floor(sx)), y0 = static_cast<int64_t>(std::floor(sy));
      const float lx = sx - static_cast<float>(x0), ly = sy - static_cast<float>(y0);
      const int64_t xs[2] = {x0, x0 + 1}, ys[2] = {y0, y0 + 1};
      const float wx[2] = {1.f - lx, lx}, wy[2] = {1.f - ly, ly};
      float m = 0.f;
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j)
          if (ys[i] >= 0 && ys[i] < H && xs[j] >= 0 && xs[j] < W) m += wy[i] * wx[j];
      for (int64_t c = 0; c < img.channels; ++c) {
        float v = 0.f;
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j)
            if (ys[i] >= 0 && ys[i] < H && xs[j] >= 0 && xs[j] < W)
              v += wy[i] * wx[j] * img.at(c, ys[i], xs[j]);
        out.at(c, y, x) = v * m + (1.f - m) * fill;
      }
    }
  return out;
}

// Resize(size, interpolation): size {s} sets the shorter edge to s keeping the aspect ratio,
// {h, w} sets both (torchvision.transforms.Resize).
struct Resize {
  std::vector<int64_t> size;
  InterpolationMode interpolation = InterpolationMode::Bilinear;
  Image operator()(Image img, RandomStream&) const {
    return resize(img, resize_output_size(img.height, img.width, size), interpolation);
  }
};

// RandomResizedCrop(size, scale, ratio), torchvision 0.14 get_params: up to 10 times draw an
// area fraction s ~ U(scale) and a log aspect ratio r ~ U(log ratio), set
// w = round(sqrt(A·s·e^r)), h = round(sqrt(A·s/e^r)) (Python's round, halves to even) and, if
// the window fits, its corner i = randint(0, H − h + 1), j = randint(0, W − w + 1). When all 10
// fail: the central crop of the whole image clamped to the ratio range. Then resize to `size`.
struct RandomResizedCrop {
  ImageSize size;
  std::pair<double, double> scale{0.08, 1.0};
  std::pair<double, double> ratio{3.0 / 4.0, 4.0 / 3.0};
  InterpolationMode interpolation = InterpolationMode::Bilinear;

  struct Window {
    int64_t top, left, height, width;
  };

  Window get_params(int64_t height, int64_t width, RandomStream& rng) const {
    const double area = static_cast<double>(height * width);
    const double log_lo = std::log(ratio.first), log_hi = std::log(ratio.second);
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double target = area * rng.uniform(scale.first, scale.second);
      const double aspect = std::exp(rng.uniform(log_lo, log_hi));
      const auto w = static_cast<int64_t>(std::nearbyint(std::sqrt(target * aspect)));
      const auto h = static_cast<int64_t>(std::nearbyint(std::sqrt(target / aspect)));
      if (0 < w && w <= width && 0 < h && h <= height) {
        const int64_t i = rng.randint(0, height - h + 1);
        const int64_t j = rng.randint(0, width - w + 1);
        return {i, j, h, w};
      }
    }
    const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
    int64_t w = width, h = height;
    if (in_ratio < std::min(ratio.first, ratio.second)) {
      h = static_cast<int64_t>(std::nearbyint(static_cast<double>(w) / std::min(ratio.first, ratio.second)));
    } else if (in_ratio > std::max(ratio.first, ratio.second)) {
      w = static_cast<int64_t>(std::nearbyint(static_cast<double>(h) * std::max(ratio.first, ratio.second)));
    }
    return {(height - h) / 2, (width - w) / 2, h, w};
  }

  Image operator()(Image img, RandomStream& rng) const {
    LACOOT_CHECK(scale.first <= scale.second && ratio.first <= ratio.second, "RandomResizedCrop: "
                 "scale and ratio must be (min, max) ranges, got scale (", scale.first, ", ",
                 scale.second, ") and ratio (", ratio.first, ", ", ratio.second, ")");
    const Window win = get_params(img.height, img.width, rng);
    return resized_crop(img, win.top, win.left, win.height, win.width, size, interpolation);
  }
};

// RandomRotation(degrees, interpolation, fill): angle ~ U(min, max) degrees; a single number d
// means (−d, d). torchvision's default interpolation is nearest.
struct RandomRotation {
  std::pair<double, double> degrees;
  InterpolationMode interpolation = InterpolationMode::Nearest;
  float fill = 0.f;

  RandomRotation(double d, InterpolationMode mode = InterpolationMode::Nearest, float fill_value = 0.f)
      : degrees(-d, d), interpolation(mode), fill(fill_value) {
    LACOOT_CHECK(d >= 0, "RandomRotation: degrees ", d, " must be >= 0 when a single number");
  }
  RandomRotation(std::pair<double, double> range, InterpolationMode mode = InterpolationMode::Nearest,
                 float fill_value = 0.f)
      : degrees(range), interpolation(mode), fill(fill_value) {}

  Image operator()(Image img, RandomStream& rng) const {
    return rotate(img, rng.uniform(degrees.first, degrees.second), interpolation, fill);
  }
};

}  // namespace lacoot::data

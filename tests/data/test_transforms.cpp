// Tests for data_loaders/transforms.hpp, resize.hpp and color_jitter.hpp.
//
// Hand-worked cases (in the comments) for normalise, flips, padding, crops and crop offsets;
// torch 1.13 references (tests/fixtures/gen_data.py) for bilinear resizing, rotation and the
// colour adjustments, the hue one through Python's colorsys; and determinism: a sample's
// augmentation is a function of its RandomStream alone.
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <vector>

#include "../fixtures/data_fixtures.hpp"
#include "data_loaders/color_jitter.hpp"
#include "data_loaders/resize.hpp"
#include "data_loaders/transforms.hpp"
#include "data_test_util.hpp"

using namespace lacoot;
using namespace lacoot::data;
using namespace lacoot::test;
namespace fx_data = fixtures::data;

namespace {

Image make(int64_t c, int64_t h, int64_t w, const std::vector<double>& v) {
  Image img(c, h, w);
  REQUIRE(static_cast<int64_t>(v.size()) == img.numel());
  for (std::size_t i = 0; i < v.size(); ++i) img.data[i] = static_cast<float>(v[i]);
  return img;
}

// 0, 1, 2, ... in row-major order.
Image counting(int64_t c, int64_t h, int64_t w) {
  Image img(c, h, w);
  for (std::size_t i = 0; i < img.data.size(); ++i) img.data[i] = static_cast<float>(i);
  return img;
}

void check_image(const Image& img, const std::vector<double>& want, double tol) {
  REQUIRE(img.data.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    CHECK(std::abs(img.data[i] - want[i]) <= tol);
  }
}

}  // namespace

TEST_CASE("normalize: (x - mean_c) / std_c per channel") {
  // Channel 0: mean 0.5, std 0.25: {0, 0.5, 1, 0.25} → {-2, 0, 2, -1}.
  // Channel 1: mean 0, std 2: {1, 2, 3, 4} → {0.5, 1, 1.5, 2}.
  Image img = make(2, 2, 2, {0, 0.5, 1, 0.25, 1, 2, 3, 4});
  check_image(normalize(img, {0.5, 0.0}, {0.25, 2.0}), {-2, 0, 2, -1, 0.5, 1, 1.5, 2}, 1e-6);
  check_image(normalize(img, {1.0}, {0.5}), {-2, -1, 0, -1.5, 0, 2, 4, 6}, 1e-6);
  RandomStream rng;
  check_image(Normalize{{0.5, 0.0}, {0.25, 2.0}}(img, rng), {-2, 0, 2, -1, 0.5, 1, 1.5, 2}, 1e-6);
  check_error_names([&] { normalize(img, {0.1, 0.2, 0.3}, {1.0}); }, {"mean has 3 values", "2"});
  check_error_names([&] { normalize(img, {0.0}, {1.0, 0.0}); }, {"std of channel 1 is 0"});
}

TEST_CASE("hflip / vflip mirror exactly; random flips draw torch.rand(1) < p") {
  // 1×2×3: rows {0 1 2}, {3 4 5}.
  Image img = counting(1, 2, 3);
  check_image(hflip(img), {2, 1, 0, 5, 4, 3}, 0);
  check_image(vflip(img), {3, 4, 5, 0, 1, 2}, 0);
  check_image(vflip(counting(1, 3, 1)), {2, 1, 0}, 0);
  check_image(hflip(hflip(img)), {0, 1, 2, 3, 4, 5}, 0);

  RandomStream rng(3);
  check_image(RandomHorizontalFlip{1.0}(img, rng), {2, 1, 0, 5, 4, 3}, 0);
  check_image(RandomHorizontalFlip{0.0}(img, rng), {0, 1, 2, 3, 4, 5}, 0);
  check_image(RandomVerticalFlip{1.0}(img, rng), {3, 4, 5, 0, 1, 2}, 0);
  // The flip happens exactly when the sample's first uniform is below p.
  int flips = 0;
  for (int s = 0; s < 2000; ++s) {
    RandomStream a(static_cast<uint64_t>(s)), b(static_cast<uint64_t>(s));
    const bool flipped = RandomHorizontalFlip{0.5}(img, a).data[0] == 2;
    CHECK(flipped == (b.uniform() < 0.5));
    flips += flipped;
  }
  CHECK(flips > 900);
  CHECK(flips < 1100);
}

TEST_CASE("pad and crop: constant fill, windows outside the image read the fill") {
  // 1×2×2 {1 2; 3 4} padded by (left 1, top 0, right 2, bottom 1) with 9:
  //   {9 1 2 9 9; 9 3 4 9 9; 9 9 9 9 9}.
  Image img = make(1, 2, 2, {1, 2, 3, 4});
  Image p = pad(img, Padding(1, 0, 2, 1), 9.f);
  CHECK(p.shape() == Shape{1, 3, 5});
  check_image(p, {9, 1, 2, 9, 9, 9, 3, 4, 9, 9, 9, 9, 9, 9, 9}, 0);
  check_image(pad(img, Padding(1)), {0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0}, 0);
  check_image(pad(img, Padding(1, 0)), {0, 1, 2, 0, 0, 3, 4, 0}, 0);
  // crop(top -1, left 1, 3×2): the rows −1, 0, 1 and columns 1, 2.
  check_image(crop(img, -1, 1, 3, 2), {0, 0, 2, 0, 4, 0}, 0);
  check_error_names([&] { pad(img, Padding(-1)); }, {"negative padding"});
}

TEST_CASE("RandomCrop(32, padding=4): offsets i then j, each randint(0, 9), over the padded image") {
  Image img = counting(3, 32, 32);
  for (float& v : img.data) v += 1;  // no zeros inside, so the padding is recognisable
  const Image padded = pad(img, Padding(4));
  std::set<int64_t> rows, cols;
  for (uint64_t s = 0; s < 300; ++s) {
    RandomStream rng(s), expect(s);
    const int64_t i = expect.randint(0, 9), j = expect.randint(0, 9);
    rows.insert(i);
    cols.insert(j);
    Image out = RandomCrop{32, 4}(img, rng);
    REQUIRE(out.shape() == Shape{3, 32, 32});
    bool same = true;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 32; ++y)
        for (int64_t x = 0; x < 32; ++x) same = same && out.at(c, y, x) == padded.at(c, y + i, x + j);
    CHECK(same);
    CHECK(rng.bits() == expect.bits());  // exactly two draws were used
  }
  // Both offsets take every value 0..8 (inclusive, as torch.randint(0, 9)).
  CHECK(rows.size() == 9);
  CHECK(cols.size() == 9);
  CHECK(*rows.rbegin() == 8);

  // An image exactly the window's size is returned without a draw.
  RandomStream rng(1), untouched(1);
  check_image(RandomCrop{32}(img, rng), std::vector<double>(img.data.begin(), img.data.end()), 0);
  CHECK(rng.bits() == untouched.bits());

  // pad_if_needed pads (w − W) on both sides: 1×1×2 → width 4 → window 4 from a 1×1×6 row.
  Image row = make(1, 1, 2, {5, 6});
  RandomStream r2(7);
  Image out = RandomCrop{ImageSize(1, 4), Padding(0), true}(row, r2);
  CHECK(out.shape() == Shape{1, 1, 4});
  check_error_names([&] { RandomCrop{40}(img, rng); }, {"RandomCrop", "40x40", "32x32"});
}

TEST_CASE("center_crop: top = round((H - h) / 2) with halves to even, zero padding when larger") {
  Image img = counting(1, 7, 5);
  // Height 7 → 2: round(2.5) = 2; width 5 → 2: round(1.5) = 2. Rows 2, 3; columns 2, 3.
  check_image(center_crop(img, ImageSize(2, 2)), {12, 13, 17, 18}, 0);
  // 7 → 4: round(1.5) = 2; 5 → 4: round(0.5) = 0.
  Image c = center_crop(img, ImageSize(4, 4));
  CHECK(c.at(0, 0, 0) == 10);
  // Larger than the image: 1×2×2 {1 2; 3 4} → 4×3: pad top (4 − 2) // 2 = 1, left (3 − 2) // 2 = 0.
  Image small = make(1, 2, 2, {1, 2, 3, 4});
  check_image(center_crop(small, ImageSize(4, 3)), {0, 0, 0, 1, 2, 0, 3, 4, 0, 0, 0, 0}, 0);
  RandomStream rng;
  CHECK(CenterCrop{1}(small, rng).at(0, 0, 0) == 1);  // top = left = round(0.5) = 0
}

TEST_CASE("resize: bilinear equals torch's interpolate(align_corners=False, antialias=False)") {
  auto check_case = [](auto c) {
    using C = decltype(c);
    Image x = make(C::channels, C::height, C::width, C::x);
    Image y = resize(x, ImageSize(C::out_height, C::out_width));
    CHECK(y.shape() == Shape{C::channels, C::out_height, C::out_width});
    check_image(y, C::y, 2e-6);
  };
  check_case(fx_data::resize::up_3x4_to_5x7{});
  check_case(fx_data::resize::down_6x5_to_4x2{});
  check_case(fx_data::resize::mixed_4x4_to_7x3{});
  check_case(fx_data::resize::same_3x3{});

  // By hand: 1×1×2 {0, 1} → width 4: source x = (d + 0.5)·0.5 − 0.5 = −0.25 (→ 0), 0.25, 0.75,
  // 1.25 (right tap clamped) → {0, 0.25, 0.75, 1}.
  check_image(resize(make(1, 1, 2, {0, 1}), ImageSize(1, 4)), {0, 0.25, 0.75, 1}, 1e-7);
  // Nearest: doubling repeats each pixel; 3 → 2 takes floor(d · 1.5) = 0, 1.
  check_image(resize(make(1, 1, 2, {4, 7}), ImageSize(1, 4), InterpolationMode::Nearest), {4, 4, 7, 7}, 0);
  check_image(resize(make(1, 1, 3, {4, 7, 9}), ImageSize(1, 2), InterpolationMode::Nearest), {4, 7}, 0);

  // Resize{{s}}: the shorter edge becomes s, the other int(s · long / short).
  RandomStream rng;
  CHECK(Resize{{20}}(Image(3, 30, 40), rng).shape() == Shape{3, 20, 26});
  CHECK(Resize{{20}}(Image(3, 40, 30), rng).shape() == Shape{3, 26, 20});
  CHECK(Resize{{8, 5}}(Image(1, 30, 40), rng).shape() == Shape{1, 8, 5});
  check_error_names([&] { Resize{{1, 2, 3}}(Image(1, 2, 2), rng); }, {"3 values"});
}

TEST_CASE("RandomResizedCrop: windows within the image and the ranges; the central fallback") {
  RandomResizedCrop t{ImageSize(8)};
  for (uint64_t s = 0; s < 200; ++s) {
    RandomStream rng(s);
    auto w = t.get_params(40, 60, rng);
    CHECK(w.top >= 0);
    CHECK(w.left >= 0);
    CHECK(w.top + w.height <= 40);
    CHECK(w.left + w.width <= 60);
    const double area = static_cast<double>(w.height * w.width) / (40.0 * 60.0);
    CHECK(area <= 1.0 + 1e-9);
  }
  // scale (2, 3) never fits, so after 10 attempts: a 10×40 image (ratio 4 > 4/3) gives
  // h = 10, w = round(10 · 4/3) = 13, top 0, left (40 − 13) // 2 = 13.
  RandomResizedCrop never{ImageSize(4), {2.0, 3.0}};
  RandomStream rng(0);
  auto w = never.get_params(10, 40, rng);
  CHECK(w.top == 0);
  CHECK(w.left == 13);
  CHECK(w.height == 10);
  CHECK(w.width == 13);
  // A tall 40×10 image: w = 10, h = round(10 / (3/4)) = 13, top (40 − 13) // 2 = 13.
  w = never.get_params(40, 10, rng);
  CHECK(w.top == 13);
  CHECK(w.height == 13);
  CHECK(w.width == 10);
  // A square one within the ratio range: the whole image.
  w = never.get_params(9, 9, rng);
  CHECK((w.top == 0 && w.left == 0 && w.height == 9 && w.width == 9));
  CHECK(t(counting(3, 40, 60), rng).shape() == Shape{3, 8, 8});
}

TEST_CASE("rotate: 90 degrees is numpy's rot90 (counter-clockwise); torch references at other angles") {
  for (int64_t n : {3, 4}) {
    Image img = counting(1, n, n);
    Image r = rotate(img, 90.0);
    // rot90: out[y][x] = in[x][n − 1 − y].
    for (int64_t y = 0; y < n; ++y)
      for (int64_t x = 0; x < n; ++x) CHECK(r.at(0, y, x) == img.at(0, x, n - 1 - y));
    check_image(rotate(img, 0.0, InterpolationMode::Bilinear),
                std::vector<double>(img.data.begin(), img.data.end()), 1e-5);
  }
  namespace r = fx_data::rotate;
  const Image x = make(r::channels, r::size, r::size, r::x);
  auto check_case = [&](auto c, InterpolationMode mode) {
    using C = decltype(c);
    CAPTURE(C::degrees);
    check_image(rotate(x, C::degrees, mode), C::y, 1e-5);
  };
  check_case(r::bilinear_33{}, InterpolationMode::Bilinear);
  check_case(r::bilinear_m75{}, InterpolationMode::Bilinear);
  check_case(r::nearest_33{}, InterpolationMode::Nearest);
  check_case(r::nearest_m75{}, InterpolationMode::Nearest);

  // RandomRotation(d) draws the angle from U(−d, d).
  RandomStream a(5), b(5);
  const Image want = rotate(x, b.uniform(-30, 30));
  check_image(RandomRotation(30.0)(x, a), std::vector<double>(want.data.begin(), want.data.end()), 0);
}

TEST_CASE("colour: brightness, contrast, saturation and hue against torchvision's formulas and colorsys") {
  namespace c = fx_data::color;
  const Image x = make(3, c::height, c::width, c::x);
  check_image(adjust_brightness(x, c::brightness_factor), c::brightness, 1e-6);
  check_image(adjust_contrast(x, c::contrast_factor), c::contrast, 1e-6);
  check_image(adjust_saturation(x, c::saturation_factor), c::saturation, 1e-6);
  check_image(adjust_hue(x, c::hue_factor), c::hue, 2e-6);
  check_image(adjust_hue(adjust_hue(x, c::hue_factor), -c::hue_factor),
              std::vector<double>(x.data.begin(), x.data.end()), 2e-6);
  // Gray images: saturation and hue leave them alone; grayscale weights sum to 0.9999.
  Image gray = make(1, 1, 2, {0.25, 0.5});
  check_image(adjust_saturation(gray, 0.3), {0.25, 0.5}, 0);
  check_image(adjust_hue(gray, 0.3), {0.25, 0.5}, 0);
  check_image(rgb_to_grayscale(make(3, 1, 1, {1, 1, 1})), {0.9999}, 1e-6);
  check_error_names([&] { adjust_hue(x, 0.7); }, {"adjust_hue", "0.7", "[-0.5, 0.5]"});

  // ColorJitter: the same stream gives the same image; factors 0 leave the image unchanged.
  ColorJitter jitter{0.4, 0.4, 0.4, 0.1};
  RandomStream a(11), b(11), d(12);
  const Image ja = jitter(x, a), jb = jitter(x, b), jd = jitter(x, d);
  CHECK(ja.data == jb.data);
  CHECK(ja.data != jd.data);
  for (float v : ja.data) CHECK((v >= 0.f && v <= 1.f));
  RandomStream e(3);
  CHECK(ColorJitter{}(x, e).data == x.data);
  // Its draws, in torchvision's order: randperm(4), then brightness, contrast, saturation, hue.
  RandomStream f(21), g(21);
  const std::vector<int64_t> order = g.randperm(4);
  const double fb = g.uniform(0.6, 1.4), fc = g.uniform(0.6, 1.4);
  Image want = x;
  for (int64_t k : order) {
    if (k == 0) want = adjust_brightness(want, fb);
    if (k == 1) want = adjust_contrast(want, fc);
  }
  CHECK(ColorJitter{0.4, 0.4}(x, f).data == want.data);
}

TEST_CASE("Compose and RandomStream: transforms in order; a sample's draws depend on (seed, epoch, index)") {
  Compose t{RandomHorizontalFlip{1.0}, Pad{Padding(1)}, CenterCrop{ImageSize(1, 2)}};
  // {0 1 2; 3 4 5} → flip {2 1 0; 5 4 3} → pad 1 (4×5) → centre 1×2: top round(1.5) = 2,
  // left round(1.5) = 2: the padded row 2 = {0 5 4 3 0}, columns 2, 3 → {4, 3}.
  RandomStream rng;
  check_image(t(counting(1, 2, 3), rng), {4, 3}, 0);

  auto draws = [](RandomStream s) {
    std::vector<uint64_t> v;
    for (int i = 0; i < 4; ++i) v.push_back(s.bits());
    return v;
  };
  CHECK(draws(RandomStream::for_sample(1, 2, 3)) == draws(RandomStream::for_sample(1, 2, 3)));
  CHECK(draws(RandomStream::for_sample(1, 2, 3)) != draws(RandomStream::for_sample(1, 2, 4)));
  CHECK(draws(RandomStream::for_sample(1, 2, 3)) != draws(RandomStream::for_sample(1, 3, 3)));
  CHECK(draws(RandomStream::for_sample(1, 2, 3)) != draws(RandomStream::for_sample(2, 2, 3)));
  // randint covers [low, high) and randperm is a permutation.
  RandomStream r(9);
  std::set<int64_t> seen;
  for (int i = 0; i < 500; ++i) seen.insert(r.randint(-2, 3));
  CHECK(seen == std::set<int64_t>{-2, -1, 0, 1, 2});
  std::vector<int64_t> p = r.randperm(10);
  CHECK(std::set<int64_t>(p.begin(), p.end()).size() == 10);
}

TEST_CASE("image_from_hwc / image_from_chw do ToTensor's arithmetic; to_tensor and from_tensor copy") {
  // 2×1 RGB pixels, HWC: (0, 51, 255), (102, 153, 204) → planes R {0, 0.4}, G {0.2, 0.6}, B {1, 0.8}.
  const std::vector<uint8_t> hwc = {0, 51, 255, 102, 153, 204};
  Image img = image_from_hwc(hwc.data(), 1, 2, 3);
  check_image(img, {0, 0.4, 0.2, 0.6, 1, 0.8}, 1e-7);
  const std::vector<uint8_t> chw = {0, 102, 51, 153, 255, 204};
  CHECK(image_from_chw(chw.data(), 3, 1, 2).data == img.data);
  Tensor t = to_tensor(img);
  CHECK(t.shape() == Shape{3, 1, 2});
  CHECK(t.at<float>({2, 0, 1}) == img.at(2, 0, 1));
  CHECK(from_tensor(t.to(kFloat64)).data == img.data);
  check_error_names([&] { from_tensor(Tensor::empty({3, 4}, kFloat32)); }, {"[C, H, W]", "[3, 4]"});
}

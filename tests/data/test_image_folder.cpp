// Tests for data_loaders/image_folder.hpp and tiny_imagenet.hpp.
//
// Images are written here with stb_image_write (PNG, BMP, JPEG; Debian's libstb holds its
// implementation) and decoded back; folder trees are built to check torchvision's listing
// rules: sorted classes, sorted(os.walk()) order (checked against Python: `sub-x/` sorts before
// `sub/deeper/` because '-' < '/'), the extension filter, and the errors for empty classes.
#include <doctest/doctest.h>

#include <stb_image_write.h>

#include <cmath>
#include <string_view>
#include <vector>

#include "data_loaders/image_folder.hpp"
#include "data_loaders/loader.hpp"
#include "data_loaders/resize.hpp"
#include "data_loaders/tiny_imagenet.hpp"
#include "data_test_util.hpp"

using namespace lacoot;
using namespace lacoot::data;
using namespace lacoot::test;

namespace {

// h × w pixels with c channels (HWC): value (y·w + x)·c + k scaled into 0..250.
std::vector<uint8_t> pattern(int h, int w, int c, int seed = 0) {
  std::vector<uint8_t> v(static_cast<std::size_t>(h * w * c));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>((i * 23 + static_cast<std::size_t>(seed) * 41) % 251);
  return v;
}

void write_png(const fs::path& path, int h, int w, int c, int seed = 0) {
  fs::create_directories(path.parent_path());
  REQUIRE(stbi_write_png(path.string().c_str(), w, h, c, pattern(h, w, c, seed).data(), w * c) != 0);
}

void write_jpg(const fs::path& path, int h, int w, int seed = 0) {
  fs::create_directories(path.parent_path());
  REQUIRE(stbi_write_jpg(path.string().c_str(), w, h, 3, pattern(h, w, 3, seed).data(), 100) != 0);
}

std::vector<std::string> relative(const ImageFolder& f, const fs::path& root) {
  std::vector<std::string> out;
  for (const ImageSample& s : f.samples()) out.push_back(s.path.lexically_relative(root).string());
  return out;
}

}  // namespace

TEST_CASE("decode_image: PNG and BMP exact, gray replicated to RGB, alpha dropped, JPEG close") {
  TempDir dir("decode");
  const std::vector<uint8_t> rgb = pattern(2, 3, 3), gray = pattern(2, 3, 1), rgba = pattern(2, 3, 4);
  write_png(dir / "rgb.png", 2, 3, 3);
  write_png(dir / "gray.png", 2, 3, 1);
  write_png(dir / "rgba.png", 2, 3, 4);
  REQUIRE(stbi_write_bmp((dir / "rgb.bmp").string().c_str(), 3, 2, 3, rgb.data()) != 0);
  for (const char* name : {"rgb.png", "rgb.bmp"}) {
    CAPTURE(name);
    Image img = decode_image(dir / name);
    REQUIRE(img.shape() == Shape{3, 2, 3});
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 3; ++x)
        for (int c = 0; c < 3; ++c) CHECK(img.at(c, y, x) == rgb[static_cast<std::size_t>((y * 3 + x) * 3 + c)] / 255.f);
  }
  Image g = decode_image(dir / "gray.png");
  REQUIRE(g.shape() == Shape{3, 2, 3});
  for (int c = 0; c < 3; ++c) CHECK(g.at(c, 1, 2) == gray[5] / 255.f);
  Image a = decode_image(dir / "rgba.png");
  REQUIRE(a.shape() == Shape{3, 2, 3});
  CHECK(a.at(2, 1, 0) == rgba[(3 + 0) * 4 + 2] / 255.f);

  write_jpg(dir / "smooth.jpg", 16, 16);
  Image j = decode_image(dir / "smooth.jpg");
  CHECK(j.shape() == Shape{3, 16, 16});

  // Empty IDAT chunks (one before the data, one after) change nothing.
  {
    Bytes png = read_file_raw(dir / "rgb.png");
    const Bytes empty_idat = {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xAF, 0x06, 0x1E};
    std::size_t idat = 8;  // the first IDAT chunk (the first after IHDR, as stbi_write_png writes it)
    while (!std::equal(png.begin() + static_cast<std::ptrdiff_t>(idat + 4),
                       png.begin() + static_cast<std::ptrdiff_t>(idat + 8), "IDAT"))
      idat += 12 + (std::size_t{png[idat + 2]} << 8 | png[idat + 3]);
    const std::size_t idat_end = idat + 12 + (std::size_t{png[idat + 2]} << 8 | png[idat + 3]);
    png.insert(png.begin() + static_cast<std::ptrdiff_t>(idat_end), empty_idat.begin(), empty_idat.end());
    png.insert(png.begin() + static_cast<std::ptrdiff_t>(idat), empty_idat.begin(), empty_idat.end());
    Image padded = decode_image(png, "padded.png");
    REQUIRE(padded.shape() == Shape{3, 2, 3});
    for (int c = 0; c < 3; ++c) CHECK(padded.at(c, 1, 2) == rgb[static_cast<std::size_t>(5 * 3 + c)] / 255.f);
    // Cut inside an empty IDAT's CRC (tests/fuzz/corpus/image/regress-6): an Error, not stb's
    // copy to a null buffer.
    png.resize(idat + 11);
    check_error_names([&] { decode_image(png, "cut-idat.png"); }, {"cut-idat.png", "stb_image"});
  }

  // Truncated PNG, text named .jpg, and a TIFF (listed by ImageFolder, not decodable).
  Bytes png = read_file_raw(dir / "rgb.png");
  png.resize(png.size() / 2);
  write_bytes(dir / "cut.png", png);
  check_error_names([&] { decode_image(dir / "cut.png"); }, {"cut.png", "stb_image", "corrupt"});
  write_text(dir / "text.jpg", "not an image at all");
  check_error_names([&] { decode_image(dir / "text.jpg"); }, {"text.jpg", "cannot decode"});
  write_bytes(dir / "photo.tif", {'I', 'I', 42, 0, 8, 0, 0, 0});
  check_error_names([&] { decode_image(dir / "photo.tif"); }, {"photo.tif", "TIFF and WebP"});
  check_error_names([&] { decode_image(dir / "absent.png"); }, {"absent.png", "does not exist"});

  // A PNG whose header claims 14000 x 14000 pixels: over PIL's decompression-bomb limit, an error
  // before anything is allocated; a smaller limit applies to any image.
  Bytes huge = read_file_raw(dir / "rgb.png");
  for (std::size_t at : {16u, 20u}) huge[at] = 0, huge[at + 1] = 0, huge[at + 2] = 0x36, huge[at + 3] = 0xb0;
  check_error_names([&] { decode_image(huge, "huge.png"); }, {"huge.png", "14000 x 14000 pixels", "178956970"});
  check_error_names([&] { decode_image(read_file_raw(dir / "rgb.png"), "rgb.png", 5); }, {"rgb.png", "3 x 2", "5 decoded"});

  // PGM / PPM: 8-bit and 16-bit (big-endian) samples scaled by 255 / maxval, a comment in the
  // header; a truncated raster, a bad header and a number past 2^31 are errors.
  using namespace std::string_view_literals;
  const auto pnm = [](std::string_view text) { return Bytes(text.begin(), text.end()); };  // NULs kept
  Image g16 = decode_image(pnm(std::string("P5\n2 1\n65535\n") + '\x80' + '\x00' + '\xff' + '\xff'), "deep.pgm");
  REQUIRE(g16.shape() == Shape{3, 1, 2});
  for (int c = 0; c < 3; ++c) CHECK((g16.at(c, 0, 0) == 128 / 255.f && g16.at(c, 0, 1) == 1.f));
  Image p6 = decode_image(pnm("P6 # two pixels\n2 1 15\n\x0f\x00\x05\x01\x02\x03"sv), "rgb.ppm");
  REQUIRE(p6.shape() == Shape{3, 1, 2});
  CHECK((p6.at(0, 0, 0) == 1.f && p6.at(1, 0, 0) == 0.f && p6.at(2, 0, 0) == 85 / 255.f));  // 5 · 255 / 15
  CHECK((p6.at(0, 0, 1) == 17 / 255.f && p6.at(1, 0, 1) == 34 / 255.f && p6.at(2, 0, 1) == 51 / 255.f));
  check_error_names([&] { decode_image(pnm("P5 3 2 255\n\x01\x02"), "cut.pgm"); },
                    {"cut.pgm", "truncated", "6 bytes", "has 2"});
  check_error_names([&] { decode_image(pnm("P5 3 x 255\n"), "bad.pgm"); }, {"bad.pgm", "height", "byte 5"});
  check_error_names([&] { decode_image(pnm("P6 99999999999 1 255\n"), "long.ppm"); }, {"long.ppm", "width", "2^31"});

  // A JPEG Huffman table declaring 16 x 255 codes (stb_image would write past its tables).
  Bytes jpg = read_file_raw(dir / "smooth.jpg");
  std::size_t dht = 2;
  while (dht + 1 < jpg.size() && !(jpg[dht] == 0xFF && jpg[dht + 1] == 0xC4)) ++dht;
  REQUIRE(dht + 21 < jpg.size());
  for (std::size_t k = 0; k < 16; ++k) jpg[dht + 5 + k] = 0xFF;
  check_error_names([&] { decode_image(jpg, "bad_huffman.jpg"); },
                    {"bad_huffman.jpg", "corrupt JPEG", "Huffman table", "4080 codes", "at most 256"});
}

TEST_CASE("ImageFolder: sorted classes, sorted(os.walk()) order, extension filter, links") {
  TempDir dir("folder");
  const fs::path root = dir / "root";
  write_png(root / "a_class/x_10.png", 2, 2, 3, 1);
  write_png(root / "a_class/x_100.png", 2, 2, 3, 2);
  write_png(root / "a_class/x_2.png", 2, 2, 3, 3);
  write_png(root / "b_class/z.png", 2, 2, 3, 4);
  write_png(root / "b_class/a.PNG", 2, 2, 3, 5);
  write_text(root / "b_class/notes.txt", "ignored");
  write_png(root / "b_class/sub/1.png", 2, 2, 3, 6);
  write_png(root / "b_class/sub-x/2.png", 2, 2, 3, 7);
  write_png(root / "b_class/sub/deeper/3.png", 2, 2, 3, 8);
  fs::create_directories(root / "B_upper");
  REQUIRE(stbi_write_bmp((root / "B_upper/1.bmp").string().c_str(), 2, 2, 3, pattern(2, 2, 3, 9).data()) != 0);
  write_text(root / "top_level_file.png", "not a class");  // files in the root are no class
  // A link to a folder outside is followed; a link back up (a cycle) is walked once.
  write_png(dir / "elsewhere/linked.png", 2, 2, 3, 10);
  fs::create_directory_symlink(dir / "elsewhere", root / "a_class/zz_link");
  fs::create_directory_symlink(root / "a_class", root / "a_class/zz_link/loop");

  ImageFolder f(root);
  CHECK(f.classes() == std::vector<std::string>{"B_upper", "a_class", "b_class"});
  CHECK(relative(f, root) == std::vector<std::string>{
      "B_upper/1.bmp", "a_class/x_10.png", "a_class/x_100.png", "a_class/x_2.png",
      "a_class/zz_link/linked.png", "b_class/a.PNG", "b_class/z.png", "b_class/sub/1.png",
      "b_class/sub-x/2.png", "b_class/sub/deeper/3.png"});
  CHECK(f.size() == 10);
  Example e = f.get(8);
  CHECK(e.label == 2);
  CHECK(e.image.at(0, 0, 0) == pattern(2, 2, 3, 7)[0] / 255.f);
  CHECK(f.get(0).label == 0);

  // Only .png: B_upper has none, which is an error naming it and the extensions.
  check_error_names([&] { ImageFolder(root, {{".png"}}); }, {"B_upper", "no valid file", ".png"});
  check_error_names([&] { ImageFolder(dir / "root/b_class/sub/deeper"); }, {"couldn't find any class folder"});
  check_error_names([&] { ImageFolder(dir / "nowhere"); }, {"nowhere", "not a directory"});

  // Lazily decoded on loader threads, resized to one size.
  DataLoaderOptions opt{.batch_size = 4, .num_workers = 2};
  opt.transform = Resize{{3, 3}};
  DataLoader loader(std::make_shared<ImageFolder>(root), opt);
  int64_t seen = 0;
  for (Batch& b : loader) {
    CHECK(b.images.shape()[1] == 3);
    seen += b.size();
  }
  CHECK(seen == 10);
}

TEST_CASE("tiny_imagenet: train as an ImageFolder, val regrouped from val_annotations.txt") {
  TempDir dir("tiny");
  const fs::path root = dir / "tiny-imagenet-200";
  // wnids.txt in file order is not sorted; labels follow the sorted order.
  write_text(root / "wnids.txt", "n02\nn01\nn03\n");
  for (const std::string wnid : {"n01", "n02", "n03"}) {
    for (int k : {0, 1, 10}) write_jpg(root / "train" / wnid / "images" / (wnid + "_" + std::to_string(k) + ".JPEG"), 8, 8, k);
    write_text(root / "train" / wnid / (wnid + "_boxes.txt"), "ignored\t0\t0\t8\t8\n");
  }
  for (int k = 0; k < 5; ++k) write_jpg(root / "val/images" / ("val_" + std::to_string(k) + ".JPEG"), 8, 8, k);
  write_text(root / "val/val_annotations.txt",
             "val_0.JPEG\tn03\t0\t0\t8\t8\nval_1.JPEG\tn01\t1\t1\t7\t7\nval_2.JPEG\tn03\t0\t0\t8\t8\n"
             "val_3.JPEG\tn02\t0\t0\t8\t8\r\nval_4.JPEG\tn01\t0\t0\t8\t8\n");
  write_jpg(root / "test/images/test_0.JPEG", 8, 8);

  ImageFolder train = tiny_imagenet(root, "train");
  CHECK(train.classes() == std::vector<std::string>{"n01", "n02", "n03"});
  CHECK(train.size() == 9);
  CHECK(relative(train, root)[1] == "train/n01/images/n01_1.JPEG");
  CHECK(relative(train, root)[2] == "train/n01/images/n01_10.JPEG");
  CHECK(train.get(4).label == 1);
  CHECK(train.get(4).image.shape() == Shape{3, 8, 8});

  ImageFolder val = tiny_imagenet(root, "val");
  CHECK(val.classes() == train.classes());
  CHECK(relative(val, root) == std::vector<std::string>{"val/images/val_1.JPEG", "val/images/val_4.JPEG",
                                                        "val/images/val_3.JPEG", "val/images/val_0.JPEG",
                                                        "val/images/val_2.JPEG"});
  std::vector<int64_t> labels;
  for (const ImageSample& s : val.samples()) labels.push_back(s.label);
  CHECK(labels == std::vector<int64_t>{0, 0, 1, 2, 2});

  check_error_names([&] { tiny_imagenet(root, "test"); }, {"unlabelled", "test"});
  check_error_names([&] { tiny_imagenet(root, "dev"); }, {"'dev'", "train, val, test"});

  write_text(root / "val/val_annotations.txt", "val_0.JPEG\tn03\t0\t0\t8\t8\nval_1.JPEG\tn09\t0\t0\t8\t8\n");
  check_error_names([&] { tiny_imagenet(root, "val"); }, {"val_annotations.txt", "line 2", "'n09'"});
  write_text(root / "val/val_annotations.txt", "val_7.JPEG\tn03\t0\t0\t8\t8\n");
  check_error_names([&] { tiny_imagenet(root, "val"); }, {"line 1", "val_7.JPEG", "does not exist"});

  // A regrouped val/ (class folders) and a labelled test/ are read as ImageFolders, checked
  // against the classes.
  fs::remove_all(root / "val");
  for (const std::string wnid : {"n01", "n02", "n03"}) write_jpg(root / "val" / wnid / "a.JPEG", 8, 8);
  CHECK(tiny_imagenet(root, "val").size() == 3);
  fs::remove_all(root / "test");
  write_jpg(root / "test/n01/a.JPEG", 8, 8);
  write_jpg(root / "test/n05/a.JPEG", 8, 8);
  check_error_names([&] { tiny_imagenet(root, "test"); }, {"test", "class 1", "'n05'", "'n02'"});
  fs::remove(root / "wnids.txt");
  CHECK(tiny_imagenet(root, "train").classes().size() == 3);  // from train/'s folders
}

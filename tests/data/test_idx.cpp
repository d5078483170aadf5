// Tests for data_loaders/gzip_file.hpp and data_loaders/idx.hpp.
//
// Each test writes its own tiny files (plain and gzipped, with zlib's deflate) in a scratch
// folder and reads them back; the corrupt ones (truncated, wrong magic, wrong element type,
// label out of range, bad gzip) must raise a lacoot::Error that names the file and the field.
// The real Fashion-MNIST files installed by Debian are checked against facts read with Python's
// gzip module (tests/fixtures/gen_data.py → data_fixtures.hpp).
#include <doctest/doctest.h>

#include <filesystem>
#include <numeric>
#include <vector>

#include "../fixtures/data_fixtures.hpp"
#include "data_loaders/gzip_file.hpp"
#include "data_loaders/idx.hpp"
#include "data_test_util.hpp"

using namespace lacoot;
using namespace lacoot::data;
using namespace lacoot::test;

namespace {

// An IDX file: 00 00, type, ndim, big-endian dims, then `payload`.
std::vector<uint8_t> idx_bytes(uint8_t type, const std::vector<uint32_t>& dims,
                               const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> b = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int shift : {24, 16, 8, 0}) b.push_back(static_cast<uint8_t>(d >> shift));
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

std::vector<uint8_t> iota_bytes(std::size_t n, uint8_t start = 0) {
  std::vector<uint8_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

}  // namespace

TEST_CASE("read_file: plain bytes as they are, gzip data inflated, members concatenated") {
  TempDir dir("gzip");
  const std::vector<uint8_t> text = {'h', 'e', 'l', 'l', 'o', 0, 255, 0x1f};
  write_bytes(dir / "plain.bin", text);
  write_bytes(dir / "packed.gz", gzip_bytes(text));
  CHECK(read_file(dir / "plain.bin") == text);
  CHECK(read_file(dir / "packed.gz") == text);
  CHECK(read_file_raw(dir / "packed.gz") != text);

  // `cat a.gz b.gz` inflates to a then b (RFC 1952 §2.2), as gzip -d does.
  std::vector<uint8_t> two = gzip_bytes({1, 2, 3});
  const std::vector<uint8_t> second = gzip_bytes({4, 5});
  two.insert(two.end(), second.begin(), second.end());
  write_bytes(dir / "two.gz", two);
  CHECK(read_file(dir / "two.gz") == std::vector<uint8_t>{1, 2, 3, 4, 5});

  // A large, compressible payload crosses zlib's output chunks.
  std::vector<uint8_t> big(3 << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>((i * 7) % 251);
  write_bytes(dir / "big.gz", gzip_bytes(big));
  CHECK(read_file(dir / "big.gz") == big);

  write_bytes(dir / "empty.bin", {});
  CHECK(read_file(dir / "empty.bin").empty());
}

TEST_CASE("read_file: missing, truncated and corrupt files raise errors naming the file") {
  TempDir dir("gzip_bad");
  check_error_names([&] { read_file(dir / "nothing.gz"); }, {"nothing.gz", "does not exist"});
  check_error_names([&] { read_file(dir.path()); }, {"is a directory"});

  std::vector<uint8_t> payload(5000);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * i % 253);
  const std::vector<uint8_t> gz = gzip_bytes(payload);

  // Cut in the deflate stream, and cut inside the 8-byte trailer (CRC-32, ISIZE).
  write_bytes(dir / "cut.gz", std::vector<uint8_t>(gz.begin(), gz.begin() + gz.size() / 2));
  check_error_names([&] { read_file(dir / "cut.gz"); }, {"cut.gz", "truncated"});
  write_bytes(dir / "cut_trailer.gz", std::vector<uint8_t>(gz.begin(), gz.end() - 3));
  check_error_names([&] { read_file(dir / "cut_trailer.gz"); }, {"cut_trailer.gz", "truncated"});
  write_bytes(dir / "magic_only.gz", {0x1f, 0x8b});
  check_error_names([&] { read_file(dir / "magic_only.gz"); }, {"magic_only.gz", "truncated"});

  // A trailer whose ISIZE claims 4 GiB - 1: only a guess for the output size, never more than
  // 1032 times the file (deflate's largest ratio) reserved; zlib then finds the lie.
  std::vector<uint8_t> lying = gz;
  for (std::size_t k = 1; k <= 4; ++k) lying[lying.size() - k] = 0xff;
  write_bytes(dir / "lying_isize.gz", lying);
  check_error_names([&] { read_file(dir / "lying_isize.gz"); }, {"lying_isize.gz", "corrupt", "length check"});

  // A wrong CRC-32 in the trailer: zlib reports "incorrect data check".
  std::vector<uint8_t> bad_crc = gz;
  bad_crc[bad_crc.size() - 8] ^= 0xff;
  write_bytes(dir / "bad_crc.gz", bad_crc);
  check_error_names([&] { read_file(dir / "bad_crc.gz"); }, {"bad_crc.gz", "corrupt", "check"});

  // An unknown compression method (byte 2 must be 8, deflate).
  std::vector<uint8_t> bad_method = gz;
  bad_method[2] = 7;
  write_bytes(dir / "bad_method.gz", bad_method);
  check_error_names([&] { read_file(dir / "bad_method.gz"); }, {"bad_method.gz", "corrupt"});

  // Bytes after the last member that are not another member.
  std::vector<uint8_t> trailing = gz;
  trailing.push_back('x');
  write_bytes(dir / "trailing.gz", trailing);
  check_error_names([&] { read_file(dir / "trailing.gz"); }, {"trailing.gz", "unexpected bytes"});
}

TEST_CASE("load_idx: images and labels, plain and gzipped") {
  TempDir dir("idx");
  // 3 images of 2 rows × 4 columns: image n, row y, column x holds byte n·8 + y·4 + x.
  const std::vector<uint8_t> images = idx_bytes(0x08, {3, 2, 4}, iota_bytes(24));
  const std::vector<uint8_t> labels = idx_bytes(0x08, {3}, {2, 0, 9});
  write_bytes(dir / "imgs", images);
  write_bytes(dir / "imgs.gz", gzip_bytes(images));
  write_bytes(dir / "labs.gz", gzip_bytes(labels));

  for (const char* name : {"imgs", "imgs.gz"}) {
    CAPTURE(name);
    IdxArray a = load_idx_images(dir / name);
    CHECK(a.type == IdxType::UInt8);
    CHECK(a.dims == std::vector<int64_t>{3, 2, 4});
    CHECK(a.numel() == 24);
    CHECK(a.data == iota_bytes(24));
  }
  CHECK(load_idx_labels(dir / "labs.gz", 10) == std::vector<int64_t>{2, 0, 9});

  ImageDataset ds = load_idx_dataset(dir / "imgs.gz", dir / "labs.gz",
                                     {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"});
  CHECK(ds.size() == 3);
  CHECK(ds.channels == 1);
  CHECK(ds.height == 2);
  CHECK(ds.width == 4);
  Example e = ds.get(1);
  CHECK(e.label == 0);
  CHECK(e.image.shape() == Shape{1, 2, 4});
  // ToTensor: byte / 255; image 1 row 1 column 2 is byte 8 + 4 + 2 = 14.
  CHECK(e.image.at(0, 1, 2) == doctest::Approx(14.0 / 255.0));
  CHECK(ds.classes()[9] == "j");
  check_error_names([&] { ds.get(3); }, {"index 3", "out of range"});

  // Other element types are read as raw big-endian bytes: int16 [2] = {258, -1}.
  write_bytes(dir / "i16", idx_bytes(0x0B, {2}, {1, 2, 0xff, 0xff}));
  IdxArray s = load_idx(dir / "i16");
  CHECK(s.type == IdxType::Int16);
  CHECK(s.data == std::vector<uint8_t>{1, 2, 0xff, 0xff});
}

TEST_CASE("load_idx: every malformed header or body is an error naming the file and field") {
  TempDir dir("idx_bad");
  auto put = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
    write_bytes(dir / name, bytes);
    return dir / name;
  };
  auto p = put("wrong_magic", {1, 0, 8, 1, 0, 0, 0, 0});
  check_error_names([&] { load_idx(p); }, {"wrong_magic", "magic number", "00 00", "01 00"});
  p = put("wrong_type", idx_bytes(0x07, {1}, {0}));
  check_error_names([&] { load_idx(p); }, {"wrong_type", "element type", "07"});
  p = put("tiny", {0, 0});
  check_error_names([&] { load_idx(p); }, {"tiny", "header", "2 bytes"});
  p = put("cut_header", {0, 0, 8, 3, 0, 0, 0, 2, 0, 0});
  check_error_names([&] { load_idx(p); }, {"cut_header", "truncated", "16 header bytes"});
  p = put("cut_data", idx_bytes(0x08, {4, 2, 2}, iota_bytes(15)));
  check_error_names([&] { load_idx(p); }, {"cut_data", "truncated", "4 x 2 x 2", "16 data bytes", "has 15"});
  p = put("cut_data.gz", gzip_bytes(idx_bytes(0x08, {4, 2, 2}, iota_bytes(15))));
  check_error_names([&] { load_idx(p); }, {"cut_data.gz", "truncated"});
  p = put("long_data", idx_bytes(0x08, {2}, {1, 2, 3}));
  check_error_names([&] { load_idx(p); }, {"long_data", "1 unexpected bytes"});
  // Dimensions whose product overflows: 10 of 2^32 - 1 elements would wrap 128 bits round;
  // saturated, the header says more than 2^64 bytes, and a 56-byte file is truncated.
  std::vector<uint8_t> huge{0, 0, 0x0e, 10};
  for (int d = 0; d < 10; ++d) huge.insert(huge.end(), {0xff, 0xff, 0xff, 0xff});
  huge.insert(huge.end(), 12, 0);
  p = put("huge_dims", huge);
  check_error_names([&] { load_idx(p); }, {"huge_dims", "truncated", "more than 2^64", "has 12"});
  // int32 elements take 4 bytes each.
  p = put("int32_short", idx_bytes(0x0C, {2}, iota_bytes(7)));
  check_error_names([&] { load_idx(p); }, {"int32_short", "int32", "8 data bytes"});

  p = put("labels_as_images", idx_bytes(0x08, {3}, {0, 1, 2}));
  check_error_names([&] { load_idx_images(p); }, {"labels_as_images", "number of dimensions", "expected 3"});
  p = put("images_as_labels", idx_bytes(0x08, {1, 2, 2}, {0, 1, 2, 3}));
  check_error_names([&] { load_idx_labels(p); }, {"images_as_labels", "number of dimensions", "expected 1"});
  p = put("float_images", idx_bytes(0x0D, {1, 1, 1}, {0, 0, 0, 0}));
  check_error_names([&] { load_idx_images(p); }, {"float_images", "element type", "uint8", "float32"});
  p = put("bad_label", idx_bytes(0x08, {4}, {0, 9, 10, 1}));
  check_error_names([&] { load_idx_labels(p, 10); }, {"bad_label", "label 10", "index 2", "< 10"});

  auto imgs = put("imgs", idx_bytes(0x08, {3, 1, 1}, {0, 1, 2}));
  auto labs = put("labs", idx_bytes(0x08, {2}, {0, 1}));
  check_error_names([&] { load_idx_dataset(imgs, labs, {"x", "y"}); },
                    {"imgs", "labs", "3 images", "2 labels"});
}

TEST_CASE("fashion_mnist / mnist: find the four files, gzipped or not, and name the missing one") {
  TempDir dir("fashion_fake");
  write_bytes(dir / "train-images-idx3-ubyte.gz", gzip_bytes(idx_bytes(0x08, {2, 28, 28}, std::vector<uint8_t>(1568, 7))));
  write_bytes(dir / "train-labels-idx1-ubyte", idx_bytes(0x08, {2}, {9, 4}));
  ImageDataset ds = fashion_mnist(dir.path(), true);
  CHECK(ds.size() == 2);
  CHECK(ds.labels == std::vector<int64_t>{9, 4});
  CHECK(ds.class_names[9] == "Ankle boot");
  check_error_names([&] { fashion_mnist(dir.path(), false); },
                    {"t10k-images-idx3-ubyte", "not found", dir.path().string()});

  // torchvision's layout: root/MNIST/raw/.
  TempDir tv("mnist_fake");
  write_bytes(tv / "MNIST/raw/t10k-images-idx3-ubyte", idx_bytes(0x08, {1, 28, 28}, std::vector<uint8_t>(784, 1)));
  write_bytes(tv / "MNIST/raw/t10k-labels-idx1-ubyte.gz", gzip_bytes(idx_bytes(0x08, {1}, {3})));
  ImageDataset m = mnist(tv.path(), false);
  CHECK(m.size() == 1);
  CHECK(m.class_names[3] == "3 - three");
}

TEST_CASE("fashion_mnist: the installed Debian files load with the counts and labels Python reads") {
  const std::filesystem::path root = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(root / "train-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: Fashion-MNIST is not installed in " << root.string());
    return;
  }
  auto check_split = [&](bool train, auto facts) {
    using F = decltype(facts);
    ImageDataset ds = fashion_mnist(root, train);
    REQUIRE(ds.size() == F::count);
    CHECK(ds.height == 28);
    CHECK(ds.width == 28);
    CHECK(ds.num_classes() == 10);
    CHECK(std::vector<int64_t>(ds.labels.begin(), ds.labels.begin() + 10) == F::first_labels);
    auto image_sum = [&](int64_t n) {
      const uint8_t* p = ds.image_data(n);
      return std::accumulate(p, p + 784, int64_t{0});
    };
    CHECK(image_sum(0) == F::first_image_sum);
    CHECK(image_sum(ds.size() - 1) == F::last_image_sum);
    CHECK(std::accumulate(ds.pixels.begin(), ds.pixels.end(), int64_t{0}) == F::all_pixels_sum);
    std::vector<int64_t> hist(10, 0);
    for (int64_t l : ds.labels) ++hist[static_cast<std::size_t>(l)];
    CHECK(hist == F::label_histogram);
  };
  check_split(true, fixtures::data::fashion::train{});
  check_split(false, fixtures::data::fashion::test{});
}

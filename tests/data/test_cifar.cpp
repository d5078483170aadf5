// Tests for data_loaders/cifar.hpp: CIFAR-10 and CIFAR-100 binary batches written here, record
// by record, then read back; pixel (c, y, x) of a record sits at byte label_bytes + c·1024 +
// y·32 + x (spec §2). Malformed files must raise errors naming the file and the field.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "data_loaders/data_loaders.hpp"
#include "data_test_util.hpp"

using namespace lacoot;
using namespace lacoot::data;
using namespace lacoot::test;

namespace {

// A recognisable pixel value for record `r` (counted over the whole split).
uint8_t pixel(int64_t r, int64_t c, int64_t y, int64_t x) {
  return static_cast<uint8_t>((r * 37 + c * 101 + y * 7 + x) % 256);
}

// `labels.size()` records, each `prefix` label bytes then the planar pixels.
std::vector<uint8_t> records(const std::vector<std::vector<uint8_t>>& labels, int64_t first) {
  std::vector<uint8_t> out;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    out.insert(out.end(), labels[i].begin(), labels[i].end());
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 32; ++y)
        for (int64_t x = 0; x < 32; ++x) out.push_back(pixel(first + static_cast<int64_t>(i), c, y, x));
  }
  return out;
}

void check_pixels(const ImageDataset& ds, int64_t n) {
  for (int64_t r = 0; r < n; ++r) {
    Example e = ds.get(r);
    REQUIRE(e.image.shape() == Shape{3, 32, 32});
    for (auto [c, y, x] : {std::tuple{0, 0, 0}, {0, 0, 31}, {1, 5, 9}, {2, 31, 31}, {2, 17, 3}})
      CHECK(e.image.at(c, y, x) == doctest::Approx(pixel(r, c, y, x) / 255.0));
  }
}

// A CIFAR-10 folder: five train batches of 2 records (labels 0..9 in order), a test batch of 3.
void write_cifar10(const fs::path& dir) {
  for (int b = 0; b < 5; ++b)
    write_bytes(dir / ("data_batch_" + std::to_string(b + 1) + ".bin"),
                records({{static_cast<uint8_t>(2 * b)}, {static_cast<uint8_t>(2 * b + 1)}}, 2 * b));
  write_bytes(dir / "test_batch.bin", records({{3}, {8}, {0}}, 0));
  write_text(dir / "batches.meta.txt", "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
}

}  // namespace

TEST_CASE("cifar10: records in file order, planar pixels, names from batches.meta.txt") {
  TempDir dir("cifar10");
  const fs::path bin = dir / "cifar-10-batches-bin";
  write_cifar10(bin);
  // Both the folder itself and its parent work as the root.
  for (const fs::path& root : {bin, dir.path()}) {
    ImageDataset train = cifar10(root, true);
    REQUIRE(train.size() == 10);
    CHECK(train.labels == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    CHECK(train.class_names.size() == 10);
    CHECK(train.class_names[9] == "truck");
    check_pixels(train, 10);
  }
  ImageDataset test = cifar10(bin, false);
  CHECK(test.labels == std::vector<int64_t>{3, 8, 0});
  check_pixels(test, 3);

  // A gzipped batch is read transparently; without batches.meta.txt the names are built in.
  write_bytes(bin / "test_batch.bin", gzip_bytes(records({{5}}, 0)));
  fs::remove(bin / "batches.meta.txt");
  ImageDataset gz = cifar10(bin, false);
  CHECK(gz.labels == std::vector<int64_t>{5});
  CHECK(gz.class_names[0] == "airplane");
}

TEST_CASE("cifar10: missing, truncated and mislabelled files name the file and the field") {
  TempDir dir("cifar10_bad");
  write_cifar10(dir.path());
  fs::remove(dir / "data_batch_3.bin");
  check_error_names([&] { cifar10(dir.path(), true); }, {"data_batch_3.bin", "not found"});

  write_cifar10(dir.path());
  std::vector<uint8_t> cut = records({{1}, {2}}, 0);
  cut.resize(cut.size() - 5);
  write_bytes(dir / "test_batch.bin", cut);
  check_error_names([&] { cifar10(dir.path(), false); },
                    {"test_batch.bin", "6141 bytes", "3073-byte records", "3068 bytes left over"});

  write_bytes(dir / "test_batch.bin", records({{1}, {10}}, 0));
  check_error_names([&] { cifar10(dir.path(), false); },
                    {"test_batch.bin", "record 1", "label 10", "0..9"});

  write_bytes(dir / "test_batch.bin", {});
  check_error_names([&] { cifar10(dir.path(), false); }, {"test_batch.bin", "0 bytes"});

  write_bytes(dir / "test_batch.bin", records({{1}}, 0));
  write_text(dir / "batches.meta.txt", "airplane\nautomobile\n");
  check_error_names([&] { cifar10(dir.path(), false); }, {"batches.meta.txt", "2 class names", "expected 10"});
}

TEST_CASE("cifar100: fine or coarse labels, both checked, names required") {
  TempDir dir("cifar100");
  const fs::path bin = dir / "cifar-100-binary";
  write_bytes(bin / "train.bin", records({{19, 99}, {0, 42}, {7, 3}}, 0));
  std::string fine, coarse;
  for (int i = 0; i < 100; ++i) fine += "fine" + std::to_string(i) + "\n";
  for (int i = 0; i < 20; ++i) coarse += "coarse" + std::to_string(i) + "\n";
  write_text(bin / "fine_label_names.txt", fine);
  write_text(bin / "coarse_label_names.txt", coarse);

  ImageDataset f = cifar100(dir.path(), true);
  CHECK(f.labels == std::vector<int64_t>{99, 42, 3});
  CHECK(f.class_names[42] == "fine42");
  check_pixels(f, 3);
  ImageDataset c = cifar100(dir.path(), true, Cifar100Labels::Coarse);
  CHECK(c.labels == std::vector<int64_t>{19, 0, 7});
  CHECK(c.class_names.size() == 20);

  write_bytes(bin / "test.bin", records({{20, 5}}, 0));
  check_error_names([&] { cifar100(bin, false); }, {"test.bin", "coarse label 20", "0..19"});
  write_bytes(bin / "test.bin", records({{2, 100}}, 0));
  check_error_names([&] { cifar100(bin, false, Cifar100Labels::Coarse); }, {"test.bin", "fine label 100"});
  write_bytes(bin / "test.bin", records({{2, 5}}, 0));
  write_bytes(bin / "test.bin", std::vector<uint8_t>(3073, 0));
  check_error_names([&] { cifar100(bin, false); }, {"test.bin", "3074-byte records"});
  fs::remove(bin / "fine_label_names.txt");
  check_error_names([&] { cifar100(bin, true); }, {"fine_label_names.txt", "not found"});
}

TEST_CASE("the example of data_loaders.hpp runs on a small CIFAR-10 folder") {
  TempDir dir("cifar10_example");
  write_cifar10(dir.path());
  auto all = std::make_shared<ImageDataset>(cifar10(dir.path(), true));
  auto split = random_split(all, {8, 2}, 0);
  DataLoaderOptions opt{.batch_size = 3, .shuffle = true, .num_workers = 2};
  opt.transform = Compose{RandomHorizontalFlip{0.5}, RandomCrop{32, 4},
                          Normalize{{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}}};
  DataLoader loader(split[0], opt);
  int64_t samples = 0;
  for (Batch& b : loader) {
    CHECK(b.images.shape() == Shape{b.size(), 3, 32, 32});
    CHECK(b.labels.dtype() == kInt64);
    samples += b.size();
  }
  CHECK(samples == 8);
  CHECK(split[1]->size() == 2);
}

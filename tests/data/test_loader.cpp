// Tests for data_loaders/loader.hpp: random_split, batching and collation, seeded shuffling,
// bit-identical batches for any number of workers, errors from workers reaching the consumer,
// bounded prefetch, and stopping mid-pass.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "../check.hpp"
#include "data_loaders/color_jitter.hpp"
#include "data_loaders/loader.hpp"
#include "data_loaders/resize.hpp"
#include "lacoot/ops/shape.hpp"
#include "data_test_util.hpp"

using namespace lacoot;
using namespace lacoot::data;
using namespace lacoot::test;

namespace {

// Sample i: a C×H×W image whose pixel k is (i + k / 100) / n, label i % 3. Optionally sleeps a
// pseudo-random time (so workers finish out of order), throws at one index, counts calls.
class Synthetic : public Dataset {
 public:
  Synthetic(int64_t n, int64_t c = 1, int64_t h = 2, int64_t w = 2) : n_(n), c_(c), h_(h), w_(w) {}
  int64_t size() const override { return n_; }
  Example get(int64_t i) const override {
    ++calls;
    if (jitter_us > 0) std::this_thread::sleep_for(std::chrono::microseconds((i * 7919) % jitter_us));
    if (i == throw_at) throw Error("Synthetic: sample " + std::to_string(i) + " is broken");
    Image img(c_, h_, w_);
    for (std::size_t k = 0; k < img.data.size(); ++k)
      img.data[k] = static_cast<float>((static_cast<double>(i) + static_cast<double>(k) / 100.0) / static_cast<double>(n_));
    return {img, i % 3};
  }
  int64_t throw_at = -1;
  int64_t jitter_us = 0;
  mutable std::atomic<int64_t> calls{0};

 private:
  int64_t n_, c_, h_, w_;
};

std::vector<Batch> all_batches(DataLoader& loader) {
  std::vector<Batch> out;
  for (Batch& b : loader) out.push_back(std::move(b));
  return out;
}

}  // namespace

TEST_CASE("random_split: consecutive pieces of one seeded permutation") {
  auto parts = random_split(50, {45, 5}, 0);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].size() == 45);
  CHECK(parts[1].size() == 5);
  std::set<int64_t> all(parts[0].begin(), parts[0].end());
  all.insert(parts[1].begin(), parts[1].end());
  CHECK(all.size() == 50);
  CHECK(*all.rbegin() == 49);
  // It is lacoot::randperm(n, Generator(seed)) cut in pieces.
  Generator g(0);
  Tensor perm = randperm(50, g);
  CHECK(std::equal(parts[0].begin(), parts[0].end(), perm.data<int64_t>()));
  CHECK(random_split(50, {45, 5}, 0) == parts);
  CHECK(random_split(50, {45, 5}, 1) != parts);
  check_error_names([] { random_split(10, {3, 3}, 0); }, {"sum to 6", "10 samples"});
  auto [train, val] = train_val_split(50, 5, 0);
  CHECK(train == parts[0]);
  CHECK(val == parts[1]);
  check_error_names([] { train_val_split(10, 11, 0); }, {"val_count 11", "[0, 10]"});

  auto ds = std::make_shared<Synthetic>(10);
  auto subsets = random_split(ds, {7, 3}, 4);
  CHECK(subsets[1]->size() == 3);
  CHECK(subsets[1]->get(2).label == subsets[1]->indices()[2] % 3);
  check_error_names([&] { Subset(ds, {0, 10}); }, {"index 10", "position 1", "10 samples"});
}

TEST_CASE("DataLoader: batches in dataset order, collated to [B, C, H, W] and [B]") {
  auto ds = std::make_shared<Synthetic>(10, 2, 3, 2);
  DataLoader loader(ds, {.batch_size = 4});
  CHECK(loader.size() == 3);
  std::vector<Batch> batches = all_batches(loader);
  REQUIRE(batches.size() == 3);
  CHECK(batches[0].images.shape() == Shape{4, 2, 3, 2});
  CHECK(batches[2].images.shape() == Shape{2, 2, 3, 2});
  CHECK(batches[2].labels.dtype() == kInt64);
  CHECK(ints_of(batches[1].labels) == std::vector<int64_t>{1, 2, 0, 1});
  CHECK(batches[1].indices == std::vector<int64_t>{4, 5, 6, 7});
  // Sample 5's pixel k = 7 (channel 1, row 0, column 1) is (5 + 0.07) / 10.
  CHECK(batches[1].images.at<float>({1, 1, 0, 1}) == doctest::Approx(0.507));

  DataLoader dropping(ds, {.batch_size = 4, .drop_last = true});
  CHECK(dropping.size() == 2);
  CHECK(all_batches(dropping).size() == 2);
  // next(): the same pass by hand.
  DataLoader manual(ds, {.batch_size = 6});
  manual.start();
  CHECK(manual.next()->size() == 6);
  CHECK(manual.next()->size() == 4);
  CHECK(!manual.next().has_value());

  check_error_names([&] { DataLoader(ds, {.batch_size = 0}); }, {"batch_size 0"});
  check_error_names([&] { DataLoader(nullptr); }, {"null"});
}

TEST_CASE("DataLoader: a seeded permutation per pass; set_epoch replays one") {
  auto ds = std::make_shared<Synthetic>(100);
  DataLoaderOptions opt{.batch_size = 100, .shuffle = true, .seed = 7};
  DataLoader a(ds, opt), b(ds, opt);
  const std::vector<int64_t> a0 = all_batches(a)[0].indices, a1 = all_batches(a)[0].indices;
  CHECK(std::set<int64_t>(a0.begin(), a0.end()).size() == 100);
  CHECK(a0 != a1);               // each pass moves the epoch on
  CHECK(a.epoch() == 2);
  CHECK(all_batches(b)[0].indices == a0);  // same seed, same epoch
  b.set_epoch(1);
  CHECK(all_batches(b)[0].indices == a1);
  CHECK(a.order(1) == a1);
  DataLoaderOptions other = opt;
  other.seed = 8;
  CHECK(DataLoader(ds, other).order(0) != a0);
  CHECK(DataLoader(ds, {.batch_size = 3}).order(5) == DataLoader(ds, {.batch_size = 3}).order(0));
}

TEST_CASE("DataLoader shards: R ranks cover each pass, as torch's DistributedSampler") {
  auto ds = std::make_shared<Synthetic>(10);
  const DataLoaderOptions whole{.batch_size = 4, .shuffle = true, .seed = 5, .transform = RandomHorizontalFlip{0.5}};
  const std::vector<int64_t> order = DataLoader(ds, whole).order(3);
  for (int ranks : {1, 2, 3, 4}) {
    for (bool drop : {false, true}) {
      CAPTURE(ranks);
      CAPTURE(drop);
      // DistributedSampler: num_samples = ceil(n / R) (drop_last: floor), total = R · num_samples,
      // the order padded with its own head (or cut) to total, rank r takes positions r, r + R, ...
      const int64_t per_rank = drop ? 10 / ranks : (10 + ranks - 1) / ranks;
      std::vector<int64_t> padded = order;
      while (static_cast<int64_t>(padded.size()) < per_rank * ranks) padded.push_back(padded[padded.size() - 10]);
      padded.resize(static_cast<std::size_t>(per_rank * ranks));
      std::multiset<int64_t> seen;
      for (int r = 0; r < ranks; ++r) {
        DataLoaderOptions o = whole;
        o.shard = {.num_replicas = ranks, .rank = r, .drop_last = drop};
        DataLoader loader(ds, o);
        loader.set_epoch(3);
        CHECK(loader.num_samples() == per_rank);
        CHECK(loader.size() == (per_rank + 3) / 4);
        const std::vector<int64_t> mine = loader.order(3);
        REQUIRE(static_cast<int64_t>(mine.size()) == per_rank);
        for (int64_t k = 0; k < per_rank; ++k) CHECK(mine[static_cast<std::size_t>(k)] == padded[static_cast<std::size_t>(k * ranks + r)]);
        // Each sample is augmented as it is in the unsharded pass (the flip depends on the index).
        DataLoader one(ds, {.batch_size = 10, .shuffle = true, .seed = 5, .transform = RandomHorizontalFlip{0.5}});
        one.set_epoch(3);
        const Batch all = all_batches(one)[0];
        for (const Batch& b : all_batches(loader)) {
          for (int64_t k = 0; k < b.size(); ++k) {
            const auto at = std::find(all.indices.begin(), all.indices.end(), b.indices[static_cast<std::size_t>(k)]);
            CHECK(bitwise_equal(narrow(b.images, 0, k, 1), narrow(all.images, 0, at - all.indices.begin(), 1)));
          }
        }
        seen.insert(mine.begin(), mine.end());
      }
      // The union is the pass: every sample once, plus R · num_samples − n repeats when padded.
      std::set<int64_t> distinct(seen.begin(), seen.end());
      CHECK(static_cast<int64_t>(distinct.size()) == (drop ? per_rank * ranks : 10));
      CHECK(static_cast<int64_t>(seen.size()) == per_rank * ranks);
    }
  }
  CHECK_THROWS_WITH_AS(DataLoader(ds, {.shard = {.num_replicas = 2, .rank = 2}}), doctest::Contains("shard rank 2 of 2"),
                       Error);
  CHECK_THROWS_WITH_AS(DataLoader(std::make_shared<Synthetic>(1), {.shard = {.num_replicas = 2, .drop_last = true}}),
                       doctest::Contains("is empty"), Error);
}

TEST_CASE("DataLoader: 0, 1 and 3 workers give bit-identical batches, augmentation included") {
  auto ds = std::make_shared<Synthetic>(37, 3, 6, 6);
  ds->jitter_us = 300;  // workers finish their batches out of order
  DataLoaderOptions opt{.batch_size = 5, .shuffle = true, .seed = 123};
  opt.transform = Compose{RandomHorizontalFlip{0.5}, RandomCrop{6, 2}, ColorJitter{0.4, 0.4, 0.4, 0.1},
                          RandomRotation(20.0, InterpolationMode::Bilinear),
                          Normalize{{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}}};
  auto run = [&](int workers, int prefetch) {
    DataLoaderOptions o = opt;
    o.num_workers = workers;
    o.prefetch_batches = prefetch;
    DataLoader loader(ds, o);
    std::vector<Batch> two = all_batches(loader);
    std::vector<Batch> second = all_batches(loader);
    two.insert(two.end(), second.begin(), second.end());
    return two;
  };
  const std::vector<Batch> serial = run(0, 2);
  REQUIRE(serial.size() == 16);
  CHECK(serial[7].size() == 2);
  for (auto [workers, prefetch] : {std::pair{1, 1}, {3, 2}, {3, 1}, {5, 4}}) {
    CAPTURE(workers);
    const std::vector<Batch> threaded = run(workers, prefetch);
    REQUIRE(threaded.size() == serial.size());
    for (std::size_t b = 0; b < serial.size(); ++b) {
      CAPTURE(b);
      CHECK(threaded[b].indices == serial[b].indices);
      CHECK(bitwise_equal(threaded[b].images, serial[b].images));
      CHECK(bitwise_equal(threaded[b].labels, serial[b].labels));
    }
  }
  // The augmentation really varies: the two passes differ for the same samples.
  DataLoaderOptions plain = opt;
  plain.shuffle = false;
  DataLoader loader(ds, plain);
  const Tensor e0 = all_batches(loader)[0].images, e1 = all_batches(loader)[0].images;
  CHECK(!bitwise_equal(e0, e1));
}

TEST_CASE("DataLoader: pin_memory gives the same batches, pinned where a GPU is usable") {
  auto ds = std::make_shared<Synthetic>(11, 3, 4, 4);
  DataLoaderOptions opt{.batch_size = 4, .shuffle = true, .seed = 7, .num_workers = 2};
  DataLoader plain(ds, opt);
  opt.pin_memory = true;
  DataLoader pinned(ds, opt);
  const std::vector<Batch> a = all_batches(plain), b = all_batches(pinned);
  REQUIRE(a.size() == b.size());
  const bool gpu = cuda_device_count() > 0;  // without one, as torch: ordinary memory
  for (std::size_t k = 0; k < a.size(); ++k) {
    CAPTURE(k);
    CHECK(bitwise_equal(a[k].images, b[k].images));
    CHECK(bitwise_equal(a[k].labels, b[k].labels));
    CHECK(!a[k].images.is_pinned());
    CHECK(b[k].images.is_pinned() == gpu);
    CHECK(b[k].labels.is_pinned() == gpu);
  }
}

TEST_CASE("DataLoader: an exception in a worker is rethrown in the consumer, in batch order") {
  for (int workers : {0, 1, 3}) {
    CAPTURE(workers);
    auto ds = std::make_shared<Synthetic>(40);
    ds->throw_at = 13;
    DataLoader loader(ds, {.batch_size = 4, .num_workers = workers});
    int64_t seen = 0;
    bool thrown = false;
    try {
      for (Batch& b : loader) seen += b.size();
    } catch (const Error& e) {
      thrown = true;
      CHECK(std::string(e.what()).find("sample 13 is broken") != std::string::npos);
    }
    CHECK(thrown);
    CHECK(seen == 12);  // batches 0, 1, 2 arrived; batch 3 holds sample 13
    CHECK(!loader.next().has_value());  // the pass is over
    ds->throw_at = -1;
    CHECK(all_batches(loader).size() == 10);  // a new pass works
  }
}

TEST_CASE("DataLoader: prefetch is bounded, runs ahead, and stopping mid-pass joins cleanly") {
  auto ds = std::make_shared<Synthetic>(64);
  {
    DataLoader loader(ds, {.batch_size = 1, .num_workers = 2, .prefetch_batches = 1});
    loader.start();
    // Workers build ahead without being asked...
    for (int i = 0; i < 5000 && ds->calls < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    CHECK(ds->calls >= 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    // ...but at most workers · prefetch_batches = 2 batches beyond what was taken.
    CHECK(ds->calls <= 2);
    CHECK(loader.next()->indices[0] == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(ds->calls <= 3);
  }  // destroyed mid-pass: the workers stop and are joined

  ds->jitter_us = 2000;
  DataLoader loader(ds, {.batch_size = 4, .num_workers = 3});
  for (Batch& b : loader) {
    CHECK(b.indices[0] == 0);
    break;  // leaves the pass running
  }
  CHECK(all_batches(loader).size() == 16);  // begin() stops it and starts a new one
  loader.start();
  loader.stop();
  CHECK(!loader.next().has_value());
}

TEST_CASE("DataLoader: samples of different sizes in one batch name the sample and the fix") {
  struct Ragged : Dataset {
    int64_t size() const override { return 4; }
    Example get(int64_t i) const override { return {Image(3, 8, i == 2 ? 6 : 8), 0}; }
  };
  DataLoader loader(std::make_shared<Ragged>(), {.batch_size = 4});
  check_error_names([&] { all_batches(loader); }, {"sample 2", "[3, 8, 6]", "[3, 8, 8]", "Resize"});
  DataLoaderOptions fixed{.batch_size = 4};
  fixed.transform = Resize{{4, 4}};
  DataLoader resized(std::make_shared<Ragged>(), fixed);
  CHECK(all_batches(resized)[0].images.shape() == Shape{4, 3, 4, 4});
}

TEST_CASE("DataLoader over an ImageDataset with the reference's CIFAR-10 training transform") {
  auto ds = std::make_shared<ImageDataset>();
  ds->channels = 3;
  ds->height = ds->width = 32;
  for (int i = 0; i < 10; ++i) {
    ds->labels.push_back(i);
    for (int k = 0; k < 3 * 32 * 32; ++k) ds->pixels.push_back(static_cast<uint8_t>((i + k) % 256));
  }
  ds->class_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  ds->validate("test");
  auto parts = random_split(ds, {8, 2}, 0);
  DataLoaderOptions opt{.batch_size = 3, .shuffle = true, .num_workers = 2};
  // spec §4: RandomHorizontalFlip → RandomCrop(32, padding=4) → ToTensor → Normalize(ImageNet).
  opt.transform = Compose{RandomHorizontalFlip{0.5}, RandomCrop{32, 4},
                          Normalize{{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}}};
  DataLoader train(parts[0], opt);
  std::vector<Batch> batches = all_batches(train);
  REQUIRE(batches.size() == 3);
  CHECK(batches[0].images.shape() == Shape{3, 3, 32, 32});
  CHECK(batches[2].size() == 2);
  // Padding is black before normalisation: −mean/std afterwards, somewhere in most crops.
  int64_t padded = 0;
  for (const Batch& b : batches)
    for (double v : values_of(b.images)) padded += std::abs(v - (-0.485 / 0.229)) < 1e-5;
  CHECK(padded > 0);
}

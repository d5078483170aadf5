// data_loaders/loader.hpp — batches of samples, shuffled, augmented and prefetched.
//
// Holds: random_split (torch.utils.data.random_split) and train_val_split, Batch,
// DataLoaderOptions and DataLoader (torch.utils.data.DataLoader's map-style path: a sampler
// order, batching, collation into [B, C, H, W] float32 and [B] int64 tensors, worker threads
// that prefetch).
// Needs: dataset.hpp, transforms.hpp, lacoot/core (Tensor, Generator, randperm), std::thread.
// Sharding (torch.utils.data.DistributedSampler): with shard.num_replicas = R, the loader of
// rank r takes positions r, r + R, r + 2R, ... of the pass's order, once that order is padded
// (with its own first samples again) to a multiple of R, or cut to one with shard.drop_last, so that every
// rank has the same number of samples and the union of the R shards is the whole pass. The order
// is the same on every rank (it depends only on seed and epoch), and so is each sample's
// augmentation: R ranks with batch b see, batch by batch, the samples one loader with batch R·b sees.
// Leaves out: samplers other than sequential and random, custom collate functions, worker
// processes (threads suffice: decoding and augmentation release no lock, and lacoot has no GIL).
//
// pin_memory (as torch's): batches are collated straight into pinned host memory
// (core/storage.hpp), so that batch.images.to(gpu, /*non_blocking=*/true) is a truly
// asynchronous copy at the bus's full speed; train::train_epoch and evaluate copy that way.
//
// Determinism, whatever num_workers is:
//   * the order of pass e is a pure function of (seed, e): a Fisher–Yates permutation drawn
//     from its own stream (shuffle), else 0..n-1;
//   * sample i of pass e is transformed with RandomStream::for_sample(seed, e, i), so its
//     augmentation does not depend on which worker builds it, or when;
//   * batches are handed out in order: batch b is the b-th slice of the order.
// So 0 workers and 8 workers give bit-identical batches (tests/data/test_loader.cpp checks it).
//
// Threads: with num_workers = k > 0, begin() starts k threads that claim batch indices in
// order and build them while at most k · prefetch_batches batches are built but not yet taken;
// the consumer takes batch b as soon as it is ready. An exception thrown while building batch b
// (a corrupt file, a transform's error) is stored and rethrown in the consumer when it reaches
// b, after the pass has stopped and joined its workers. Starting a new pass or destroying the
// loader mid-pass also stops the workers (each finishes the sample it is on) and joins them.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "dataset.hpp"
#include "lacoot/core/factories.hpp"
#include "lacoot/core/rng.hpp"
#include "transforms.hpp"

namespace lacoot::data {

// Splits 0..n-1 into consecutive pieces of a seeded random permutation: piece k holds
// lengths[k] indices. As torch.utils.data.random_split(range(n), lengths, generator): the
// permutation is lacoot::randperm(n, Generator(seed)) — lacoot's generator, so the indices
// differ from torch's for the same seed. The reference's CIFAR-10 split is
// random_split(50000, {45000, 5000}, seed): the first 45,000 train, the last 5,000 validation.
inline std::vector<std::vector<int64_t>> random_split(int64_t n, const std::vector<int64_t>& lengths,
                                                      uint64_t seed) {
  int64_t total = 0;
  for (int64_t l : lengths) {
    LACOOT_CHECK(l >= 0, "random_split: negative length ", l);
    total += l;
  }
  LACOOT_CHECK(total == n, "random_split: the lengths sum to ", total, " but the dataset has ", n,
               " samples (expected them to sum to ", n, ")");
  Generator gen(seed);
  const Tensor perm = randperm(n, gen);
  const int64_t* p = perm.data<int64_t>();
  std::vector<std::vector<int64_t>> pieces;
  int64_t at = 0;
  for (int64_t l : lengths) {
    pieces.emplace_back(p + at, p + at + l);
    at += l;
  }
  return pieces;
}

// random_split(n, {n − val_count, val_count}, seed): (train indices, validation indices).
inline std::pair<std::vector<int64_t>, std::vector<int64_t>> train_val_split(int64_t n, int64_t val_count,
                                                                             uint64_t seed) {
  LACOOT_CHECK(val_count >= 0 && val_count <= n, "train_val_split: val_count ", val_count,
               " is outside [0, ", n, "] for a dataset of ", n, " samples");
  auto pieces = random_split(n, {n - val_count, val_count}, seed);
  return {std::move(pieces[0]), std::move(pieces[1])};
}

// The same split as Subsets of `dataset`.
inline std::vector<std::shared_ptr<Subset>> random_split(const std::shared_ptr<const Dataset>& dataset,
                                                         const std::vector<int64_t>& lengths, uint64_t seed) {
  LACOOT_CHECK(dataset != nullptr, "random_split: the dataset is null");
  std::vector<std::shared_ptr<Subset>> out;
  for (auto& indices : random_split(dataset->size(), lengths, seed))
    out.push_back(std::make_shared<Subset>(dataset, std::move(indices)));
  return out;
}

// B samples collated: images [B, C, H, W] float32, labels [B] int64, and which dataset indices
// they came from.
struct Batch {
  Tensor images;
  Tensor labels;
  std::vector<int64_t> indices;
  int64_t size() const { return static_cast<int64_t>(indices.size()); }
};

// Which part of every pass this loader takes (torch's DistributedSampler(num_replicas, rank,
// drop_last)); the default, one replica, is the whole pass.
struct Shard {
  int num_replicas = 1;
  int rank = 0;
  bool drop_last = false;  // cut the order to a multiple of num_replicas instead of padding it
};

struct DataLoaderOptions {
  int64_t batch_size = 1;    // samples per batch (torch's default is 1 too)
  bool shuffle = false;      // a new seeded permutation every pass; else dataset order
  bool drop_last = false;    // drop the last batch when it is smaller than batch_size
  uint64_t seed = 0;         // drives the shuffle and every sample's RandomStream
  int num_workers = 0;       // threads that build batches ahead; 0 = on the calling thread
  int prefetch_batches = 2;  // batches each worker may have ready ahead (torch's prefetch_factor)
  Transform transform = {};  // applied to each sample's image; empty = none. Workers call it
                             // concurrently: it must not modify shared state (the built-in
                             // transforms do not; their randomness comes from the stream)
  bool pin_memory = false;   // batches in pinned memory, for fast copies to a GPU; where no
                             // GPU is usable (as torch, which warns) ordinary memory
  Shard shard = {};          // data-parallel training: this rank's part of each pass
};

}  // namespace lacoot::data

namespace lacoot::detail {

// One pass over the data: its order and, with workers, its threads and finished batches.
// Self-contained (holds the dataset and a copy of the options), so the loader may move.
class LoaderPass {
 public:
  LoaderPass(std::shared_ptr<const data::Dataset> dataset, const data::DataLoaderOptions& options,
             int64_t epoch, std::vector<int64_t> order)
      : dataset_(std::move(dataset)), options_(options), epoch_(epoch), order_(std::move(order)),
        pin_(options.pin_memory && cuda_device_count() > 0) {
    const auto n = static_cast<int64_t>(order_.size()), b = options_.batch_size;
    num_batches_ = options_.drop_last ? n / b : (n + b - 1) / b;
    try {
      for (int w = 0; w < options_.num_workers; ++w) workers_.emplace_back([this] { work(); });
    } catch (const std::system_error& e) {  // the system refused a thread: stop the others
      stop_and_join();
      throw Error(concat("DataLoader: could not start worker thread ", workers_.size() + 1, " of ",
                         options_.num_workers, ": ", e.what(), " (HINT: lower num_workers)"));
    }
  }
  ~LoaderPass() { stop_and_join(); }
  LoaderPass(const LoaderPass&) = delete;
  LoaderPass& operator=(const LoaderPass&) = delete;

  int64_t num_batches() const { return num_batches_; }

  // Batch b of this pass, built on the calling thread.
  data::Batch build(int64_t b) const {
    const int64_t first = b * options_.batch_size;
    const int64_t count = std::min<int64_t>(options_.batch_size, static_cast<int64_t>(order_.size()) - first);
    data::Batch batch;
    batch.labels = Tensor::empty({count}, kInt64, kCPU, pin_);
    Shape shape;
    for (int64_t k = 0; k < count; ++k) {
      if (stop_requested()) throw Error("DataLoader: the pass was stopped");
      const int64_t index = order_[static_cast<std::size_t>(first + k)];
      data::Example ex = dataset_->get(index);
      if (options_.transform) {
        data::RandomStream rng = data::RandomStream::for_sample(options_.seed, epoch_, index);
        ex.image = options_.transform(std::move(ex.image), rng);
      }
      if (k == 0) {
        shape = ex.image.shape();
        Shape full = {count};
        full.insert(full.end(), shape.begin(), shape.end());
        batch.images = Tensor::empty(full, kFloat32, kCPU, pin_);
      }
      LACOOT_CHECK(ex.image.shape() == shape, "DataLoader: sample ", index, " has shape ",
                   shape_str(ex.image.shape()), " but the first sample of its batch (",
                   batch.indices.front(), ") has ", shape_str(shape), "; a batch needs one size "
                   "(HINT: add Resize, CenterCrop or RandomResizedCrop to the transform)");
      if (!ex.image.data.empty())
        std::memcpy(batch.images.data<float>() + k * ex.image.numel(), ex.image.data.data(),
                    ex.image.data.size() * sizeof(float));
      batch.labels.data<int64_t>()[k] = ex.label;
      batch.indices.push_back(index);
    }
    return batch;
  }

  // The next batch in order, or nothing at the end of the pass (or after an error).
  std::optional<data::Batch> next() {
    if (consumed_ >= num_batches_) return std::nullopt;
    if (workers_.empty()) {
      const int64_t b = consumed_;
      consumed_ = num_batches_;  // on an exception the pass is over
      data::Batch batch = build(b);
      consumed_ = b + 1;
      return batch;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    ready_cv_.wait(lock, [&] { return ready_.count(consumed_) > 0; });
    Slot slot = std::move(ready_[consumed_]);
    ready_.erase(consumed_);
    ++consumed_;
    if (slot.error) {
      consumed_ = num_batches_;
      lock.unlock();
      stop_and_join();  // no worker outlives the error
      std::rethrow_exception(slot.error);
    }
    lock.unlock();
    work_cv_.notify_all();
    return std::move(slot.batch);
  }

 private:
  struct Slot {
    data::Batch batch;
    std::exception_ptr error;
  };

  void stop_and_join() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (std::thread& t : workers_)
      if (t.joinable()) t.join();
  }

  bool stop_requested() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stop_;
  }

  void work() {
    const int64_t capacity = int64_t{options_.num_workers} * std::max(1, options_.prefetch_batches);
    while (true) {
      int64_t b = 0;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        work_cv_.wait(lock, [&] {
          return stop_ || claimed_ >= num_batches_ || claimed_ < consumed_ + capacity;
        });
        if (stop_ || claimed_ >= num_batches_) return;
        b = claimed_++;
      }
      Slot slot;
      try {
        slot.batch = build(b);
      } catch (...) {
        slot.error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_[b] = std::move(slot);
      }
      ready_cv_.notify_all();
    }
  }

  std::shared_ptr<const data::Dataset> dataset_;
  data::DataLoaderOptions options_;
  int64_t epoch_ = 0;
  std::vector<int64_t> order_;
  bool pin_ = false;  // the batches go to pinned memory
  int64_t num_batches_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable work_cv_, ready_cv_;
  bool stop_ = false;
  int64_t claimed_ = 0;   // batches handed to workers
  int64_t consumed_ = 0;  // batches handed to the consumer
  std::map<int64_t, Slot> ready_;
  std::vector<std::thread> workers_;
};

}  // namespace lacoot::detail

namespace lacoot::data {

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {})
      : dataset_(std::move(dataset)), options_(std::move(options)) {
    LACOOT_CHECK(dataset_ != nullptr, "DataLoader: the dataset is null");
    LACOOT_CHECK(options_.batch_size > 0, "DataLoader: batch_size ", options_.batch_size,
                 " must be positive");
    LACOOT_CHECK(options_.num_workers >= 0, "DataLoader: num_workers ", options_.num_workers,
                 " must be >= 0 (0 builds batches on the calling thread)");
    LACOOT_CHECK(options_.prefetch_batches >= 1, "DataLoader: prefetch_batches ",
                 options_.prefetch_batches, " must be >= 1");
    const Shard& sh = options_.shard;
    LACOOT_CHECK(sh.num_replicas >= 1 && sh.rank >= 0 && sh.rank < sh.num_replicas, "DataLoader: shard rank ",
                 sh.rank, " of ", sh.num_replicas, " replicas (expected 0 <= rank < num_replicas)");
    LACOOT_CHECK(!sh.drop_last || dataset_->size() >= sh.num_replicas, "DataLoader: a dataset of ",
                 dataset_->size(), " samples cut to a multiple of ", sh.num_replicas, " replicas is empty");
  }

  // Samples in this loader's part of a pass: n, or with R replicas ceil(n / R) (floor with
  // shard.drop_last), as DistributedSampler's num_samples.
  int64_t num_samples() const {
    const int64_t n = dataset_->size(), r = options_.shard.num_replicas;
    return options_.shard.drop_last ? n / r : (n + r - 1) / r;
  }

  // Batches per pass: ceil(m / B), or floor(m / B) with drop_last (len(DataLoader)), m = num_samples().
  int64_t size() const {
    const int64_t m = num_samples(), b = options_.batch_size;
    return options_.drop_last ? m / b : (m + b - 1) / b;
  }
  const Dataset& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return options_; }

  // The epoch the next pass uses; each pass (begin()) moves it on by one, so successive
  // passes shuffle and augment differently. set_epoch(e) before begin() replays epoch e, e.g.
  // after resuming from a checkpoint.
  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  int64_t epoch() const { return epoch_; }

  // The sample order of pass `epoch` (this shard's part of it).
  std::vector<int64_t> order(int64_t epoch) const {
    const int64_t n = dataset_->size();
    std::vector<int64_t> o(static_cast<std::size_t>(n));
    if (options_.shuffle) {
      // A stream apart from the samples' ones (those hash (seed, epoch, index); this one hashes
      // the seed's complement), so shuffling and augmentation draw unrelated numbers.
      o = RandomStream::for_sample(~options_.seed, epoch, 0).randperm(n);
    } else {
      for (int64_t i = 0; i < n; ++i) o[static_cast<std::size_t>(i)] = i;
    }
    const auto r = static_cast<std::size_t>(options_.shard.num_replicas);
    if (r == 1) return o;
    const std::size_t total = static_cast<std::size_t>(num_samples()) * r;
    for (std::size_t i = o.size(); i < total; ++i) o.push_back(o[i - static_cast<std::size_t>(n)]);  // pad
    std::vector<int64_t> mine;
    for (std::size_t i = static_cast<std::size_t>(options_.shard.rank); i < total; i += r) mine.push_back(o[i]);
    return mine;
  }

  // Starts a pass (stopping one in progress) and returns its first batch.
  class Iterator;
  Iterator begin();
  std::nullptr_t end() const { return nullptr; }

  // The next batch of the pass begin() started, or nothing at its end.
  std::optional<Batch> next() {
    if (!pass_) return std::nullopt;
    return pass_->next();
  }

  // Stops the pass in progress (joins its workers).
  void stop() { pass_.reset(); }

  // Starts pass `epoch()` without taking a batch (begin() calls it), then moves epoch() on.
  void start() {
    pass_.reset();
    pass_ = std::make_unique<detail::LoaderPass>(dataset_, options_, epoch_, order(epoch_));
    ++epoch_;
  }

 private:
  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  int64_t epoch_ = 0;
  std::unique_ptr<detail::LoaderPass> pass_;
};

// `for (Batch& batch : loader)`: an input iterator over one pass.
class DataLoader::Iterator {
 public:
  explicit Iterator(DataLoader* loader) : loader_(loader), current_(loader->next()) {}
  Batch& operator*() { return *current_; }
  Batch* operator->() { return &*current_; }
  Iterator& operator++() {
    current_.reset();  // free the batch before building the next
    current_ = loader_->next();
    return *this;
  }
  bool operator==(std::nullptr_t) const { return !current_.has_value(); }
  bool operator!=(std::nullptr_t) const { return current_.has_value(); }

 private:
  DataLoader* loader_;
  std::optional<Batch> current_;
};

inline DataLoader::Iterator DataLoader::begin() {
  start();
  return Iterator(this);
}

}  // namespace lacoot::data

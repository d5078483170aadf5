// lacoot/distributed/ddp.hpp — distributed data parallel: one model replica per process, each
// on its own shard of every batch, the gradients averaged so that the replicas stay equal.
//
// Holds: DDPOptions, DDPStats, DistributedDataParallel (torch.nn.parallel.DistributedDataParallel's
// contract) and all_reduce_result (an epoch's figures over every rank).
// Needs: communicator.hpp, autograd/engine.hpp (post-accumulate-grad hooks), nn/module.hpp,
// train/epoch.hpp (StepHooks).
// Leaves out: find_unused_parameters' graph walk (a parameter without a gradient on some ranks
// is handled by a flag per parameter instead, below), no_sync() (gradient accumulation over
// several backward passes per step: a second gradient for a parameter in one step is an error).
// SyncBatchNorm is distributed/sync_batch_norm.hpp.
//
// What it does, as torch's:
//   * at construction, every parameter and buffer is broadcast from rank 0, so the replicas
//     start equal whatever each process initialised;
//   * before every forward pass, rank 0's buffers (BatchNorm's running statistics) are sent to
//     every rank (broadcast_buffers); BatchNorm itself normalises with each rank's own batch
//     statistics (per-rank BN, torch DDP's default);
//   * the gradients are averaged over the ranks in buckets of at most bucket_cap_mb (parameters
//     in reverse order of registration, the order in which backward tends to finish them, as
//     torch's buckets), one all-reduce per bucket. With `overlap` (the default, as torch), a hook
//     on every parameter (autograd::register_post_accumulate_grad_hook) notes when its gradient
//     is final; once a bucket's last one is, the bucket is copied out and its all-reduce started
//     while backward goes on with the layers below. Buckets start in bucket order on every rank
//     (a full bucket waits for the ones before it), since every rank must start collectives in
//     the same order. After backward, the buckets not yet started (parameters this rank's pass
//     did not reach) start, and the step waits for them all. Without `overlap`, every bucket is
//     reduced after backward.
//     With R ranks each on b samples of a mean loss, the average is the gradient of the mean
//     over the R·b samples: the step one process would take on the whole batch.
//   * a parameter with no gradient on a rank (not used in its forward) counts as a zero
//     gradient there; one with no gradient on any rank keeps none, so the optimiser skips it.
//   * every rank must take the same decision about a batch: a NaN loss on one rank skips, or
//     stops, the step on all of them (StepHooks::all_ranks).
#pragma once

#include <memory>
#include <vector>

#include "../autograd/engine.hpp"
#include "../nn/module.hpp"
#include "../train/epoch.hpp"
#include "../train/progress.hpp"
#include "communicator.hpp"

namespace lacoot::distributed {

struct DDPOptions {
  double bucket_cap_mb = 25;      // torch's default
  bool broadcast_buffers = true;  // rank 0's buffers to every rank before each forward pass
  bool overlap = true;            // start each bucket's all-reduce during backward
};

// Where the gradient averaging spent its time, summed over the steps: what a step pays for data
// parallelism. `during_backward`: copying buckets out and starting their all-reduce inside
// backward's hooks; `after_backward`: the rest (starting the last buckets, waiting for all of
// them, copying the averages back), time that backward did not hide.
struct DDPStats {
  int64_t steps = 0;
  int64_t buckets_started_during_backward = 0;  // of steps × num_buckets()
  double during_backward_seconds = 0, after_backward_seconds = 0;
  double seconds() const { return during_backward_seconds + after_backward_seconds; }
};

class DistributedDataParallel {
 public:
  DistributedDataParallel(nn::Module& model, Communicator& comm, DDPOptions options = {})
      : model_(model), comm_(comm), options_(options) {
    LACOOT_CHECK(options_.bucket_cap_mb > 0, "DistributedDataParallel: bucket_cap_mb ", options_.bucket_cap_mb,
                 " must be positive");
    for (auto& [name, p] : model_.named_parameters()) {
      Tensor t = p;
      comm_.broadcast(t, 0);
      if (p.requires_grad()) params_.push_back(p);
    }
    sync_buffers();
    make_buckets();
    reset_step();
    if (options_.overlap && comm_.world_size() > 1)
      for (std::size_t i = 0; i < params_.size(); ++i)
        handles_.push_back(autograd::register_post_accumulate_grad_hook(params_[i], [this, i](const Tensor&) {
          gradient_ready(i);
        }));
  }
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;
  ~DistributedDataParallel() {
    for (auto& h : handles_) h.remove();
  }

  Communicator& communicator() const { return comm_; }
  nn::Module& module() const { return model_; }
  std::size_t num_buckets() const { return buckets_.size(); }
  const DDPStats& stats() const { return stats_; }

  // Rank 0's buffers on every rank.
  void sync_buffers() {
    for (auto& [name, b] : model_.named_buffers()) {
      Tensor t = b;
      comm_.broadcast(t, 0);
    }
  }

  // Before a forward pass: buckets a backward started without a step since (a backward outside
  // the training loop) are waited for and dropped, so the step starts from none.
  void prepare_for_forward() {
    for (auto& w : works_)
      if (w) w->wait();
    reset_step();
  }

  // After backward: every parameter's .grad becomes the mean of the ranks' .grad (a new tensor:
  // a gradient may be shared with another leaf's).
  void average_gradients() {
    if (comm_.world_size() == 1) return;
    train::Stopwatch clock;
    Tensor present = Tensor::empty({static_cast<int64_t>(params_.size())}, kInt64, kCPU);
    for (std::size_t i = 0; i < params_.size(); ++i) present.data<int64_t>()[i] = params_[i].grad().defined();
    while (next_bucket_ < buckets_.size()) start_bucket(next_bucket_++);
    comm_.all_reduce(present, ReduceOp::Max);
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
      works_[b]->wait();
      std::size_t at = 0;
      for (std::size_t i : buckets_[b].members) {
        Tensor& p = params_[i];
        if (present.data<int64_t>()[i] != 0) {
          Tensor g = Tensor::empty(p.shape(), p.dtype(), p.device());
          lacoot::detail::copy_bytes(g.raw_data(), p.device(), static_cast<const char*>(flats_[b].raw_data()) + at,
                                     p.device(), p.nbytes());
          p.set_grad(g);
        }
        at += p.nbytes();
      }
    }
    reset_step();
    ++stats_.steps;
    stats_.after_backward_seconds += clock.seconds();
  }

  // True on every rank when `ok` is true on every rank.
  bool all_ranks(bool ok) {
    Tensor flag = Tensor::empty({1}, kInt64, kCPU);
    flag.data<int64_t>()[0] = ok ? 0 : 1;
    comm_.all_reduce(flag, ReduceOp::Max);
    return flag.data<int64_t>()[0] == 0;
  }

  // Sets the training loop's hooks (train::train_epoch) to do all of the above at each step.
  void attach(train::StepHooks& hooks) {
    hooks.before_forward = [this] {
      prepare_for_forward();
      if (options_.broadcast_buffers) sync_buffers();
    };
    hooks.after_backward = [this] { average_gradients(); };
    hooks.all_ranks = [this](bool ok) { return all_ranks(ok); };
  }

 private:
  struct Bucket {
    std::vector<std::size_t> members;  // indices into params_
    int64_t numel = 0;
  };
  nn::Module& model_;
  Communicator& comm_;
  DDPOptions options_;
  std::vector<Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<std::size_t> bucket_of_;  // params_[i] is in buckets_[bucket_of_[i]]
  std::vector<autograd::RemovableHandle> handles_;
  DDPStats stats_;
  // This step's state: which gradients are final, how many each bucket still waits for, the
  // next bucket to start, and each started bucket's flat copy and all-reduce.
  std::vector<char> ready_;
  std::vector<std::size_t> waiting_;
  std::size_t next_bucket_ = 0;
  std::vector<Tensor> flats_;
  std::vector<std::unique_ptr<Work>> works_;

  void reset_step() {
    ready_.assign(params_.size(), 0);
    waiting_.clear();
    for (const Bucket& b : buckets_) waiting_.push_back(b.members.size());
    next_bucket_ = 0;
    flats_.assign(buckets_.size(), Tensor());
    works_.clear();
    works_.resize(buckets_.size());
  }

  // Backward's hook: params_[i]'s gradient is final. Starts every bucket that is now complete
  // and next in order, and moves the started ones on.
  void gradient_ready(std::size_t i) {
    train::Stopwatch clock;
    LACOOT_CHECK(!ready_[i], "DistributedDataParallel: a parameter received gradients from two backward passes in "
                 "one step; its bucket was already being averaged (HINT: add the losses and call backward once per "
                 "step)");
    ready_[i] = 1;
    --waiting_[bucket_of_[i]];
    while (next_bucket_ < buckets_.size() && waiting_[next_bucket_] == 0) {
      start_bucket(next_bucket_++);
      ++stats_.buckets_started_during_backward;
    }
    for (std::size_t b = 0; b < next_bucket_; ++b)
      if (!works_[b]->test()) break;  // MPI moves a non-blocking collective on inside its calls
    stats_.during_backward_seconds += clock.seconds();
  }

  // Copies bucket b's gradients (zeros where a parameter has none) into one flat tensor and
  // starts its average over the ranks.
  void start_bucket(std::size_t b) {
    const Bucket& bucket = buckets_[b];
    const Tensor& first = params_[bucket.members.front()];
    Tensor flat = Tensor::empty({bucket.numel}, first.dtype(), first.device());
    std::size_t at = 0;
    for (std::size_t i : bucket.members) {
      const Tensor& p = params_[i];
      char* dst = static_cast<char*>(flat.raw_data()) + at;
      if (p.grad().defined()) {
        lacoot::detail::copy_bytes(dst, p.device(), p.grad().raw_data(), p.device(), p.nbytes());
      } else {
        lacoot::detail::fill(dst, p.dtype(), p.numel(), 0.0, p.device());
      }
      at += p.nbytes();
    }
    flats_[b] = flat;
    works_[b] = comm_.all_reduce_async(flats_[b], ReduceOp::Average);
  }

  // Reverse registration order; a new bucket at the cap or where dtype or device changes.
  void make_buckets() {
    const auto cap = static_cast<std::size_t>(options_.bucket_cap_mb * 1024 * 1024);
    std::size_t bytes = 0;
    bucket_of_.assign(params_.size(), 0);
    for (std::size_t k = params_.size(); k-- > 0;) {
      const Tensor& p = params_[k];
      const bool fresh = buckets_.empty() || bytes + p.nbytes() > cap ||
                         params_[buckets_.back().members.front()].dtype() != p.dtype() ||
                         params_[buckets_.back().members.front()].device() != p.device();
      if (fresh) {
        buckets_.emplace_back();
        bytes = 0;
      }
      buckets_.back().members.push_back(k);
      buckets_.back().numel += p.numel();
      bucket_of_[k] = buckets_.size() - 1;
      bytes += p.nbytes();
    }
  }
};

// An epoch's figures over every rank's shard: images summed; loss, regulariser term and top-1 /
// top-5 weighted by each rank's images; the slowest rank's seconds. Steps and skipped batches
// are the same on every rank (the ranks agree on each batch) and stay as they are.
inline train::EpochResult all_reduce_result(const train::EpochResult& r, Communicator& comm) {
  if (comm.world_size() == 1) return r;
  const auto n = static_cast<double>(r.images);
  Tensor sums = Tensor::empty({5}, kFloat64, kCPU);
  double* v = sums.data<double>();
  v[0] = n, v[1] = r.loss * n, v[2] = r.extra * n, v[3] = r.top1 * n, v[4] = r.top5 * n;
  comm.all_reduce(sums);
  Tensor slowest = Tensor::empty({1}, kFloat64, kCPU);
  slowest.data<double>()[0] = r.seconds;
  comm.all_reduce(slowest, ReduceOp::Max);
  train::EpochResult out = r;
  out.images = static_cast<int64_t>(v[0]);
  if (v[0] > 0) out.loss = v[1] / v[0], out.extra = v[2] / v[0], out.top1 = v[3] / v[0], out.top5 = v[4] / v[0];
  out.seconds = slowest.data<double>()[0];
  return out;
}

}  // namespace lacoot::distributed

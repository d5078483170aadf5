// lacoot/distributed/ddp.hpp — distributed data parallel: one model replica per process, each
// on its own shard of every batch, the gradients averaged so that the replicas stay equal.
//
// Holds: DDPOptions, DistributedDataParallel (torch.nn.parallel.DistributedDataParallel's
// contract) and all_reduce_result (an epoch's figures over every rank). Needs: communicator.hpp, nn/module.hpp, train/epoch.hpp (StepHooks).
// Leaves out: overlapping the all-reduce with the backward pass (the buckets are reduced once
// backward has finished), SyncBatchNorm, find_unused_parameters' graph walk (a parameter without
// a gradient on some ranks is handled by a flag per parameter instead, below).
//
// What it does, as torch's:
//   * at construction, every parameter and buffer is broadcast from rank 0, so the replicas
//     start equal whatever each process initialised;
//   * before every forward pass, rank 0's buffers (BatchNorm's running statistics) are sent to
//     every rank (broadcast_buffers); BatchNorm itself normalises with each rank's own batch
//     statistics (per-rank BN, torch DDP's default);
//   * after every backward pass, the gradients are averaged over the ranks: flattened into
//     buckets of at most bucket_cap_mb (parameters in reverse order of registration, the order
//     in which backward tends to finish them, as torch's buckets), one all-reduce per bucket.
//     With R ranks each on b samples of a mean loss, the average is the gradient of the mean
//     over the R·b samples: the step one process would take on the whole batch.
//   * a parameter with no gradient on a rank (not used in its forward) counts as a zero
//     gradient there; one with no gradient on any rank keeps none, so the optimiser skips it.
//   * every rank must take the same decision about a batch: a NaN loss on one rank skips, or
//     stops, the step on all of them (StepHooks::all_ranks).
#pragma once

#include <memory>
#include <vector>

#include "../nn/module.hpp"
#include "../train/epoch.hpp"
#include "communicator.hpp"

namespace lacoot::distributed {

struct DDPOptions {
  double bucket_cap_mb = 25;     // torch's default
  bool broadcast_buffers = true;  // rank 0's buffers to every rank before each forward pass
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
  }

  Communicator& communicator() const { return comm_; }
  nn::Module& module() const { return model_; }
  std::size_t num_buckets() const { return buckets_.size(); }

  // Rank 0's buffers on every rank.
  void sync_buffers() {
    for (auto& [name, b] : model_.named_buffers()) {
      Tensor t = b;
      comm_.broadcast(t, 0);
    }
  }

  // Every parameter's .grad becomes the mean of the ranks' .grad (a new tensor: a gradient may
  // be shared with another leaf's).
  void average_gradients() {
    if (comm_.world_size() == 1) return;
    Tensor present = Tensor::empty({static_cast<int64_t>(params_.size())}, kInt64, kCPU);
    for (std::size_t i = 0; i < params_.size(); ++i) present.data<int64_t>()[i] = params_[i].grad().defined();
    comm_.all_reduce(present, ReduceOp::Max);
    for (const Bucket& bucket : buckets_) {
      const Tensor& first = params_[bucket.members.front()];
      Tensor flat = Tensor::empty({bucket.numel}, first.dtype(), first.device());
      const std::size_t esize = dtype_size(first.dtype());
      std::size_t at = 0;
      for (std::size_t i : bucket.members) {
        const Tensor& p = params_[i];
        char* dst = static_cast<char*>(flat.raw_data()) + at;
        if (p.grad().defined()) {
          lacoot::detail::copy_bytes(dst, p.device(), p.grad().raw_data(), p.device(), p.nbytes());
        } else {
          lacoot::detail::fill(dst, p.dtype(), p.numel(), 0.0, p.device());
        }
        at += static_cast<std::size_t>(p.numel()) * esize;
      }
      comm_.all_reduce(flat, ReduceOp::Average);
      at = 0;
      for (std::size_t i : bucket.members) {
        Tensor& p = params_[i];
        if (present.data<int64_t>()[i] != 0) {
          Tensor g = Tensor::empty(p.shape(), p.dtype(), p.device());
          lacoot::detail::copy_bytes(g.raw_data(), p.device(), static_cast<const char*>(flat.raw_data()) + at,
                                     p.device(), p.nbytes());
          p.set_grad(g);
        }
        at += static_cast<std::size_t>(p.numel()) * esize;
      }
    }
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
    if (options_.broadcast_buffers) hooks.before_forward = [this] { sync_buffers(); };
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

  // Reverse registration order; a new bucket at the cap or where dtype or device changes.
  void make_buckets() {
    const auto cap = static_cast<std::size_t>(options_.bucket_cap_mb * 1024 * 1024);
    std::size_t bytes = 0;
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

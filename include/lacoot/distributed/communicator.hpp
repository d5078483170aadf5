// lacoot/distributed/communicator.hpp — what data-parallel training asks of the processes it
// runs in: who am I, how many are we, and the collectives.
//
// Holds: ReduceOp, Work (a collective in flight), Communicator (the interface: rank, world_size,
// all_reduce, all_reduce_async, broadcast, all_gather, barrier), SingleProcess (a world of one, where every collective is the identity)
// and launched_world_size (how many processes the launcher started, read from its environment).
// Needs: core/ (Tensor).
// Leaves out: the transports. distributed/mpi.hpp (Open MPI: launching, rendezvous, CPU
// collectives) and distributed/nccl.hpp (GPU collectives) implement this interface; a program
// built without them uses SingleProcess and needs nothing more.
//
// Semantics, as torch.distributed's: every rank calls the same collectives in the same order
// with tensors of the same shape and dtype; all_reduce and broadcast work in place, on
// (contiguous) tensors of any device the backend serves; all_gather concatenates the ranks'
// tensors along dim 0 in rank order. A collective that the other ranks do not join within
// `timeout_seconds` (a rank died, or hangs) throws lacoot::Error instead of waiting forever.
// all_reduce_async starts the reduction and returns at once (torch's async_op=True): the tensor
// must stay untouched until the Work's wait() has returned; collectives still start in the same
// order on every rank.
#pragma once

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "../core/tensor.hpp"

namespace lacoot::distributed {

// torch.distributed.ReduceOp: SUM, AVG (the sum divided by the world size), MAX.
enum class ReduceOp { Sum, Average, Max };

// A collective in flight (torch.distributed's Work). test() says whether it is done and, where
// the transport needs the caller to drive it (MPI progresses a non-blocking collective inside
// MPI calls), moves it on; wait() returns once it is done, or throws past the deadline.
class Work {
 public:
  virtual ~Work() = default;
  virtual bool test() = 0;
  virtual void wait() = 0;
};

// A collective that finished when it was started.
class CompletedWork final : public Work {
 public:
  bool test() override { return true; }
  void wait() override {}
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual std::string backend() const = 0;  // "single", "mpi", "nccl"
  // In place: t becomes op over every rank's t.
  virtual void all_reduce(Tensor& t, ReduceOp op = ReduceOp::Sum) = 0;
  // The same, started: t holds the result once the Work's wait() has returned. A backend without
  // non-blocking collectives reduces at once.
  virtual std::unique_ptr<Work> all_reduce_async(Tensor& t, ReduceOp op = ReduceOp::Sum) {
    all_reduce(t, op);
    return std::make_unique<CompletedWork>();
  }
  // In place: t becomes root's t on every rank.
  virtual void broadcast(Tensor& t, int root = 0) = 0;
  // Every rank's t (same shape on each), concatenated along dim 0 in rank order.
  virtual Tensor all_gather(const Tensor& t) = 0;
  virtual void barrier() = 0;

  bool is_main() const { return rank() == 0; }  // the rank that writes checkpoints, logs and plots
  double timeout_seconds = 300;  // torch.distributed's default process-group timeout is 30 min

 protected:
  // A backend's wait for the collective `what` it started: polls `done()` until it is true; past
  // timeout_seconds calls `give_up()` (the backend marks itself unusable) and throws.
  template <class Done, class GiveUp>
  void wait_with_deadline(const char* what, Done&& done, GiveUp&& give_up) {
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + std::chrono::duration<double>(timeout_seconds);
    for (int polls = 0;; ++polls) {
      if (done()) return;
      if (clock::now() > deadline) {
        give_up();
        throw Error(lacoot::detail::concat(what, ": rank ", rank(), " of ", world_size(), " waited ", timeout_seconds,
                                           " s for the other ranks to join (one of them died or hangs; every rank "
                                           "must call the same collectives in the same order)"));
      }
      if (polls > 1000) std::this_thread::sleep_for(std::chrono::microseconds(20));  // a long wait: back off
    }
  }
};

// A world of one process: what a program uses when no launcher started it.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend() const override { return "single"; }
  void all_reduce(Tensor&, ReduceOp) override {}
  void broadcast(Tensor&, int root) override {
    LACOOT_CHECK(root == 0, "broadcast: root ", root, " in a world of one process (expected 0)");
  }
  Tensor all_gather(const Tensor& t) override { return t.clone(); }
  void barrier() override {}
};

// The number of processes an MPI launcher started this one among: mpirun's (Open MPI's
// OMPI_COMM_WORLD_SIZE; MPICH's, Intel MPI's and Slurm's srun's PMI_SIZE); 1 otherwise.
inline int launched_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    if (const char* v = std::getenv(name)) {
      const int n = std::atoi(v);
      if (n >= 1) return n;
    }
  }
  return 1;
}

}  // namespace lacoot::distributed

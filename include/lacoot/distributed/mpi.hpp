// lacoot/distributed/mpi.hpp — the Communicator on MPI (Open MPI, or any MPI-3 library).
//
// Holds: MpiCommunicator. Needs: communicator.hpp, core/device_ops.hpp, <mpi.h> (Debian:
// libopenmpi-dev; Meson: -Dmpi=enabled, or auto when found; the unit compiled with mpicxx's
// flags — dependency('mpi', language: 'cpp')).
// Leaves out: GPU-aware transfers. A CUDA tensor goes through a host copy (distributed/nccl.hpp
// is the GPU's backend); MPI's one-sided and point-to-point operations, which lacoot does not use.
//
// Launching and rendezvous are MPI's own: `mpirun -np N program ...` starts N copies, and
// MpiCommunicator's constructor (MPI_Init_thread, unless the program did it) joins them. Only
// the thread that made it calls MPI (MPI_THREAD_FUNNELED): the loader's workers never do.
//
// Errors: MPI's error handler is set to return codes, and every code becomes a lacoot::Error
// naming the collective. The collectives are MPI-3's non-blocking ones, waited on with a
// deadline (timeout_seconds): a rank that died or hangs makes the others throw instead of
// waiting forever. After such an error the communicator is unusable and its destructor leaves
// MPI without MPI_Finalize (which would wait for the missing rank too); the process then ends
// with its error, and mpirun, seeing a rank end without finalising, stops the rest of the job.
#pragma once

// MPI's C interface only: the deprecated C++ bindings (removed in MPI-3) trip -Wextra.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <climits>
#include <vector>

#include "../core/device_ops.hpp"
#include "communicator.hpp"

namespace lacoot::distributed {

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      LACOOT_CHECK(provided >= MPI_THREAD_FUNNELED, "MPI_Init_thread: the MPI library offers thread level ",
                   provided, "; lacoot needs MPI_THREAD_FUNNELED (", MPI_THREAD_FUNNELED, ")");
      owns_mpi_ = true;
    }
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;
  ~MpiCommunicator() override {
    if (broken_) return;  // a collective is still pending: finalising would wait for the missing rank
    MPI_Comm_free(&comm_);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_mpi_ && !finalized) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void all_reduce(Tensor& t, ReduceOp op = ReduceOp::Sum) override { all_reduce_async(t, op)->wait(); }

  // MPI_Iallreduce on t's elements (a host copy for a GPU tensor, copied back when done).
  std::unique_ptr<Work> all_reduce_async(Tensor& t, ReduceOp op = ReduceOp::Sum) override {
    LACOOT_CHECK(op != ReduceOp::Average || is_floating(t.dtype()), "all_reduce: ReduceOp::Average needs a floating ",
                 "tensor, got ", dtype_name(t.dtype()));
    auto work = std::make_unique<AllReduceWork>(*this, t, op);
    for_chunks(t, [&](std::size_t offset, int count) {
      work->requests.push_back(MPI_REQUEST_NULL);
      check(MPI_Iallreduce(MPI_IN_PLACE, static_cast<char*>(work->host.raw_data()) + offset, count,
                           mpi_type(t.dtype()), op == ReduceOp::Max ? MPI_MAX : MPI_SUM, comm_, &work->requests.back()),
            "all_reduce");
    });
    return work;
  }

  void broadcast(Tensor& t, int root = 0) override {
    LACOOT_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " is not a rank of a world of ", size_);
    on_host(t, /*read=*/rank_ == root, [&](void* data) {
      for_chunks(t, [&](std::size_t offset, int count) {
        MPI_Request req;
        check(MPI_Ibcast(static_cast<char*>(data) + offset, count, mpi_type(t.dtype()), root, comm_, &req),
              "broadcast");
        wait(req, "broadcast");
      });
    });
  }

  Tensor all_gather(const Tensor& t) override {
    LACOOT_CHECK(t.dim() >= 1, "all_gather: expected a tensor of at least one dimension, got a scalar");
    LACOOT_CHECK(t.numel() <= INT_MAX, "all_gather: ", t.numel(), " elements per rank are more than MPI's int count");
    check_same_shape(t);
    Shape shape = t.shape();
    shape[0] *= size_;
    const Tensor host = t.to(kCPU);
    Tensor gathered = Tensor::empty(shape, t.dtype(), kCPU);
    MPI_Request req;
    check(MPI_Iallgather(host.raw_data(), static_cast<int>(t.numel()), mpi_type(t.dtype()), gathered.raw_data(),
                         static_cast<int>(t.numel()), mpi_type(t.dtype()), comm_, &req),
          "all_gather");
    wait(req, "all_gather");
    return gathered.to(t.device());
  }

  void barrier() override {
    MPI_Request req;
    check(MPI_Ibarrier(comm_, &req), "barrier");
    wait(req, "barrier");
  }

  // all_gather's contract, the same shape on every rank, checked (one small collective), since
  // MPI or NCCL given unequal counts corrupts memory instead of failing. An Error names both shapes.
  void check_same_shape(const Tensor& t) {
    constexpr int kSlots = 9;  // the rank of the tensor, then up to 8 sizes
    LACOOT_CHECK(t.dim() < kSlots, "all_gather: at most ", kSlots - 1, " dimensions, got ", t.dim());
    std::vector<int64_t> mine(kSlots, -1), all(static_cast<std::size_t>(kSlots * size_));
    mine[0] = t.dim();
    for (int64_t d = 0; d < t.dim(); ++d) mine[static_cast<std::size_t>(d + 1)] = t.size(d);
    MPI_Request req;
    check(MPI_Iallgather(mine.data(), kSlots, MPI_INT64_T, all.data(), kSlots, MPI_INT64_T, comm_, &req),
          "all_gather");
    wait(req, "all_gather");
    for (int r = 0; r < size_; ++r) {
      const std::vector<int64_t> theirs(all.begin() + r * kSlots, all.begin() + (r + 1) * kSlots);
      if (theirs == mine) continue;
      Shape other(theirs.begin() + 1, theirs.begin() + 1 + theirs[0]);
      throw Error(lacoot::detail::concat("all_gather: rank ", rank_, " has shape ", shape_str(t.shape()), " but rank ", r, " has ",
                         shape_str(other), " (expected the same shape on every rank)"));
    }
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  bool owns_mpi_ = false, broken_ = false;

  static void check(int code, const char* what) {
    if (code == MPI_SUCCESS) return;
    char message[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, message, &length);
    throw Error(lacoot::detail::concat("MPI ", what, ": ", std::string(message, static_cast<std::size_t>(length))));
  }

  static MPI_Datatype mpi_type(DType t) {
    switch (t) {
      case kFloat32: return MPI_FLOAT;
      case kFloat64: return MPI_DOUBLE;
      case kInt64: return MPI_INT64_T;
    }
    throw Error(lacoot::detail::concat("MPI: no MPI type for dtype ", dtype_name(t)));
  }

  // An all-reduce in flight: MPI's requests on `host` (the tensor itself on the CPU); once they
  // are done, the average's division and, for a GPU tensor, the copy back.
  struct AllReduceWork final : Work {
    AllReduceWork(MpiCommunicator& comm, Tensor& t, ReduceOp op)
        : comm(comm), target(t), host(t.device().is_cpu() ? t : t.to(kCPU)), op(op) {}
    ~AllReduceWork() override {
      if (done || comm.broken_) return;
      try {
        wait();  // MPI still writes into the buffer: it must outlive the collective
      } catch (const Error&) {
      }
    }
    bool test() override {
      if (done) return true;
      for (MPI_Request& req : requests) {
        int finished = 1;
        if (req != MPI_REQUEST_NULL) check(MPI_Test(&req, &finished, MPI_STATUS_IGNORE), "all_reduce");
        if (!finished) return false;
      }
      done = true;
      if (op == ReduceOp::Average && comm.size_ > 1) scale(host, 1.0 / comm.size_);
      if (!target.device().is_cpu())
        lacoot::detail::copy_bytes(target.raw_data(), target.device(), host.raw_data(), kCPU, target.nbytes());
      return true;
    }
    void wait() override {
      comm.wait_with_deadline("all_reduce", [&] { return test(); }, [&] { comm.broken_ = true; });
    }

    MpiCommunicator& comm;
    Tensor target, host;
    ReduceOp op;
    std::vector<MPI_Request> requests;
    bool done = false;
  };

  // Waits for a non-blocking collective, polling so that the deadline can be kept.
  void wait(MPI_Request& req, const char* what) {
    wait_with_deadline(
        what,
        [&] {
          int done = 0;
          check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), what);
          return done != 0;
        },
        [&] { broken_ = true; });
  }

  // Runs fn on a host pointer to t's elements: t's own storage on the CPU; for a GPU tensor a
  // host copy (filled from t when `read`), copied back afterwards.
  template <class Fn>
  static void on_host(Tensor& t, bool read, Fn&& fn) {
    if (t.device().is_cpu()) {
      fn(t.raw_data());
      return;
    }
    Tensor host = read ? t.to(kCPU) : Tensor::empty(t.shape(), t.dtype(), kCPU);
    fn(host.raw_data());
    lacoot::detail::copy_bytes(t.raw_data(), t.device(), host.raw_data(), kCPU, t.nbytes());
  }

  // MPI counts are ints: a larger tensor goes in pieces of at most INT_MAX / 2 elements.
  template <class Fn>
  static void for_chunks(const Tensor& t, Fn&& fn) {
    const auto n = static_cast<std::size_t>(t.numel()), esize = dtype_size(t.dtype());
    constexpr std::size_t kChunk = INT_MAX / 2;
    for (std::size_t at = 0; at < n; at += kChunk) fn(at * esize, static_cast<int>(std::min(kChunk, n - at)));
  }

  static void scale(Tensor& host, double factor) {  // a CPU tensor
    dispatch_floating(host.dtype(), "all_reduce", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* p = host.data<T>();
      for (int64_t i = 0; i < host.numel(); ++i) p[i] = static_cast<T>(p[i] * factor);
    });
  }
};

}  // namespace lacoot::distributed

// lacoot/distributed/nccl.hpp — the Communicator on NCCL for GPU tensors, bootstrapped through MPI.
//
// Holds: NcclCommunicator. Needs: mpi.hpp (launching, rendezvous and the CPU tensors' collectives),
// backend/cuda/runtime.hpp, <nccl.h> and libnccl (the CUDA toolkit's, or Debian's libnccl-dev;
// Meson: -Dnccl=enabled, or auto when found beside CUDA and MPI). A unit that includes it is built
// with LACOOT_WITH_CUDA.
// Leaves out: several GPUs per process, NCCL's own bootstrap without MPI.
//
// One GPU per process: the process of local rank l on its node (its rank among the processes on
// the same machine) uses cuda:l, made its current device; more processes on a machine than it
// has GPUs is an error (NCCL refuses two ranks on one GPU). Rank 0 makes NCCL's unique id and
// MPI broadcasts it; every rank then joins with ncclCommInitRank. A collective on cuda tensors
// runs on lacoot's stream of that device (so it starts once the kernels that produced the tensor
// have finished) and the call returns when it is done: it polls the stream until the deadline
// (timeout_seconds), and past it aborts the NCCL communicator (ncclCommAbort) and throws, so a
// dead or hung peer is an error, not a hang. CPU tensors take the MPI path, as torch's
// process groups pair Gloo with NCCL.
#pragma once

#include <nccl.h>

#include <cstring>
#include <string>
#include <utility>

#include "../backend/cuda/runtime.hpp"
#include "mpi.hpp"

namespace lacoot::distributed {

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator() {
    LACOOT_CHECK(cuda::device_count() > 0, "NcclCommunicator: no GPU on this machine (", cuda::unavailable_reason(),
                 "); NCCL reduces GPU tensors (HINT: MpiCommunicator serves the CPU)");
    const auto [local, on_machine] = local_rank_and_size();
    LACOOT_CHECK(on_machine <= cuda::device_count(), "NcclCommunicator: ", on_machine, " processes on this machine "
                 "but ", cuda::device_count(), " GPU(s); NCCL needs a GPU of its own for each (start at most ",
                 cuda::device_count(), " ranks per machine)");
    device_ = local;
    ncclUniqueId id;
    std::memset(&id, 0, sizeof id);
    if (mpi_.rank() == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    static_assert(sizeof id % sizeof(int64_t) == 0, "ncclUniqueId is sent as int64 elements");
    Tensor bytes = Tensor::empty({static_cast<int64_t>(sizeof id / sizeof(int64_t))}, kInt64, kCPU);
    std::memcpy(bytes.raw_data(), &id, sizeof id);
    mpi().broadcast(bytes, 0);
    std::memcpy(&id, bytes.raw_data(), sizeof id);
    // This process's GPU from now on, as torch.cuda.set_device: NCCL's calls and lacoot's kernels
    // for tensors on it run with it current.
    LACOOT_CUDA_CHECK(cudaSetDevice(device_));
    check(ncclCommInitRank(&comm_, mpi_.world_size(), id, mpi_.rank()), "ncclCommInitRank");
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;
  ~NcclCommunicator() override {
    if (comm_ != nullptr) ncclCommDestroy(comm_);  // null after an abort
  }

  int rank() const override { return mpi_.rank(); }
  int world_size() const override { return mpi_.world_size(); }
  std::string backend() const override { return "nccl"; }
  // The GPU this process uses.
  Device device() const { return Device{DeviceType::CUDA, device_}; }

  void all_reduce(Tensor& t, ReduceOp op = ReduceOp::Sum) override { all_reduce_async(t, op)->wait(); }

  // Enqueued on the device's stream, after the kernels that made t; done when the stream is.
  std::unique_ptr<Work> all_reduce_async(Tensor& t, ReduceOp op = ReduceOp::Sum) override {
    if (t.device().is_cpu()) return mpi().all_reduce_async(t, op);
    LACOOT_CHECK(op != ReduceOp::Average || is_floating(t.dtype()), "all_reduce: ReduceOp::Average needs a floating ",
                 "tensor, got ", dtype_name(t.dtype()));
    usable("all_reduce");
    on_my_device(t, "all_reduce");
    const ncclRedOp_t nccl_op = op == ReduceOp::Sum ? ncclSum : op == ReduceOp::Average ? ncclAvg : ncclMax;
    check(ncclAllReduce(t.raw_data(), t.raw_data(), static_cast<std::size_t>(t.numel()), nccl_type(t.dtype()),
                        nccl_op, comm_, cuda::stream(device_)),
          "ncclAllReduce");
    return std::make_unique<StreamWork>(*this, "all_reduce");
  }

  void broadcast(Tensor& t, int root = 0) override {
    if (t.device().is_cpu()) return mpi().broadcast(t, root);
    LACOOT_CHECK(root >= 0 && root < world_size(), "broadcast: root ", root, " is not a rank of a world of ",
                 world_size());
    usable("broadcast");
    on_my_device(t, "broadcast");
    check(ncclBroadcast(t.raw_data(), t.raw_data(), static_cast<std::size_t>(t.numel()), nccl_type(t.dtype()), root,
                        comm_, cuda::stream(device_)),
          "ncclBroadcast");
    wait("broadcast");
  }

  Tensor all_gather(const Tensor& t) override {
    if (t.device().is_cpu()) return mpi().all_gather(t);
    LACOOT_CHECK(t.dim() >= 1, "all_gather: expected a tensor of at least one dimension, got a scalar");
    usable("all_gather");
    on_my_device(t, "all_gather");
    mpi().check_same_shape(t);
    Shape shape = t.shape();
    shape[0] *= world_size();
    Tensor gathered = Tensor::empty(shape, t.dtype(), t.device());
    check(ncclAllGather(t.raw_data(), gathered.raw_data(), static_cast<std::size_t>(t.numel()), nccl_type(t.dtype()),
                        comm_, cuda::stream(device_)),
          "ncclAllGather");
    wait("all_gather");
    return gathered;
  }

  void barrier() override { mpi().barrier(); }

 private:
  MpiCommunicator mpi_;
  ncclComm_t comm_ = nullptr;  // null once aborted
  int device_ = 0;

  // The MPI side, under this communicator's deadline.
  MpiCommunicator& mpi() {
    mpi_.timeout_seconds = timeout_seconds;
    return mpi_;
  }

  // This process's rank among those on its machine (MPI_COMM_TYPE_SHARED), and their number.
  static std::pair<int, int> local_rank_and_size() {
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
    int r = 0, n = 1;
    MPI_Comm_rank(local, &r);
    MPI_Comm_size(local, &n);
    MPI_Comm_free(&local);
    return {r, n};
  }

  static void check(ncclResult_t code, const char* what) {
    if (code == ncclSuccess || code == ncclInProgress) return;
    throw Error(lacoot::detail::concat("NCCL ", what, ": ", ncclGetErrorString(code)));
  }

  static ncclDataType_t nccl_type(DType t) {
    switch (t) {
      case kFloat32: return ncclFloat32;
      case kFloat64: return ncclFloat64;
      case kInt64: return ncclInt64;
    }
    throw Error(lacoot::detail::concat("NCCL: no NCCL type for dtype ", dtype_name(t)));
  }

  void on_my_device(const Tensor& t, const char* what) const {
    LACOOT_CHECK(t.device().index == device_, what, ": the tensor is on ", t.device().str(),
                 " but this process's NCCL communicator is on cuda:", device_, " (one GPU per process)");
  }

  // An aborted communicator is freed: every later collective is an error, not a use of it.
  void usable(const char* what) const {
    LACOOT_CHECK(comm_ != nullptr, what, ": this NCCL communicator was aborted after an earlier failure (a "
                 "collective timed out or a peer failed); create a new one");
  }

  // Frees the communicator without waiting for its collectives (the only safe end after a
  // failure: ncclCommDestroy would wait for a collective that never completes).
  void abort() {
    if (comm_ == nullptr) return;
    ncclCommAbort(comm_);
    comm_ = nullptr;
  }

  // Whether the collectives issued on the stream have finished (an Error if NCCL failed: the
  // communicator is then aborted, as NCCL asks after an asynchronous error).
  bool stream_done(const char* what) {
    usable(what);
    const cudaError_t state = cudaStreamQuery(cuda::stream(device_));
    if (state == cudaSuccess) return true;
    if (state != cudaErrorNotReady) LACOOT_CUDA_CHECK(state);
    ncclResult_t async = ncclSuccess;
    check(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError");
    if (async != ncclSuccess && async != ncclInProgress) {
      abort();
      check(async, what);
    }
    return false;
  }

  // Waits for the collectives issued on the stream, keeping the deadline.
  void wait(const char* what) {
    const std::string named = std::string(what) + " (NCCL)";
    wait_with_deadline(
        named.c_str(), [&] { return stream_done(what); },
        [&] { abort(); });
  }

  // A collective enqueued on the stream.
  struct StreamWork final : Work {
    StreamWork(NcclCommunicator& comm, const char* what) : comm(comm), what(what) {}
    bool test() override { return comm.stream_done(what); }
    void wait() override { comm.wait(what); }
    NcclCommunicator& comm;
    const char* what;
  };
};

}  // namespace lacoot::distributed

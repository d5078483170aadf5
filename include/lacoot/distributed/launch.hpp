// lacoot/distributed/launch.hpp — joining the processes a launcher started: the one call that
// lets a training program run unchanged alone or under `mpirun -np N`.
//
// Holds: ProcessGroup and init_process_group (torch.distributed.init_process_group, the backend
// chosen from what the build has and where the model lives).
// Needs: communicator.hpp; mpi.hpp in a unit built with LACOOT_WITH_MPI and nccl.hpp with
// LACOOT_WITH_NCCL (Meson's distributed_deps and distributed_args add both where found).
// Leaves out: launching (mpirun's, or Slurm's srun's) and rendezvous by address and port (MPI's).
#pragma once

#include <cstdio>
#include <memory>

#include "communicator.hpp"
#if LACOOT_WITH_MPI
#include "mpi.hpp"
#endif
#if LACOOT_WITH_NCCL
#include "nccl.hpp"
#endif

namespace lacoot::distributed {

// The processes of this run, and the device this one trains on.
struct ProcessGroup {
  std::unique_ptr<Communicator> comm;
  Device device;

  // Rank 0 reports: the other ranks' stdout goes to /dev/null (their errors still reach stderr).
  void quiet_unless_main() const {
    if (!comm->is_main()) std::freopen("/dev/null", "w", stdout);
  }
  // This process's part of a global batch of batch_size (--batch-size), which must split evenly.
  int64_t share_of(int64_t batch_size) const {
    const int world = comm->world_size();
    LACOOT_CHECK(batch_size % world == 0, "--batch-size ", batch_size, " does not split evenly among ", world,
                 " processes (HINT: a multiple of ", world, ")");
    return batch_size / world;
  }
};

// Started alone: a world of one (SingleProcess). Started by an MPI launcher among several: MPI's
// world, on NCCL for a model on the GPU where the build has it (then `device` becomes this
// process's own GPU, one per process), else on MPI. A build without MPI started among several
// is an error, rather than N processes each training alone.
inline ProcessGroup init_process_group(Device device) {
  if (launched_world_size() == 1) return {std::make_unique<SingleProcess>(), device};
#if LACOOT_WITH_NCCL
  if (device.is_cuda()) {
    auto gpus = std::make_unique<NcclCommunicator>();
    const Device mine = gpus->device();
    return {std::move(gpus), mine};
  }
#endif
#if LACOOT_WITH_MPI
  return {std::make_unique<MpiCommunicator>(), device};
#else
  throw Error(lacoot::detail::concat("started as one of ", launched_world_size(),
                                     " processes by an MPI launcher, but this program was built without MPI (HINT: "
                                     "install libopenmpi-dev and rebuild; Meson's summary then says MPI: YES)"));
#endif
}

}  // namespace lacoot::distributed

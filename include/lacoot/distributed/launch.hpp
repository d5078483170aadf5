// lacoot/distributed/launch.hpp — joining the processes a launcher started: the one call that
// lets a training program run unchanged alone or under `mpirun -np N`.
//
// Holds: ProcessGroup and init_process_group (torch.distributed.init_process_group, the backend
// chosen from what the build has and where the model lives).
// Needs: communicator.hpp; mpi.hpp in a unit built with LACOOT_WITH_MPI and nccl.hpp with
// LACOOT_WITH_NCCL (Meson's distributed_deps and distributed_args add both where found).
// Leaves out: launching (mpirun's, or Slurm's srun's) and rendezvous by address and port (MPI's).
#pragma once

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

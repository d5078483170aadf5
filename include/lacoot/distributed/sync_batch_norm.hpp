// lacoot/distributed/sync_batch_norm.hpp — BatchNorm with statistics over every data-parallel
// replica (torch.nn.SyncBatchNorm).
//
// Holds: convert_sync_batchnorm. Needs: functional.hpp (the differentiable sum over the ranks),
// nn/normalization.hpp (BatchNorm2d's cross_replica_sum, where the statistics are computed).
//
// Per-rank BatchNorm (torch DDP's default) normalises each rank's b images by their own mean
// and variance, so R ranks of b do not train as one process of R·b. After
// convert_sync_batchnorm every BatchNorm2d of the model, in training, normalises by the mean and
// variance of all R·b images (two all-reduces of [C] values per layer in forward, two in
// backward), and its running statistics stay equal on every rank. The weights and the
// state_dict names are unchanged.
#pragma once

#include "../nn/normalization.hpp"
#include "functional.hpp"

namespace lacoot::distributed {

// Every BatchNorm2d in model synchronised over comm's ranks (comm must outlive the model's
// training); returns how many there were. torch.nn.SyncBatchNorm.convert_sync_batchnorm.
inline int convert_sync_batchnorm(nn::Module& model, Communicator& comm) {
  int converted = 0;
  for (auto& [path, m] : model.named_modules()) {
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) {
      bn->cross_replica_sum = [c = &comm](const Tensor& t) { return functional::all_reduce(t, *c); };
      ++converted;
    }
  }
  return converted;
}

}  // namespace lacoot::distributed

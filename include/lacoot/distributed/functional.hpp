// lacoot/distributed/functional.hpp — collectives that autograd can go back through
// (torch.distributed.nn.functional): what a loss over every rank's activations needs.
//
// Holds: functional::all_reduce (a sum over the ranks) and functional::all_gather (the ranks'
// tensors concatenated along dim 0). Needs: communicator.hpp, autograd/node.hpp, ops/shape.hpp.
//
// The gradients follow from what data-parallel training optimises: the mean over the ranks of
// each rank's loss L_r (DistributedDataParallel averages the gradients). When y = Σ_s x_s on
// every rank, ∂(Σ_r L_r)/∂x_s = Σ_r ∂L_r/∂y: backward sums the incoming gradients over the ranks.
// all_gather's backward is the same sum, cut to this rank's rows (torch's reduce-scatter). So
// every rank must run the backward of every such op, in the same order, as for any collective.
#pragma once

#include "../autograd/node.hpp"
#include "../ops/shape.hpp"
#include "communicator.hpp"

namespace lacoot::distributed::functional {

// Σ over the ranks of t, on every rank; differentiable.
inline Tensor all_reduce(const Tensor& t, Communicator& comm) {
  Tensor out = t.detach().clone();
  comm.all_reduce(out, ReduceOp::Sum);
  Communicator* c = &comm;
  autograd::record(out, "all_reduce", {t}, [c](const Tensor& g, const std::vector<bool>&) {
    Tensor summed = g.clone();
    c->all_reduce(summed, ReduceOp::Sum);
    return std::vector<Tensor>{summed};
  });
  return out;
}

// The ranks' t (the same shape on each) concatenated along dim 0 in rank order; differentiable.
inline Tensor all_gather(const Tensor& t, Communicator& comm) {
  Tensor out = comm.all_gather(t.detach());
  Communicator* c = &comm;
  const int64_t rows = t.dim() > 0 ? t.size(0) : 0;
  autograd::record(out, "all_gather", {t}, [c, rows](const Tensor& g, const std::vector<bool>&) {
    Tensor summed = g.clone();
    c->all_reduce(summed, ReduceOp::Sum);
    return std::vector<Tensor>{narrow(summed, 0, c->rank() * rows, rows).clone()};
  });
  return out;
}

}  // namespace lacoot::distributed::functional

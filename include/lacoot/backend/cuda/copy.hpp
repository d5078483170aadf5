// lacoot/backend/cuda/copy.hpp — bytes between the host and CUDA devices, and pinned memory.
//
// Holds: copy_bytes (any pair of cpu / cuda:N, in stream order). Pinned host memory is
// allocator.hpp's (a copy from it returns at once; core/tensor.hpp's to() keeps its block alive
// and unchanged until the copy is done).
// Needs: runtime.hpp, core/device.hpp.
#pragma once

#include <cstddef>

#include "../../core/device.hpp"
#include "runtime.hpp"

namespace lacoot::cuda {

// Copies n bytes from src (on src_device) to dst (on dst_device), at least one on a GPU. Runs on
// the stream of the GPU involved (the destination's, for GPU to GPU), after the work already
// issued there. Returns once dst holds the bytes when dst is host memory; a copy from pageable
// host memory returns once src may be reused (CUDA stages it), one from pinned memory at once;
// a copy on one device runs on; one between two devices returns when it is done.
inline void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t n) {
  if (n == 0) return;
  if (dst_device.is_cpu()) {  // device to host: wait for it
    cudaStream_t s = stream(src_device.index);
    LACOOT_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, s));
    LACOOT_CUDA_CHECK(cudaStreamSynchronize(s));
  } else if (src_device.is_cpu()) {  // host to device
    LACOOT_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, stream(dst_device.index)));
  } else if (src_device.index == dst_device.index) {
    LACOOT_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, stream(dst_device.index)));
  } else {  // the copy starts after the source's work and ends before the source's next work
    LACOOT_CUDA_CHECK(cudaStreamSynchronize(stream(src_device.index)));
    cudaStream_t s = stream(dst_device.index);
    LACOOT_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_device.index, src, src_device.index, n, s));
    // The source device's allocator may hand src's block to its next op, or an in-place op may
    // write src, while the destination's stream still reads it: wait (GPU-to-GPU copies of
    // tensors are rare here; a cross-stream event would let them run on).
    LACOOT_CUDA_CHECK(cudaStreamSynchronize(s));
  }
}

}  // namespace lacoot::cuda

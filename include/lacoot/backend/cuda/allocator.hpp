// lacoot/backend/cuda/allocator.hpp — the caching allocator: no op pays for a cudaMalloc.
//
// Holds: detail::device_block_cache(index), the BlockCache (core/block_cache.hpp) of cuda:index,
// and what a user asks of it: memory_stats, memory_allocated, max_memory_allocated,
// reset_peak_memory_stats, empty_cache (as torch.cuda's functions of the same names); the
// cache of pinned host memory (detail::pinned_block_cache, pinned_memory_stats) and
// detail::PendingRead, which keeps a pinned block from reuse while a copy still reads it.
// Needs: runtime.hpp, core/block_cache.hpp.
//
// cudaMalloc and cudaFree synchronise the device and cost tens of microseconds to milliseconds,
// so freed device blocks are kept, every size of them, and the next request a block fits takes
// it (the rule is BlockCache's: the smallest free block at least as large, at most a quarter
// larger). Requests are rounded up to 512 bytes, as PyTorch's allocator does, so that tensors
// of nearly equal size share blocks. There is no limit: when cudaMalloc reports the device
// full, every cached block is freed and the allocation tried once more, and only then is it an
// out-of-memory error (naming the request and what tensors hold). The stream order makes reuse
// safe: a block freed by the host while a kernel on lacoot's stream still reads it is only
// handed to work issued after that kernel, on the same stream.
#pragma once

#include <array>
#include <cstddef>
#include <limits>
#include <mutex>

#include "../../core/block_cache.hpp"
#include "runtime.hpp"

namespace lacoot::cuda {

inline constexpr std::size_t kCudaBlockRounding = 512;

namespace detail {

inline lacoot::detail::BlockCache& device_block_cache(int index) {
  check_device(index);
  static std::array<lacoot::detail::BlockCache*, kMaxDevices> caches{};  // never destroyed
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  lacoot::detail::BlockCache*& cache = caches[static_cast<std::size_t>(index)];
  if (cache == nullptr) {
    auto raw_alloc = [index](std::size_t bytes) -> void* {
      DeviceGuard guard(index);
      void* p = nullptr;
      const cudaError_t status = cudaMalloc(&p, bytes);
      if (status == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        return nullptr;
      }
      LACOOT_CUDA_CHECK(status);
      return p;
    };
    auto raw_free = [index](void* p) {
      DeviceGuard guard(index);
      LACOOT_CUDA_CHECK(cudaFree(p));
    };
    cache = new lacoot::detail::BlockCache(raw_alloc, raw_free, 0, std::numeric_limits<std::size_t>::max());
  }
  return *cache;
}

// Page-locked ("pinned") host memory for the CPU tensors that feed a GPU (Tensor::pin_memory,
// the loader's pin_memory): a copy from it runs at the bus's full speed and truly
// asynchronously, where a copy from pageable memory is staged through a driver buffer.
// cudaHostAlloc costs milliseconds and synchronises, so its blocks are cached as the device's
// are, up to kPinnedCacheBytes free. Portable: every device copies from it at full speed.
inline constexpr std::size_t kPinnedCacheBytes = std::size_t{1} << 30;

inline lacoot::detail::BlockCache& pinned_block_cache() {
  static lacoot::detail::BlockCache* cache = [] {  // never destroyed
    auto raw_alloc = [](std::size_t bytes) -> void* {
      void* p = nullptr;
      const cudaError_t status = cudaHostAlloc(&p, bytes, cudaHostAllocPortable);
      if (status == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        return nullptr;
      }
      LACOOT_CUDA_CHECK(status);
      return p;
    };
    auto raw_free = [](void* p) { LACOOT_CUDA_CHECK(cudaFreeHost(p)); };
    return new lacoot::detail::BlockCache(raw_alloc, raw_free, 0, kPinnedCacheBytes);
  }();
  return *cache;
}

// The copies still reading a pinned block: an event recorded on the stream after the latest
// (of one device at a time; a copy to another device first waits for the previous one's).
// Storage waits on it before the block goes back to the cache, so that a block is never
// handed to a new tensor, and refilled, while a copy issued from it is still in flight.
class PendingRead {
 public:
  PendingRead() = default;
  ~PendingRead() { finish(); }
  PendingRead(const PendingRead&) = delete;
  PendingRead& operator=(const PendingRead&) = delete;

  // A copy from the block was just issued on cuda:index's stream.
  void record(int index) {
    if (event_ != nullptr && device_ != index) finish();
    DeviceGuard guard(index);
    if (event_ == nullptr) {
      LACOOT_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming));
      device_ = index;
    }
    LACOOT_CUDA_CHECK(cudaEventRecord(event_, stream(index)));
  }
  // Until every copy recorded has read the block.
  void wait() const {
    if (event_ != nullptr) LACOOT_CUDA_CHECK(cudaEventSynchronize(event_));
  }
  // wait(), then forget the event; never throws (a destructor calls it): a failed copy has
  // already been reported, or will be, on the stream.
  void finish() noexcept {
    if (event_ == nullptr) return;
    cudaEventSynchronize(event_);
    cudaEventDestroy(event_);
    cudaGetLastError();
    event_ = nullptr;
    device_ = -1;
  }

 private:
  cudaEvent_t event_ = nullptr;
  int device_ = -1;
};

}  // namespace detail

// What the pinned host memory cache holds (in_use_bytes: pinned tensors alive).
inline CacheStats pinned_memory_stats() { return detail::pinned_block_cache().stats(); }

// What cuda:index's allocator holds: in_use_bytes is torch.cuda.memory_allocated,
// in_use_bytes + cached_bytes is memory_reserved.
inline CacheStats memory_stats(int index = 0) { return detail::device_block_cache(index).stats(); }
inline std::size_t memory_allocated(int index = 0) { return memory_stats(index).in_use_bytes; }
inline std::size_t max_memory_allocated(int index = 0) { return memory_stats(index).peak_in_use_bytes; }
inline void reset_peak_memory_stats(int index = 0) { detail::device_block_cache(index).reset_peak(); }
// Gives every cached block of cuda:index back to the driver (what tensors hold stays).
inline void empty_cache(int index = 0) { detail::device_block_cache(index).empty(); }

}  // namespace lacoot::cuda

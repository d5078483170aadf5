// lacoot/core/storage.hpp — the memory a tensor's elements live in.
//
// Holds: Storage, a block of bytes on one device, 64-byte aligned on the CPU so that AVX-512
// loads of a row start on a cache line, or pinned (page-locked) CPU memory for copies to a GPU;
// the cache of large CPU blocks it draws from (cpu_cache_stats, set_cpu_cache_limit,
// empty_cpu_cache). Tensors share a Storage through
// shared_ptr: a view (reshape, detach) costs a handle, not a copy.
// Needs: error.hpp, device.hpp, block_cache.hpp; when built with CUDA (LACOOT_WITH_CUDA),
// backend/cuda/allocator.hpp, whose caching allocator serves cuda:N storage.
// Leaves out: the rest of the CUDA backend (backend/cuda/).
//
// Why a cache: glibc serves an allocation above its mmap threshold (adaptive, at most 32 MiB
// on 64-bit Linux) with fresh pages from the kernel, which zeroes each one on its first touch,
// and unmaps them again on free. A batch of 128 of ResNet-18's stem activations is 32 MiB, so
// every op on it paid for its output's page faults: relu took 21 ms, of which 18 were faults
// (3.3 ms into reused memory; 2 threads). So a freed CPU block of at least kCpuCachedBytes is
// kept, and the next request it fits takes it (the smallest block at least as large, and at
// most a quarter larger, so that a small request does not pin a large block). The cache holds
// at most cpu_cache_limit bytes (default 1 GiB; the environment variable LACOOT_CPU_CACHE_MB
// sets it, 0 turns it off), frees blocks past that, and is emptied when an allocation fails
// before the allocation is retried. Training repeats the same shapes every step, so the blocks
// of one step serve the next. Under AddressSanitizer it is off by default, so that a use after
// free is still caught.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "block_cache.hpp"
#include "device.hpp"
#include "error.hpp"
#if LACOOT_WITH_CUDA
#include "../backend/cuda/allocator.hpp"
#endif

namespace lacoot {

inline constexpr std::size_t kAlignment = 64;
inline constexpr std::size_t kCpuCachedBytes = std::size_t{1} << 20;  // smaller blocks go to malloc

namespace detail {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr std::size_t kDefaultCpuCacheBytes = 0;
#else
inline constexpr std::size_t kDefaultCpuCacheBytes = std::size_t{1} << 30;
#endif

inline std::size_t cpu_cache_limit_from_env() {
  const char* mb = std::getenv("LACOOT_CPU_CACHE_MB");
  if (mb == nullptr) return kDefaultCpuCacheBytes;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(mb, &end, 10);
  LACOOT_CHECK(end != mb && *end == '\0', "LACOOT_CPU_CACHE_MB: expected a number of MiB, got \"", mb, "\"");
  return static_cast<std::size_t>(v) << 20;
}

// Never destroyed: a Storage freed during static destruction (a global tensor) still finds it.
inline BlockCache& cpu_block_cache() {
  static BlockCache* cache = new BlockCache(
      [](std::size_t bytes) { return std::aligned_alloc(kAlignment, bytes); },
      [](void* p) { std::free(p); }, kCpuCachedBytes, cpu_cache_limit_from_env());
  return *cache;
}

// What any use of a GPU says in a build without the CUDA backend.
[[noreturn]] inline void no_cuda_backend(const char* what, Device device) {
  throw Error(concat(what, " on ", device.str(), ": this build of lacoot has no CUDA backend "
                     "(configure with meson setup -Dcuda=enabled on a machine with the CUDA toolkit)"));
}

// The cache a device's blocks come from and go back to; `pinned`: page-locked CPU memory
// (backend/cuda/allocator.hpp), which needs the CUDA backend and a GPU.
inline BlockCache& block_cache(Device device, bool pinned = false) {
  if (pinned) {
    LACOOT_CHECK(device.is_cpu(), "pin_memory: only CPU memory can be pinned, not memory on ", device.str());
#if LACOOT_WITH_CUDA
    LACOOT_CHECK(cuda::is_available(), "pin_memory: pinned memory serves copies to a GPU, and there is "
                 "none here (", cuda::unavailable_reason(), ")");
    return cuda::detail::pinned_block_cache();
#else
    throw Error("pin_memory: this build of lacoot has no CUDA backend, and pinned memory serves copies "
                "to a GPU (configure with meson setup -Dcuda=enabled on a machine with the CUDA toolkit)");
#endif
  }
  if (device.is_cpu()) return cpu_block_cache();
#if LACOOT_WITH_CUDA
  return cuda::detail::device_block_cache(device.index);
#else
  no_cuda_backend("memory", device);
#endif
}

}  // namespace detail

inline CpuCacheStats cpu_cache_stats() { return detail::cpu_block_cache().stats(); }
// At most `bytes` of freed blocks are kept (0: none); blocks past it are freed now.
inline void set_cpu_cache_limit(std::size_t bytes) { detail::cpu_block_cache().set_limit(bytes); }
// Frees every cached block (torch.cuda.empty_cache's CPU counterpart).
inline void empty_cpu_cache() { detail::cpu_block_cache().empty(); }

class Storage {
 public:
  // `pinned`: page-locked CPU memory (device must be the CPU; needs a GPU).
  Storage(std::size_t nbytes, Device device, bool pinned = false)
      : nbytes_(nbytes), device_(device), pinned_(pinned), cache_(&detail::block_cache(device, pinned)) {
    // aligned_alloc wants a size that is a multiple of the alignment (cudaMalloc's blocks are
    // 256-byte aligned whatever the size); never ask for 0 bytes.
#if LACOOT_WITH_CUDA
    const std::size_t granule = device.is_cpu() ? kAlignment : cuda::kCudaBlockRounding;
#else
    const std::size_t granule = kAlignment;
#endif
    std::size_t padded = (nbytes + granule - 1) / granule * granule;
    data_ = cache_->allocate(padded == 0 ? granule : padded, capacity_);
    LACOOT_CHECK(data_ != nullptr, "Storage: out of memory allocating ", nbytes, " bytes on ",
                 device.str(), " (", cache_->stats().in_use_bytes, " bytes in use by tensors",
                 "; hint: lower the batch size)");
  }
  ~Storage() {
#if LACOOT_WITH_CUDA
    pending_read_.finish();  // a pinned block goes back only once the copies from it are done
#endif
    cache_->release(data_, capacity_);
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool pinned() const { return pinned_; }

#if LACOOT_WITH_CUDA
  // A copy from this (pinned) block to cuda:index was just issued on that device's stream; with
  // `wait`, returns once it has read the block.
  void record_read(int index, bool wait) {
    pending_read_.record(index);
    if (wait) pending_read_.wait();
  }
#endif

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  std::size_t capacity_ = 0;  // bytes of the block (at least nbytes_, rounded up)
  Device device_;
  bool pinned_ = false;
  detail::BlockCache* cache_;
#if LACOOT_WITH_CUDA
  cuda::detail::PendingRead pending_read_;
#endif
};

}  // namespace lacoot

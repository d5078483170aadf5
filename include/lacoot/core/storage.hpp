// lacoot/core/storage.hpp — the memory a tensor's elements live in.
//
// Holds: Storage, a block of bytes on one device, 64-byte aligned on the CPU so that AVX-512
// loads of a row start on a cache line; the cache of large CPU blocks it draws from
// (CpuCacheStats, cpu_cache_stats, set_cpu_cache_limit, empty_cpu_cache). Tensors share a
// Storage through shared_ptr: a view (reshape, detach) costs a handle, not a copy.
// Needs: error.hpp, device.hpp.
// Leaves out: the CUDA caching allocator (backend/cuda, a later layer).
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
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "device.hpp"
#include "error.hpp"

namespace lacoot {

inline constexpr std::size_t kAlignment = 64;
inline constexpr std::size_t kCpuCachedBytes = std::size_t{1} << 20;  // smaller blocks go to malloc

// What the cache of large CPU blocks holds and has done, for tests and benchmarks.
struct CpuCacheStats {
  std::size_t cached_bytes = 0;  // held, free, ready for reuse
  std::size_t limit_bytes = 0;   // at most this much is held
  int64_t hits = 0, misses = 0;  // large allocations served from the cache / by malloc
};

namespace detail {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr std::size_t kDefaultCpuCacheBytes = 0;
#else
inline constexpr std::size_t kDefaultCpuCacheBytes = std::size_t{1} << 30;
#endif

class CpuBlockCache {
 public:
  CpuBlockCache() {
    stats_.limit_bytes = kDefaultCpuCacheBytes;
    if (const char* mb = std::getenv("LACOOT_CPU_CACHE_MB")) {
      char* end = nullptr;
      const unsigned long long v = std::strtoull(mb, &end, 10);
      LACOOT_CHECK(end != mb && *end == '\0', "LACOOT_CPU_CACHE_MB: expected a number of MiB, got \"", mb, "\"");
      stats_.limit_bytes = static_cast<std::size_t>(v) << 20;
    }
  }

  // A block of at least `bytes` (a multiple of kAlignment); its size in `capacity`.
  void* allocate(std::size_t bytes, std::size_t& capacity) {
    if (bytes >= kCpuCachedBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.lower_bound(bytes);
      if (it != free_.end() && it->first <= bytes + bytes / 4) {
        capacity = it->first;
        void* p = it->second;
        stats_.cached_bytes -= it->first;
        free_.erase(it);
        ++stats_.hits;
        return p;
      }
      ++stats_.misses;
    }
    capacity = bytes;
    void* p = std::aligned_alloc(kAlignment, bytes);
    if (p == nullptr) {  // what the cache holds may be what is missing
      empty();
      p = std::aligned_alloc(kAlignment, bytes);
    }
    return p;
  }

  void release(void* p, std::size_t capacity) {
    if (p == nullptr) return;
    if (capacity >= kCpuCachedBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stats_.cached_bytes + capacity <= stats_.limit_bytes) {
        free_.emplace(capacity, p);
        stats_.cached_bytes += capacity;
        return;
      }
    }
    std::free(p);
  }

  void empty() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, p] : free_) std::free(p);
    free_.clear();
    stats_.cached_bytes = 0;
  }

  void set_limit(std::size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.limit_bytes = bytes;
      if (stats_.cached_bytes <= bytes) return;
    }
    empty();
  }

  CpuCacheStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

 private:
  std::mutex mutex_;
  std::multimap<std::size_t, void*> free_;  // capacity → block
  CpuCacheStats stats_;
};

// Never destroyed: a Storage freed during static destruction (a global tensor) still finds it.
inline CpuBlockCache& cpu_block_cache() {
  static CpuBlockCache* cache = new CpuBlockCache;
  return *cache;
}

}  // namespace detail

inline CpuCacheStats cpu_cache_stats() { return detail::cpu_block_cache().stats(); }
// At most `bytes` of freed blocks are kept (0: none); blocks past it are freed now.
inline void set_cpu_cache_limit(std::size_t bytes) { detail::cpu_block_cache().set_limit(bytes); }
// Frees every cached block (torch.cuda.empty_cache's CPU counterpart).
inline void empty_cpu_cache() { detail::cpu_block_cache().empty(); }

class Storage {
 public:
  Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
    LACOOT_CHECK(device.is_cpu(), "Storage: device ", device.str(),
                 " is not available in this build (only cpu)");
    // aligned_alloc wants a size that is a multiple of the alignment; never ask for 0 bytes.
    std::size_t padded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
    data_ = detail::cpu_block_cache().allocate(padded == 0 ? kAlignment : padded, capacity_);
    LACOOT_CHECK(data_ != nullptr, "Storage: out of memory allocating ", nbytes,
                 " bytes on ", device.str(), " (hint: lower the batch size)");
  }
  ~Storage() { detail::cpu_block_cache().release(data_, capacity_); }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  std::size_t capacity_ = 0;  // bytes of the block (at least nbytes_, rounded up)
  Device device_;
};

}  // namespace lacoot

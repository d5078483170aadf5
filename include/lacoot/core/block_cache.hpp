// lacoot/core/block_cache.hpp — a cache of freed memory blocks, one per device.
//
// Holds: CacheStats and BlockCache, which keeps freed blocks of one device's memory for the
// next request they fit: the CPU's large blocks (core/storage.hpp) and all of a GPU's
// (backend/cuda/allocator.hpp, the caching allocator, so that no op pays for a cudaMalloc).
// Needs: error.hpp and the standard library.
// Leaves out: splitting one block between requests (PyTorch's CUDA allocator does; training
// repeats the same shapes every step, so whole blocks serve the next step as they are).
//
// The rule: a request takes the smallest free block at least as large and at most a quarter
// larger, so that a small request does not pin a large block; otherwise it asks the device for
// a new one. A freed block is kept while the cache holds at most `limit` bytes, and given back
// past that. When the device refuses an allocation, the cache gives back every free block and
// the allocation is tried once more: what the cache holds may be what is missing.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <utility>

#include "error.hpp"

namespace lacoot {

// What a device's cache holds and has done (torch.cuda.memory_stats's main figures).
struct CacheStats {
  std::size_t cached_bytes = 0;     // held, free, ready for reuse ("reserved" minus in use)
  std::size_t limit_bytes = 0;      // at most this much is held
  std::size_t in_use_bytes = 0;     // handed out and not yet freed (memory_allocated)
  std::size_t peak_in_use_bytes = 0;  // the high-water mark of in_use_bytes
  int64_t hits = 0, misses = 0;     // cacheable requests served from the cache / by the device
};
using CpuCacheStats = CacheStats;

namespace detail {

class BlockCache {
 public:
  // `raw_alloc(bytes)` returns a new block or nullptr when the device has no memory left (it
  // throws on any other failure); `raw_free` gives one back. Blocks under `min_cached_bytes`
  // go straight back to the device.
  using RawAlloc = std::function<void*(std::size_t)>;
  using RawFree = std::function<void(void*)>;
  BlockCache(RawAlloc raw_alloc, RawFree raw_free, std::size_t min_cached_bytes, std::size_t limit_bytes)
      : raw_alloc_(std::move(raw_alloc)), raw_free_(std::move(raw_free)), min_cached_(min_cached_bytes) {
    stats_.limit_bytes = limit_bytes;
  }
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  // A block of at least `bytes`, its size in `capacity`; nullptr when the device has none.
  // Requests under min_cached_bytes take no lock.
  void* allocate(std::size_t bytes, std::size_t& capacity) {
    capacity = bytes;
    if (bytes >= min_cached_) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.lower_bound(bytes);
      if (it != free_.end() && it->first <= bytes + bytes / 4) {
        capacity = it->first;
        void* p = it->second;
        stats_.cached_bytes -= it->first;
        free_.erase(it);
        ++stats_.hits;
        count_in_use(capacity);
        return p;
      }
      ++stats_.misses;
    }
    void* p = raw_alloc_(bytes);
    if (p == nullptr) {
      empty();
      p = raw_alloc_(bytes);
    }
    if (p != nullptr) count_in_use(capacity);
    return p;
  }

  void release(void* p, std::size_t capacity) {
    if (p == nullptr) return;
    in_use_.fetch_sub(capacity, std::memory_order_relaxed);
    if (capacity >= min_cached_) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stats_.cached_bytes + capacity <= stats_.limit_bytes) {
        free_.emplace(capacity, p);
        stats_.cached_bytes += capacity;
        return;
      }
    }
    raw_free_(p);
  }

  // Gives every free block back to the device.
  void empty() {
    std::lock_guard<std::mutex> lock(mutex_);
    empty_locked();
  }

  // At most `bytes` are kept from now on; what the cache holds past it goes back now.
  void set_limit(std::size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.limit_bytes = bytes;
    if (stats_.cached_bytes > bytes) empty_locked();
  }

  CacheStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    CacheStats s = stats_;
    s.in_use_bytes = in_use_.load(std::memory_order_relaxed);
    s.peak_in_use_bytes = peak_.load(std::memory_order_relaxed);
    return s;
  }
  // The high-water mark starts again from what is in use now.
  void reset_peak() { peak_.store(in_use_.load(std::memory_order_relaxed), std::memory_order_relaxed); }

 private:
  void count_in_use(std::size_t capacity) {
    const std::size_t now = in_use_.fetch_add(capacity, std::memory_order_relaxed) + capacity;
    std::size_t peak = peak_.load(std::memory_order_relaxed);
    while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }
  void empty_locked() {
    for (auto& [size, p] : free_) raw_free_(p);
    free_.clear();
    stats_.cached_bytes = 0;
  }

  RawAlloc raw_alloc_;
  RawFree raw_free_;
  std::size_t min_cached_;
  std::mutex mutex_;
  std::multimap<std::size_t, void*> free_;  // capacity → block
  CacheStats stats_;  // cached_bytes, limit_bytes, hits, misses: under mutex_
  std::atomic<std::size_t> in_use_{0}, peak_{0};
};

}  // namespace detail
}  // namespace lacoot

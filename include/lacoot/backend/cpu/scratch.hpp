// lacoot/backend/cpu/scratch.hpp — per-thread scratch buffers that kernels keep between calls.
//
// Holds: Scratch<T> (a growable, 64-byte aligned, uninitialised buffer) and thread_scratch,
// one thread's buffers of one kernel family (the GEMM's packed panels, the convolution's
// columns, the max-pool's row maxima).
// Needs: the standard library.
//
// Why keep them: they are megabytes, and allocated afresh for every call their pages were
// faulted in again each time (a few % of a ResNet forward pass in profiles). Each holds at most
// what its largest call asked for, per thread, until the thread exits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace lacoot::backend::cpu {

template <class T>
class Scratch {
 public:
  Scratch() = default;
  ~Scratch() { std::free(data_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  // At least n elements; the contents are whatever the last user left.
  T* get(int64_t n) {
    if (n > capacity_) {
      std::free(data_);
      const std::size_t bytes = (static_cast<std::size_t>(n) * sizeof(T) + 63) / 64 * 64;
      data_ = static_cast<T*>(std::aligned_alloc(64, bytes));
      if (data_ == nullptr) {
        capacity_ = 0;
        throw std::bad_alloc();
      }
      capacity_ = n;
    }
    return data_;
  }

 private:
  T* data_ = nullptr;
  int64_t capacity_ = 0;
};

// This thread's buffer number `slot` (0 to 3) of the kernel family `Family` (a tag type of
// the kernel's own, so that two families never share a buffer).
template <class Family, class T>
Scratch<T>& thread_scratch(int slot) {
  thread_local Scratch<T> buffers[4];
  return buffers[slot];
}

}  // namespace lacoot::backend::cpu
